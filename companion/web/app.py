"""The companion's local web UI (``cardio serve``): history, one recording, live view.

It stands in for the phone app, so it binds to 127.0.0.1 by default and guards against
the usual attacks on a local server by other web pages the same browser has open:

- ``Host`` must be a loopback name or address (any of 127.0.0.0/8, ``::1``,
  ``localhost``; no DNS rebinding), or the address the operator chose to bind;
- a request another site started is refused (403): ``Sec-Fetch-Site`` other than
  ``same-origin``/``none``, or an ``Origin`` that is not this server's. Only a plain link
  to a page (a top-level GET navigation) is let through, as it reveals nothing to the
  linking site;
- the live websocket (``/live/ws``) and the report and export routes need a page token
  (``?t=``), an HMAC of the page's scope (``live``, ``recording:<id>``) under a
  per-process secret, so they cannot be fetched or probed by ``<img>``/``<script>``
  tags of pages that never saw it (browsers without Fetch Metadata included);
- every state-changing form carries a per-process CSRF token.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import io
import ipaddress
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
from companion.notes import SYMPTOMS
from companion.web import live, pages, present, views
from companion.web.present import report_header, report_signal_mv
from ecg.errors import EcgError
from ecg.report import FORMATS, render_report_bytes

STATIC_DIR = Path(__file__).parent / "static"
STORE_KEY = web.AppKey("store", Store)
CONFIG_KEY = web.AppKey("config", CompanionConfig)
CSRF_KEY = web.AppKey("csrf", str)
PAGE_SECRET_KEY = web.AppKey("page_secret", bytes)
HOSTS_KEY = web.AppKey("allowed_hosts", object)
CACHE_KEY = web.AppKey("report_cache", OrderedDict)
RECORDER_KEY = web.AppKey("recorder", object)
RECORD_LABEL_KEY = web.AppKey("record_label", str)
#: Host header names accepted by default (besides every loopback address: see :func:`is_loopback_host`)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: addresses that bind every interface: the operator opted out of the Host check
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
#: largest recording id routed (SQLite integers are 64-bit); longer ids are 404 by the router
_ID = "{id:[0-9]{1,18}}"
#: Sec-Fetch-Site values of requests this server's own pages make (or the user typed)
_SAME_SITE = frozenset({"same-origin", "none"})
#: reports kept rendered in memory
CACHE_SIZE = 16
#: recordings listed at most on the history page
HISTORY_LIMIT = 500
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: CompanionConfig, *, allowed_hosts: frozenset[str] | None = None,
               recorder: live.Recorder | None = None, record_label: str = "Record",
               publish_token: str | None = None) -> web.Application:
    """Build the web UI application.

    Parameters
    ----------
    config : CompanionConfig
        Where the history database is.
    allowed_hosts : frozenset of str, optional
        Host names accepted in the ``Host`` header besides loopback names and addresses
        (default: none); an empty set accepts any host (see :func:`allowed_hosts_for`).
    recorder : callable, optional
        Runs one recording from the configured device (or the simulator), publishing live
        messages; enables the record page's button. ``cardio serve`` wires it
        (:mod:`cardio.recorders`).
    record_label : str
        Words on that button (e.g. ``"Record"`` or ``"Record (simulated)"``).
    publish_token : str, optional
        Token a recorder in another process needs for ``/live/publish`` (random if None).

    Returns
    -------
    aiohttp.web.Application
    """
    app = web.Application(middlewares=[_guard, _errors], client_max_size=1024 * 1024)
    app[CONFIG_KEY] = config
    app[CSRF_KEY] = secrets.token_urlsafe(24)
    app[PAGE_SECRET_KEY] = secrets.token_bytes(32)
    app[HOSTS_KEY] = LOOPBACK_HOSTS if allowed_hosts is None else allowed_hosts
    app[CACHE_KEY] = OrderedDict()
    app[live.HUB_KEY] = live.LiveHub()
    app[live.PUBLISH_TOKEN_KEY] = publish_token or secrets.token_urlsafe(24)
    app[RECORDER_KEY] = recorder
    app[RECORD_LABEL_KEY] = record_label
    app.cleanup_ctx.append(_open_store)
    app.router.add_get("/", history_page)
    app.router.add_get(f"/recordings/{_ID}", recording_page)
    app.router.add_get(f"/recordings/{_ID}/report.{{fmt:png|svg|pdf}}", report_file)
    app.router.add_get(f"/recordings/{_ID}/export/{{fmt:wfdb|csv}}", export_file)
    app.router.add_post(f"/recordings/{_ID}/delete", delete_recording)
    app.router.add_get("/live", live_page)
    app.router.add_get("/live/ws", live_ws)
    app.router.add_get("/live/publish", live.publish_ws)
    app.router.add_post("/live/record", start_recording)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static", STATIC_DIR)
    pages.setup(app, store_key=STORE_KEY, csrf_check=_check_csrf, csrf_key=CSRF_KEY, cache_key=CACHE_KEY,
                history_limit=HISTORY_LIMIT)
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


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and every loopback address (127.0.0.0/8, ``::1``, bracketed or not).

    Examples
    --------
    >>> is_loopback_host("127.0.0.2"), is_loopback_host("[::1]"), is_loopback_host("example.org")
    (True, True, False)
    """
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(bind_host: str) -> frozenset[str]:
    """The ``allowed_hosts`` of a server bound to *bind_host*: loopback names only for a
    loopback address, that address too for another one, any host for a wildcard bind."""
    if is_loopback_host(bind_host):
        return LOOPBACK_HOSTS
    if bind_host.strip("[]") in WILDCARD_HOSTS:
        return frozenset()
    return frozenset({bind_host.strip("[]").lower()})


def page_token(app: web.Application, scope: str) -> str:
    """The page token of *scope* (``"live"``, ``"recording:<id>"``): an HMAC under the
    process's secret, given only inside pages this server renders."""
    return hmac.new(app[PAGE_SECRET_KEY], scope.encode(), hashlib.sha256).hexdigest()[:32]


def _check_page_token(request: web.Request, scope: str) -> None:
    given = request.query.get("t", "")
    if not hmac.compare_digest(given.encode(), page_token(request.app, scope).encode()):
        raise web.HTTPForbidden(text="this link needs the page token of the page it came from; open it from the page")


def _host_allowed(request: web.Request) -> bool:
    allowed = request.app[HOSTS_KEY]
    try:
        host = (request.url.host or "").strip("[]").lower()
    except ValueError:
        host = ""
    return not allowed or is_loopback_host(host) or host in allowed  # type: ignore[operator]


def _cross_site(request: web.Request) -> bool:
    """True when another site (or another local server) started this request."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:  # the browser's own word; Origin may be "null" on same-origin form posts
        return fetch_site.lower() not in _SAME_SITE
    origin = request.headers.get("Origin")
    return origin is not None and origin.lower() != f"{request.scheme}://{request.host}".lower()


def _plain_navigation(request: web.Request) -> bool:
    """A link followed to one of the HTML pages: the linking site learns nothing from it."""
    sensitive = request.path.startswith("/live/") or "/report." in request.path or "/export/" in request.path
    return (request.method == "GET" and request.headers.get("Sec-Fetch-Mode", "").lower() == "navigate"
            and request.headers.get("Sec-Fetch-Dest", "document").lower() == "document" and not sensitive)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _host_allowed(request):
        raise web.HTTPMisdirectedRequest(text=f"host {request.host[:100]!r} is not served here")
    if _cross_site(request) and not _plain_navigation(request):
        raise web.HTTPForbidden(text="requests from other sites are refused; open the page from this server")
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")  # Origin stays on same-origin form posts
    response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'")
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
    rid = int(request.match_info["id"])
    if rid > 2**63 - 1:
        raise RecordingNotFoundError(rid)
    return rid


async def history_page(request: web.Request) -> web.Response:
    """``GET /?result=CATEGORY&symptom=S``: the history, newest first, filtered by verdict and symptom."""
    selected = request.query.get("result", "all")
    symptom = request.query.get("symptom", "all")
    if selected not in {key for key, _ in views.FILTERS}:
        raise web.HTTPBadRequest(text=f"unknown result filter {selected!r}")
    if symptom != "all" and symptom not in SYMPTOMS:
        raise web.HTTPBadRequest(text=f"unknown symptom {symptom!r}")
    rows = request.app[STORE_KEY].list_recordings(limit=HISTORY_LIMIT)
    if selected != "all":
        rows = [r for r in rows if present.summary_verdict(r).category == selected]
    if symptom != "all":
        rows = [r for r in rows if symptom in r.symptoms]
    return _html(views.history(rows, selected, symptom))


async def recording_page(request: web.Request) -> web.Response:
    stored = request.app[STORE_KEY].get_recording(_rid(request))
    return _html(views.recording(stored, request.app[CSRF_KEY], page_token(request.app, f"recording:{stored.id}")))


def _render(signal_mv: object, fs_hz: float, header: object, fmt: str, dpi: float) -> bytes:
    return render_report_bytes(signal_mv, fs_hz, ("I",), header, fmt=fmt, dpi=dpi)  # type: ignore[arg-type]


async def report_file(request: web.Request) -> web.Response:
    """``GET /recordings/{id}/report.{png|svg|pdf}[?dpi=N]``: the report, rendered off the event loop."""
    rid, fmt = _rid(request), request.match_info["fmt"]
    _check_page_token(request, f"recording:{rid}")
    try:
        dpi = float(request.query.get("dpi", "150"))
    except ValueError:
        raise web.HTTPBadRequest(text="dpi must be a number") from None
    if not 30 <= dpi <= 300:
        raise web.HTTPBadRequest(text="dpi must be within 30..300")
    stored = request.app[STORE_KEY].get_recording(rid)
    profile = request.app[STORE_KEY].profile()
    rec = stored.recording
    if rec.n_samples < 2:
        raise web.HTTPNotFound(text=f"recording {rid} holds no samples to draw")
    cache = request.app[CACHE_KEY]
    key = (rid, stored.updated_at, fmt, dpi, repr(stored.annotation), repr(profile))
    body = cache.get(key)
    if body is None:
        loop = asyncio.get_running_loop()
        try:
            body = await loop.run_in_executor(None, functools.partial(
                _render, report_signal_mv(stored), rec.sample_rate_hz, report_header(stored, profile), fmt, dpi))
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
    _check_page_token(request, f"recording:{rid}")
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
    recorder = request.app[RECORDER_KEY]
    return _html(views.live(request.app[CSRF_KEY], request.app[RECORD_LABEL_KEY] if recorder is not None else None,
                            page_token(request.app, "live")))


async def live_ws(request: web.Request) -> web.StreamResponse:
    """``GET /live/ws?t=<live page token>``: the live view's websocket (same origin only)."""
    _check_page_token(request, "live")
    return await live.browser_ws(request)


async def start_recording(request: web.Request) -> web.Response:
    """``POST /live/record``: start a recording from the configured device (one at a time)."""
    form = await request.post()
    _check_csrf(request, str(form.get("csrf", "")))
    recorder = request.app[RECORDER_KEY]
    if recorder is None:
        raise web.HTTPNotFound(text="this server was started without a device to record from")
    request.app[CACHE_KEY].clear()
    return await live.start(request, recorder)  # type: ignore[arg-type]
