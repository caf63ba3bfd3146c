"""ECG measurements: P/QRS/T delineation, PR, QRS, QT/QTc, heart rate and findings.

The public entry points are :func:`measure` (one lead) and :func:`measure_leads`
(several leads of one recording, e.g. 12). The companion, the cloud and the report all
call these, so a recording is measured the same way everywhere.

How it works (details in ``docs/measurements.md``): beats come from
``ecg.beats.detect_r_peaks``; on a 0.5–40 Hz zero-phase filtered copy, each QRS is
bounded by the first quiet stretch of its slope on either side of the main deflection;
the T wave is the largest deviation from the isoelectric level after the QRS, ending
where its descending slope has faded; the P wave likewise before the QRS, kept only if
it stands out of the noise and sits at a steady distance from the QRS across beats.

Anything that cannot be measured is null, and ``reasons`` says why: no steady P waves
(atrial fibrillation or flutter), pacing spikes, a QRS too small or too noisy.
"""

from __future__ import annotations

import numpy as np

from ecg.beats import heart_rate_bpm, median_rr_ms
from ecg.context import (
    Delineator,
    LeadContext,
    context_for,
    contexts_of,
    share_beat_marks,
    share_lead_waves,
    share_views,
)
from ecg.delineation.lead import MISSING, WAVE_KEYS, LeadWaves
from ecg.delineation.multilead import QrsShape, frontal_axis_deg, global_waves, lead_index, qrs_shapes
from ecg.delineation.record_pacing import record_paced
from ecg.delineation.summary import (
    lead_pacing,
    median_interval_ms,
    median_intervals_many,
    null_paced_beats,
    paced_global_beats,
    pacing_many,
    qt_leads_disagree,
    qtc_ms,
    spike_beats_many,
)
from ecg.errors import SignalError
from ecg.findings import (
    Finding,
    Sex,
    axis_findings,
    bundle_branch_findings,
    interval_findings,
    qtc_limits,
    reported_qtc_ms,
)
from ecg.measurements import Beat, LeadsMeasurements, Measurements
from ecg.preprocess import check_signal

__all__ = ["Beat", "Measurements", "LeadsMeasurements", "measure", "measure_leads", "MIN_DURATION_S"]

#: shortest signal accepted, s
MIN_DURATION_S = 2.0

_PACED_REASON = "pacing spikes detected: intervals of paced beats are not conduction intervals"


def _beats(waves: dict[str, np.ndarray]) -> tuple[Beat, ...]:
    columns = [waves[k].tolist() for k in WAVE_KEYS]
    make = Beat._make
    return tuple(make([None if v == MISSING else v for v in row]) for row in zip(*columns))


#: the intervals :func:`_intervals` reports: name → (start boundary, end boundary)
_INTERVALS = {"qrs_ms": ("qrs_on", "qrs_off"), "pr_ms": ("p_on", "qrs_on"), "qt_ms": ("qrs_on", "t_off")}

#: :func:`~ecg.delineation.summary.median_interval_ms` of each of :data:`_INTERVALS`, by name
Known = dict[str, tuple[float | None, str | None]]


def _interval(
    waves: dict[str, np.ndarray], fs: float, name: str, reasons: dict[str, str], known: Known | None
) -> float | None:
    value, why = known[name] if known is not None else median_interval_ms(waves, *_INTERVALS[name], fs)
    if value is None and name not in reasons:
        reasons[name] = why or "not measured"
    return value


def _intervals(
    w: dict[str, np.ndarray], fs: float, reasons: dict[str, str], known: Known | None = None
) -> tuple[float | None, float | None, float | None]:
    """PR, QRS, QT; PR and QT start at the QRS onset, so they fall with a bad QRS
    (``known``: their medians already computed, e.g. by :func:`_known_intervals`)."""
    qrs = _interval(w, fs, "qrs_ms", reasons, known)
    pr = _interval(w, fs, "pr_ms", reasons, known)
    qt = _interval(w, fs, "qt_ms", reasons, known)
    if qrs is None and "qrs_ms" in reasons and "unreliable" in reasons["qrs_ms"]:
        for key in ("pr_ms", "qt_ms"):
            reasons.setdefault(key, "QRS onsets unreliable: " + reasons["qrs_ms"])
        pr = qt = None
    return pr, qrs, qt


def _rate(r_peaks: np.ndarray, fs: float) -> tuple[float | None, float | None]:
    """``(heart_rate_bpm, median_rr_ms)`` by the one heart-rate function of ``ecg.beats``."""
    return heart_rate_bpm(r_peaks, fs), median_rr_ms(r_peaks, fs)


def _known_intervals(waves: list[dict[str, np.ndarray]], fs: float) -> list[Known]:
    """The interval medians of several leads, each interval in one pass over all leads."""
    per = {name: median_intervals_many(waves, a, b, fs) for name, (a, b) in _INTERVALS.items()}
    return [{name: per[name][j] for name in per} for j in range(len(waves))]


def summarise(
    lw: LeadWaves, x_mv: np.ndarray, *, lead: str | None, sex: Sex,
    pacing: tuple[bool, np.ndarray | None] | None = None, intervals: Known | None = None, beats: bool = True,
) -> Measurements:
    """Turn one lead's per-beat boundaries into :class:`Measurements` (``pacing``: the
    lead's :func:`~ecg.delineation.summary.pacing_many` — paced lead, paced beats —
    ``intervals``: its interval medians (:func:`_known_intervals`), when the caller has them;
    ``beats`` False: no per-beat boundaries, ``beats`` empty, for callers that read only the
    intervals). On a paced lead the beats a pacing spike starts get no QRS or P boundaries."""
    fs = lw.fs_hz
    w = lw.waves
    reasons: dict[str, str] = {}
    hr, rr = _rate(w["r_peak"], fs)
    if "all" in lw.reasons:
        hr = rr = None  # beats found in noise give no heart rate either
    if hr is None:
        reasons["heart_rate_bpm"] = lw.reasons.get("all", "fewer than 2 beats")
    if "all" in lw.reasons:
        for k in ("pr_ms", "qrs_ms", "qt_ms", "qtc_ms"):
            reasons[k] = lw.reasons["all"]
    elif "p" in lw.reasons:
        reasons["pr_ms"] = lw.reasons["p"]
    paced_beats: np.ndarray | None = None
    if "all" in lw.reasons:
        paced = False
    else:
        paced, paced_beats = pacing_many(np.asarray(x_mv, dtype=np.float64)[:, None], fs, [w["qrs_on"]])[0] \
            if pacing is None else pacing
    pr, qrs, qt = _intervals(w, fs, reasons, intervals)
    if paced:
        pr = qrs = qt = None
        for k in ("pr_ms", "qrs_ms", "qt_ms"):
            reasons[k] = _PACED_REASON
        w = dict(w)
        for k in ("p_on", "p_peak", "p_off"):  # a pacing stimulus is easily taken for a P wave
            w[k] = np.full_like(w[k], MISSING)
        w = null_paced_beats(w, paced_beats, reasons)
    qtc_b, qtc_f = qtc_ms(qt, rr)
    qtc = reported_qtc_ms(bazett_ms=qtc_b, fridericia_ms=qtc_f)
    if qtc is None:
        reasons["qtc_ms"] = reasons.get("qt_ms") or reasons.get("heart_rate_bpm") or "QT or RR not measured"
    p_waves = not paced and "p" not in lw.reasons and "all" not in lw.reasons and pr is not None
    found = interval_findings(pr_ms=pr, qrs_ms=qrs, qtc_ms=qtc, heart_rate_bpm=hr, p_waves=p_waves, paced=paced,
                              sex=sex)
    return Measurements(
        fs_hz=fs,
        lead=lead,
        beats=_beats(w) if beats else (),
        pr_ms=pr,
        qrs_ms=qrs,
        qt_ms=qt,
        qtc_ms=qtc,
        qtc_fridericia_ms=qtc_f,
        heart_rate_bpm=hr,
        rr_ms=rr,
        p_waves=p_waves,
        paced=paced,
        findings=tuple(found),
        reasons=reasons,
        qtc_bazett_ms=qtc_b,
        qtc_limits=qtc_limits(sex),
    )


def _one_lead(sig_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
    x, fs = check_signal(sig_mv, fs_hz, min_duration_s=MIN_DURATION_S)
    if x.ndim == 2:
        if x.shape[1] != 1:
            raise SignalError(f"measure() takes one lead, got shape {x.shape}; use measure_leads()", reason="bad_shape")
        x = x[:, 0]
    return x, fs


def measure(
    sig_mv: np.ndarray,
    fs_hz: float,
    *,
    lead: str | None = None,
    sex: Sex = None,
    context: LeadContext | None = None,
    delineator: Delineator | None = None,
    beats: bool = True,
) -> Measurements:
    """Delineate one lead and measure its intervals.

    Parameters
    ----------
    sig_mv : numpy.ndarray
        One lead, shape ``(n_samples,)`` or ``(n_samples, 1)``, millivolts.
    fs_hz : float
        Sample rate, Hz (tested at 300 and 500 Hz).
    lead : str, optional
        Lead name, copied into the result.
    sex : "M", "F" or None
        Selects the long-QTc limit (None: the higher, women's limit; ``qtc_limits`` says which).
    context : LeadContext, optional
        The lead's analysis context (:mod:`ecg.context`): its R peaks and filtered views
        are reused. Must hold ``sig_mv`` at ``fs_hz``.
    delineator : Delineator, optional
        Delineator for a new context (default: the rule-based one; a given ``context``
        keeps its own).
    beats : bool
        False: leave the per-beat boundaries out (``beats`` empty) — for callers that read
        only the intervals and findings (as ``to_dict(beats=False)``), saving their tuples.

    Returns
    -------
    Measurements

    Raises
    ------
    SignalError
        Not one lead, NaN/inf samples, impossible ``fs_hz``, or shorter than 2 s.

    Examples
    --------
    >>> from ecg.io import read_record          # doctest: +SKIP
    >>> rec = read_record("tests/fixtures/ludb/1.hea")  # doctest: +SKIP
    >>> m = measure(rec.signals_mv[:, 0], rec.fs_hz, lead="i")  # doctest: +SKIP
    >>> m.to_dict()["qrs_ms"]  # doctest: +SKIP
    """
    x, fs = _one_lead(sig_mv, fs_hz)
    ctx = context_for(x, fs, context, lead=lead, delineator=delineator)
    return summarise(ctx.lead_waves, ctx.signal_mv, lead=lead, sex=sex, beats=beats)


def _shape_findings(
    names: tuple[str, ...],
    waves: list[LeadWaves],
    glob: dict[str, np.ndarray],
    qrs_ms: float | None,
    paced: bool,
    reasons: dict[str, str],
    sex: Sex = None,
) -> tuple[float | None, list[Finding]]:
    """Frontal axis and the findings drawn from QRS shapes (axis deviation, BBB)."""
    wanted = {want: lead_index(names, want) for want in ("i", "ii", "avf", "v1", "v6")}
    present = [want for want, j in wanted.items() if j is not None]
    measured = qrs_shapes([waves[wanted[want]] for want in present], glob)  # type: ignore[index]
    shapes: dict[str, QrsShape | None] = {want: None for want in wanted}
    shapes.update(zip(present, measured))
    axis = frontal_axis_deg(shapes["i"], shapes["avf"], shapes["ii"])
    if axis is None:
        reasons["axis_deg"] = reasons["qrs_on"] if paced and "qrs_on" in reasons else \
            "needs usable leads I and aVF (or I and II)"
    morph = {k: (None if v is None else v.morphology) for k, v in shapes.items()}
    found = axis_findings(axis)
    found += bundle_branch_findings(qrs_ms=qrs_ms, v1=morph["v1"], v6=morph["v6"], lead_i=morph["i"], paced=paced,
                                    sex=sex)
    return axis, found


def measure_leads(
    signals_mv: np.ndarray,
    fs_hz: float,
    lead_names: tuple[str, ...] | list[str],
    *,
    sex: Sex = None,
    contexts: list[LeadContext] | None = None,
    delineator: Delineator | None = None,
    beats: bool = True,
) -> LeadsMeasurements:
    """Delineate several simultaneous leads (e.g. the standard 12) of one recording.

    Each lead is measured on its own, starting from the beats of a reference lead (II, I
    or V1, the first readable: :func:`ecg.context.share_beat_marks`; a heartbeat is one
    event in all leads, so R peaks are detected once, not twelve times); global
    boundaries per beat combine the leads
    (QRS and P onset: 25th percentile over leads; QRS and T offset: 75th, so that one
    lead's outlier cannot set them); global intervals, the frontal QRS axis (needs
    leads I and aVF, or I and II) and bundle-branch-block patterns (needs V1 and V6)
    follow from them.

    Parameters
    ----------
    signals_mv : numpy.ndarray
        Shape ``(n_samples, n_leads)``, millivolts.
    fs_hz : float
        Sample rate, Hz.
    lead_names : sequence of str
        One name per column (case-insensitive: ``I``, ``II``, ``aVF``, ``V1``...).
    sex : "M", "F" or None
    contexts : list of LeadContext, optional
        One analysis context per column (:func:`ecg.context.contexts_of`), reused.
    delineator : Delineator, optional
        Delineator for new contexts (default: the rule-based one).
    beats : bool
        False: no per-beat boundaries, global or per lead (``beats`` empty everywhere).

    Returns
    -------
    LeadsMeasurements

    Raises
    ------
    SignalError
        Bad shape, names not matching the columns, NaN/inf, bad ``fs_hz``, too short.
    """
    x, fs = check_signal(signals_mv, fs_hz, min_duration_s=MIN_DURATION_S)
    if x.ndim == 1:
        x = x[:, None]
    names = tuple(str(n) for n in lead_names)
    if len(names) != x.shape[1]:
        raise SignalError(f"{len(names)} lead names for {x.shape[1]} leads", reason="bad_shape")
    if contexts is None:
        contexts = contexts_of(x, fs, names, delineator=delineator)
    elif len(contexts) != x.shape[1] or not all(c.matches(x[:, j], fs) for j, c in enumerate(contexts)):
        raise ValueError("contexts must be one per column of signals_mv, at fs_hz")
    share_beat_marks(contexts)
    share_views(contexts)
    share_lead_waves(contexts)
    waves = [c.lead_waves for c in contexts]
    onsets = [None if "all" in lw.reasons else lw.waves["qrs_on"] for lw in waves]
    spikes = spike_beats_many(x, fs, onsets)
    pacing = [lead_pacing(sb, on) for sb, on in zip(spikes, onsets, strict=True)]
    if not record_paced(names, onsets, spikes, pacing, fs):  # one-electrode notches are no pacing
        pacing = [(False, None)] * len(pacing)
    known = _known_intervals([lw.waves for lw in waves], fs)
    singles = [summarise(lw, c.signal_mv, lead=name, sex=sex, pacing=pac, intervals=kn, beats=beats)
               for lw, c, name, pac, kn in zip(waves, contexts, names, pacing, known, strict=True)]
    glob = global_waves(names, waves, fs)
    reasons: dict[str, str] = {}
    hr, rr = _rate(glob["r_peak"], fs)
    if hr is None:
        reasons["heart_rate_bpm"] = "fewer than 2 beats in every lead"
    paced = any(m.paced for m in singles)
    pr, qrs, qt = _intervals(glob, fs, reasons)
    disagree = qt_leads_disagree([m.qt_ms for m in singles])
    if qt is not None and disagree is not None:
        qt, reasons["qt_ms"] = None, disagree
    if pr is None and not paced:
        reasons["pr_ms"] = "no steady P wave in enough leads (e.g. atrial fibrillation or flutter)"
    if paced:
        pr = qrs = qt = None
        for k in ("pr_ms", "qrs_ms", "qt_ms"):
            reasons[k] = _PACED_REASON
        for k in ("p_on", "p_peak", "p_off"):
            glob[k][:] = MISSING
        glob = null_paced_beats(glob, paced_global_beats(glob["r_peak"], [(lw.waves["r_peak"], beats) for lw, (
            _, beats) in zip(waves, pacing, strict=True) if beats is not None], fs), reasons)
    qtc_b, qtc_f = qtc_ms(qt, rr)
    qtc = reported_qtc_ms(bazett_ms=qtc_b, fridericia_ms=qtc_f)
    if qtc is None:
        reasons["qtc_ms"] = reasons.get("qt_ms") or reasons.get("heart_rate_bpm") or "QT or RR not measured"
    axis, shape_findings = _shape_findings(names, waves, glob, qrs, paced, reasons, sex)
    p_waves = pr is not None
    found = interval_findings(pr_ms=pr, qrs_ms=qrs, qtc_ms=qtc, heart_rate_bpm=hr, p_waves=p_waves, paced=paced,
                              sex=sex)
    found += shape_findings
    if any(f.code.endswith("bbb_pattern") for f in found):
        found = [f for f in found if f.code != "wide_qrs"]
    return LeadsMeasurements(
        fs_hz=fs,
        lead_names=names,
        leads=tuple(singles),
        beats=_beats(glob) if beats else (),
        pr_ms=pr,
        qrs_ms=qrs,
        qt_ms=qt,
        qtc_ms=qtc,
        qtc_fridericia_ms=qtc_f,
        heart_rate_bpm=hr,
        rr_ms=rr,
        axis_deg=axis,
        p_waves=p_waves,
        paced=paced,
        findings=tuple(found),
        reasons=reasons,
        qtc_bazett_ms=qtc_b,
        qtc_limits=qtc_limits(sex),
    )
