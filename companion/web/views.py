"""HTML of the companion's pages (plain strings, every value escaped)."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from companion.store_models import RecordingSummary, StoredRecording
from companion.web import present
from ecg.classes import RHYTHM_CLASSES

FILTERS = (("all", "All"), *((c.code, c.patient_label) for c in RHYTHM_CLASSES), ("none", "No result"))


def page(title: str, body: str, *, script: str | None = None, active: str = "") -> str:
    """A whole page around ``body`` (phone-first layout, no external resources)."""
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if key == active else ""}>{label}</a>'
        for key, href, label in (("history", "/", "History"), ("live", "/live", "Live"))
    )
    js = f'<script src="/static/{script}" defer></script>' if script else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · cardiolink</title>"
        '<link rel=stylesheet href="/static/style.css">'
        f"{js}</head><body><header><span class=brand>cardiolink</span><nav>{nav}</nav></header>"
        f"<main>{body}</main></body></html>"
    )


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.0f} {unit}"


def _badge(label: str | None) -> str:
    cls = {"N": "ok", "A": "alert", "O": "warn", "~": "muted"}.get(label or "", "muted")
    return cls


def history(rows: list[RecordingSummary], selected: str) -> str:
    """The history list with its result filter."""
    chips = "".join(
        f'<a class="chip{" on" if key == selected else ""}" href="/?result={escape(key, quote=True)}">{label}</a>'
        for key, label in FILTERS
    )
    items = []
    for r in rows:
        label = present.result_label(r.local)
        words = present.result_words(r.local) or ("recording…" if r.state == "recording" else "no result")
        hr = (r.local or {}).get("heart_rate_bpm")
        hr_text = _num(float(hr), "bpm") if isinstance(hr, (int, float)) and not isinstance(hr, bool) else "—"
        cloud = present.result_words(r.cloud)
        state = "" if r.state == "complete" else f'<span class="tag muted">{escape(r.state)}</span>'
        items.append(
            f'<li class=rec data-id="{r.id}" data-label="{escape(label or "none", quote=True)}">'
            f'<a href="/recordings/{r.id}">'
            f'<span class="dot {_badge(label)}"></span>'
            f'<span class=main><strong class=result>{escape(words)}</strong>{state}'
            f'<span class=sub>{_when(r.recorded_at)} · {r.duration_s:.0f} s</span></span>'
            f'<span class=side><span class=hr>{hr_text}</span>'
            f'<span class="sync {escape(r.sync_state or "none", quote=True)}">'
            f'{escape("cloud: " + cloud if cloud else "sync: " + (r.sync_state or "not queued"))}</span></span>'
            "</a></li>"
        )
    listing = f"<ul class=history>{''.join(items)}</ul>" if items else "<p class=empty>No recordings here yet.</p>"
    body = f"<h1>History</h1><div class=chips>{chips}</div>{listing}"
    return page("History", body, active="history")


def _result_block(title: str, result: dict[str, Any] | None, extra: str = "") -> str:
    if not result:
        return f"<section class=card><h2>{title}</h2><p class=empty>none yet</p>{extra}</section>"
    rows = [("Result", present.result_words(result) or "—")]
    probs = result.get("probabilities")
    if isinstance(probs, dict):
        rows.append(("Probabilities", ", ".join(
            f"{escape(str(k))} {float(v):.2f}" for k, v in probs.items() if isinstance(v, (int, float)))))
    found = present.diagnoses(result)
    if found:
        rows.append(("Diagnoses", "; ".join(
            escape(str(d.get("label") or d.get("code")))
            + (f" ({float(d['probability']):.2f})" if isinstance(d.get("probability"), (int, float)) else "")
            for d in found)))
    flags = result.get("flags")
    if isinstance(flags, list) and flags:
        rows.append(("Flags", ", ".join(present.category_words(str(f)) for f in flags)))
    quality = present.quality_words(result)
    if quality:
        rows.append(("Quality", quality))
    version = result.get("model_version") or result.get("modelVersion")
    if version:
        rows.append(("Model", str(version)))
    table = "".join(f"<tr><th>{k}</th><td>{escape(v) if k not in ('Probabilities', 'Diagnoses') else v}</td></tr>"
                    for k, v in rows)
    return f"<section class=card><h2>{title}</h2><table>{table}</table>{extra}</section>"


def recording(stored: StoredRecording, csrf: str, view_token: str = "") -> str:
    """One recording: report image, results, measurements, downloads and delete.

    *view_token* is this recording's page token: the report and export URLs need it, so
    another site cannot fetch or probe them (companion/web/app.py).
    """
    rec = stored.recording
    rid = stored.id
    t = escape(view_token, quote=True)
    values = present.intervals(stored)
    hr = present.heart_rate(stored)
    meas = [("Heart rate", _num(hr, "bpm"))] + [
        (name, _num(values[key], "ms")) for key, name in (("pr_ms", "PR"), ("qrs_ms", "QRS"), ("qt_ms", "QT"),
                                                          ("qtc_ms", "QTc"))]
    meas_rows = "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in meas)
    finding_items = "".join(f"<li>{escape(f)}</li>" for f in present.findings(stored))
    findings_html = f"<ul class=findings>{finding_items}</ul>" if finding_items else ""
    state = "complete" if rec.complete else "incomplete"
    facts = [
        ("Recorded", _when(rec.started_at)), ("Duration", f"{rec.duration_s:.1f} s"),
        ("State", state + (", verified" if rec.verified else "")),
        ("Device", present.device_words(rec.device) or "—"), ("Sync", stored.sync_state or "not queued"),
    ]
    facts_rows = "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    image = (f'<figure class=report><a href="/recordings/{rid}/report.png?t={t}">'
             f'<img id=report src="/recordings/{rid}/report.png?dpi=110&amp;t={t}" alt="ECG report of recording {rid}"></a>'
             "<figcaption>25 mm/s · 10 mm/mV · tap to enlarge</figcaption></figure>") if rec.n_samples > 1 else (
        "<p class=empty>No samples to draw.</p>")
    downloads = (f'<a class=button href="/recordings/{rid}/report.pdf?t={t}" download>PDF report</a>'
                 f'<a class=button href="/recordings/{rid}/export/wfdb?t={t}" download>WFDB (.zip)</a>'
                 f'<a class=button href="/recordings/{rid}/export/csv?t={t}" download>CSV (.zip)</a>')
    delete = (f'<form method=post action="/recordings/{rid}/delete" class=delete data-confirm='
              f'"Delete recording {rid} for good? This cannot be undone.">'
              f'<input type=hidden name=csrf value="{escape(csrf, quote=True)}">'
              '<label><input type=checkbox name=confirm value=yes required> I want to delete this recording</label>'
              '<button type=submit class=danger>Delete</button></form>')
    body = (
        f'<p class=back><a href="/">← History</a></p><h1>Recording {rid}</h1>{image}'
        f"<div class=grid><section class=card><h2>Recording</h2><table>{facts_rows}</table></section>"
        f"{_result_block('Local result', stored.local_result)}"
        f"{_result_block('Cloud result', stored.cloud_result)}"
        f"<section class=card><h2>Measurements</h2><table>{meas_rows}</table>{findings_html}</section></div>"
        f"<section class=card><h2>Download</h2><div class=buttons>{downloads}</div></section>"
        f"<section class='card danger-zone'><h2>Delete</h2>{delete}</section>"
    )
    return page(f"Recording {rid}", body, script="recording.js")


def live(csrf: str, can_simulate: bool, view_token: str = "") -> str:
    """The live view: trace and countdown, fed by the ``/live/ws?t=<view_token>`` websocket."""
    button = (f'<form id=simulate method=post action="/live/simulate"><input type=hidden name=csrf '
              f'value="{escape(csrf, quote=True)}"><button type=submit>Record (simulated)</button></form>'
              if can_simulate else "")
    body = (
        "<h1>Live</h1>"
        '<div class=live-head><div><span id=remaining class=big>—</span><span class=unit> s left</span></div>'
        '<div id=status class=status>Waiting for a recording (run <code>cardio record</code>)…</div></div>'
        f'<canvas id=trace width=800 height=240 aria-label="live ECG trace" data-token="{escape(view_token, quote=True)}">'
        "</canvas>"
        '<p class=sub><span id=elapsed>0.0</span> s recorded · <span id=rate>—</span></p>'
        f'<div id=done class=done hidden></div>{button}'
    )
    return page("Live", body, script="live.js", active="live")


def deleted(rid: int) -> str:
    return page("Deleted", f'<h1>Deleted</h1><p>Recording {rid} was deleted.</p><p><a href="/">← History</a></p>')


def error(status: int, message: str) -> str:
    return page(f"Error {status}", f'<h1>Error {status}</h1><p class=error>{escape(message)}</p>'
                '<p><a href="/">← History</a></p>')
