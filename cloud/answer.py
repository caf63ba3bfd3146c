"""The answer document of one analysis: verdict, diagnoses, heart rate, intervals, quality.

:func:`body` is the one place that turns an analysis's parts into the ``AnalysisResult``
JSON (see ``/openapi.json``); an unreadable answer carries no heart rate, interval or
finding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecg.classes import RHYTHM_CLASSES, UNREADABLE
from ecg.findings import QTC_FORMULA

#: labels of the rhythm model's classes (CinC 2017 classes; the class table, :mod:`ecg.classes`)
RHYTHM_LABELS: dict[str, str] = {c.code: c.clinician_label for c in RHYTHM_CLASSES}


def body(
    rhythm: dict[str, Any],
    probabilities: dict[str, float],
    summary: dict[str, Any],
    measured: dict[str, Any],
    model_version: str,
    extra_findings: list[Any],
) -> dict[str, Any]:
    """The answer. ``rhythm`` decides; an unreadable one carries no heart rate, interval or finding."""
    diagnoses = [
        {"code": code, "label": RHYTHM_LABELS.get(code, code), "probability": round(float(p), 4)}
        for code, p in sorted(probabilities.items(), key=lambda item: -float(item[1]))
    ]
    quality = _quality(summary.get("quality"))
    heart_rate = summary.get("heart_rate_bpm")
    if rhythm["category"] == UNREADABLE.category or not quality["readable"]:
        measured, extra_findings, heart_rate = {}, [], None
        quality["readable"] = False
    elif heart_rate is None:
        heart_rate = measured.get("heart_rate_bpm")
    diagnoses.extend(_findings(list(measured.get("findings") or []) + extra_findings))
    return {
        "modelVersion": model_version,
        "rhythm": dict(rhythm),
        "diagnoses": diagnoses,
        "heartRate": _finite_or_none(heart_rate),
        "measurements": {
            "prMs": _finite_or_none(measured.get("pr_ms")),
            "qrsMs": _finite_or_none(measured.get("qrs_ms")),
            "qtMs": _finite_or_none(measured.get("qt_ms")),
            "qtcMs": _finite_or_none(measured.get("qtc_ms")),
            "qtcFormula": QTC_FORMULA if _finite_or_none(measured.get("qtc_ms")) is not None else None,
        },
        "quality": quality,
    }


def _findings(findings: Any) -> list[dict[str, Any]]:
    """Measurement findings as diagnoses (no probability: they are rule-based)."""
    out: list[dict[str, Any]] = []
    for item in findings or []:
        if isinstance(item, dict):
            code = str(item.get("code") or item.get("name") or item.get("label"))
            label = str(item.get("label") or item.get("description") or code)
        else:
            code = label = str(item)
        out.append({"code": code, "label": label, "probability": None})
    return out


def _quality(quality: Any) -> dict[str, Any]:
    if isinstance(quality, dict):
        return {"readable": bool(quality.get("readable", True)), "reasons": [str(r) for r in quality.get("reasons", [])]}
    return {"readable": True, "reasons": []}


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return round(number, 2) if np.isfinite(number) else None
