"""``cardio sync``: send pending recordings to the cloud analysis service.

Exit codes: 0 everything due was sent (or nothing was due), 1 error (e.g. token
refused), 75 the cloud was unreachable and recordings stay queued (try again later).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from cardio.cli.common import EXIT_OK, add_store_options, config_from_args, print_json, run_command
from companion.localtime import when_text
from companion.store import Store
from cardio.local_cloud import cloud_client_for
from companion.sync import ENV_CLOUD_TOKEN, ENV_CLOUD_URL, CloudAuthError, resolve_cloud, sync_pending

EXIT_TEMPFAIL = 75


def add_cloud_options(parser: argparse.ArgumentParser) -> None:
    """``--cloud-url`` and ``--token`` (also used by ``cardio record``)."""
    parser.add_argument("--cloud-url", metavar="URL", help=f"analysis service (default ${ENV_CLOUD_URL} or cloud.json)")
    parser.add_argument("--token", metavar="TOKEN", help=f"API token (default ${ENV_CLOUD_TOKEN} or cloud.json)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="send pending recordings to the cloud analysis service",
        description="Send the outbox to the cloud. Without any cloud configured, an in-process service on "
        "loopback is used.",
    )
    add_store_options(parser)
    add_cloud_options(parser)
    parser.add_argument("--limit", type=int, default=50, help="most recordings sent in one run (default 50)")
    parser.set_defaults(func=cmd_sync)


@run_command
def cmd_sync(args: argparse.Namespace) -> int:
    """Send what is due; report sent / rejected / still queued."""
    config = config_from_args(args)
    data_dir = Path(config.data_dir)
    settings = resolve_cloud(url=args.cloud_url, token=args.token, data_dir=data_dir)
    with Store.open(config) as store:
        try:
            report = asyncio.run(_sync(store, settings, data_dir, args.limit))
        except CloudAuthError as exc:
            raise CloudAuthError(f"{exc}. Your recordings stay queued; save a valid token with "
                                 "`cardio cloud login URL --token T`, then run `cardio sync`") from None
        waiting = [i for i in store.outbox() if i.state in ("pending", "sending")]
    if args.json:
        print_json({**report.to_dict(), "queued": [i.recording_id for i in waiting]})
    else:
        where = settings.url if settings else "in-process cloud"
        print(f"sync with {where}: {len(report.sent)} sent, {len(report.rejected)} rejected, {len(waiting)} queued")
        for rid in report.rejected:
            print(f"  recording {rid} rejected by the cloud (see `cardio show {rid}`)")
        if report.offline_reason:
            nxt = min(i.next_try_at for i in waiting) if waiting else None
            print(f"  cloud unreachable ({report.offline_reason}); recordings stay queued"
                  + (f", next try after {when_text(nxt, seconds=True)}" if nxt else ""))
    return EXIT_TEMPFAIL if report.offline_reason else EXIT_OK


async def _sync(store: Store, settings: Any, data_dir: Path, limit: int) -> Any:
    async with cloud_client_for(settings, data_dir, max_attempts=3, timeout_s=30.0) as client:
        return await sync_pending(store, client, limit=limit)
