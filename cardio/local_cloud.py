"""The in-process loopback cloud: the ``cardio`` command's default analysis service.

When no cloud is configured (:func:`companion.sync.resolve_cloud` returns None),
``cardio record`` and ``cardio sync`` run :mod:`cloud`'s service in this process on
``127.0.0.1`` with a fresh token, so a new user sees the whole flow. The companion
still talks to it over HTTP through :mod:`cloud_client`; this module (part of the
``cardio`` wiring) is the only place that imports :mod:`cloud` for the companion.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from cloud_client import CloudClient
from companion.store import Store
from companion.sync import CloudSettings, SyncReport, resolve_cloud, sync_pending

LOCAL_CLIENT_NAME = "companion-local"


@contextlib.asynccontextmanager
async def local_cloud(data_dir: Path, *, workers: int = 1) -> AsyncIterator[CloudSettings]:
    """Run the analysis service in this process on ``127.0.0.1`` (a free port).

    The embedded default when no cloud is configured: its state (results, hashed
    tokens) lives in ``<data_dir>/cloud`` so uploads stay idempotent across runs; a
    fresh token is made each time. The companion still talks to it over HTTP through
    :mod:`cloud_client`; only this module imports :mod:`cloud`.

    Examples
    --------
    >>> async with local_cloud(Path("/tmp/cl")) as settings:  # doctest: +SKIP
    ...     async with CloudClient(settings.url, settings.token) as client:
    ...         await sync_pending(store, client)
    """
    from aiohttp import web

    from cloud.app import create_app  # the embedded default service (see docstring)
    from cloud.config import CloudConfig
    from cloud.storage import TokenStore, open_db

    cloud_dir = Path(data_dir) / "cloud"
    conn = open_db(cloud_dir)
    try:
        token = TokenStore(conn).rotate(LOCAL_CLIENT_NAME)  # same client: earlier results stay readable
    finally:
        conn.close()
    runner = web.AppRunner(create_app(CloudConfig(data_dir=cloud_dir, workers=workers, executor="thread")))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield CloudSettings(url=f"http://127.0.0.1:{port}", token=token, source="in-process")
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def cloud_client_for(settings: CloudSettings | None, data_dir: Path, **client_options: Any) -> AsyncIterator[CloudClient]:
    """A :class:`CloudClient` for *settings*, or for an in-process cloud when None."""
    async with contextlib.AsyncExitStack() as stack:
        if settings is None:
            settings = await stack.enter_async_context(local_cloud(data_dir))
        client = await stack.enter_async_context(CloudClient(settings.url, settings.token, **client_options))
        yield client


async def after_record(
    store: Store,
    data_dir: Path,
    *,
    cloud_url: str | None = None,
    token: str | None = None,
    env: Mapping[str, str] | None = None,
) -> SyncReport:
    """End of ``cardio record``: send what is pending (the new recording included).

    Uses the configured cloud, or an in-process one when none is configured. Never
    raises for an unreachable cloud: items stay queued for ``cardio sync``.
    """
    settings = resolve_cloud(url=cloud_url, token=token, data_dir=data_dir, env=env)
    async with cloud_client_for(settings, data_dir, max_attempts=2, timeout_s=30.0) as client:
        return await sync_pending(store, client)
