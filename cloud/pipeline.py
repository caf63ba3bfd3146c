"""The analysis itself: a pure function run by stateless workers (threads or processes).

Steps (after authorisation and queueing, done by :mod:`cloud.analysis`): counts → mV,
then one analysis context per lead (:mod:`ecg.context`) at the recording's rate
(resampled only outside ``MEASURE_FS_HZ``, where the delineator is validated). Every
step below takes its filtered views and R peaks from those contexts, so each lead is
filtered and peak-detected once; the rhythm model gets millivolts at the recording's
rate, as on the phone, and does its own band-pass and resampling:

- one lead: the shipped rhythm model (:func:`ecg.screening.screen`) and
  :func:`ecg.delineate.measure`;
- several leads: the rhythm model on the rhythm leads (I, II, V1 when present),
  probabilities averaged over the readable ones, and the multi-lead findings of
  :func:`ecg.delineate.measure_leads` (AV block, bundle-branch-block patterns, wide
  QRS, axis);
- both: premature ventricular / atrial complexes from beat timing and QRS morphology
  (:mod:`ecg.ectopy`; PVCs only when the rhythm is atrial fibrillation).

The answer's ``rhythm`` is the verdict: for one lead it is
:meth:`ecg.screening.ScreeningResult.rhythm` of the very ``screen`` call the phone makes
(same samples → same code, category and probabilities); for several leads the averaged
probabilities go through the same rule (:func:`ecg.screening.decide`). An unreadable
recording (flat, lead-off, clipped, too short, implausible, model ``~``) is an answer, not
an error: ``rhythm`` ``~``/``unreadable``, ``heartRate`` and every interval null, no
findings, the reasons in ``quality``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cloud.errors import UnanalysableSignal
from cloud.validation import AnalysisRequest
from cloud.answer import body as _body
from ecg.classes import RHYTHM_CLASSES, UNREADABLE

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.context import LeadContext
    from ecg.screening import ScreeningResult

MULTI_LEAD_TAG = "+leads"
#: the delineator is validated at these rates (Hz); others are resampled into the range
MEASURE_FS_HZ = (250.0, 1000.0)
#: signals of shape (n_samples, n_leads) in mV, and their rate in Hz
Signal = tuple[np.ndarray, float]
RHYTHM_LEADS = ("I", "II", "V1")


@dataclass(frozen=True)
class PipelineSettings:
    """What the workers need to know (picklable).

    Attributes
    ----------
    measure_fs_hz : (float, float)
        Rates the delineator is validated at; a recording outside is resampled into it.
    """

    measure_fs_hz: tuple[float, float] = MEASURE_FS_HZ


def analyse(request: AnalysisRequest, settings: PipelineSettings) -> dict[str, Any]:
    """Analyse one checked request and return the response body.

    Parameters
    ----------
    request : AnalysisRequest
        Checked request (ADC counts, sample rate, leads).
    settings : PipelineSettings
        The measurement rate range.

    Returns
    -------
    dict
        The ``AnalysisResult`` JSON document (see ``/openapi.json``).

    Raises
    ------
    UnanalysableSignal
        No lead can be screened at all (e.g. non-finite after scaling); a flat or noisy
        signal is an unreadable answer instead.
    """
    from ecg.errors import EcgError

    started = time.perf_counter()
    try:
        leads = _Leads.of(request, settings)
        if request.samples_counts.shape[1] == 1:
            body = _single_lead(leads)
        else:
            body = _multi_lead(leads, request.lead_names)
    except EcgError as exc:
        raise UnanalysableSignal(str(exc)) from None
    return _finished(body, request, (time.perf_counter() - started) * 1000.0)


def _finished(body: dict[str, Any], request: AnalysisRequest, processing_ms: float) -> dict[str, Any]:
    """The answer's bookkeeping fields."""
    body.update(
        status="completed",
        recordId=request.record_id,
        leads=list(request.lead_names),
        durationS=round(request.duration_s, 3),
        processingMs=round(processing_ms, 2),
    )
    return body


@dataclass(frozen=True)
class Outcome:
    """What one request of a batch came to (picklable): exactly one field is set.

    Attributes
    ----------
    body : dict or None
        The answer (what :func:`analyse` returns).
    unanalysable : UnanalysableSignal or None
        What :func:`analyse` raised for a signal that cannot be analysed at all.
    failure : str or None
        Any other exception of the analysis, as ``"TypeError: ..."`` (retried by the worker).
    """

    body: dict[str, Any] | None = None
    unanalysable: UnanalysableSignal | None = None
    failure: str | None = None


def outcome_of(analyser: Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]],
               request: AnalysisRequest, settings: PipelineSettings) -> Outcome:
    """``analyser(request, settings)`` as an :class:`Outcome` (never raises)."""
    try:
        return Outcome(body=analyser(request, settings))
    except UnanalysableSignal as exc:
        return Outcome(unanalysable=exc)
    except Exception as exc:  # noqa: BLE001 - one request's failure is its own outcome
        return Outcome(failure=f"{type(exc).__name__}: {exc}")


def analyse_each(analyser: Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]],
                 requests: list[AnalysisRequest], settings: PipelineSettings) -> list[Outcome]:
    """The batch form of any per-request analyser: one by one, one :class:`Outcome` each."""
    return [outcome_of(analyser, r, settings) for r in requests]


def analyse_many(requests: list[AnalysisRequest], settings: PipelineSettings) -> list[Outcome]:
    """Analyse several checked requests; the same answers as :func:`analyse` one by one.

    One-lead requests of the same rate and length (inside the measurement range) form a
    group whose filtered views, R peaks, quality measures and delineation run in one pass
    over the group's rows (:func:`ecg.context.share_wide`, :func:`~ecg.context.share_r_peaks`,
    :func:`~ecg.context.share_quality`, :func:`~ecg.context.share_lead_waves`: each row
    gets what it gets alone), and the rhythm model runs once over all their windows
    (:func:`ecg.screening.screen_many`); everything else runs per record, on the very
    code path of :func:`analyse`. Other requests are
    analysed alone. A request whose batched analysis raises is analysed again alone, so
    one bad request never changes or fails the others' answers.

    Parameters
    ----------
    requests : list of AnalysisRequest
        Checked requests (any mix of rates, lengths and lead counts).
    settings : PipelineSettings
        The measurement rate range.

    Returns
    -------
    list of Outcome
        One per request, in order. An answer of a group carries ``processingMs`` = the
        group's analysis time divided by its size (the shared pass cannot be split).

    Examples
    --------
    >>> from cloud.openapi import example_request
    >>> from cloud.validation import parse_request
    >>> one, settings = parse_request(example_request()), PipelineSettings()
    >>> [o.body["rhythm"] == analyse(one, settings)["rhythm"] for o in analyse_many([one, one], settings)]
    [True, True]
    """
    outcomes: list[Outcome | None] = [None] * len(requests)
    for indices in _groups(requests, settings):
        group = [requests[i] for i in indices]
        done = _analyse_group(group, settings) if len(group) > 1 else analyse_each(analyse, group, settings)
        for i, outcome in zip(indices, done, strict=True):
            outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


def _groups(requests: list[AnalysisRequest], settings: PipelineSettings) -> list[list[int]]:
    """Indices of requests analysed together: one lead, same rate (inside the measurement
    range, so one context serves screening and measurement) and length; others alone."""
    low, high = settings.measure_fs_hz
    groups: dict[tuple[float, int], list[int]] = {}
    alone: list[list[int]] = []
    for i, r in enumerate(requests):
        counts = r.samples_counts
        if counts.shape[1] == 1 and low <= float(r.fs_hz) <= high:
            groups.setdefault((float(r.fs_hz), int(counts.shape[0])), []).append(i)
        else:
            alone.append([i])
    return [*groups.values(), *alone]


def _analyse_group(group: list[AnalysisRequest], settings: PipelineSettings) -> list[Outcome]:
    """Same-shaped one-lead requests: shared passes, then each on :func:`analyse`'s path."""
    started = time.perf_counter()
    try:
        leads = [_leads_or_none(r, settings) for r in group]
        contexts = [one.measured[0] for one in leads if one is not None]
        _share(contexts)
        screened = iter(_screen_all(contexts))
    except Exception:  # noqa: BLE001 - the shared pass failed: everyone alone
        return analyse_each(analyse, group, settings)
    bodies: list[dict[str, Any] | None] = []
    for one in leads:
        try:
            bodies.append(None if one is None else _single_lead(one, next(screened)))
        except Exception:  # noqa: BLE001 - re-analysed alone below
            bodies.append(None)
    share_ms = (time.perf_counter() - started) * 1000.0 / len(group)
    return [outcome_of(analyse, r, settings) if body is None else Outcome(body=_finished(body, r, share_ms))
            for r, body in zip(group, bodies, strict=True)]


def _leads_or_none(request: AnalysisRequest, settings: PipelineSettings) -> _Leads | None:
    """The request's contexts, or None when :func:`analyse` would not get that far."""
    from ecg.errors import EcgError

    try:
        return _Leads.of(request, settings)
    except (UnanalysableSignal, EcgError):
        return None


def _share(contexts: list[LeadContext]) -> None:
    """One pass over the rows of same-shaped contexts for the 0.5–40 Hz view and the R peaks
    (:func:`~ecg.context.share_r_peaks` shares the views first) and the quality of all, then
    the delineation of those whose quality is readable (only they are measured)."""
    from ecg.context import share_lead_waves, share_quality, share_r_peaks

    share_r_peaks(contexts)
    share_quality(contexts)
    share_lead_waves([c for c in contexts if c.quality.readable])


def warm_up() -> None:
    """Load the model and compile the filters once (worker process initializer), so
    the first real request does not pay for it."""
    from cloud.openapi import example_request
    from cloud.validation import parse_request
    from ecg.model import load_model

    try:
        load_model()
        analyse(parse_request(example_request()), PipelineSettings())
    except Exception:  # noqa: BLE001 - warming is best effort; real requests report errors
        pass


@dataclass(frozen=True)
class _Leads:
    """The recording in millivolts and one analysis context per lead at the measurement
    rate; the screening contexts are the same objects when that is the recording's rate."""

    signals_mv: np.ndarray
    fs_hz: float
    measured: list[LeadContext]

    @classmethod
    def of(cls, request: AnalysisRequest, settings: PipelineSettings) -> _Leads:
        from ecg.context import contexts_of
        from ecg.preprocess import resample

        signals_mv = np.asarray(request.signals_mv(), dtype=np.float64).reshape(request.samples_counts.shape[0], -1)
        if not np.all(np.isfinite(signals_mv)):
            raise UnanalysableSignal("signal has non-finite values after scaling by adcGain")
        fs_hz = float(request.fs_hz)
        low, high = settings.measure_fs_hz
        measure_mv, measure_fs = signals_mv, fs_hz
        if not low <= fs_hz <= high:  # the delineator filters by itself: resample only outside its range
            measure_mv, measure_fs = resample(signals_mv, fs_hz, low if fs_hz < low else high)
        return cls(signals_mv, fs_hz, contexts_of(measure_mv, measure_fs, list(request.lead_names)))

    def screening(self, index: int) -> LeadContext:
        """The context the rhythm model reads for lead ``index``: at the recording's rate."""
        ctx = self.measured[index]
        if ctx.fs_hz == self.fs_hz:
            return ctx
        from ecg.context import LeadContext

        return LeadContext.of(self.signals_mv[:, index], self.fs_hz, lead=ctx.lead)


def _screen(ctx: LeadContext) -> ScreeningResult:
    from ecg.screening import screen

    return screen(ctx.signal_mv, ctx.fs_hz, context=ctx)


def _screen_all(contexts: list[LeadContext]) -> list[ScreeningResult | None]:
    """:func:`ecg.screening.screen_many` of the contexts (the model once over all), or each
    alone when that raises (then None for a context whose own screening raises)."""
    from ecg.errors import SignalError
    from ecg.screening import screen_many

    try:
        return list(screen_many(contexts))
    except SignalError:
        out: list[ScreeningResult | None] = []
        for ctx in contexts:
            try:
                out.append(_screen(ctx))
            except SignalError:
                out.append(None)
        return out


def _single_lead(leads: _Leads, screening: ScreeningResult | None = None) -> dict[str, Any]:
    """The answer of a one-lead request; ``screening`` when it was screened already (a batch)."""
    from ecg.delineate import measure

    screening = _screen(leads.screening(0)) if screening is None else screening
    rhythm = screening.rhythm()
    summary = {"heart_rate_bpm": screening.heart_rate_bpm, "quality": screening.quality.to_dict()}
    if not screening.quality.readable:  # no intervals or findings from a signal we cannot read
        return _body(rhythm, screening.probabilities, summary, {}, screening.model_version, [])
    ctx = leads.measured[0]
    measured = measure(ctx.signal_mv, ctx.fs_hz, context=ctx, beats=False).to_dict(beats=False)
    ectopic = _ectopy(leads, 0, rhythm["code"])
    return _body(rhythm, screening.probabilities, summary, measured, screening.model_version, ectopic)


def _multi_lead(leads: _Leads, lead_names: tuple[str, ...]) -> dict[str, Any]:
    from ecg.context import share_quality, share_r_peaks, share_wide
    from ecg.delineate import measure_leads

    share_wide(leads.measured)  # screening, R peaks, quality and premature beats read them: one pass
    screened = [leads.screening(index) for index in _rhythm_leads(lead_names)]  # each built once
    share_r_peaks(screened)  # the R peaks of the screened leads: one pass
    share_quality(screened)  # their quality: one pass
    per_lead = [r for r in _screen_all(screened) if r is not None]
    if not per_lead:
        raise UnanalysableSignal("no lead could be analysed by the rhythm model")
    version = per_lead[0].model_version + MULTI_LEAD_TAG
    readable = [r for r in per_lead if r.quality.readable]
    if not readable:
        reasons = sorted({reason for r in per_lead for reason in r.quality.reasons})
        summary = {"heart_rate_bpm": None, "quality": {"readable": False, "reasons": reasons}}
        return _body(per_lead[0].rhythm(), {}, summary, {}, version, [])
    rhythm, probabilities, heart_rate = _multi_lead_rhythm(readable)
    if rhythm["category"] == UNREADABLE.category:
        summary = {"heart_rate_bpm": None, "quality": {"readable": False, "reasons": ["model_noise"]}}
        return _body(rhythm, probabilities, summary, {}, version, [])
    same_rate = leads.measured[0].fs_hz == leads.fs_hz  # the contexts hold the recording's own columns
    measure_mv = leads.signals_mv if same_rate else np.column_stack([c.signal_mv for c in leads.measured])
    measured = measure_leads(measure_mv, leads.measured[0].fs_hz, list(lead_names), contexts=leads.measured,
                             beats=False).to_dict(beats=False, leads=False)
    summary = {"heart_rate_bpm": heart_rate, "quality": readable[0].quality.to_dict()}
    rhythm_lead = lead_names.index("II") if "II" in lead_names else 0
    ectopic = _ectopy(leads, rhythm_lead, rhythm["code"])
    return _body(rhythm, probabilities, summary, measured, version, ectopic)


def _multi_lead_rhythm(readable: list[ScreeningResult]) -> tuple[dict[str, Any], dict[str, float], float | None]:
    """Rhythm of several readable leads: their mean probabilities through the one decision rule."""
    from ecg.classes import by_category
    from ecg.model import load_model
    from ecg.screening import decide

    probabilities = {c.code: float(np.mean([r.probabilities[c.code] for r in readable])) for c in RHYTHM_CLASSES}
    rates = [r.heart_rate_bpm for r in readable if r.heart_rate_bpm is not None]
    heart_rate = float(np.median(rates)) if rates else None
    verdict = decide(probabilities, heart_rate, load_model().decision)
    rhythm = {
        "code": verdict.code,
        "category": verdict.category,
        "probability": round(probabilities[verdict.code], 4),
        "label": by_category(verdict.category).patient_label,
    }
    return rhythm, probabilities, heart_rate


def _rhythm_leads(lead_names: tuple[str, ...]) -> list[int]:
    """Leads the rhythm model reads: the classic rhythm strips I, II and V1 when present
    (the model was trained on lead-I-like signals), else the first three."""
    chosen = [lead_names.index(name) for name in RHYTHM_LEADS if name in lead_names]
    return chosen or list(range(min(3, len(lead_names))))


def _ectopy(leads: _Leads, rhythm_lead: int, rhythm_code: str) -> list[Any]:
    """PVC/PAC findings from the leads' contexts; when the rhythm is atrial fibrillation,
    PVCs only (:meth:`ecg.ectopy.Ectopy.findings`)."""
    from ecg.ectopy import find_ectopy_in

    af = rhythm_code == "A"
    return [f.to_dict() for f in find_ectopy_in(leads.measured, rhythm_lead).findings(atrial_fibrillation=af)]
