"""The result types of :mod:`ecg.delineate`: one beat's boundaries (:class:`Beat`), one
lead's measurements (:class:`Measurements`) and a multi-lead recording's
(:class:`LeadsMeasurements`), with their JSON-ready forms — the shape of
``cardio measure --json`` and of the cloud answer's measurement fields.

Import them from :mod:`ecg.delineate` (which re-exports them) or from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ecg.delineation.lead import WAVE_KEYS
from ecg.findings import Finding, QtcLimits, qtc_limits

__all__ = ["Beat", "Measurements", "LeadsMeasurements"]


class Beat(NamedTuple):
    """Boundaries of one beat, sample indices (None: wave absent or not found).

    Immutable; a named tuple (built at a fraction of a frozen dataclass's cost: a 30-s
    recording has ~35 of them per lead)."""

    p_on: int | None
    p_peak: int | None
    p_off: int | None
    qrs_on: int | None
    r_peak: int | None
    qrs_off: int | None
    t_peak: int | None
    t_off: int | None

    def to_dict(self) -> dict[str, int | None]:
        """JSON-ready dict with the keys of :data:`ecg.delineation.lead.WAVE_KEYS`."""
        return {k: getattr(self, k) for k in WAVE_KEYS}


@dataclass(frozen=True, kw_only=True)
class _Summary:
    """The fields :class:`Measurements` and :class:`LeadsMeasurements` share (keyword-only,
    so each adds its own without a field order to keep; the JSON key order is
    :func:`_summary_dict`'s).

    Intervals are medians over beats, in ms; None when not measurable, with the reason in
    ``reasons`` under the field's name. ``qtc_ms`` is the one reported QTc, by
    ``qtc_limits.formula`` (:data:`ecg.findings.QTC_FORMULA`), judged with ``qtc_limits``;
    ``qtc_bazett_ms`` and ``qtc_fridericia_ms`` are both formulas' values.
    """

    fs_hz: float
    beats: tuple[Beat, ...]
    pr_ms: float | None
    qrs_ms: float | None
    qt_ms: float | None
    qtc_ms: float | None
    qtc_fridericia_ms: float | None
    heart_rate_bpm: float | None
    rr_ms: float | None
    p_waves: bool
    paced: bool
    findings: tuple[Finding, ...]
    reasons: dict[str, str] = field(default_factory=dict)
    qtc_bazett_ms: float | None = None
    qtc_limits: QtcLimits = field(default_factory=lambda: qtc_limits(None))


@dataclass(frozen=True, kw_only=True)
class Measurements(_Summary):
    """Measurements of one lead (the fields of :class:`_Summary`, for ``lead``)."""

    lead: str | None

    def to_dict(self, *, beats: bool = True) -> dict[str, Any]:
        """JSON-ready dict (intervals rounded to 0.1 ms, heart rate to 0.1 bpm); without
        ``"beats"`` when ``beats`` is False (callers that read only the intervals)."""
        return {"lead": self.lead, **_summary_dict(self, beats)}


@dataclass(frozen=True, kw_only=True)
class LeadsMeasurements(_Summary):
    """Measurements of a multi-lead recording: per lead, and global across leads.

    ``beats`` and the intervals are global (see :func:`ecg.delineate.measure_leads`);
    ``leads`` holds each lead's own :class:`Measurements`.
    """

    lead_names: tuple[str, ...]
    leads: tuple[Measurements, ...]
    axis_deg: float | None

    def to_dict(self, *, beats: bool = True, leads: bool = True) -> dict[str, Any]:
        """JSON-ready dict: the global fields, then ``"leads"`` (one dict per lead); no
        ``"beats"`` anywhere when ``beats`` is False, no ``"leads"`` when ``leads`` is
        False (callers that read only the global values)."""
        out = {
            "lead": "global",
            "lead_names": list(self.lead_names),
            **_summary_dict(self, beats),
            "axis_deg": _round1(self.axis_deg),
        }
        if leads:
            out["leads"] = [m.to_dict(beats=beats) for m in self.leads]
        return out


def _round1(v: float | None) -> float | None:
    return None if v is None else round(float(v), 1)


def _summary_dict(m: _Summary, beats: bool = True) -> dict[str, Any]:
    """The fields both measurement types share, JSON-ready, in contract order."""
    out: dict[str, Any] = {
        "fs_hz": m.fs_hz,
        "pr_ms": _round1(m.pr_ms),
        "qrs_ms": _round1(m.qrs_ms),
        "qt_ms": _round1(m.qt_ms),
        "qtc_ms": _round1(m.qtc_ms),
        "qtc_bazett_ms": _round1(m.qtc_bazett_ms),
        "qtc_fridericia_ms": _round1(m.qtc_fridericia_ms),
        "qtc_formula": m.qtc_limits.formula,
        "qtc_limits": m.qtc_limits.to_dict(),
        "heart_rate_bpm": _round1(m.heart_rate_bpm),
        "rr_ms": _round1(m.rr_ms),
        "p_waves": m.p_waves,
        "paced": m.paced,
        "findings": [f.to_dict() for f in m.findings],
        "reasons": dict(m.reasons),
    }
    if not beats:
        return out
    return {"fs_hz": out.pop("fs_hz"), "beats": [b.to_dict() for b in m.beats], **out}
