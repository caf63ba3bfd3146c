"""The service's edge: what a request must pass before the engine sees it.

- :func:`read_body`: a request body, refused by its declared ``Content-Length`` before
  any byte is read, counted **after decompression** while it is read (gzip/deflate; any
  other ``Content-Encoding`` is refused), and read under one deadline, so a client that
  stops mid-body gets a 408 and its socket back instead of holding it forever.
- :class:`BodyBudget`: the bytes of request bodies held at once (received, decompressed,
  not yet parsed) are bounded in total and per client; a body that would go over is
  refused with ``503 capacity-unavailable`` + ``Retry-After`` — from its declared length
  before a byte is read, or as it grows — so neither one client with many concurrent
  uploads nor many senders together can make the server hold bodies without bound, and
  one client cannot take the whole budget from the others.
- :func:`expect_handler`: answers ``Expect: 100-continue`` with the refusal (413/415)
  instead of inviting a body that will be refused.
- :class:`ParsePool`: parsing (JSON, CSV) runs off the event loop in its own small pool,
  separate from the analysis workers; when it is saturated new bodies get an early 503
  with ``Retry-After`` instead of queueing without bound. Process pools are started with
  ``forkserver`` so parse processes never inherit the server's signal handlers.
- :class:`RedactSecrets` and :class:`SafeAccessLogger`: bearer tokens and query strings
  never reach a log line; :func:`quiet_loop_errors` keeps one repeated loop error (e.g.
  "too many open files" on accept) from flooding the log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import re
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from cloud.errors import OverCapacity, RequestError

log = logging.getLogger(__name__)

T = TypeVar("T")
#: the app's body deadline (set by cloud.app.create_app, used by the web page too; PARSE_KEY below)
BODY_TIMEOUT_KEY = web.AppKey("body_timeout_s", float)
#: content codings whose bytes the server decodes (aiohttp decompresses them as they arrive)
DECODED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
#: same message from the event loop's exception handler at most once per this many seconds
LOOP_ERROR_INTERVAL_S = 10.0
#: distinct messages remembered for that (forgotten all at once beyond it, as Throttle does)
LOOP_ERROR_KEYS = 1000
_CHUNK_BYTES = 64 * 1024


def _too_large(max_bytes: int, what: str) -> RequestError:
    return RequestError(f"{what} is larger than the {max_bytes:,} byte limit (counted after decompression)",
                        status=413, problem="payload-too-large")


def check_declared(request: web.BaseRequest, max_bytes: int) -> None:
    """Refuse a body by its headers alone: declared length over *max_bytes*, or an
    unsupported ``Content-Encoding`` (raises :class:`RequestError` 413/415)."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in DECODED_ENCODINGS:
        raise RequestError(f"Content-Encoding {encoding[:40]!r} is not supported (use gzip, deflate or none)",
                           status=415, problem="unsupported-content-encoding")
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes, f"declared body ({declared:,} bytes)")


class BodyBudget:
    """Bytes of request bodies held at once, in total and per client.

    Parameters
    ----------
    total_bytes : int
        All bodies being received or parsed together.
    client_bytes : int
        Those of one client (token, or the web page's sender address).
    """

    def __init__(self, total_bytes: int, client_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.client_bytes = client_bytes
        self.used = 0
        self._by_client: dict[str, int] = {}

    def hold(self, client: str) -> BodyHold:
        """An empty hold for one body of *client* (grow it as the body arrives; release it)."""
        return BodyHold(self, client)

    def _take(self, client: str, n: int) -> None:
        mine = self._by_client.get(client, 0)
        if mine + n > self.client_bytes:
            raise OverCapacity(f"this client's request bodies being received exceed {self.client_bytes:,} bytes", 1.0)
        if self.used + n > self.total_bytes:
            raise OverCapacity(f"request bodies being received exceed {self.total_bytes:,} bytes", 1.0)
        self._by_client[client] = mine + n
        self.used += n

    def _give(self, client: str, n: int) -> None:
        left = self._by_client.get(client, 0) - n
        if left > 0:
            self._by_client[client] = left
        else:
            self._by_client.pop(client, None)
        self.used -= n


class BodyHold:
    """What one body holds of a :class:`BodyBudget` (idempotent :meth:`release`)."""

    def __init__(self, budget: BodyBudget, client: str) -> None:
        self.budget, self.client = budget, client
        self.bytes = 0

    def grow_to(self, n: int) -> None:
        """Hold *n* bytes in all (no change when already holding that much).

        Raises
        ------
        OverCapacity
            The client's share or the total would be exceeded (nothing more is held).
        """
        if n > self.bytes:
            self.budget._take(self.client, n - self.bytes)
            self.bytes = n

    def release(self) -> None:
        if self.bytes:
            self.budget._give(self.client, self.bytes)
            self.bytes = 0


async def read_body(request: web.BaseRequest, *, max_bytes: int, timeout_s: float, hold: BodyHold | None = None) -> bytes:
    """The request body, decompressed, at most *max_bytes*, read within *timeout_s*;
    with *hold*, its bytes (the declared length at once, then as they arrive) are held in
    a :class:`BodyBudget` (the caller releases them once the body is parsed).

    Raises
    ------
    RequestError
        413 too large (declared or counted), 415 unsupported encoding, 400 a body that
        does not decode, 408 not received within the deadline.
    OverCapacity
        The body does not fit in the budget (503 ``capacity-unavailable``; the caller
        closes the connection: the rest of the body is not read).
    """
    check_declared(request, max_bytes)
    data = bytearray()
    try:
        if hold is not None and request.content_length is not None:
            hold.grow_to(request.content_length)  # refused before a byte is read
        async with asyncio.timeout(timeout_s):
            while chunk := await request.content.read(_CHUNK_BYTES):
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise _too_large(max_bytes, "body")
                if hold is not None:
                    hold.grow_to(len(data))
    except TimeoutError:
        raise RequestError(f"the body was not received within {timeout_s:g} s", status=408,
                           problem="body-timeout") from None
    except (HttpProcessingError, RequestPayloadError, web.HTTPException, ValueError) as exc:
        raise RequestError(f"the body cannot be read: {_reason(exc)}", status=400, problem="malformed-body") from None
    return bytes(data)


def _reason(exc: BaseException) -> str:
    """The most specific line of an aiohttp error ("400, message:\n  Can not decode ..." → its last line)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1][:200] if lines else type(exc).__name__


def expect_handler(max_bytes: int) -> Callable[[web.Request], Any]:
    """An ``expect_handler`` for a route: refuse before ``100 Continue`` when the headers
    already show the body will be refused."""

    async def handle(request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("Expect", "").lower() != "100-continue" or request.version < (1, 1):
            raise web.HTTPExpectationFailed(text="only 'Expect: 100-continue' is understood")
        try:
            check_declared(request, max_bytes)
        except RequestError as exc:
            response = web.json_response(
                {"type": f"https://cardiolink.invalid/problems/{exc.problem}", "title": exc.problem.replace("-", " "),
                 "status": exc.status, "detail": exc.detail},
                status=exc.status, content_type="application/problem+json")
            response.force_close()
            return response
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        return None

    return handle


def warm_up() -> None:
    """Import the parsers in a fresh parse worker (so the first request does not pay for it)."""
    import cloud.validation  # noqa: F401
    import cloud.webpage  # noqa: F401


class ParsePool:
    """A small bounded pool for parsing request bodies, apart from the analysis workers.

    Parameters
    ----------
    kind : {"process", "thread"}
        Processes keep a long parse from holding the server's GIL; threads start fast (tests).
    workers : int
        Parses running at once.
    max_waiting : int
        Parses allowed to wait for a worker; beyond that :meth:`run` answers 503.
    """

    def __init__(self, kind: str, workers: int, max_waiting: int) -> None:
        self.kind = kind
        self.workers = workers
        self.max_waiting = max_waiting
        self._executor: concurrent.futures.Executor | None = None
        self._slots = asyncio.Semaphore(workers)
        self._waiting = 0

    def _new_executor(self) -> concurrent.futures.Executor:
        if self.kind == "process":
            return concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("forkserver"))
        return concurrent.futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="parse")

    def start(self) -> None:
        """Create the executor (call from the running server) and start its workers."""
        self._executor = self._new_executor()
        for _ in range(self.workers):
            self._executor.submit(warm_up)

    def stop(self) -> None:
        """Shut the executor down, cancelling parses not started."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` in the pool; exceptions of *func* propagate unchanged.

        Raises
        ------
        aiohttp.web.HTTPServiceUnavailable
            The pool is saturated, or a parse process died (the pool is renewed).
        """
        if self._waiting >= self.max_waiting + self.workers:
            raise web.HTTPServiceUnavailable(text="the service is busy parsing other requests; retry shortly",
                                             headers={"Retry-After": "1"})
        if self._executor is None:
            self.start()
        self._waiting += 1
        try:
            async with self._slots:
                executor = self._executor
                try:
                    return await asyncio.get_running_loop().run_in_executor(executor, func, *args)
                except BrokenProcessPool:
                    log.warning("a parse process died; starting a new parse pool")
                    if self._executor is executor and executor is not None:
                        self._executor = self._new_executor()
                        executor.shutdown(wait=False, cancel_futures=True)
                    raise web.HTTPServiceUnavailable(text="the parser restarted; retry shortly",
                                                     headers={"Retry-After": "1"}) from None
        finally:
            self._waiting -= 1


#: the app's parse pool (set by cloud.app.create_app, used by the web page too)
PARSE_KEY = web.AppKey("parse_pool", ParsePool)
#: the app's body budget (set by cloud.app.create_app, used by the web page too)
BODY_BUDGET_KEY = web.AppKey("body_budget", BodyBudget)


# --- logs ----------------------------------------------------------------------------------------

_SECRET_PATTERNS = (
    (re.compile(r"(?i)(bearer\s+)[^\s'\",;]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(\b(?:access_token|token|csrf|api_key)=)[^&\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(authorization\s*[:=]\s*)[^\r\n'\"]+"), r"\1[redacted]"),
)


def redact(text: str) -> str:
    """*text* with bearer tokens, ``token=``/``access_token=`` values and Authorization headers masked.

    Examples
    --------
    >>> redact("GET /v1/x?access_token=abc HTTP/1.1 Authorization: Bearer abc")
    'GET /v1/x?access_token=[redacted] HTTP/1.1 Authorization: [redacted]'
    """
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Logging filter that rewrites every record through :func:`redact` (message,
    arguments and exception text), so no token reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = None
        return True


#: loggers that see request data: aiohttp's and ours
SERVER_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.internal", "asyncio", "cloud")


class Throttle(logging.Filter):
    """Let one record with a given message through at most once per *interval_s*."""

    def __init__(self, interval_s: float = LOOP_ERROR_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"[:200]
        now = time.monotonic()
        if now - self._last.get(key, -self.interval_s) < self.interval_s:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = now
        return True


#: loggers that aiohttp writes once per bad request or connection (flooded by one client otherwise)
THROTTLED_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.internal", "asyncio")


def install_log_redaction() -> None:
    """Attach one :class:`RedactSecrets` to every logger that can see request data and to
    the root logger's handlers (which also see records propagated from child loggers);
    idempotent."""
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in SERVER_LOGGERS]
    targets += logging.getLogger().handlers
    for name in THROTTLED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, Throttle) for f in logger.filters):
            logger.filters.insert(0, Throttle())
    for target in targets:
        if not any(isinstance(f, RedactSecrets) for f in target.filters):
            target.addFilter(RedactSecrets())


class SafeAccessLogger(AbstractAccessLogger):
    """One access-log line per request: method, path **without the query**, status, size, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:  # noqa: A002
        # (``time`` is the base class' parameter name, seconds the request took)
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info('%s "%s %s" %s %s %.3fs', request.remote, request.method, request.rel_url.path[:200],
                             response.status, response.body_length, time)


def quiet_loop_errors(loop: asyncio.AbstractEventLoop, interval_s: float = LOOP_ERROR_INTERVAL_S) -> None:
    """Make *loop* log each distinct error message at most once per *interval_s*."""
    last: dict[str, float] = {}
    suppressed: dict[str, int] = {}

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        key = str(context.get("message", ""))[:120]
        now = time.monotonic()
        if now - last.get(key, -interval_s) < interval_s:
            suppressed[key] = suppressed.get(key, 0) + 1
            return
        if len(last) >= LOOP_ERROR_KEYS:  # messages may name objects (addresses): never a dict without bound
            last.clear()
            suppressed.clear()
        last[key] = now
        count = suppressed.pop(key, 0)
        if count:
            log.error("%s (and %d more like it in the last %.0f s)", key, count, interval_s)
        exc = context.get("exception")
        log.error("event loop: %s%s", key, f" ({type(exc).__name__}: {exc})" if exc else "")

    loop.set_exception_handler(handler)
