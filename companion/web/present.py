"""Stored results in words a patient understands, with the numbers for clinicians apart.

Every page, command and report of the companion says what a recording showed through
:func:`verdict`: the words come from the class table (:mod:`ecg.classes`: label, one-line
meaning, what to do next, colour) and every verdict carries :data:`ecg.classes.SAFETY_TEXT`.
A recording that could not be read (model class ``~``), or that is shorter than
:data:`MIN_SCREENED_S`, gets no heart rate and no intervals anywhere. Probabilities, codes
and model versions are only in :func:`details` (the "details" section for clinicians).

The stored dicts follow the contracts in ``docs/architecture.md``: the local result is
``ecg.screening.ScreeningResult.to_dict()`` (``label``, ``category``, ``heart_rate_bpm``,
``quality``, ``flags``, ``model_version``), measurements are
``ecg.delineate.Measurements.to_dict()`` and the cloud result is what ``companion.sync``
stores. Every reader here tolerates missing keys, since older rows may lack them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from companion.localtime import when_text
from companion.notes import Profile, symptom_words
from companion.recording import CONTACT_LOST, CONTACT_REGAINED, MIN_SCREENED_S, normalised_contact_events
from companion.store_models import RecordingSummary, StoredRecording
from ecg.classes import SAFETY_TEXT, ClassTableError, by_category, by_code
from ecg.findings import QTC_FORMULA, QTC_FORMULAS

if TYPE_CHECKING:
    from ecg.report import ReportHeader

#: patient words of the screening's flags that are not rhythm classes
FLAG_WORDS: dict[str, str] = {
    "low_heart_rate": "Heart rate below 50 beats per minute",
    "high_heart_rate": "Heart rate above 120 beats per minute",
}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a recording showed, in words for the person who recorded it.

    Attributes
    ----------
    category : str
        A class-table category, or ``"too_short"`` / ``"pending"`` / ``"not_screened"``.
    label, meaning, advice : str
        Short verdict, one-line meaning, what to do next.
    colour : str
        CSS colour of the verdict.
    heart_rate_bpm : float or None
        Only for a readable recording.
    notes : tuple of str
        Extra lines for the patient (heart-rate flags, a partial recording).
    readable : bool
        False when no number may be shown (unreadable, too short, no result).
    source : str or None
        ``"this device"`` or ``"cloud analysis"``.
    safety : str
        :data:`ecg.classes.SAFETY_TEXT`, shown with every verdict.
    """

    category: str
    label: str
    meaning: str
    advice: str
    colour: str
    heart_rate_bpm: float | None = None
    notes: tuple[str, ...] = ()
    readable: bool = False
    source: str | None = None
    safety: str = SAFETY_TEXT

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``verdict`` of ``cardio show --json``)."""
        return dataclasses.asdict(self) | {"notes": list(self.notes)}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def result_label(result: dict[str, Any] | None) -> str | None:
    """The result's model code (``N``, ``A``, ``O``, ``~``) or None."""
    if not result:
        return None
    label = result.get("label")
    if label is None and isinstance(result.get("rhythm"), dict):
        label = result["rhythm"].get("code")
    if label is None and isinstance(result.get("diagnoses"), list) and result["diagnoses"]:
        label = result["diagnoses"][0].get("code")
    return str(label) if label is not None else None


def result_category(result: dict[str, Any] | None) -> str | None:
    """The class-table category of a stored result (local or cloud), or None."""
    if not result:
        return None
    for value in (result.get("category"), (result.get("rhythm") or {}).get("category")
                  if isinstance(result.get("rhythm"), dict) else None):
        if isinstance(value, str):
            try:
                return by_category(value).category
            except ClassTableError:
                pass
    code = result_label(result)
    try:
        return by_code(code).category if code else None
    except ClassTableError:
        return None


def category_words(category: str) -> str:
    """``"atrial_fibrillation"`` → ``"Possible atrial fibrillation"`` (class table); other words stay."""
    try:
        return by_category(category).patient_label
    except ClassTableError:
        pass
    if category in FLAG_WORDS:
        return FLAG_WORDS[category]
    if " " in category or not category.islower():
        return category
    text = category.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def result_words(result: dict[str, Any] | None) -> str | None:
    """A stored result's verdict in patient words (class table), or None."""
    category = result_category(result)
    return None if category is None else by_category(category).patient_label


def _too_short(duration_s: float) -> Verdict:
    return Verdict(
        category="too_short", label="Too short — record again",
        meaning=f"This recording lasted {duration_s:.0f} s; at least {MIN_SCREENED_S:.0f} s are needed to check "
        "the rhythm, so it was kept but not checked.",
        advice="Record again and keep your fingers on the electrodes for the full 30 seconds.",
        colour="#6b6b75",
    )


def verdict(stored: StoredRecording) -> Verdict:
    """The verdict of a stored recording: the on-device result, else the cloud's."""
    rec = stored.recording
    return verdict_of(state=stored.state, duration_s=rec.duration_s, complete=rec.complete,
                      local=stored.local_result, cloud=stored.cloud_result, heart_rate_bpm=heart_rate(stored))


def summary_verdict(row: RecordingSummary) -> Verdict:
    """The verdict of a history row (same rules as :func:`verdict`)."""
    return verdict_of(state=row.state, duration_s=row.duration_s, complete=row.complete, local=row.local,
                      cloud=row.cloud, heart_rate_bpm=row.heart_rate_bpm)


def verdict_of(*, state: str, duration_s: float, complete: bool, local: dict[str, Any] | None,
               cloud: dict[str, Any] | None, heart_rate_bpm: float | None) -> Verdict:
    """The one rule behind :func:`verdict` and :func:`summary_verdict`.

    Parameters
    ----------
    state : str
        Recording state (``recording``, ``complete``, ``incomplete``).
    duration_s : float
        Length of what was stored.
    complete : bool
    local, cloud : dict or None
        Stored results; the on-device one wins when both exist.
    heart_rate_bpm : float or None
        Measured heart rate; shown only when the verdict is readable.
    """
    if state == "recording":
        return Verdict("pending", "Recording…", "This recording is under way.", "Keep still until it ends.",
                       "#6b6b75")
    if duration_s < MIN_SCREENED_S:
        short = _too_short(duration_s)
        return dataclasses.replace(short, notes=() if complete else ("Incomplete recording: only part of it arrived.",))
    for result, source in ((local, "this device"), (cloud, "cloud analysis")):
        category = result_category(result)
        if category is None:
            continue
        entry = by_category(category)
        readable = category != "unreadable"
        flags = [FLAG_WORDS[f] for f in (result or {}).get("flags") or [] if f in FLAG_WORDS] if readable else []
        if (result or {}).get("partial") or not complete:
            flags.append("Incomplete recording: only part of it arrived; the result is from that part.")
        return Verdict(category, entry.patient_label, entry.patient_meaning, entry.patient_advice, entry.colour,
                       heart_rate_bpm=heart_rate_bpm if readable else None, notes=tuple(flags),
                       readable=readable, source=source)
    return Verdict("not_screened", "No result yet",
                   "The rhythm of this recording has not been checked yet.",
                   "Open it again later, or run `cardio sync` to get the cloud analysis.", "#6b6b75",
                   notes=() if complete else ("Incomplete recording: only part of it arrived.",))


def diagnoses(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The cloud's diagnoses ``[{code, label, probability}]``, from the API answer or as stored by sync."""
    if not result:
        return []
    found = result.get("diagnoses")
    if not isinstance(found, list):
        response = result.get("response")
        found = response.get("diagnoses") if isinstance(response, dict) else None
    return [d for d in found or [] if isinstance(d, dict)]


def heart_rate(stored: StoredRecording) -> float | None:
    """Heart rate in bpm from the local result, else measurements, else the cloud (raw: see :func:`verdict`)."""
    for source, key in ((stored.local_result, "heart_rate_bpm"), (stored.measurements, "heart_rate_bpm"),
                        (stored.cloud_result, "heart_rate_bpm"), (stored.cloud_result, "heartRate")):
        value = _number((source or {}).get(key))
        if value is not None:
            return value
    return None


_INTERVALS = (("pr_ms", "prMs", "PR"), ("qrs_ms", "qrsMs", "QRS"), ("qt_ms", "qtMs", "QT"), ("qtc_ms", "qtcMs", "QTc"))


def intervals(stored: StoredRecording) -> dict[str, float | None]:
    """PR, QRS, QT, QTc in ms (keys ``pr_ms``...): all None unless the recording was readable."""
    out: dict[str, float | None] = {key: None for key, _, _ in _INTERVALS}
    if not verdict(stored).readable:
        return out
    local = stored.measurements or {}
    cloud = (stored.cloud_result or {}).get("measurements") or {}
    for key, cloud_key, _ in _INTERVALS:
        value = _number(local.get(key))
        if value is None and isinstance(cloud, dict):
            value = _number(cloud.get(key, cloud.get(cloud_key)))
        out[key] = value
    return out


def qtc_formula(stored: StoredRecording) -> str:
    """The formula of the QTc :func:`intervals` gives (one per report).

    The local measurement names it (``qtc_formula``); one stored before formulas were
    named holds Bazett's value. A QTc from the cloud comes from the same ``ecg`` path.
    """
    local = stored.measurements or {}
    if _number(local.get("qtc_ms")) is not None:
        return str(local.get("qtc_formula") or "Bazett")
    return QTC_FORMULA


def qtc_label(stored: StoredRecording) -> str:
    """``"QTc (Fridericia)"``: the QTc row's label, naming its formula."""
    return f"QTc ({qtc_formula(stored)})"


def findings(stored: StoredRecording) -> list[str]:
    """Findings only (measurement findings and the cloud's findings); never rhythm classes or numbers
    of an unreadable recording."""
    if not verdict(stored).readable:
        return []
    raw = list((stored.measurements or {}).get("findings") or [])
    raw += list((stored.cloud_result or {}).get("flags") or [])
    out: list[str] = []
    for item in raw:
        text = item if isinstance(item, str) else (
            str(item.get("text") or item.get("label") or item.get("code")) if isinstance(item, dict) else None)
        if text and text not in out and result_category({"category": text}) is None:
            out.append(text)
    return out


def quality_words(result: dict[str, Any] | None) -> str | None:
    """Quality as words: ``"good"`` or ``"unreadable: <reasons>"``."""
    quality = (result or {}).get("quality")
    if isinstance(quality, str):
        return quality
    if isinstance(quality, dict):
        reasons = quality.get("reasons") or []
        if quality.get("readable") is True:
            return "good"
        if quality.get("readable") is False:
            return "unreadable" + (": " + ", ".join(map(str, reasons)) if reasons else "")
    return None


def signal_quality(stored: StoredRecording) -> str:
    """Quality words that agree with the verdict (an unreadable verdict is never "good" quality)."""
    v = verdict(stored)
    words = quality_words(stored.local_result) or quality_words(stored.cloud_result)
    if v.category == "unreadable":
        return words if words and words.startswith("unreadable") else "too noisy to read"
    if v.category == "too_short":
        return "too short to check"
    return words or "—"


def device_words(device: dict[str, Any]) -> str | None:
    """Device name (and serial/address) for the header."""
    if not device:
        return None
    name = device.get("name") or device.get("model") or "device"
    extra = device.get("serial") or device.get("address")
    return f"{name} ({extra})" if extra else str(name)


def contact_events(stored: StoredRecording) -> list[tuple[float, str]]:
    """Electrode contact changes as ``(seconds, words)``: "contact lost" / "contact regained".

    The device records nothing while contact is lost, so a pause shows as "contact lost"
    and "contact regained" at the same time (the trace is joined there); a session that
    ended without contact ends with "contact lost". Older recordings that stored only
    ``lost`` get their implicit ``regained`` (see ``normalised_contact_events``).
    """
    rec = stored.recording
    words = {CONTACT_LOST: "contact lost", CONTACT_REGAINED: "contact regained"}
    return [(e.sample_index / rec.sample_rate_hz, words[e.kind])
            for e in normalised_contact_events(rec.contact_events, rec.n_samples) if e.kind in words]


def profile_words(profile: Profile | None) -> str | None:
    """``"Ada Lovelace, F, 66 y"`` for the header; None when nothing is known."""
    if profile is None:
        return None
    parts = [p for p in (profile.name, profile.sex) if p]
    age = profile.age_years()
    if age is not None:
        parts.append(f"{age} y (born {profile.birth_date.isoformat()})" if profile.birth_date else f"{age} y")
    return ", ".join(parts) or None


def details(stored: StoredRecording) -> list[tuple[str, str]]:
    """The clinicians' details: codes, probabilities, quality, model versions, link facts."""
    rows: list[tuple[str, str]] = []
    for title, result in (("On-device", stored.local_result), ("Cloud", stored.cloud_result)):
        if not result:
            continue
        code = result_label(result)
        category = result_category(result)
        clinician = by_category(category).clinician_label if category else "?"
        rows.append((f"{title} result", f"{clinician} (code {code})"))
        probs = result.get("probabilities")
        if isinstance(probs, dict) and probs:
            rows.append((f"{title} probabilities", ", ".join(
                f"{k} {float(v):.2f}" for k, v in probs.items() if _number(v) is not None)))
        quality = quality_words(result)
        if quality == "good" and category == "unreadable":  # never "good" beside "unreadable"
            quality = "passed the noise check, but the rhythm model could not read it"
        if quality:
            rows.append((f"{title} signal quality", quality))
        version = result.get("model_version") or result.get("modelVersion")
        if version:
            rows.append((f"{title} model", str(version)))
    rec = stored.recording
    rows.append(("Samples", f"{rec.n_samples} at {rec.sample_rate_hz:g} Hz, {rec.adc_gain_counts_per_mv:g} counts/mV"))
    rows.append(("Link", f"complete={rec.complete}, verified={rec.verified}, resent {rec.frames_resent}, "
                 f"reconnects {rec.reconnects}, malformed {rec.frames_malformed}"))
    if rec.gaps:
        rows.append(("Missing", f"{sum(b - a for a, b in rec.gaps)} samples in {len(rec.gaps)} gap(s)"))
    return rows


def report_header(stored: StoredRecording, profile: Profile | None = None) -> ReportHeader:
    """The report header of a stored recording: one verdict, no numbers when it is unreadable."""
    from ecg.report import ReportHeader  # matplotlib: only when a report is drawn
    rec = stored.recording
    v = verdict(stored)
    values = intervals(stored)
    formula = qtc_formula(stored)
    lines = list(v.notes) + findings(stored)
    if stored.symptoms:
        lines.append("Symptoms: " + ", ".join(symptom_words(stored.symptoms)))
    if stored.note:
        lines.append("Note: " + " ".join(stored.note.split()))
    events = contact_events(stored)
    if events:
        lines.append("; ".join(f"{text} at {t_s:.1f} s" for t_s, text in events))
    version = (stored.local_result or {}).get("model_version") or (stored.cloud_result or {}).get("model_version")
    return ReportHeader(
        title="Single-lead ECG" + (f" — {p}" if (p := profile_words(profile)) else ""),
        recorded_at=when_text(rec.started_at),
        device=device_words(rec.device),
        record_id=f"{stored.id} ({stored.uuid[:8]})",
        duration_s=round(rec.duration_s, 1),
        result=v.label,
        heart_rate_bpm=v.heart_rate_bpm,
        pr_ms=values["pr_ms"],
        qrs_ms=values["qrs_ms"],
        qt_ms=values["qt_ms"],
        qtc_ms=values["qtc_ms"] if formula in QTC_FORMULAS else None,  # a QTc of an unknown formula is not shown
        qtc_formula=formula if formula in QTC_FORMULAS else QTC_FORMULA,
        quality=signal_quality(stored),
        findings=tuple(lines),
        source=(f"{v.source}, model {version}" if version else v.source) if v.source else None,
        safety=v.safety,
        markers=tuple(events),
    )


def report_signal_mv(stored: StoredRecording) -> np.ndarray:
    """The recording in millivolts for drawing, with samples that never arrived as NaN (gaps)."""
    rec = stored.recording
    sig = rec.signal_mv()
    for start, stop in rec.gaps:
        sig[max(0, start) : max(0, stop)] = np.nan
    return sig
