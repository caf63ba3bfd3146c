"""Parse and check an analysis request (CardioLearn's JSON form).

The body is checked completely before anything is queued; every problem found is
reported in one answer (``errors``: one entry per field).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from cloud.errors import RequestError

#: JSON field → lead name, in the standard 12-lead order
LEAD_FIELDS: dict[str, str] = {
    "dataI": "I",
    "dataII": "II",
    "dataIII": "III",
    "dataAVR": "aVR",
    "dataAVL": "aVL",
    "dataAVF": "aVF",
    "dataV1": "V1",
    "dataV2": "V2",
    "dataV3": "V3",
    "dataV4": "V4",
    "dataV5": "V5",
    "dataV6": "V6",
}
_FIELD_OF_LEAD = {name: field for field, name in LEAD_FIELDS.items()}
SCALAR_FIELDS = ("sampleRate", "adcGain", "baseline", "recordId")
KNOWN_FIELDS = frozenset(SCALAR_FIELDS) | frozenset(LEAD_FIELDS)

FS_MIN_HZ = 100.0
FS_MAX_HZ = 2000.0
DURATION_MIN_S = 5.0
DURATION_MAX_S = 600.0
GAIN_MIN = 1e-3
GAIN_MAX = 1e7
SAMPLE_MIN = -(2**31)
SAMPLE_MAX = 2**31 - 1
RECORD_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
_RECORD_ID_RE = re.compile(RECORD_ID_PATTERN)


@dataclass(frozen=True)
class AnalysisRequest:
    """A checked request, ready for the queue (picklable: goes to worker processes).

    Attributes
    ----------
    record_id : str
        Client-chosen idempotency key (a UUID generated when absent).
    fs_hz : float
        Sampling rate of the leads.
    adc_gain_counts_per_mv : float
        ADC counts per millivolt.
    baseline_counts : int
        ADC count of 0 mV.
    lead_names : tuple of str
        Leads present, in standard order.
    samples_counts : np.ndarray
        Shape ``(n_samples, n_leads)``, int64 ADC counts.
    """

    record_id: str
    fs_hz: float
    adc_gain_counts_per_mv: float
    baseline_counts: int
    lead_names: tuple[str, ...]
    samples_counts: np.ndarray

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.samples_counts.shape[0] / self.fs_hz

    def signals_mv(self) -> np.ndarray:
        """Leads in millivolts, shape ``(n_samples, n_leads)`` float64."""
        return (self.samples_counts.astype(np.float64) - self.baseline_counts) / self.adc_gain_counts_per_mv


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes) -> Any:
    """Decode a JSON body strictly (``NaN``/``Infinity`` refused).

    Raises
    ------
    RequestError
        Status 400, problem ``malformed-json``.
    """
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise RequestError(f"body is not valid JSON: {exc}", status=400, problem="malformed-json") from None


def parse_body(body: bytes) -> AnalysisRequest:
    """:func:`decode_json` then :func:`parse_request` (picklable: runs in workers)."""
    return parse_request(decode_json(body))


def parse_request(payload: Any) -> AnalysisRequest:
    """Check a decoded JSON payload and build an :class:`AnalysisRequest`.

    Parameters
    ----------
    payload : Any
        The decoded JSON document.

    Raises
    ------
    RequestError
        Status 422 listing every problem (unknown fields, wrong types, lengths...).

    Examples
    --------
    >>> r = parse_request({"sampleRate": 100, "adcGain": 1000, "dataI": [0] * 600})
    >>> r.lead_names, r.duration_s
    (('I',), 6.0)
    """
    if not isinstance(payload, dict):
        raise RequestError("body must be a JSON object", errors=[{"field": "", "message": "not an object"}])
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    for field in sorted(set(payload) - KNOWN_FIELDS):
        bad(field, "unknown field")
    fs_hz = _number(payload, "sampleRate", FS_MIN_HZ, FS_MAX_HZ, bad, required=True)
    gain = _number(payload, "adcGain", GAIN_MIN, GAIN_MAX, bad, required=True)
    baseline = payload.get("baseline", 0)
    if baseline is None:
        baseline = 0
    if type(baseline) is not int or not SAMPLE_MIN <= baseline <= SAMPLE_MAX:
        bad("baseline", "must be an integer ADC count within int32")
        baseline = 0
    # absent → a fresh id; present (null included) → it must be a valid string, as the schema says
    record_id = payload.get("recordId", None) if "recordId" in payload else str(uuid.uuid4())
    if not isinstance(record_id, str) or not _RECORD_ID_RE.fullmatch(record_id):
        bad("recordId", f"must be a string matching {RECORD_ID_PATTERN}")
    leads = _leads(payload, bad)
    if not errors:
        _check_shape(leads, fs_hz, bad)
    if errors:
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise RequestError(f"request rejected ({len(errors)} problem(s): {fields})", errors=errors)
    assert fs_hz is not None and gain is not None  # guaranteed when errors is empty
    samples = np.column_stack([leads[name] for name in leads])
    return AnalysisRequest(
        record_id=str(record_id),
        fs_hz=float(fs_hz),
        adc_gain_counts_per_mv=float(gain),
        baseline_counts=int(baseline),
        lead_names=tuple(leads),
        samples_counts=samples,
    )


def _number(payload: dict[str, Any], field: str, low: float, high: float, bad: Any, *, required: bool) -> float | None:
    value = payload.get(field)
    if value is None:
        if required:
            bad(field, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
        bad(field, "must be a finite number")
        return None
    if not low <= value <= high:  # exact for ints of any size (no float conversion before the check)
        bad(field, f"must be within {low:g}-{high:g}")
        return None
    return float(value)


def _leads(payload: dict[str, Any], bad: Any) -> dict[str, np.ndarray]:
    leads: dict[str, np.ndarray] = {}
    for field, name in LEAD_FIELDS.items():
        values = payload.get(field)
        if values is None or values == []:  # an empty array is an absent lead, as null is
            continue
        if not isinstance(values, list) or not all(type(v) is int for v in values):
            bad(field, "must be a list of integers or null")
            continue
        if values and (min(values) < SAMPLE_MIN or max(values) > SAMPLE_MAX):
            bad(field, "samples must be integers within int32")
            continue
        leads[name] = np.array(values, dtype=np.int64)
    return leads


def _check_shape(leads: dict[str, np.ndarray], fs_hz: float | None, bad: Any) -> None:
    if not leads:
        bad("dataI", "at least one lead is required (dataI for the single-lead model)")
        return
    lengths = {name: len(a) for name, a in leads.items()}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{n}={k}" for n, k in lengths.items())
        bad("leads", f"leads differ in length ({listing})")
        return
    n_samples = next(iter(lengths.values()))
    if fs_hz is None:
        return
    duration_s = n_samples / fs_hz
    if not DURATION_MIN_S <= duration_s <= DURATION_MAX_S:
        field = _FIELD_OF_LEAD[next(iter(leads))]
        bad(field, f"recording lasts {duration_s:.2f} s; must be {DURATION_MIN_S:g}-{DURATION_MAX_S:g} s")
