"""The patient's pages beyond the history: symptoms and note, profile, trends, the web-app manifest.

:func:`setup` adds the routes to the application built by :func:`companion.web.app.create_app`:

- ``POST /recordings/{id}/annotate`` (``csrf``, ``symptom`` repeated, ``note``)
- ``GET /profile``, ``POST /profile`` (``csrf``, ``name``, ``sex``, ``birth_date``)
- ``GET /trends``
- ``GET /manifest.webmanifest`` (installable web app) and ``GET /verdicts.css`` (verdict
  colours from the class table, :mod:`ecg.classes`)
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from companion.errors import ConfigError
from companion.notes import Profile, parse_date
from companion.web import trends, views
from ecg.classes import INCONCLUSIVE, RHYTHM_CLASSES

#: colours of the app's own verdicts (not rhythm classes)
_OTHER_COLOURS = {"too_short": "#6b6b75", "not_screened": "#9a9aa3", "pending": "#9a9aa3"}


def setup(app: web.Application, *, store_key: web.AppKey, csrf_check: Callable[[web.Request, str], None],
          csrf_key: web.AppKey, cache_key: web.AppKey, history_limit: int) -> None:
    """Add the routes (the keys and the CSRF check are those of :mod:`companion.web.app`)."""

    def store(request: web.Request):  # noqa: ANN202 - companion.store.Store
        return request.app[store_key]

    async def annotate(request: web.Request) -> web.StreamResponse:
        rid = int(request.match_info["id"])
        form = await request.post()
        csrf_check(request, str(form.get("csrf", "")))
        symptoms = [str(s) for s in form.getall("symptom", [])]
        try:
            store(request).set_annotation(rid, symptoms=symptoms, note=str(form.get("note", "")))
        except ConfigError as exc:
            raise web.HTTPBadRequest(text=exc.reason) from None
        request.app[cache_key].clear()
        raise web.HTTPSeeOther(f"/recordings/{rid}")

    async def profile_page(request: web.Request) -> web.Response:
        return _html(views.profile(store(request).profile(), request.app[csrf_key],
                                   saved=request.query.get("saved") == "1"))

    async def profile_save(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        csrf_check(request, str(form.get("csrf", "")))
        name = str(form.get("name", "")).strip() or None
        sex = str(form.get("sex", "")).strip().upper() or None
        birth = str(form.get("birth_date", "")).strip()
        try:
            profile = Profile(name=name, sex=sex, birth_date=parse_date(birth) if birth else None)
        except ConfigError as exc:
            raise web.HTTPBadRequest(text=f"{exc.key}: {exc.reason}") from None
        store(request).set_profile(profile)
        request.app[cache_key].clear()
        raise web.HTTPSeeOther("/profile?saved=1")

    async def trends_page(request: web.Request) -> web.Response:
        return _html(trends.page(store(request).list_recordings(limit=history_limit)))

    app.router.add_post("/recordings/{id:\\d+}/annotate", annotate)
    app.router.add_get("/profile", profile_page)
    app.router.add_post("/profile", profile_save)
    app.router.add_get("/trends", trends_page)
    app.router.add_get("/manifest.webmanifest", manifest)
    app.router.add_get("/verdicts.css", verdict_css)


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")


async def manifest(request: web.Request) -> web.Response:
    """The web-app manifest: "Add to home screen" opens the app full screen."""
    doc = {
        "name": "cardiolink", "short_name": "cardiolink", "start_url": "/", "scope": "/",
        "display": "standalone", "background_color": "#faf7f8", "theme_color": "#e47a8c",
        "description": "Record, check and keep your single-lead ECGs.",
        "icons": [{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
                  {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
                  {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"}],
    }
    return web.Response(text=json.dumps(doc), content_type="application/manifest+json")


def verdict_colours() -> dict[str, str]:
    """Category → CSS colour: the class table's, then the app's own verdicts."""
    return {c.category: c.colour for c in (*RHYTHM_CLASSES, INCONCLUSIVE)} | _OTHER_COLOURS


async def verdict_css(request: web.Request) -> web.Response:
    """``.v-<category>`` rules: the dot's background and the result card's left border."""
    rules = "".join(f".dot.v-{k}{{background:{c}}}.verdict.v-{k}{{border-left-color:{c}}}"
                    for k, c in verdict_colours().items())
    return web.Response(text=rules, content_type="text/css", headers={"Cache-Control": "max-age=3600"})
