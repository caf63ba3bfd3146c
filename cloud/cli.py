"""``cardio-cloud``: the analysis service's roles and its tokens.

Embedded default (one process: memory queue, SQLite in ``--data``)::

    cardio-cloud token create alice --data ./cloud-data   # prints the token once
    cardio-cloud serve --host 127.0.0.1 --port 8080 --data ./cloud-data

Scaled out (any number of each, on any machine; see docs/deployment.md)::

    cardio-cloud token create alice --store postgresql://cardio@db/cardio
    cardio-cloud serve --queue redis://broker:6379/0 --store postgresql://cardio@db/cardio
    cardio-cloud worker --queue redis://broker:6379/0 --store postgresql://cardio@db/cardio --concurrency 2
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cloud.config import CloudConfig
from cloud.errors import CloudError

T = TypeVar("T")
#: environment variables giving the defaults of ``--data``, ``--queue`` and ``--store``
ENV_DATA = "CARDIOLINK_CLOUD_DATA"
ENV_QUEUE = "CARDIOLINK_CLOUD_QUEUE"
ENV_STORE = "CARDIOLINK_CLOUD_STORE"
DEFAULT_DATA = "cloud-data"


def _store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get(ENV_DATA, DEFAULT_DATA)),
        help=f"folder of cloud.sqlite when no --store is given; default ${ENV_DATA} or ./{DEFAULT_DATA}",
    )
    parser.add_argument(
        "--store", default=os.environ.get(ENV_STORE), help=f"postgresql://user@host:port/db (default ${ENV_STORE}, else SQLite in --data)"
    )


def _backend_args(parser: argparse.ArgumentParser, *, queue_required: bool = False) -> None:
    _store_args(parser)
    default_queue = os.environ.get(ENV_QUEUE, None if queue_required else "memory://")
    parser.add_argument(
        "--queue", default=default_queue, required=queue_required and default_queue is None,
        help=f"redis://host:port/db (default ${ENV_QUEUE}, else memory:// = workers inside serve)",
    )
    parser.add_argument("--executor", choices=("process", "thread"), default="process")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a request gets a failure answer")
    parser.add_argument("--claim-idle", type=float, default=30.0, help="seconds of silence before a job is re-claimed")
    parser.add_argument("--max-attempts", type=int, default=3, help="deliveries of a job before it is dead-lettered")
    parser.add_argument("--batch-max", type=int, default=8,
                        help="jobs already queued that one claim takes and analyses together (1 = one at a time)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardio-cloud", description="cardiolink cloud analysis service")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the HTTP analysis API (with in-process workers unless --queue is external)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    _backend_args(serve)
    serve.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="embedded analyses at once (default: cores)")
    serve.add_argument("--rate", type=float, default=200.0, help="requests/s allowed per token")
    serve.add_argument("--burst", type=int, default=400, help="burst size of the per-token rate limit")
    serve.add_argument("--cost-rate", type=float, default=200_000.0, help="samples x leads per second per token")
    serve.add_argument("--cost-burst", type=float, default=4_000_000.0, help="bucket of samples x leads per token")
    serve.set_defaults(func=_serve)
    worker = sub.add_parser("worker", help="claim and analyse jobs from an external queue (run any number)")
    _backend_args(worker, queue_required=True)
    worker.add_argument("--concurrency", type=int, default=1, help="analyses at once in this worker (default 1)")
    worker.set_defaults(func=_worker)
    token = sub.add_parser("token", help="create, revoke or list API tokens")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    for action, func, help_text in (
        ("create", _token_create, "make a token for NAME and print it (shown once)"),
        ("revoke", _token_revoke, "revoke NAME's token"),
    ):
        p = token_sub.add_parser(action, help=help_text)
        p.add_argument("name")
        _store_args(p)
        p.set_defaults(func=func)
    listing = token_sub.add_parser("list", help="list token names (never the tokens)")
    _store_args(listing)
    listing.set_defaults(func=_token_list)
    return parser


def _config(args: argparse.Namespace, **extra: Any) -> CloudConfig:
    return CloudConfig(
        data_dir=args.data,
        queue_url=args.queue,
        store_url=args.store,
        executor=args.executor,
        timeout_s=args.timeout,
        claim_idle_s=args.claim_idle,
        max_attempts=args.max_attempts,
        batch_max=args.batch_max,
        **extra,
    )


async def _check_backends(config: CloudConfig) -> int:
    """Connect once before serving: an unreachable backend is a one-line error."""
    from cloud.queues import open_queue
    from cloud.stores import open_store

    store = await open_store(config.store_url, config.data_dir)
    try:
        queue = await open_queue(config.queue_url, max_jobs=1, max_bytes=1024, claim_idle_s=1.0)
        await queue.close()
        tokens = await store.list_tokens()
    finally:
        await store.close()
    return sum(t.revoked_at is None for t in tokens)


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from cloud.app import create_app

    config = _config(
        args, workers=args.workers, rate_per_s=args.rate, burst=args.burst,
        client_cost_per_s=args.cost_rate, client_cost_burst=args.cost_burst,
    )
    if not asyncio.run(_check_backends(config)):
        where = f"--store {config.store_url}" if config.store_url else f"--data {config.data_dir}"
        print(f"no active token yet: cardio-cloud token create NAME {where}", file=sys.stderr)
    try:
        web.run_app(create_app(config), host=args.host, port=args.port, print=lambda m: print(m, flush=True))
    except OSError as exc:  # e.g. the port is taken: one clear line, no traceback (issue 14)
        if exc.errno == errno.EADDRINUSE:
            print(f"cardio-cloud: error: port {args.port} on {args.host} is already in use; stop the other "
                  "server or choose another port with --port N", file=sys.stderr)
        else:
            print(f"cardio-cloud: error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
                  file=sys.stderr)
        return 1
    return 0


def _worker(args: argparse.Namespace) -> int:
    from cloud.queues import is_external

    config = _config(args, workers=args.concurrency)
    if not is_external(config.queue_url):
        print("cardio-cloud worker: needs an external --queue (redis://...); memory:// workers run inside serve",
              file=sys.stderr)
        return 2
    asyncio.run(_run_worker(config, args.concurrency))
    return 0


async def _run_worker(config: CloudConfig, concurrency: int) -> None:
    """Run one worker until SIGTERM/SIGINT; then finish running jobs and exit."""
    from cloud.queues import open_queue
    from cloud.stores import open_store
    from cloud.worker import Worker

    store = await open_store(config.store_url, config.data_dir)
    try:
        queue = await open_queue(
            config.queue_url, max_jobs=config.queue_max_jobs, max_bytes=config.queue_max_bytes,
            claim_idle_s=config.claim_idle_s,
        )
    except BaseException:
        await store.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(config, queue, store, concurrency=concurrency)
    await worker.start()
    print(f"worker {worker.name}: {concurrency} at once on {config.queue_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await worker.stop()
        await queue.close()
        await store.close()


def _with_store(args: argparse.Namespace, action: Callable[[Any], Awaitable[T]]) -> T:
    from cloud.stores import open_store

    async def run() -> T:
        store = await open_store(args.store, args.data)
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _token_create(args: argparse.Namespace) -> int:
    print(_with_store(args, lambda store: store.create_token(args.name)))
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    _with_store(args, lambda store: store.revoke_token(args.name))
    print(f"revoked {args.name}")
    return 0


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _token_list(args: argparse.Namespace) -> int:
    for info in _with_store(args, lambda store: store.list_tokens()):
        state = "active" if info.revoked_at is None else "revoked " + _when(info.revoked_at)
        print(f"{info.name}\tcreated {_when(info.created_at)}\t{state}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cardio-cloud``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    old_umask = os.umask(0o077)  # tokens and results: the service user's only (0600/0700)
    try:
        return int(args.func(args) or 0)
    except CloudError as exc:
        print(f"cardio-cloud: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        os.umask(old_umask)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
