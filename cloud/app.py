"""The aiohttp application of the analysis service: routes, auth, rate limit, problems.

``create_app(config)`` builds the application; running it (``cardio-cloud serve`` or
``aiohttp.web.AppRunner``) connects the store and the queue named by the config and,
with the embedded memory queue, starts the in-process worker; cleanup drains the queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from cloud import edge, webpage
from cloud.analysis import SERVICE_KEY, AnalysisService, Analyser, problem_body
from cloud.config import CloudConfig
from cloud.errors import AnalysisFailed, AnalysisTimeout, OverCapacity, QueueFull, RequestError, Unavailable
from cloud.openapi import openapi_document
from cloud.pipeline import analyse
from cloud.ratelimit import RateLimiter
from cloud.stores import StoredResult
from cloud.validation import AnalysisRequest, parse_body

log = logging.getLogger(__name__)

CONFIG_KEY = web.AppKey("config", CloudConfig)
LIMITER_KEY = web.AppKey("limiter", RateLimiter)
#: decompressed bodies smaller than this are parsed on the loop (well under a millisecond)
INLINE_PARSE_BYTES = 64 * 1024
PROBLEM_TYPE = "application/problem+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: CloudConfig, *, analyser: Analyser = analyse) -> web.Application:
    """Build the analysis service application.

    Parameters
    ----------
    config : CloudConfig
        Service settings (data folder, workers, limits).
    analyser : callable, optional
        Analysis function run by the workers (tests may wrap the real one).

    Returns
    -------
    aiohttp.web.Application
    """
    edge.install_log_redaction()
    app = web.Application(
        client_max_size=config.max_body_bytes, middlewares=[_headers, _problems],
        handler_args={"access_log_class": edge.SafeAccessLogger, "lingering_time": 0.0})
    app[CONFIG_KEY] = config
    app[LIMITER_KEY] = RateLimiter(config.rate_per_s, config.burst)
    app[edge.PARSE_KEY] = edge.ParsePool(config.executor, config.parse_workers, config.parse_waiting)
    app[edge.BODY_TIMEOUT_KEY] = config.body_timeout_s
    app[edge.BODY_BUDGET_KEY] = edge.BodyBudget(config.body_budget_bytes, config.client_body_budget_bytes)
    app.cleanup_ctx.append(_lifecycle(analyser))
    app.router.add_post("/v1/analyses", post_analysis, expect_handler=edge.expect_handler(config.max_body_bytes))
    app.router.add_get("/v1/analyses/{recordId}", get_analysis)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    webpage.setup(app)  # the web page for people (GET /, POST /analyse): cloud/webpage.py
    return app


def _lifecycle(analyser: Analyser) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        service = AnalysisService(app[CONFIG_KEY], analyser=analyser)
        await service.start()
        app[SERVICE_KEY] = service
        app[edge.PARSE_KEY].start()
        edge.quiet_loop_errors(asyncio.get_running_loop())
        try:
            yield
        finally:
            await service.stop()
            app[edge.PARSE_KEY].stop()

    return lifecycle


def problem(status: int, slug: str, detail: str, **extra: Any) -> web.Response:
    """An RFC 9457 ``application/problem+json`` response."""
    body = {
        "type": f"https://cardiolink.invalid/problems/{slug}",
        "title": slug.replace("-", " "),
        "status": status,
        "detail": detail,
    }
    headers = extra.pop("headers", None)
    body.update(extra)
    return _json(body, status=status, content_type=PROBLEM_TYPE, headers=headers)


def _json(
    body: Any, *, status: int = 200, content_type: str = "application/json", headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type=content_type, headers=headers)


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``nosniff`` on every answer; the web page adds its own CSP (cloud/webpage.py)."""
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


#: statuses after which the rest of the request body is not read: the connection is closed
_CLOSE_STATUSES = frozenset({400, 408, 413, 415})


@web.middleware
async def _problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into a problem document (never an HTML page)."""
    try:
        return await handler(request)
    except RequestError as exc:
        response = _json(problem_body(exc), status=exc.status, content_type=PROBLEM_TYPE)
        if exc.status in _CLOSE_STATUSES:
            response.force_close()
        return response
    except Unavailable as exc:  # a backend is down or full: the client should retry later
        return unavailable(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
        slug = (exc.reason or "error").lower().replace(" ", "-")
        return problem(exc.status, slug, exc.text or exc.reason, headers=headers)
    except Exception:  # a bug: answer in the API's form, keep the details in the log
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "internal-error", "unexpected server error; it has been logged")


def unavailable(exc: Unavailable) -> web.Response:
    """503 problem with ``Retry-After`` for a backend that cannot answer now."""
    return problem(
        503, f"{exc.what}-unavailable", str(exc), headers={"Retry-After": RateLimiter.retry_after_header(exc.retry_after_s)}
    )


async def _authorise(request: web.Request) -> str:
    """Client id of the bearer token, after the rate limit; raises 401/429/503."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    service = request.app[SERVICE_KEY]
    found = await service.store.verify_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    client = found.id if found is not None else None
    if client is None:
        service.metrics.count("unauthorised")
        raise web.HTTPUnauthorized(
            text="missing, unknown or revoked bearer token", headers={"WWW-Authenticate": 'Bearer realm="cardiolink"'}
        )
    wait_s = request.app[LIMITER_KEY].acquire(client)
    if wait_s > 0:
        service.metrics.count("rateLimited")
        raise web.HTTPTooManyRequests(
            text=f"rate limit of {request.app[LIMITER_KEY].rate_per_s:g} requests/s exceeded",
            headers={"Retry-After": RateLimiter.retry_after_header(wait_s)},
        )
    return client


async def post_analysis(request: web.Request) -> web.Response:
    """``POST /v1/analyses``: analyse one recording (idempotent by ``recordId``)."""
    service = request.app[SERVICE_KEY]
    service.metrics.count("requests")
    client = await _authorise(request)
    try:
        await service.precheck(client)
    except Unavailable as exc:
        service.metrics.count("unavailable")
        return unavailable(exc)
    try:
        received = [await _receive(request, client)]  # handed on below, not kept while waiting
    except RequestError:
        service.metrics.count("rejected")
        raise
    except OverCapacity as exc:  # the body would go over the body budget: its rest is not read
        service.metrics.count("unavailable")
        response = unavailable(exc)
        response.force_close()
        return response
    try:
        result = await service.submit(client, received.pop())
    except QueueFull as exc:
        service.metrics.count("queueFull")
        return problem(503, "queue-full", str(exc), headers={"Retry-After": "1"})
    except Unavailable as exc:
        service.metrics.count("unavailable")
        return unavailable(exc)
    except AnalysisTimeout as exc:
        return problem(504, "analysis-timeout", str(exc), recordId=exc.record_id)
    except AnalysisFailed as exc:
        return problem(500, "analysis-failed", str(exc), recordId=exc.record_id, attempts=exc.attempts)
    content_type = "application/json" if result.http_status == 200 else PROBLEM_TYPE
    return _json(result.body, status=result.http_status, content_type=content_type)


async def _receive(request: web.Request, client: str) -> AnalysisRequest:
    """The body, read within the body budget and parsed; its bytes are held (and the body
    kept alive) only until it is parsed, not while the analysis is awaited."""
    config = request.app[CONFIG_KEY]
    hold = request.app[edge.BODY_BUDGET_KEY].hold(client)
    try:
        body = await edge.read_body(request, max_bytes=config.max_body_bytes, timeout_s=config.body_timeout_s, hold=hold)
        if len(body) < INLINE_PARSE_BYTES:
            return parse_body(body)
        return await request.app[edge.PARSE_KEY].run(parse_body, body)
    finally:
        hold.release()


async def get_analysis(request: web.Request) -> web.Response:
    """``GET /v1/analyses/{recordId}``: a stored answer, 202 while pending, 404 when
    unknown or lost (``analysis-lost``: accepted, but nothing will answer; send it again)."""
    client = await _authorise(request)
    record_id = request.match_info["recordId"]
    service = request.app[SERVICE_KEY]
    stored = await service.lookup(client, record_id)
    if isinstance(stored, StoredResult):
        content_type = "application/json" if stored.http_status == 200 else PROBLEM_TYPE
        return _json(stored.body, status=stored.http_status, content_type=content_type)
    if stored == "pending":
        return _json({"status": "pending", "recordId": record_id}, status=202)
    if stored == "lost":
        return problem(
            404, "analysis-lost",
            f"the recording sent with recordId {record_id!r} was accepted but its analysis was lost (the service "
            "restarted or failed before it was queued) and nothing will answer it; send the same recording again "
            "with the same recordId",
            recordId=record_id,
        )
    return problem(404, "not-found", f"no analysis with recordId {record_id!r} for this token")


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: 200 when the store and the queue answer, else 503 saying which
    does not (no token needed)."""
    healthy, doc = await request.app[SERVICE_KEY].health()
    return _json(doc, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: queue depth, counters, latency percentiles (no token needed; the
    count of stored answers is at most ``STORED_COUNT_TTL_S`` old)."""
    service = request.app[SERVICE_KEY]
    stats = await service.queue.stats()
    snapshot = service.metrics.snapshot(
        queue_depth=stats.jobs,
        in_flight=service.in_flight,
        workers=service.worker.concurrency if service.worker else 0,
        stored_results=await service.stored_results(),
    )
    snapshot["queueBytes"], snapshot["deadLetters"] = stats.bytes, stats.dead_letters
    return _json(snapshot)


async def openapi(request: web.Request) -> web.Response:
    """``GET /openapi.json``: the OpenAPI 3 description of this API."""
    return _json(openapi_document(request.app[CONFIG_KEY]))
