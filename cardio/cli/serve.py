"""``cardio serve``: the local web UI (history, recordings, live view) on 127.0.0.1.

While it runs it announces itself in ``<data dir>/serve/<pid>.json`` so that ``cardio record``
can stream its progress to the live view (see :mod:`companion.web.publish`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import secrets
import signal
import sys

from typing import TYPE_CHECKING

from cardio.cli.common import EXIT_ERROR, EXIT_OK, add_store_options, config_from_args, run_command

if TYPE_CHECKING:
    from companion.config import CompanionConfig
    from companion.web.live import Recorder

log = logging.getLogger(__name__)
DEFAULT_PORT = 8765


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="local web UI: history, recordings, live view",
        description="Serve the history, each recording's report and a live view of `cardio record` "
        "on http://127.0.0.1:PORT (phone-sized layout).",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; anything else exposes your history)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any)")
    parser.add_argument("--simulate", action="store_true",
                        help="the Record button records from the built-in simulator instead of your device")
    parser.add_argument("--address", help="Bluetooth address of your device (default: search for it)")
    parser.add_argument("--no-sync", action="store_true", help="do not send recordings made here to the cloud")
    parser.add_argument("--cloud-url", metavar="URL", help="analysis service (default: `cardio cloud login`)")
    parser.add_argument("--token", metavar="TOKEN", help="API token (default: `cardio cloud login`)")
    parser.add_argument("--sim-source", default="synthetic:normal", metavar="SPEC",
                        help="simulator source for --simulate (default synthetic:normal; or a WFDB/CSV path)")
    parser.add_argument("--sim-speed", type=float, default=1.0, metavar="X",
                        help="simulated-time factor for --simulate (default 1 = real time)")
    add_store_options(parser)
    parser.set_defaults(func=run_serve)


async def serve(config: CompanionConfig, host: str, port: int, *, recorder: Recorder | None = None,
                record_label: str = "Record", ready: asyncio.Event | None = None) -> None:
    """Run the web UI until cancelled (or SIGINT/SIGTERM).

    ``recorder`` enables the record page's button (labelled ``record_label``).
    """
    from aiohttp import web  # the web stack loads after "Starting…" is on the terminal

    from companion.web.app import allowed_hosts_for, create_app
    from companion.web.publish import discovery_path, write_discovery

    allowed = allowed_hosts_for(host)
    token = secrets.token_urlsafe(24)
    app = create_app(config, allowed_hosts=allowed, recorder=recorder, record_label=record_label,
                     publish_token=token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    url_host = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
    url = f"http://{url_host}:{bound[1]}"
    config.ensure_dirs()
    write_discovery(config.data_dir, url, token)
    print(f"cardiolink web UI on {url}/  (history {config.db_path}; Ctrl-C to stop)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        discovery_path(config.data_dir).unlink(missing_ok=True)
        await runner.cleanup()


@run_command
def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    if not 0 <= args.port <= 65535:
        print("cardio: error: --port must be within 0..65535", file=sys.stderr)
        return EXIT_ERROR
    print("Starting the cardiolink app…", file=sys.stderr, flush=True)
    from companion.web.app import is_loopback_host

    config = config_from_args(args)
    if not is_loopback_host(args.host):
        log.warning("serving on %s: anyone who can reach this address can read and delete your history", args.host)
    from cardio.recorders import RecordSettings, make_recorder  # the simulator loads only when recording

    try:
        settings = RecordSettings(simulate=args.simulate, source=args.sim_source, speed=args.sim_speed,
                                  address=args.address, sync=not args.no_sync, cloud_url=args.cloud_url,
                                  token=args.token)
    except ValueError as exc:
        print(f"cardio: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    recorder = make_recorder(config, settings)
    try:
        asyncio.run(serve(config, args.host, args.port, recorder=recorder, record_label=settings.label))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"cardio: error: port {args.port} on {args.host} is already in use (is another `cardio serve` "
                  "running?); stop it or choose another port with --port N", file=sys.stderr)
        else:
            print(f"cardio: error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
