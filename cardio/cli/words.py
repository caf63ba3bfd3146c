"""Plain-text views of a stored recording for the terminal (not a subcommand).

:func:`describe` prints what a patient needs first (verdict, meaning, what to do,
heart rate, symptoms, the safety text) and the clinicians' details after, under
"Details"; it is shared by ``cardio show`` and ``cardio record``.
"""

from __future__ import annotations

import textwrap

from companion.localtime import when_text
from companion.notes import symptom_words
from companion.store_models import StoredRecording
from companion.web import present

_WIDTH = 78


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, width=_WIDTH, initial_indent=indent, subsequent_indent=indent) or [indent]


def verdict_lines(stored: StoredRecording) -> list[str]:
    """The verdict block: words, meaning, advice, heart rate, notes, symptoms, safety text."""
    v = present.verdict(stored)
    lines = [f"  {v.label}"]
    lines += _wrap(v.meaning)
    lines += _wrap("What to do: " + v.advice)
    if v.heart_rate_bpm is not None:
        lines.append(f"  Heart rate {v.heart_rate_bpm:.0f} beats per minute")
    for note in v.notes:
        lines += _wrap(note)
    if stored.symptoms:
        lines += _wrap("Symptoms: " + ", ".join(symptom_words(stored.symptoms)))
    if stored.note:
        lines += _wrap("Note: " + " ".join(stored.note.split()))
    for t_s, text in present.contact_events(stored):
        lines.append(f"  {text[:1].upper() + text[1:]} at {t_s:.1f} s")
    lines.append("")
    lines += _wrap(v.safety)
    return lines


def details_lines(stored: StoredRecording, *, with_sync: bool = True) -> list[str]:
    """The clinicians' details: codes, probabilities, intervals, findings, link facts, sync."""
    rows = present.details(stored)
    values = present.intervals(stored)
    measured = [f"{name} {values[key]:.0f} ms" for key, name in (("pr_ms", "PR"), ("qrs_ms", "QRS"), ("qt_ms", "QT"),
                                                                 ("qtc_ms", present.qtc_label(stored)))
                if values[key] is not None]
    if measured:
        rows.append(("Intervals", ", ".join(measured)))
    found = present.findings(stored)
    if found:
        rows.append(("Findings", "; ".join(found)))
    if stored.recording.device:
        rows.append(("Device", present.device_words(stored.recording.device) or "—"))
    rows.append(("Id", stored.uuid))
    if with_sync:
        rows.append(("Sync", stored.sync_state or "not queued"))
    width = max(len(k) for k, _ in rows)
    out = ["Details (for clinicians)"]
    for key, value in rows:
        out += textwrap.wrap(value, width=_WIDTH, initial_indent=f"  {key:<{width}}  ",
                             subsequent_indent=" " * (width + 4)) or [f"  {key}"]
    return out


def describe(stored: StoredRecording, *, with_sync: bool = True) -> list[str]:
    """Everything ``cardio show`` prints about one recording."""
    rec = stored.recording
    head = f"Recording {stored.id} — {when_text(rec.started_at)}, {rec.duration_s:.0f} s"
    if not rec.complete and stored.state != "recording":
        head += " (cut short)"
    return [head, *verdict_lines(stored), "", *details_lines(stored, with_sync=with_sync)]
