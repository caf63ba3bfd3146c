"""Typed request and response of the analysis API (dataclasses, JSON mapping)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud_client.errors import ProtocolError

#: lead name → JSON field of the request
LEAD_FIELDS: dict[str, str] = {
    "I": "dataI",
    "II": "dataII",
    "III": "dataIII",
    "aVR": "dataAVR",
    "aVL": "dataAVL",
    "aVF": "dataAVF",
    "V1": "dataV1",
    "V2": "dataV2",
    "V3": "dataV3",
    "V4": "dataV4",
    "V5": "dataV5",
    "V6": "dataV6",
}


@dataclass(frozen=True)
class AnalysisRequest:
    """One recording to analyse.

    Attributes
    ----------
    sample_rate_hz : float
        Sampling rate of every lead.
    adc_gain_counts_per_mv : float
        ADC counts per millivolt.
    leads : mapping of str to sequence of int
        ADC counts per lead name (``"I"`` alone for the single-lead model).
    baseline_counts : int
        ADC count of 0 mV.
    record_id : str
        Idempotency key: sending the same id again never causes a second analysis.
        A fresh UUID by default; keep it to retry safely.

    Examples
    --------
    >>> req = AnalysisRequest(300.0, 1000.0, {"I": [0, 1, 2]}, record_id="r1")
    >>> sorted(req.to_json())
    ['adcGain', 'baseline', 'dataI', 'recordId', 'sampleRate']
    """

    sample_rate_hz: float
    adc_gain_counts_per_mv: float
    leads: Mapping[str, Sequence[int]]
    baseline_counts: int = 0
    record_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.leads) - set(LEAD_FIELDS))
        if unknown:
            raise ValueError(f"unknown lead name(s) {unknown}; known: {list(LEAD_FIELDS)}")
        if not self.leads:
            raise ValueError("at least one lead is required")

    def to_json(self) -> dict[str, Any]:
        """The request body in the API's form."""
        body: dict[str, Any] = {
            "sampleRate": float(self.sample_rate_hz),
            "adcGain": float(self.adc_gain_counts_per_mv),
            "baseline": int(self.baseline_counts),
            "recordId": self.record_id,
        }
        for name, samples in self.leads.items():
            body[LEAD_FIELDS[name]] = [int(v) for v in samples]
        return body


@dataclass(frozen=True)
class Diagnosis:
    """One diagnosis: rhythm class with its probability, or a rule-based finding (None)."""

    code: str
    label: str
    probability: float | None


@dataclass(frozen=True)
class Rhythm:
    """The verdict: CinC code (best guess), category, its probability and words.

    ``category`` is ``sinus_rhythm``, ``atrial_fibrillation``, ``other_rhythm``,
    ``unreadable`` or ``inconclusive``; ``probability`` is None when the signal was
    unreadable before the model ran.
    """

    code: str
    category: str
    probability: float | None
    label: str

    @property
    def unreadable(self) -> bool:
        return self.category == "unreadable"


@dataclass(frozen=True)
class Measurements:
    """Interval measurements in milliseconds (None when not measurable).

    ``qtc_formula`` names the heart-rate correction of ``qtc_ms`` ("Fridericia"); None from a
    server that does not say (before 2026-12 those sent Bazett's value).
    """

    pr_ms: float | None
    qrs_ms: float | None
    qt_ms: float | None
    qtc_ms: float | None
    qtc_formula: str | None = None


@dataclass(frozen=True)
class Quality:
    """Whether the signal was readable, and why not."""

    readable: bool
    reasons: list[str]


@dataclass(frozen=True)
class AnalysisResult:
    """The service's answer (``raw`` keeps the full JSON document)."""

    status: str
    record_id: str
    model_version: str
    diagnoses: list[Diagnosis]
    heart_rate_bpm: float | None
    measurements: Measurements
    quality: Quality
    leads: list[str]
    processing_ms: float
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    rhythm: Rhythm | None = None

    @property
    def top(self) -> Diagnosis | None:
        """The most probable rhythm class (not the verdict: that is :attr:`rhythm`)."""
        ranked = [d for d in self.diagnoses if d.probability is not None]
        return max(ranked, key=lambda d: d.probability or 0.0) if ranked else None

    @classmethod
    def from_json(cls, body: Any) -> AnalysisResult:
        """Parse a result document; :class:`ProtocolError` if it is not one."""
        try:
            m = body["measurements"]
            q = body["quality"]
            return cls(
                status=str(body["status"]),
                record_id=str(body["recordId"]),
                model_version=str(body["modelVersion"]),
                diagnoses=[
                    Diagnosis(str(d["code"]), str(d["label"]), _opt_float(d.get("probability")))
                    for d in body["diagnoses"]
                ],
                heart_rate_bpm=_opt_float(body.get("heartRate")),
                measurements=Measurements(
                    _opt_float(m.get("prMs")), _opt_float(m.get("qrsMs")),
                    _opt_float(m.get("qtMs")), _opt_float(m.get("qtcMs")),
                    str(m["qtcFormula"]) if isinstance(m.get("qtcFormula"), str) else None,
                ),
                quality=Quality(bool(q["readable"]), [str(r) for r in q.get("reasons", [])]),
                leads=[str(x) for x in body["leads"]],
                processing_ms=float(body["processingMs"]),
                raw=dict(body),
                rhythm=_rhythm(body.get("rhythm")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"not an analysis result: {type(exc).__name__}: {exc}") from None


def _rhythm(value: Any) -> Rhythm | None:
    """The answer's ``rhythm`` (None from a server that predates it)."""
    if value is None:
        return None
    return Rhythm(str(value["code"]), str(value["category"]), _opt_float(value.get("probability")),
                  str(value["label"]))


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
