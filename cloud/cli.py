"""``cardio-cloud``: run the analysis service and manage its tokens.

Examples
--------
::

    cardio-cloud token create alice --data ./cloud-data   # prints the token once
    cardio-cloud serve --host 127.0.0.1 --port 8080 --data ./cloud-data
    cardio-cloud token list --data ./cloud-data
    cardio-cloud token revoke alice --data ./cloud-data
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cloud.config import CloudConfig
from cloud.errors import CloudError
from cloud.storage import TokenStore, open_db

#: environment variable giving the default ``--data`` folder
ENV_DATA = "CARDIOLINK_CLOUD_DATA"
DEFAULT_DATA = "cloud-data"


def _data_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get(ENV_DATA, DEFAULT_DATA)),
        help=f"folder of cloud.sqlite (tokens, results); default ${ENV_DATA} or ./{DEFAULT_DATA}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardio-cloud", description="cardiolink cloud analysis service")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the HTTP analysis API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    _data_arg(serve)
    serve.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="analyses at once (default: cores)")
    serve.add_argument("--executor", choices=("process", "thread"), default="process")
    serve.add_argument("--timeout", type=float, default=30.0, help="seconds before a request gets a failure answer")
    serve.add_argument("--rate", type=float, default=200.0, help="requests/s allowed per token")
    serve.add_argument("--burst", type=int, default=400, help="burst size of the per-token rate limit")
    serve.set_defaults(func=_serve)
    token = sub.add_parser("token", help="create, revoke or list API tokens")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    for action, func, help_text in (
        ("create", _token_create, "make a token for NAME and print it (shown once)"),
        ("revoke", _token_revoke, "revoke NAME's token"),
    ):
        p = token_sub.add_parser(action, help=help_text)
        p.add_argument("name")
        _data_arg(p)
        p.set_defaults(func=func)
    listing = token_sub.add_parser("list", help="list token names (never the tokens)")
    _data_arg(listing)
    listing.set_defaults(func=_token_list)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from cloud.app import create_app

    config = CloudConfig(
        data_dir=args.data,
        workers=args.workers,
        executor=args.executor,
        timeout_s=args.timeout,
        rate_per_s=args.rate,
        burst=args.burst,
    )
    conn = open_db(config.data_dir)
    if not any(t.revoked_at is None for t in TokenStore(conn).list()):
        print(f"no active token yet: cardio-cloud token create NAME --data {config.data_dir}", file=sys.stderr)
    conn.close()
    web.run_app(create_app(config), host=args.host, port=args.port, print=lambda m: print(m, flush=True))
    return 0


def _token_create(args: argparse.Namespace) -> int:
    conn = open_db(args.data)
    try:
        print(TokenStore(conn).create(args.name))
    finally:
        conn.close()
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    conn = open_db(args.data)
    try:
        TokenStore(conn).revoke(args.name)
    finally:
        conn.close()
    print(f"revoked {args.name}")
    return 0


def _token_list(args: argparse.Namespace) -> int:
    conn = open_db(args.data)
    try:
        for info in TokenStore(conn).list():
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(info.created_at))
            state = "active" if info.revoked_at is None else "revoked " + time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(info.revoked_at)
            )
            print(f"{info.name}\tcreated {created}\t{state}")
    finally:
        conn.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cardio-cloud``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CloudError as exc:
        print(f"cardio-cloud: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
