"""The in-process loopback cloud: the ``cardio`` command's default analysis service.

When no cloud is configured (:func:`companion.sync.resolve_cloud` returns None),
``cardio record`` and ``cardio sync`` run :mod:`cloud`'s service in this process on
``127.0.0.1`` with the data folder's own token (kept in a 0600 file, never revoked by
another process), so a new user sees the whole flow. The companion
still talks to it over HTTP through :mod:`cloud_client`; this module (part of the
``cardio`` wiring) is the only place that imports :mod:`cloud` for the companion.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from cloud_client import CloudClient
from companion.store import Store
from companion.sync import CloudSettings, SyncReport, resolve_cloud, sync_pending

LOCAL_CLIENT_NAME = "companion-local"
#: where a data folder keeps its in-process cloud token (mode 0600)
TOKEN_FILENAME = "companion.token"


@contextlib.asynccontextmanager
async def local_cloud(data_dir: Path, *, workers: int = 1) -> AsyncIterator[CloudSettings]:
    """Run the analysis service in this process on ``127.0.0.1`` (a free port).

    The embedded default when no cloud is configured: its state (results, hashed
    tokens) lives in ``<data_dir>/cloud`` so uploads stay idempotent across runs; the
    token is made once per data folder and shared, so concurrent companions never revoke
    each other's token (a spurious 401). The companion still talks to it over HTTP through
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
        token = _companion_token(TokenStore(conn), cloud_dir / TOKEN_FILENAME)
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


def _companion_token(tokens: Any, path: Path) -> str:
    """This data folder's token for its in-process cloud, kept in a 0600 file and shared by
    every companion process of the folder: none ever revokes a token another one uses.

    Made (by rotation: the same client, so earlier results stay readable) only when the
    file holds no active token, under an exclusive lock so concurrent first runs agree.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):
            token = path.read_text(encoding="ascii").strip()
            if token and tokens.verify(token) is not None:
                return token
        token = tokens.rotate(LOCAL_CLIENT_NAME)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="ascii") as fh:
            fh.write(token)
        os.replace(tmp, path)
        return token
    finally:
        os.close(fd)  # releases the lock


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
