"""Turning stored results into words and report headers (shared by the web UI and CLI).

The stored dicts follow the contracts in ``docs/architecture.md``: the local result is
``ecg.screening.ScreeningResult.to_dict()`` (``label``, ``category``, ``heart_rate_bpm``,
``quality``, ``model_version`` ...), measurements are ``ecg.delineate.Measurements.to_dict()``
(``pr_ms``, ``qrs_ms``, ``qt_ms``, ``qtc_ms``, ``heart_rate_bpm``, ``findings``), and the cloud
result is the API's ``AnalysisResult`` (``diagnoses``, ``heartRate``, ``measurements`` with
``prMs``...). Every reader here tolerates missing keys, since older rows may lack them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from companion.store_models import StoredRecording
from ecg.classes import INCONCLUSIVE, RHYTHM_CLASSES
from ecg.report import ReportHeader

#: words for the CinC 2017 labels used by the local model (the class table, :mod:`ecg.classes`)
LABEL_WORDS: dict[str, str] = {c.code: c.patient_label for c in RHYTHM_CLASSES}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def result_label(result: dict[str, Any] | None) -> str | None:
    """The result's label code (``N``, ``A``, ``O``, ``~``) or None."""
    if not result:
        return None
    label = result.get("label")
    if label is None and isinstance(result.get("diagnoses"), list) and result["diagnoses"]:
        label = result["diagnoses"][0].get("code")
    return str(label) if label is not None else None


#: words for the screening's categories (the class table, :mod:`ecg.classes`)
CATEGORY_WORDS: dict[str, str] = {c.category: c.patient_label for c in (*RHYTHM_CLASSES, INCONCLUSIVE)}


def category_words(category: str) -> str:
    """``"atrial_fibrillation"`` → ``"Atrial fibrillation"``; words such as ``"AV block"`` stay as they are."""
    if category in CATEGORY_WORDS:
        return CATEGORY_WORDS[category]
    if " " in category or not category.islower():
        return category
    text = category.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def diagnoses(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The cloud's diagnoses ``[{code, label, probability}]``, from the API answer or as stored by sync."""
    if not result:
        return []
    found = result.get("diagnoses")
    if not isinstance(found, list):
        response = result.get("response")
        found = response.get("diagnoses") if isinstance(response, dict) else None
    return [d for d in found or [] if isinstance(d, dict)]


def result_words(result: dict[str, Any] | None) -> str | None:
    """A result in words: the category, else the words for its label, else the top diagnosis."""
    if not result:
        return None
    if result.get("category"):
        return category_words(str(result["category"]))
    found = diagnoses(result)
    if found:
        return str(found[0].get("label") or found[0].get("code") or "?")
    label = result.get("label")
    if label is None:
        return None
    return LABEL_WORDS.get(str(label), str(label))


def heart_rate(stored: StoredRecording) -> float | None:
    """Heart rate in bpm from the local result, else measurements, else the cloud."""
    for source, key in ((stored.local_result, "heart_rate_bpm"), (stored.measurements, "heart_rate_bpm"),
                        (stored.cloud_result, "heart_rate_bpm"), (stored.cloud_result, "heartRate")):
        value = _number((source or {}).get(key))
        if value is not None:
            return value
    return None


_INTERVALS = (("pr_ms", "prMs", "PR"), ("qrs_ms", "qrsMs", "QRS"), ("qt_ms", "qtMs", "QT"), ("qtc_ms", "qtcMs", "QTc"))


def intervals(stored: StoredRecording) -> dict[str, float | None]:
    """PR, QRS, QT, QTc in ms (keys ``pr_ms``...), local measurements first, then the cloud's."""
    local = stored.measurements or {}
    cloud = (stored.cloud_result or {}).get("measurements") or {}
    out: dict[str, float | None] = {}
    for key, cloud_key, _ in _INTERVALS:
        value = _number(local.get(key))
        if value is None and isinstance(cloud, dict):
            value = _number(cloud.get(key, cloud.get(cloud_key)))
        out[key] = value
    return out


def findings(stored: StoredRecording) -> list[str]:
    """Findings of the measurements as short strings (dicts give their ``text``/``label``/``code``)."""
    raw = (stored.measurements or {}).get("findings") or []
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            out.append(str(item.get("text") or item.get("label") or item.get("code") or item))
    return out


def quality_words(result: dict[str, Any] | None) -> str | None:
    """Quality as words: ``"good"`` or ``"unreadable: <reasons>"``."""
    quality = (result or {}).get("quality")
    if quality is None:
        return None
    if isinstance(quality, str):
        return quality
    if isinstance(quality, dict):
        readable = quality.get("readable")
        reasons = quality.get("reasons") or []
        if readable is True:
            return "good"
        if readable is False:
            return "unreadable" + (": " + ", ".join(map(str, reasons)) if reasons else "")
    return str(quality)


def device_words(device: dict[str, Any]) -> str | None:
    """Device name (and serial/address) for the header."""
    if not device:
        return None
    name = device.get("name") or device.get("model") or "device"
    extra = device.get("serial") or device.get("address")
    return f"{name} ({extra})" if extra else str(name)


def report_header(stored: StoredRecording) -> ReportHeader:
    """The report header of a stored recording."""
    rec = stored.recording
    local = stored.local_result
    values = intervals(stored)
    source = None
    if local and local.get("model_version"):
        source = f"local model {local['model_version']}"
    elif stored.cloud_result:
        source = "cloud " + str(stored.cloud_result.get("modelVersion", ""))
    lines = findings(stored)
    if stored.cloud_result and result_words(stored.cloud_result):
        lines = [f"Cloud: {result_words(stored.cloud_result)}", *lines]
    if not rec.complete:
        lines = ["Incomplete recording", *lines]
    return ReportHeader(
        title="Single-lead ECG",
        recorded_at=rec.started_at,
        device=device_words(rec.device),
        record_id=f"{stored.id} ({stored.uuid[:8]})",
        duration_s=round(rec.duration_s, 1),
        result=result_words(local) or result_words(stored.cloud_result),
        heart_rate_bpm=heart_rate(stored),
        pr_ms=values["pr_ms"],
        qrs_ms=values["qrs_ms"],
        qt_ms=values["qt_ms"],
        qtc_ms=values["qtc_ms"],
        quality=quality_words(local) or quality_words(stored.cloud_result),
        findings=tuple(lines),
        source=source,
    )


def report_signal_mv(stored: StoredRecording) -> np.ndarray:
    """The recording in millivolts for drawing, with samples that never arrived as NaN (gaps)."""
    rec = stored.recording
    sig = rec.signal_mv()
    for start, stop in rec.gaps:
        sig[max(0, start) : max(0, stop)] = np.nan
    return sig
