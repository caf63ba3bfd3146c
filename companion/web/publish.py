"""How a recorder in another process (``cardio record``) feeds ``cardio serve``'s live view.

Each ``cardio serve`` writes its own discovery file ``<data dir>/serve/<pid>.json`` (folder
0700, file 0600) holding its URL and a random publish token, and removes only that file
when it stops; a recorder publishes to the newest one whose process is alive. A recorder does::

    async with LivePublisher.discover(config) as live:   # a no-op when serve is not running
        live.start(fs_hz=300.0, duration_s=30.0, device="cardiolink-sim")
        live.status("Place both fingers on the electrodes")
        live.samples(first_index, samples_mv)             # as they arrive
        live.done(recording_id, result="Normal sinus rhythm")

Every method is fire-and-forget and never raises: the live view must never disturb a
recording. Messages are queued (bounded; the oldest samples are dropped first when the
link is slow) and sent by a background task over the ``/live/publish`` websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

DISCOVERY_DIRNAME = "serve"
#: messages held while the websocket is slow; samples beyond this are dropped
QUEUE_LIMIT = 256


def discovery_dir(data_dir: Path) -> Path:
    """The folder where each running ``cardio serve`` of a data folder announces itself."""
    return Path(data_dir) / DISCOVERY_DIRNAME


def discovery_path(data_dir: Path, pid: int | None = None) -> Path:
    """The discovery file of one ``cardio serve`` process (default: this process).

    One file per server, so a second server never overwrites or deletes the first's.
    """
    return discovery_dir(data_dir) / f"{os.getpid() if pid is None else int(pid)}.json"


def write_discovery(data_dir: Path, url: str, token: str) -> Path:
    """Announce a running ``cardio serve`` (folder 0700, file 0600: readable by the user only)."""
    path = discovery_path(data_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"url": url, "publish_token": token, "pid": os.getpid()}, fh)
    os.replace(tmp, path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_discovery(data_dir: Path) -> tuple[str, str] | None:
    """``(url, token)`` of the most recently started ``cardio serve`` still running, or None."""
    try:
        paths = sorted(discovery_dir(data_dir).glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None
    for path in paths:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            pid = int(info["pid"])
            if _alive(pid):
                return str(info["url"]), str(info["publish_token"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


class LivePublisher:
    """Sends live messages to ``cardio serve``; every method is safe to call when it is absent.

    Parameters
    ----------
    url : str or None
        Base URL of ``cardio serve`` (None: publish nowhere).
    token : str
        Publish token from the discovery file.
    """

    def __init__(self, url: str | None, token: str = "") -> None:
        self.url = url
        self.token = token
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.connected = False

    @classmethod
    def discover(cls, config: Any) -> LivePublisher:
        """A publisher for the ``cardio serve`` of ``config.data_dir`` (no-op if none runs)."""
        found = read_discovery(config.data_dir)
        return cls(*found) if found else cls(None)

    async def __aenter__(self) -> LivePublisher:
        if self.url:
            self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is None:
            return
        self._put(None)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout=2.0)
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        if self.url is None:
            return
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=2.0)) as session:
                async with session.ws_connect(self.url.rstrip("/") + "/live/publish", headers=headers) as ws:
                    self.connected = True
                    while True:
                        msg = await self._queue.get()
                        if msg is None:
                            break
                        await ws.send_str(json.dumps(msg))
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            log.debug("live view not reachable (%s); recording continues without it", exc)
        finally:
            self.connected = False

    def _put(self, msg: dict[str, Any] | None) -> None:
        if self._task is None or self._task.done():
            return
        if self._queue.full():
            self.dropped += 1
            if msg is None or msg.get("type") != "samples":
                with contextlib.suppress(asyncio.QueueEmpty):
                    self._queue.get_nowait()
            else:
                return
        self._queue.put_nowait(msg)

    def start(self, *, fs_hz: float, duration_s: float, device: str = "") -> None:
        """A recording begins."""
        self._put({"type": "start", "fs_hz": float(fs_hz), "duration_s": float(duration_s), "device": device})

    def status(self, message: str) -> None:
        """A prompt or state change shown above the trace."""
        self._put({"type": "status", "message": message})

    def samples(self, first_index: int, samples_mv: Sequence[float]) -> None:
        """Consecutive samples (millivolts) starting at ``first_index``."""
        values = [round(float(v), 4) if math.isfinite(v) else 0.0 for v in samples_mv]
        for i in range(0, len(values), 2000):
            self._put({"type": "samples", "first_index": int(first_index) + i, "mv": values[i : i + 2000]})

    def done(self, recording_id: int | None, result: str | None = None) -> None:
        """The recording is stored (or failed, with ``recording_id=None``)."""
        self._put({"type": "done", "recording_id": recording_id, "result": result})

    def error(self, message: str) -> None:
        """The recording failed."""
        self._put({"type": "error", "message": message})
