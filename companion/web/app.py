"""The companion's local web UI (``cardio serve``): history, one recording, live view.

It stands in for the phone app, so it binds to 127.0.0.1 by default and guards against
the usual attacks on a local server: requests must name a loopback ``Host`` (no DNS
rebinding) unless the operator chose another bind address, and every state-changing form
carries a per-process CSRF token.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import io
import secrets
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from companion.config import CompanionConfig
from companion.errors import CompanionError, RecordingNotFoundError
from companion.export import export, record_name
from companion.store import Store
from companion.web import live, views
from companion.web.present import report_header, report_signal_mv
from ecg.errors import EcgError
from ecg.report import FORMATS, render_report_bytes

STATIC_DIR = Path(__file__).parent / "static"
STORE_KEY = web.AppKey("store", Store)
CONFIG_KEY = web.AppKey("config", CompanionConfig)
CSRF_KEY = web.AppKey("csrf", str)
HOSTS_KEY = web.AppKey("allowed_hosts", frozenset)
CACHE_KEY = web.AppKey("report_cache", OrderedDict)
SIMULATE_KEY = web.AppKey("simulate", object)
#: Host header names accepted by default
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: reports kept rendered in memory
CACHE_SIZE = 16
#: recordings listed at most on the history page
HISTORY_LIMIT = 500
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: CompanionConfig, *, allowed_hosts: frozenset[str] | None = None,
               simulate: live.SimulatedRecorder | None = None, publish_token: str | None = None) -> web.Application:
    """Build the web UI application.

    Parameters
    ----------
    config : CompanionConfig
        Where the history database is.
    allowed_hosts : frozenset of str, optional
        Host names accepted in the ``Host`` header (default: loopback names only); an
        empty set accepts any host.
    simulate : callable, optional
        Runs a simulated recording, publishing live messages; enables the page's
        "Record (simulated)" button.
    publish_token : str, optional
        Token a recorder in another process needs for ``/live/publish`` (random if None).

    Returns
    -------
    aiohttp.web.Application
    """
    app = web.Application(middlewares=[_guard, _errors], client_max_size=1024 * 1024)
    app[CONFIG_KEY] = config
    app[CSRF_KEY] = secrets.token_urlsafe(24)
    app[HOSTS_KEY] = LOOPBACK_HOSTS if allowed_hosts is None else allowed_hosts
    app[CACHE_KEY] = OrderedDict()
    app[live.HUB_KEY] = live.LiveHub()
    app[live.PUBLISH_TOKEN_KEY] = publish_token or secrets.token_urlsafe(24)
    app[SIMULATE_KEY] = simulate
    app.cleanup_ctx.append(_open_store)
    app.router.add_get("/", history_page)
    app.router.add_get("/recordings/{id:\\d+}", recording_page)
    app.router.add_get("/recordings/{id:\\d+}/report.{fmt:png|svg|pdf}", report_file)
    app.router.add_get("/recordings/{id:\\d+}/export/{fmt:wfdb|csv}", export_file)
    app.router.add_post("/recordings/{id:\\d+}/delete", delete_recording)
    app.router.add_get("/live", live_page)
    app.router.add_get("/live/ws", live.browser_ws)
    app.router.add_get("/live/publish", live.publish_ws)
    app.router.add_post("/live/simulate", simulate_recording)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static", STATIC_DIR)
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _open_store(app: web.Application) -> AsyncIterator[None]:
    store = Store.open(app[CONFIG_KEY])
    app[STORE_KEY] = store
    yield
    task = app[live.HUB_KEY].running_task
    if task is not None and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    store.close()


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    allowed = request.app[HOSTS_KEY]
    try:
        host = (request.url.host or "").strip("[]").lower()
    except ValueError:
        host = ""
    if allowed and host not in allowed:
        raise web.HTTPMisdirectedRequest(text=f"host {host!r} is not served here")
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
    return response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RecordingNotFoundError as exc:
        return _html(views.error(404, str(exc)), status=404)
    except web.HTTPException as exc:
        text = exc.text or exc.reason
        if exc.status >= 400 and "text/html" in request.headers.get("Accept", "") and not text.startswith("<"):
            return _html(views.error(exc.status, text), status=exc.status)
        raise
    except CompanionError as exc:
        return _html(views.error(500, str(exc)), status=500)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8", status=status)


def _rid(request: web.Request) -> int:
    return int(request.match_info["id"])


async def history_page(request: web.Request) -> web.Response:
    """``GET /?result=N|A|O|~|none|all``: the history, newest first."""
    selected = request.query.get("result", "all")
    if selected not in {key for key, _ in views.FILTERS}:
        raise web.HTTPBadRequest(text=f"unknown result filter {selected!r}")
    rows = request.app[STORE_KEY].list_recordings(limit=HISTORY_LIMIT)
    if selected == "none":
        rows = [r for r in rows if not r.local]
    elif selected != "all":
        rows = [r for r in rows if (r.local or {}).get("label") == selected]
    return _html(views.history(rows, selected))


async def recording_page(request: web.Request) -> web.Response:
    stored = request.app[STORE_KEY].get_recording(_rid(request))
    return _html(views.recording(stored, request.app[CSRF_KEY]))


def _render(signal_mv: object, fs_hz: float, header: object, fmt: str, dpi: float) -> bytes:
    return render_report_bytes(signal_mv, fs_hz, ("I",), header, fmt=fmt, dpi=dpi)  # type: ignore[arg-type]


async def report_file(request: web.Request) -> web.Response:
    """``GET /recordings/{id}/report.{png|svg|pdf}[?dpi=N]``: the report, rendered off the event loop."""
    rid, fmt = _rid(request), request.match_info["fmt"]
    try:
        dpi = float(request.query.get("dpi", "150"))
    except ValueError:
        raise web.HTTPBadRequest(text="dpi must be a number") from None
    if not 30 <= dpi <= 300:
        raise web.HTTPBadRequest(text="dpi must be within 30..300")
    stored = request.app[STORE_KEY].get_recording(rid)
    rec = stored.recording
    if rec.n_samples < 2:
        raise web.HTTPNotFound(text=f"recording {rid} holds no samples to draw")
    cache = request.app[CACHE_KEY]
    key = (rid, stored.updated_at, fmt, dpi)
    body = cache.get(key)
    if body is None:
        loop = asyncio.get_running_loop()
        try:
            body = await loop.run_in_executor(None, functools.partial(
                _render, report_signal_mv(stored), rec.sample_rate_hz, report_header(stored), fmt, dpi))
        except EcgError as exc:
            raise web.HTTPUnprocessableEntity(text=f"cannot draw recording {rid}: {exc}") from exc
        cache[key] = body
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    headers = {"Cache-Control": "no-cache"}
    if fmt == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="cardiolink_{rid:04d}_report.pdf"'
    return web.Response(body=body, content_type=FORMATS[fmt], headers=headers)


async def export_file(request: web.Request) -> web.Response:
    """``GET /recordings/{id}/export/{wfdb|csv}``: the export files of ``cardio export`` in a zip."""
    rid, fmt = _rid(request), request.match_info["fmt"]
    stored = request.app[STORE_KEY].get_recording(rid)

    def build() -> bytes:
        buf = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="cardiolink-export-") as tmp:
            files = export(stored, fmt, Path(tmp))
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in files:
                    zf.write(path, arcname=path.name)
        return buf.getvalue()

    body = await asyncio.get_running_loop().run_in_executor(None, build)
    name = f"{record_name(stored)}_{fmt}.zip"
    return web.Response(body=body, content_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _check_csrf(request: web.Request, given: str) -> None:
    if not hmac.compare_digest(given.encode(), request.app[CSRF_KEY].encode()):
        raise web.HTTPForbidden(text="the form is stale or came from another site; reload the page and retry")


async def delete_recording(request: web.Request) -> web.StreamResponse:
    """``POST /recordings/{id}/delete`` with ``csrf`` and ``confirm=yes``."""
    rid = _rid(request)
    form = await request.post()
    _check_csrf(request, str(form.get("csrf", "")))
    if form.get("confirm") != "yes":
        raise web.HTTPBadRequest(text="tick the confirmation box to delete the recording")
    request.app[STORE_KEY].delete_recording(rid)
    request.app[CACHE_KEY].clear()
    return _html(views.deleted(rid))


async def live_page(request: web.Request) -> web.Response:
    return _html(views.live(request.app[CSRF_KEY], request.app[SIMULATE_KEY] is not None))


async def simulate_recording(request: web.Request) -> web.Response:
    """``POST /live/simulate``: start the simulated recording (if this server offers it)."""
    form = await request.post()
    _check_csrf(request, str(form.get("csrf", "")))
    recorder = request.app[SIMULATE_KEY]
    if recorder is None:
        raise web.HTTPNotFound(text="this server was started without simulated recording")
    return await live.simulate(request, recorder)  # type: ignore[arg-type]
