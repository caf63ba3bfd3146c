"""The analysis itself: a pure function run by stateless workers (threads or processes).

Steps (after authorisation and queueing, done by :mod:`cloud.analysis`): counts → mV,
preprocess for the models (band-pass, resample to the analysis rate,
:mod:`ecg.preprocess`), then the models and measurements (the delineator gets the
unfiltered signal at its own rate, resampled only outside ``MEASURE_FS_HZ``):

- one lead: the shipped rhythm model (:func:`ecg.screening.screen`) and
  :func:`ecg.delineate.measure`;
- several leads: the rhythm model on the rhythm leads (I, II, V1 when present),
  probabilities averaged over the readable ones, and the multi-lead findings of
  :func:`ecg.delineate.measure_leads` (AV block, bundle-branch-block patterns, wide
  QRS, axis);
- both: premature ventricular / atrial complexes from beat timing and QRS morphology
  (:mod:`cloud.ectopy`; PVCs only when the rhythm model says atrial fibrillation), and
  no intervals or findings when the signal is unreadable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from cloud.ectopy import find_ectopy
from cloud.errors import UnanalysableSignal
from cloud.validation import AnalysisRequest
from ecg.classes import RHYTHM_CLASSES

#: labels of the rhythm model's classes (CinC 2017 classes; the class table, :mod:`ecg.classes`)
RHYTHM_LABELS: dict[str, str] = {c.code: c.clinician_label for c in RHYTHM_CLASSES}
MULTI_LEAD_TAG = "+leads"
#: the delineator is validated at these rates (Hz); others are resampled into the range
MEASURE_FS_HZ = (250.0, 1000.0)
#: signals of shape (n_samples, n_leads) in mV, and their rate in Hz
Signal = tuple[np.ndarray, float]
RHYTHM_LEADS = ("I", "II", "V1")


@dataclass(frozen=True)
class PipelineSettings:
    """What the workers need to know (picklable)."""

    analysis_fs_hz: float = 300.0
    band_hz: tuple[float, float] = (0.5, 40.0)


def analyse(request: AnalysisRequest, settings: PipelineSettings) -> dict[str, Any]:
    """Analyse one checked request and return the response body.

    Parameters
    ----------
    request : AnalysisRequest
        Checked request (ADC counts, sample rate, leads).
    settings : PipelineSettings
        Analysis sample rate and band-pass corners.

    Returns
    -------
    dict
        The ``AnalysisResult`` JSON document (see ``/openapi.json``).

    Raises
    ------
    UnanalysableSignal
        The signal cannot be analysed (flat, non-finite, too noisy for any step).
    """
    from ecg.errors import EcgError

    started = time.perf_counter()
    try:
        model_in = _preprocess(request, settings)
        measure_in = _measurement_signal(request)
        if request.samples_counts.shape[1] == 1:
            body = _single_lead(model_in, measure_in)
        else:
            body = _multi_lead(model_in, measure_in, request.lead_names)
    except EcgError as exc:
        raise UnanalysableSignal(str(exc)) from None
    body.update(
        status="completed",
        recordId=request.record_id,
        leads=list(request.lead_names),
        durationS=round(request.duration_s, 3),
        processingMs=round((time.perf_counter() - started) * 1000.0, 2),
    )
    return body


def warm_up() -> None:
    """Load the model and compile the filters once (worker process initializer), so
    the first real request does not pay for it."""
    from cloud.openapi import example_request
    from cloud.validation import parse_request

    try:
        analyse(parse_request(example_request()), PipelineSettings())
    except Exception:  # noqa: BLE001 - warming is best effort; real requests report errors
        pass


def _preprocess(request: AnalysisRequest, settings: PipelineSettings) -> Signal:
    """The signal for the models: band-passed, resampled to the analysis rate."""
    from ecg.preprocess import BandPass, Pipeline, Resample

    if int(np.ptp(request.samples_counts, axis=0).max()) == 0:
        raise UnanalysableSignal("every lead is a flat line (electrodes not in contact?)")
    signals_mv = request.signals_mv()
    if not np.all(np.isfinite(signals_mv)):
        raise UnanalysableSignal("signal has non-finite values after scaling by adcGain")
    low_hz, high_hz = settings.band_hz
    steps: list[Any] = [BandPass(low_hz, high_hz)]  # lowers high_hz itself at low rates
    if abs(request.fs_hz - settings.analysis_fs_hz) > 1e-9:
        steps.append(Resample(settings.analysis_fs_hz))
    out, fs_hz = Pipeline(steps).apply(signals_mv, request.fs_hz)
    return np.asarray(out, dtype=np.float64).reshape(out.shape[0], -1), float(fs_hz)


def _measurement_signal(request: AnalysisRequest) -> Signal:
    """The signal for the delineator: millivolts at the recorded rate when it is within
    MEASURE_FS_HZ (it filters by itself; a band-pass + resample shifts its P waves),
    else resampled to the nearest end of that range."""
    from ecg.preprocess import Resample

    signals_mv, fs_hz = request.signals_mv(), request.fs_hz
    low, high = MEASURE_FS_HZ
    if not low <= fs_hz <= high:
        signals_mv, fs_hz = Resample(low if fs_hz < low else high).apply(signals_mv, fs_hz)
    return np.asarray(signals_mv, dtype=np.float64).reshape(signals_mv.shape[0], -1), float(fs_hz)


def _single_lead(model_in: Signal, measure_in: Signal) -> dict[str, Any]:
    from ecg.delineate import measure
    from ecg.screening import screen

    sig_mv, fs_hz = model_in
    screening = screen(sig_mv[:, 0], fs_hz).to_dict()
    measured = measure(measure_in[0][:, 0], measure_in[1]).to_dict()
    ectopic = _ectopy(sig_mv, fs_hz, 0, screening["probabilities"]) if _readable(screening) else []
    return _body(screening["probabilities"], screening, measured, str(screening["model_version"]), ectopic)


def _multi_lead(model_in: Signal, measure_in: Signal, lead_names: tuple[str, ...]) -> dict[str, Any]:
    from ecg.delineate import measure_leads
    from ecg.errors import SignalError
    from ecg.screening import screen

    signals_mv, fs_hz = model_in
    per_lead: list[dict[str, Any]] = []
    for index in _rhythm_leads(lead_names):
        try:
            per_lead.append(screen(signals_mv[:, index], fs_hz).to_dict())
        except SignalError:
            continue
    if not per_lead:
        raise UnanalysableSignal("no lead could be analysed by the rhythm model")
    readable = [r for r in per_lead if _readable(r)] or per_lead
    probabilities = {
        code: float(np.mean([float(r["probabilities"].get(code, 0.0)) for r in readable])) for code in RHYTHM_LABELS
    }
    measured = measure_leads(measure_in[0], measure_in[1], list(lead_names)).to_dict()
    lead_rates = [r["heart_rate_bpm"] for r in readable if r.get("heart_rate_bpm") is not None]
    summary = {
        "heart_rate_bpm": float(np.median(lead_rates)) if lead_rates else None,
        "quality": readable[0].get("quality"),
    }
    rhythm_lead = lead_names.index("II") if "II" in lead_names else 0
    ectopic = _ectopy(signals_mv, fs_hz, rhythm_lead, probabilities)
    return _body(probabilities, summary, measured, str(per_lead[0]["model_version"]) + MULTI_LEAD_TAG, ectopic)


def _rhythm_leads(lead_names: tuple[str, ...]) -> list[int]:
    """Leads the rhythm model reads: the classic rhythm strips I, II and V1 when present
    (the model was trained on lead-I-like signals), else the first three."""
    chosen = [lead_names.index(name) for name in RHYTHM_LEADS if name in lead_names]
    return chosen or list(range(min(3, len(lead_names))))


def _ectopy(signals_mv: np.ndarray, fs_hz: float, rhythm_lead: int, probabilities: dict[str, float]) -> list[Any]:
    """PVC/PAC findings; when the rhythm is most likely atrial fibrillation, PVCs only
    (a premature atrial beat means nothing without a regular sinus rhythm)."""
    from ecg.beats import detect_r_peaks

    r_peaks = detect_r_peaks(signals_mv[:, rhythm_lead], fs_hz)
    findings = find_ectopy(signals_mv, fs_hz, r_peaks).findings()
    if max(probabilities, key=lambda code: float(probabilities[code])) == "A":
        findings = [f for f in findings if f["code"] == "pvc"]
    return findings


def _readable(screening: dict[str, Any]) -> bool:
    quality = screening.get("quality")
    return bool(quality.get("readable", True)) if isinstance(quality, dict) else True


def _body(
    probabilities: dict[str, float],
    screening: dict[str, Any],
    measured: dict[str, Any],
    model_version: str,
    extra_findings: list[Any],
) -> dict[str, Any]:
    diagnoses = [
        {"code": code, "label": RHYTHM_LABELS.get(code, code), "probability": round(float(p), 4)}
        for code, p in sorted(probabilities.items(), key=lambda item: -float(item[1]))
    ]
    quality = _quality(screening.get("quality"))
    heart_rate = screening.get("heart_rate_bpm")
    if not quality["readable"]:  # no intervals or findings from a signal we cannot read
        measured = {}
        extra_findings = []
    elif heart_rate is None:
        heart_rate = measured.get("heart_rate_bpm")
    diagnoses.extend(_findings(list(measured.get("findings") or []) + extra_findings))
    return {
        "modelVersion": model_version,
        "diagnoses": diagnoses,
        "heartRate": _finite_or_none(heart_rate),
        "measurements": {
            "prMs": _finite_or_none(measured.get("pr_ms")),
            "qrsMs": _finite_or_none(measured.get("qrs_ms")),
            "qtMs": _finite_or_none(measured.get("qt_ms")),
            "qtcMs": _finite_or_none(measured.get("qtc_ms")),
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
