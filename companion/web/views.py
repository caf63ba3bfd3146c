"""HTML of the companion's pages (plain strings, every value escaped).

Every result is shown through :func:`companion.web.present.verdict`: patient words from
the class table, what it means, what to do, the safety text; codes, probabilities and
model versions only inside the "Details for clinicians" disclosure.
"""

from __future__ import annotations

from html import escape
from companion.localtime import to_local, when_text
from companion.notes import SYMPTOMS, Profile, symptom_words
from companion.store_models import RecordingSummary, StoredRecording
from companion.web import present
from companion.web.present import Verdict
from ecg.classes import SAFETY_TEXT

#: history filter chips: (query value, words); values are verdict categories
FILTERS: tuple[tuple[str, str], ...] = (
    ("all", "All"), ("sinus_rhythm", "Sinus rhythm"), ("atrial_fibrillation", "Possible AF"),
    ("other_rhythm", "Other rhythm"), ("inconclusive", "Inconclusive"), ("unreadable", "Unreadable"),
    ("too_short", "Too short"), ("not_screened", "No result"),
)
NAV = (("history", "/", "History"), ("trends", "/trends", "Trends"), ("live", "/live", "Record"),
       ("profile", "/profile", "Profile"))


def page(title: str, body: str, *, script: str | None = None, active: str = "") -> str:
    """A whole page around ``body`` (phone-first layout, no external resources, installable)."""
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if key == active else ""}>{label}</a>' for key, href, label in NAV
    )
    js = f'<script src="/static/{script}" defer></script>' if script else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        '<meta name=theme-color content="#e47a8c"><link rel=manifest href="/manifest.webmanifest">'
        '<link rel=icon href="/static/icon.svg" type="image/svg+xml">'
        f"<title>{escape(title)} · cardiolink</title>"
        '<link rel=stylesheet href="/static/style.css"><link rel=stylesheet href="/verdicts.css">'
        f"{js}</head><body><header><span class=brand>cardiolink</span><nav>{nav}</nav></header>"
        f"<main>{body}</main></body></html>"
    )


def _num(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.0f} {unit}"


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)


def safety(v: Verdict) -> str:
    """The safety text block (on every page that shows a result)."""
    return f'<p class=safety role=note>{escape(v.safety)}</p>'


def verdict_card(v: Verdict, *, symptoms: list[str] | None = None) -> str:
    """The patient's result: words, meaning, what to do, heart rate (readable only), notes."""
    hr = (f'<p class=hr-big><span class=big>{v.heart_rate_bpm:.0f}</span> beats per minute</p>'
          if v.heart_rate_bpm is not None else "")
    notes = "".join(f"<li>{escape(n)}</li>" for n in v.notes)
    felt = (f"<p class=sub>You noted: {escape(', '.join(symptom_words(symptoms)))}</p>" if symptoms else "")
    return (
        f'<section class="card verdict v-{escape(v.category, quote=True)}" '
        f'data-category="{escape(v.category, quote=True)}">'
        f"<h2>Result</h2><p class=verdict-label>{escape(v.label)}</p>"
        f"<p>{escape(v.meaning)}</p><p><strong>What to do:</strong> {escape(v.advice)}</p>{hr}"
        f"{f'<ul class=notes>{notes}</ul>' if notes else ''}{felt}{safety(v)}</section>"
    )


def _chips(base: dict[str, str], key: str, options: list[tuple[str, str]], selected: str) -> str:
    out = []
    for value, label in options:
        query = {**base, key: value}
        href = "/?" + "&".join(f"{k}={escape(v, quote=True)}" for k, v in query.items() if v and v != "all")
        out.append(f'<a class="chip{" on" if value == selected else ""}" href="{href.rstrip("?") or "/"}">'
                   f"{escape(label)}</a>")
    return "".join(out)


def history(rows: list[RecordingSummary], selected: str, symptom: str = "all") -> str:
    """The history list with its result and symptom filters (local time)."""
    result_chips = _chips({"symptom": symptom}, "result", list(FILTERS), selected)
    symptom_chips = _chips({"result": selected}, "symptom", [("all", "Any symptom"), *SYMPTOMS.items()], symptom)
    items = []
    for r in rows:
        v = present.summary_verdict(r)
        felt = ", ".join(symptom_words(r.symptoms))
        items.append(
            f'<li class=rec data-id="{r.id}" data-category="{escape(v.category, quote=True)}">'
            f'<a href="/recordings/{r.id}">'
            f'<span class="dot v-{escape(v.category, quote=True)}"></span>'
            f'<span class=main><strong class=result>{escape(v.label)}</strong>'
            f'<span class=sub>{escape(when_text(r.recorded_at))} · {r.duration_s:.0f} s'
            f'{" · " + escape(felt) if felt else ""}</span></span>'
            f'<span class=side><span class=hr>{_num(v.heart_rate_bpm, "bpm") if v.readable else ""}</span>'
            f'<span class=sub>#{r.id}</span></span></a></li>'
        )
    listing = f"<ul class=history>{''.join(items)}</ul>" if items else "<p class=empty>No recordings here yet.</p>"
    body = (f"<h1>Your recordings</h1><div class=chips>{result_chips}</div>"
            f"<div class='chips small'>{symptom_chips}</div>{listing}"
            "<p class=sub>Screening results are not a diagnosis. See a doctor about any symptoms.</p>")
    return page("History", body, active="history")


def _annotate_form(stored: StoredRecording, csrf: str) -> str:
    boxes = "".join(
        f'<label class=check><input type=checkbox name=symptom value="{key}"'
        f'{" checked" if key in stored.symptoms else ""}> {escape(words)}</label>'
        for key, words in SYMPTOMS.items()
    )
    return (
        f'<form id=annotate method=post action="/recordings/{stored.id}/annotate" class=annotate>'
        f'<input type=hidden name=csrf value="{escape(csrf, quote=True)}">'
        f'<fieldset><legend>How did you feel?</legend><div class=checks>{boxes}</div></fieldset>'
        f'<label for=note>Note</label><textarea id=note name=note rows=3 maxlength=2000>'
        f"{escape(stored.note)}</textarea><button type=submit>Save</button></form>"
    )


def _details(stored: StoredRecording) -> str:
    values = present.intervals(stored)
    rows = present.details(stored) + [
        (name, _num(values[key], "ms")) for key, name in (("pr_ms", "PR"), ("qrs_ms", "QRS"), ("qt_ms", "QT"),
                                                          ("qtc_ms", present.qtc_label(stored)))]
    rows.append(("Signal quality", present.signal_quality(stored)))
    found = present.findings(stored)
    if found:
        rows.append(("Findings", "; ".join(found)))
    events = present.contact_events(stored)
    if events:
        rows.append(("Electrode contact", "; ".join(f"{text} at {t_s:.1f} s" for t_s, text in events)))
    rows += [("Device", present.device_words(stored.recording.device) or "—"),
             ("Sync", stored.sync_state or "not queued"), ("Id", stored.uuid)]
    return (f"<details class=card id=details><summary>Details for clinicians</summary>"
            f"<table>{_rows(rows)}</table></details>")


def recording(stored: StoredRecording, csrf: str, view_token: str = "") -> str:
    """One recording: verdict, symptoms and note, the report (zoomable SVG), details, downloads, delete.

    *view_token* is this recording's page token: the report and export URLs need it, so
    another site cannot fetch them through the user's browser.
    """
    rec = stored.recording
    rid = stored.id
    t = escape(view_token, quote=True)
    v = present.verdict(stored)
    image = (f'<figure class=report><div class=scroller><img id=report src="/recordings/{rid}/report.svg?t={t}" '
             f'alt="ECG report of recording {rid}" width=1123 height=794></div>'
             f'<figcaption>25 mm/s · 10 mm/mV · swipe sideways, or <a href="/recordings/{rid}/report.svg?t={t}" '
             "target=_blank>open it full size</a> to zoom</figcaption></figure>") if rec.n_samples > 1 else (
        "<p class=empty>No samples to draw.</p>")
    downloads = (f'<a class=button id=pdf href="/recordings/{rid}/report.pdf?t={t}" download>PDF for your doctor</a>'
                 f'<button type=button id=share data-url="/recordings/{rid}/report.pdf?t={t}" '
                 f'data-name="cardiolink_{rid:04d}_report.pdf" hidden>Share PDF</button>'
                 f'<a class=button href="/recordings/{rid}/export/wfdb?t={t}" download>WFDB (.zip)</a>'
                 f'<a class=button href="/recordings/{rid}/export/csv?t={t}" download>CSV (.zip)</a>')
    delete = (f'<form method=post action="/recordings/{rid}/delete" class=delete data-confirm='
              f'"Delete recording {rid} for good? This cannot be undone.">'
              f'<input type=hidden name=csrf value="{escape(csrf, quote=True)}">'
              '<label><input type=checkbox name=confirm value=yes required> I want to delete this recording</label>'
              '<button type=submit class=danger>Delete</button></form>')
    cut = "" if rec.complete else " · cut short"
    body = (
        f'<p class=back><a href="/">← History</a></p><h1>Recording {rid}</h1>'
        f'<p class=sub>{escape(when_text(rec.started_at))} · {rec.duration_s:.0f} s{cut}</p>'
        f"{verdict_card(v)}{image}"
        f"<section class=card><h2>Symptoms and note</h2>{_annotate_form(stored, csrf)}</section>"
        f"<section class=card><h2>Share</h2><div class=buttons>{downloads}</div></section>"
        f"{_details(stored)}"
        f"<section class='card danger-zone'><h2>Delete</h2>{delete}</section>"
    )
    return page(f"Recording {rid}", body, script="recording.js")


def profile(current: Profile, csrf: str, saved: bool = False) -> str:
    """The profile form (name, sex, date of birth), stored on this computer only."""
    sexes = "".join(f'<option value="{k}"{" selected" if current.sex == k else ""}>{w}</option>'
                    for k, w in (("", "—"), ("F", "Female"), ("M", "Male")))
    birth = current.birth_date.isoformat() if current.birth_date else ""
    body = (
        "<h1>Profile</h1>" + ("<p class=done>Saved.</p>" if saved else "") +
        "<section class=card><form id=profile method=post action=/profile class=stack>"
        f'<input type=hidden name=csrf value="{escape(csrf, quote=True)}">'
        f'<label for=name>Name</label><input id=name name=name maxlength=200 value="{escape(current.name or "", quote=True)}">'
        f"<label for=sex>Sex</label><select id=sex name=sex>{sexes}</select>"
        f'<label for=birth_date>Date of birth</label><input id=birth_date name=birth_date type=date value="{birth}">'
        "<button type=submit>Save</button></form>"
        "<p class=sub>Kept on this computer only. Reports print it; the sex selects the long-QTc limit "
        "(450 ms for men, 460 ms for women).</p></section>"
    )
    return page("Profile", body, active="profile")


def live(csrf: str, record_label: str | None, view_token: str = "") -> str:
    """The record page: button, live trace and countdown (``/live/ws``), then the result."""
    button = (f'<form id=record method=post action="/live/record"><input type=hidden name=csrf '
              f'value="{escape(csrf, quote=True)}"><button type=submit class=record>{escape(record_label)}</button>'
              "</form>" if record_label else "")
    waiting = ("Press the button, then rest both fingers on the electrodes." if record_label else
               "Waiting for a recording (run <code>cardio record</code>)…")
    body = (
        f"<h1>Record</h1>{button}"
        '<div class=live-head><div><span id=remaining class=big>—</span><span class=unit> s left</span></div>'
        f'<div id=status class=status role=status aria-live=polite>{waiting}</div></div>'
        f'<canvas id=trace width=800 height=240 aria-label="live ECG trace" '
        f'data-safety="{escape(SAFETY_TEXT, quote=True)}" data-token="{escape(view_token, quote=True)}"></canvas>'
        '<p class=sub><span id=elapsed>0.0</span> s recorded · <span id=rate>—</span></p>'
        '<div id=done class=done hidden></div>'
    )
    return page("Record", body, script="live.js", active="live")


def deleted(rid: int) -> str:
    return page("Deleted", f'<h1>Deleted</h1><p>Recording {rid} was deleted.</p><p><a href="/">← History</a></p>')


def error(status: int, message: str) -> str:
    return page(f"Error {status}", f'<h1>Error {status}</h1><p class=error>{escape(message)}</p>'
                '<p><a href="/">← History</a></p>')


def local_day(row: RecordingSummary) -> str:
    """The local calendar day of a history row."""
    return to_local(row.recorded_at).strftime("%Y-%m-%d")
