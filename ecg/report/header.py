"""What a report says above the trace: a validated header and its text lines."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecg.errors import EcgError
from ecg.findings import QTC_FORMULA, QTC_FORMULAS


class ReportError(EcgError, ValueError):
    """A report cannot be drawn as asked (misuse by the caller).

    Parameters
    ----------
    message : str
        Human-readable explanation.
    reason : str
        ``"unknown_field"``, ``"bad_field"``, ``"format"``, ``"signal"``.
    field_name : str or None
        The header field or argument involved, if any.
    """

    def __init__(self, message: str, *, reason: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field_name = field_name


@dataclass(frozen=True)
class ReportHeader:
    """Facts printed in a report's header. Every field is optional.

    Attributes
    ----------
    title : str
        First line, e.g. ``"Single-lead ECG"``.
    recorded_at : str or datetime or None
        When the recording started (a datetime is printed as UTC ISO minutes).
    device : str or None
        Device name/serial.
    record_id : str or None
        Identifier of the recording.
    duration_s : float or None
        Recording length; computed from the signal when None.
    result : str or None
        The rhythm result in words, e.g. ``"Normal sinus rhythm"``.
    heart_rate_bpm, pr_ms, qrs_ms, qt_ms, qtc_ms : float or None
        Heart rate and intervals; None prints as "—".
    qtc_formula : str
        The formula of ``qtc_ms``, printed with it (one of :data:`ecg.findings.QTC_FORMULAS`;
        default :data:`ecg.findings.QTC_FORMULA`, the one the measurements use).
    quality : str or None
        Signal quality in words, e.g. ``"good"`` or ``"unreadable: noise"``.
    findings : tuple[str, ...]
        Extra lines (e.g. measurement findings or the cloud's diagnoses).
    source : str or None
        Who produced the result, e.g. ``"local model 1.0"``.
    safety : str or None
        A safety sentence printed under the trace (e.g. :data:`ecg.classes.SAFETY_TEXT`).
    markers : tuple of (float, str)
        Events marked on the trace: ``(seconds from the start, text)``, e.g.
        ``(12.4, "contact lost")``.
    """

    title: str = "ECG report"
    recorded_at: str | _dt.datetime | None = None
    device: str | None = None
    record_id: str | None = None
    duration_s: float | None = None
    result: str | None = None
    heart_rate_bpm: float | None = None
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_ms: float | None = None
    qtc_formula: str = QTC_FORMULA
    quality: str | None = None
    findings: tuple[str, ...] = field(default_factory=tuple)
    source: str | None = None
    safety: str | None = None
    markers: tuple[tuple[float, str], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("duration_s", "heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ReportError(f"header field {name!r} must be a finite number or None, got {value!r}",
                                  reason="bad_field", field_name=name)
        if self.qtc_formula not in QTC_FORMULAS:
            raise ReportError(f"header field 'qtc_formula' must be one of {', '.join(QTC_FORMULAS)}, "
                              f"got {self.qtc_formula!r}", reason="bad_field", field_name="qtc_formula")
        if isinstance(self.findings, str) or not all(isinstance(f, str) for f in self.findings):
            raise ReportError("header field 'findings' must be a sequence of strings",
                              reason="bad_field", field_name="findings")
        object.__setattr__(self, "findings", tuple(self.findings))
        try:
            markers = tuple((float(t), str(text)) for t, text in self.markers)
        except (TypeError, ValueError):
            raise ReportError("header field 'markers' must hold (seconds, text) pairs",
                              reason="bad_field", field_name="markers") from None
        if not all(math.isfinite(t) for t, _ in markers):
            raise ReportError("marker times must be finite", reason="bad_field", field_name="markers")
        object.__setattr__(self, "markers", markers)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ReportHeader:
        """Build a header from a mapping, rejecting unknown keys.

        Examples
        --------
        >>> ReportHeader.from_mapping({"result": "Normal", "heart_rate_bpm": 72}).result
        'Normal'
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ReportError(f"unknown header field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                              reason="unknown_field", field_name=unknown[0])
        return cls(**dict(values))

    def with_duration(self, duration_s: float) -> ReportHeader:
        """This header, with ``duration_s`` filled in when it was missing."""
        if self.duration_s is not None:
            return self
        return dataclasses.replace(self, duration_s=round(duration_s, 1))


def _num(value: float | None, unit: str, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f} {unit}"


def _when(value: str | _dt.datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M UTC" if value.tzinfo else "%Y-%m-%d %H:%M")
    return str(value)


def header_lines(header: ReportHeader) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """Text of a header: (title, left column of (label, value), right column).

    Examples
    --------
    >>> title, left, right = header_lines(ReportHeader(heart_rate_bpm=61.4))
    >>> dict(right)["Heart rate"]
    '61 bpm'
    """
    left = [
        ("Date", _when(header.recorded_at)),
        ("Device", header.device or "—"),
        ("Recording", header.record_id or "—"),
        ("Duration", _num(header.duration_s, "s", 1)),
        ("Result", header.result or "—"),
        ("Quality", header.quality or "—"),
    ]
    right = [
        ("Heart rate", _num(header.heart_rate_bpm, "bpm")),
        ("PR", _num(header.pr_ms, "ms")),
        ("QRS", _num(header.qrs_ms, "ms")),
        ("QT", _num(header.qt_ms, "ms")),
        (f"QTc ({header.qtc_formula})", _num(header.qtc_ms, "ms")),
        ("Source", header.source or "—"),
    ]
    return header.title, left, right
