"""The live view's plumbing: a hub that fans recording progress out to browsers.

Messages are small JSON objects, the same on every hop (recorder → hub → browsers):

``{"type": "start", "fs_hz": 300.0, "duration_s": 30.0, "device": "..."}``
    a recording begins (resets the view);
``{"type": "status", "message": "Place both fingers on the electrodes"}``
    a prompt or state change;
``{"type": "samples", "first_index": 1200, "mv": [0.012, ...]}``
    consecutive samples in millivolts, ``first_index`` counted from the recording's start;
``{"type": "done", "recording_id": 7, "result": "Normal sinus rhythm"}``
    the recording is stored (``recording_id`` may be null when it failed);
``{"type": "contact", "sample_index": 3600, "state": "lost" | "regained"}``
    electrode contact changed at that sample (marked on the trace);
``{"type": "error", "message": "..."}``
    the recording failed.

A recorder publishes either in-process (:meth:`LiveHub.publish`, used by the page's
"Record (simulated)" button) or from another process (``cardio record``) through the
``/live/publish`` websocket of ``cardio serve`` — see :mod:`companion.web.publish`.
Browsers subscribe at ``/live/ws`` and first receive a replay of the current session
(its start, the last statuses and the last ``REPLAY_S`` seconds of samples).
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

#: message types a publisher may send
MESSAGE_TYPES = frozenset({"start", "status", "samples", "contact", "done", "error"})
CONTACT_STATES = frozenset({"lost", "regained"})
#: seconds of samples replayed to a browser that joins mid-recording
REPLAY_S = 10.0
#: largest samples message accepted (values), about 10 s at 1 kHz
MAX_SAMPLES_PER_MESSAGE = 10_000
#: per-browser queue bound: a browser that falls this far behind is dropped
SUBSCRIBER_QUEUE = 512

#: signature of a recording started from the page: publish -> recording id
Recorder = Callable[[Callable[[dict[str, Any]], None]], Awaitable[int | None]]
#: the former name (a simulated recorder is one kind of recorder)
SimulatedRecorder = Recorder


class LiveMessageError(ValueError):
    """A publisher sent a message that is not part of the live protocol."""

    def __init__(self, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message)
        self.field_name = field_name


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LiveMessageError(f"{name} must be a finite number", field_name=name)
    return float(value)


def validate_message(msg: Any) -> dict[str, Any]:
    """Check a live message and return a clean copy.

    Raises
    ------
    LiveMessageError
        Unknown type, missing or wrong field.
    """
    if not isinstance(msg, dict):
        raise LiveMessageError("a live message must be a JSON object")
    kind = msg.get("type")
    if kind not in MESSAGE_TYPES:
        raise LiveMessageError(f"unknown message type {kind!r}", field_name="type")
    if kind == "start":
        fs_hz = _finite(msg.get("fs_hz"), "fs_hz")
        duration_s = _finite(msg.get("duration_s"), "duration_s")
        if not (0 < fs_hz <= 10_000 and 0 < duration_s <= 3600):
            raise LiveMessageError("fs_hz must be in (0, 10000] and duration_s in (0, 3600]")
        return {"type": kind, "fs_hz": fs_hz, "duration_s": duration_s, "device": str(msg.get("device") or "")}
    if kind == "samples":
        first = msg.get("first_index")
        values = msg.get("mv")
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise LiveMessageError("first_index must be a non-negative integer", field_name="first_index")
        if not isinstance(values, list) or len(values) > MAX_SAMPLES_PER_MESSAGE:
            raise LiveMessageError(f"mv must be a list of at most {MAX_SAMPLES_PER_MESSAGE} numbers", field_name="mv")
        return {"type": kind, "first_index": first, "mv": [round(_finite(v, "mv"), 4) for v in values]}
    if kind == "contact":
        index = msg.get("sample_index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise LiveMessageError("sample_index must be a non-negative integer", field_name="sample_index")
        if msg.get("state") not in CONTACT_STATES:
            raise LiveMessageError("state must be 'lost' or 'regained'", field_name="state")
        return {"type": kind, "sample_index": index, "state": msg["state"]}
    if kind == "done":
        rid = msg.get("recording_id")
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int)):
            raise LiveMessageError("recording_id must be an integer or null", field_name="recording_id")
        result = msg.get("result")
        return {"type": kind, "recording_id": rid, "result": None if result is None else str(result)[:200]}
    return {"type": kind, "message": str(msg.get("message") or "")[:500]}


class LiveHub:
    """Fan-out of live messages to subscribed browsers, remembering the current session."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._start: dict[str, Any] | None = None
        self._statuses: collections.deque[dict[str, Any]] = collections.deque(maxlen=5)
        self._samples: collections.deque[dict[str, Any]] = collections.deque()
        self._end: dict[str, Any] | None = None
        self.running_task: asyncio.Task[Any] | None = None

    @property
    def active(self) -> bool:
        """True while a session has started and not ended."""
        return self._start is not None and self._end is None

    def publish(self, msg: dict[str, Any]) -> None:
        """Validate a message, remember it for late joiners and send it to every browser."""
        clean = validate_message(msg)
        kind = clean["type"]
        if kind == "start":
            self._start, self._end = clean, None
            self._statuses.clear()
            self._samples.clear()
        elif kind in ("status", "contact"):
            self._statuses.append(clean)
        elif kind == "samples":
            self._samples.append(clean)
            self._trim()
        else:
            self._end = clean
        for queue in list(self._subscribers):
            if queue.full():
                self._subscribers.discard(queue)
                log.info("a live-view browser fell behind and was dropped")
                continue
            queue.put_nowait(clean)

    def _trim(self) -> None:
        if self._start is None:
            return
        keep = int(REPLAY_S * self._start["fs_hz"])
        total = sum(len(m["mv"]) for m in self._samples)
        while self._samples and total - len(self._samples[0]["mv"]) >= keep:
            total -= len(self._samples.popleft()["mv"])

    def replay(self) -> list[dict[str, Any]]:
        """Messages that bring a newly connected browser up to date."""
        if self._start is None:
            return []
        out = [self._start, *self._statuses, *self._samples]
        return out + ([self._end] if self._end else [])

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)


HUB_KEY = web.AppKey("live_hub", LiveHub)
PUBLISH_TOKEN_KEY = web.AppKey("live_publish_token", str)


async def browser_ws(request: web.Request) -> web.WebSocketResponse:
    """``GET /live/ws``: stream live messages to a browser."""
    hub = request.app[HUB_KEY]
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    queue = hub.subscribe()
    try:
        for msg in hub.replay():
            await ws.send_json(msg)
        reader = asyncio.ensure_future(ws.receive())
        while not ws.closed:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                getter.cancel()
                if reader.result().type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                reader = asyncio.ensure_future(ws.receive())
                continue
            await ws.send_json(getter.result())
        reader.cancel()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
        await ws.close()
    return ws


async def publish_ws(request: web.Request) -> web.WebSocketResponse:
    """``GET /live/publish``: a recorder in another process sends live messages.

    Needs ``Authorization: Bearer <token>`` with the token ``cardio serve`` wrote to its
    discovery file (readable only by the user). Bad messages are answered with an
    ``{"type": "rejected", ...}`` message and skipped; the connection stays open.
    """
    token = request.app[PUBLISH_TOKEN_KEY]
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise web.HTTPUnauthorized(text="publishing needs the token from cardio serve's discovery file")
    hub = request.app[HUB_KEY]
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    async for frame in ws:
        if frame.type != WSMsgType.TEXT:
            continue
        try:
            hub.publish(json.loads(frame.data))
        except (json.JSONDecodeError, LiveMessageError) as exc:
            await ws.send_json({"type": "rejected", "reason": str(exc)})
    return ws


async def start(request: web.Request, recorder: Recorder) -> web.Response:
    """Start a recording in this process (one at a time); the live view follows it."""
    hub = request.app[HUB_KEY]
    if hub.active or (hub.running_task is not None and not hub.running_task.done()):
        raise web.HTTPConflict(text="a recording is already running")

    async def run() -> None:
        try:
            rid = await recorder(hub.publish)
            if hub.active:
                hub.publish({"type": "done", "recording_id": rid, "result": None})
        except Exception as exc:  # the page must hear about any failure of the recorder
            log.warning("recording from the page failed: %s", exc)
            hub.publish({"type": "error", "message": f"recording failed: {exc}"})

    hub.running_task = asyncio.create_task(run())
    return web.json_response({"started": True}, status=202)
