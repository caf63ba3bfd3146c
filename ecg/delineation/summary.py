"""Per-recording intervals from per-beat boundaries, and pacing-spike detection."""

from __future__ import annotations

import numpy as np

from .lead import MISSING
from .vec import _plan, any_reduce, masked_argmax, max_reduce, median1d, range_max, ranges, row_percentile

__all__ = ["median_interval_ms", "median_intervals_many", "qtc_ms", "detect_pacing", "detect_pacing_many", "pacing_many", "spike_beats_many", "lead_pacing", "null_paced_beats", "paced_global_beats",
           "PACED_BEAT_REASON", "MIN_BEATS",
           "qt_leads_disagree", "MAX_QT_IQR_MS"]

#: an interval is reported only when measured in at least this many beats
MIN_BEATS = 3


#: an interval whose beat-to-beat robust SD exceeds this (ms) is not reported: on a
#: steady rhythm PR, QRS and QT barely change between beats, so a large spread means
#: the boundaries were not found reliably (noise, artefact)
MAX_SPREAD_MS = {("p_on", "qrs_on"): 40.0, ("qrs_on", "qrs_off"): 25.0, ("qrs_on", "t_off"): 45.0}


#: the leads' own QTs (per-lead medians) may spread this much (ms, interquartile range) for
#: a multi-lead QT: QT dispersion between the 12 leads (max − min) stays below about 100–150
#: ms even in disease (Malik & Batchvarov, JACC 2000), so a middle half of the leads wider
#: than that means at least a quarter of them took another wave (U, next P) for the T end
MAX_QT_IQR_MS = 150.0


def qt_leads_disagree(lead_qt_ms: list[float | None]) -> str | None:
    """Why a multi-lead QT is not reported when the leads' own QTs disagree beyond
    physiological QT dispersion (:data:`MAX_QT_IQR_MS`), else None (also with < 4 leads).

    Examples
    --------
    >>> qt_leads_disagree([400.0, 410.0, 390.0, 405.0, None])
    >>> qt_leads_disagree([380.0, 385.0, 390.0, 640.0, 650.0, 660.0])[:30]
    'leads disagree on the T end: t'
    """
    qt = np.asarray([v for v in lead_qt_ms if v is not None], dtype=np.float64)
    if qt.size < 4:
        return None
    iqr = float(np.percentile(qt, 75) - np.percentile(qt, 25))
    if iqr <= MAX_QT_IQR_MS:
        return None
    return (f"leads disagree on the T end: their QTs span {iqr:.0f} ms between the quartiles (limit "
            f"{MAX_QT_IQR_MS:.0f}): some took another wave for the T end")


def median_interval_ms(
    waves: dict[str, np.ndarray], start: str, end: str, fs_hz: float
) -> tuple[float | None, str | None]:
    """Median of ``end − start`` over beats that have both, in ms, or None and why."""
    ok = (waves[start] != MISSING) & (waves[end] != MISSING)
    n = int(np.count_nonzero(ok))
    if n < MIN_BEATS:
        return None, f"{start} and {end} found together in {n} beat(s); at least {MIN_BEATS} needed"
    d_ms = (waves[end][ok] - waves[start][ok]) * 1000.0 / fs_hz
    med = median1d(d_ms)
    spread = 1.4826 * median1d(np.abs(d_ms - med))
    limit = MAX_SPREAD_MS.get((start, end))
    if limit is not None and spread > limit:
        return None, f"{start}→{end} varies by {spread:.0f} ms between beats (limit {limit:.0f}): boundaries unreliable (noise?)"
    return med, None


def median_intervals_many(
    waves: list[dict[str, np.ndarray]], start: str, end: str, fs_hz: float
) -> list[tuple[float | None, str | None]]:
    """:func:`median_interval_ms` of several leads' beats in one pass (row by row the same
    order statistics and arithmetic: the median is the middle value or the mean of the
    middle pair of each lead's own measured beats)."""
    width = max((w[start].size for w in waves), default=0)
    if width == 0:
        return [median_interval_ms(w, start, end, fs_hz) for w in waves]
    a = np.full((len(waves), width), MISSING, dtype=np.int64)
    b = a.copy()
    for j, w in enumerate(waves):
        a[j, : w[start].size] = w[start]
        b[j, : w[end].size] = w[end]
    ok = (a != MISSING) & (b != MISSING)
    n = ok.sum(axis=1)
    rows = np.arange(len(waves))
    lo, hi = np.maximum((n - 1) // 2, 0), n // 2
    d_ms = np.where(ok, (b - a) * 1000.0 / fs_hz, 0.0)
    d_sorted = np.sort(np.where(ok, d_ms, np.inf), axis=1)  # not measured: sorted last
    med = (d_sorted[rows, lo] + d_sorted[rows, hi]) / 2.0
    dev = np.sort(np.where(ok, np.abs(d_ms - med[:, None]), np.inf), axis=1)
    spread = 1.4826 * ((dev[rows, lo] + dev[rows, hi]) / 2.0)
    limit = MAX_SPREAD_MS.get((start, end))
    out: list[tuple[float | None, str | None]] = []
    for j in range(len(waves)):
        if n[j] < MIN_BEATS:
            out.append((None, f"{start} and {end} found together in {n[j]} beat(s); at least {MIN_BEATS} needed"))
        elif limit is not None and spread[j] > limit:
            out.append((None, f"{start}→{end} varies by {spread[j]:.0f} ms between beats (limit {limit:.0f}): "
                              "boundaries unreliable (noise?)"))
        else:
            out.append((float(med[j]), None))
    return out


def qtc_ms(qt_ms: float | None, rr_ms: float | None) -> tuple[float | None, float | None]:
    """QT corrected for heart rate: ``(Bazett, Fridericia)`` in ms.

    Bazett: QT / RR^(1/2); Fridericia: QT / RR^(1/3), RR in seconds.

    Examples
    --------
    >>> qtc_ms(400.0, 1000.0)
    (400.0, 400.0)
    """
    if qt_ms is None or rr_ms is None or rr_ms <= 0:
        return None, None
    rr_s = rr_ms / 1000.0
    return qt_ms / rr_s**0.5, qt_ms / rr_s ** (1.0 / 3.0)


#: pacing spike (per beat: the largest second difference near the QRS onset over the
#: lead's 99th-percentile first difference): a second difference this many times the 99th percentile of the first
#: difference (a QRS bends over many samples, a stimulus within one or two)...
_SPIKE_RATIO = 3.0
#: ...within this window around the QRS onset (s)...
_SPIKE_BEFORE_S = 0.30
#: (R peaks sit on the paced QRS, not on the stimulus, since issue 11: the rule delineator
#: may then start the QRS up to ~20 ms before the spike; LUDB lead I, 7 paced records:
#: 5 found, 1 false, at 50 ms; 2 found at 30 ms)
_SPIKE_AFTER_S = 0.05
#: ...before at least this fraction of the beats
_PACED_BEAT_FRACTION = 0.5


def detect_pacing(x_mv: np.ndarray, fs_hz: float, qrs_on: np.ndarray) -> bool:
    """True when narrow pacing spikes sit at the QRS onset of most beats.

    A pacemaker stimulus is far narrower than any QRS: on the raw (unfiltered) signal
    its second difference dwarfs the lead's largest slopes. Needs sampling at 250 Hz or
    more (and an unfiltered front end) to be seen at all.
    """
    return detect_pacing_many(np.asarray(x_mv, dtype=np.float64)[:, None], fs_hz, [np.asarray(qrs_on)])[0]


def detect_pacing_many(x_mv: np.ndarray, fs_hz: float, qrs_on: list[np.ndarray | None]) -> list[bool]:
    """:func:`detect_pacing` of every column of ``(n_samples, n_leads)`` in one pass
    (``qrs_on[j]`` None: lead ``j`` is not judged, False)."""
    return [paced for paced, _ in pacing_many(x_mv, fs_hz, qrs_on)]


def pacing_many(x_mv: np.ndarray, fs_hz: float, qrs_on: list[np.ndarray | None]
                ) -> list[tuple[bool, np.ndarray | None]]:
    """Per column of ``(n_samples, n_leads)``: whether the lead is paced
    (:func:`detect_pacing`) and, for a paced lead, per beat of ``qrs_on[j]`` whether a pacing
    spike precedes that beat's QRS onset (False for a beat without onset); None for a lead
    not paced (not judged — ``qrs_on[j]`` None or fewer than 2 onsets — below 250 Hz, or
    spikes before fewer than half its beats)."""
    return [lead_pacing(sb, on) for sb, on in zip(spike_beats_many(x_mv, fs_hz, qrs_on), qrs_on, strict=True)]


def lead_pacing(spikes: tuple[np.ndarray, np.ndarray] | None, qrs_on: np.ndarray | None
                ) -> tuple[bool, np.ndarray | None]:
    """One lead's :func:`pacing_many` entry from its :func:`spike_beats_many` entry: paced when
    spikes precede at least half of the beats with a QRS onset."""
    if spikes is None or qrs_on is None:
        return False, None
    if not np.count_nonzero(spikes[0]) >= _PACED_BEAT_FRACTION * np.count_nonzero(qrs_on != MISSING):
        return False, None
    return True, spikes[0]


def spike_beats_many(x_mv: np.ndarray, fs_hz: float, qrs_on: list[np.ndarray | None]
                     ) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per column of ``(n_samples, n_leads)`` and beat of ``qrs_on[j]``: whether a pacing-like
    spike (see :func:`detect_pacing`) sits near that beat's QRS onset, and the sample of the
    spike (the largest |second difference| there; :data:`MISSING` without a spike or onset).

    None for a lead not judged: ``qrs_on[j]`` None or fewer than 2 onsets, a flat lead, or a
    recording below 250 Hz."""
    x = np.asarray(x_mv, dtype=np.float64)
    keeps = [None if on is None else on != MISSING for on in qrs_on]
    ons = [None if on is None else on[k] for on, k in zip(qrs_on, keeps, strict=True)]
    judged = [j for j, on in enumerate(ons) if on is not None and on.size >= 2]
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(qrs_on)
    if fs_hz < 250.0 or not judged or x.shape[0] < 3:
        return out
    d1 = np.diff(x.T[judged], axis=1)  # (judged leads, samples - 1): one copy of the leads judged
    size = d1.shape[1] - 1  # the second difference's length
    d2 = np.abs(d1[:, 1:] - d1[:, :-1]).reshape(-1)  # |np.diff(x, 2)| of every judged lead, row after row
    on = np.concatenate([ons[j] for j in judged])  # type: ignore[misc]
    row = np.repeat(np.arange(len(judged)), [ons[j].size for j in judged])  # type: ignore[union-attr]
    lo = np.maximum(on - int(_SPIKE_BEFORE_S * fs_hz), 0)
    hi = np.minimum(on + int(_SPIKE_AFTER_S * fs_hz), size)  # second difference [lo:hi]
    spike, scaled = _spikes(np.abs(d1), _tops(d2, row * size, lo, hi), row)
    keep = np.concatenate([keeps[j] for j in judged])  # type: ignore[misc]
    beats = np.zeros(keep.size, dtype=bool)
    beats[keep] = spike
    samples = np.full(keep.size, MISSING, dtype=np.int64)
    at = spike.nonzero()[0]
    if at.size:  # the 2nd difference's centre: the first sample of each spike beat's largest value
        idx, valid = ranges(lo[at], hi[at] - lo[at], size, base=row[at] * size)
        samples[keep.nonzero()[0][at]] = lo[at] + masked_argmax(d2[idx], valid) + 1
    end = 0
    for k, j in enumerate(judged):
        start, end = end, end + keeps[j].size  # type: ignore[union-attr]
        if scaled[k]:
            out[j] = (beats[start:end], samples[start:end])
    return out


def _tops(d2: np.ndarray, base: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per beat, the largest of ``d2[base + lo : base + hi]`` (-inf for an empty window): one
    ``reduceat`` pass, no index matrix."""
    has = hi > lo
    if any_reduce(has) and not any_reduce(~has):  # every window holds values (the usual case)
        return range_max(d2, base + lo, base + hi - 1)
    top = np.full(lo.size, -np.inf)
    sel = has.nonzero()[0]
    if sel.size:
        top[sel] = range_max(d2, base[sel] + lo[sel], base[sel] + hi[sel] - 1)
    return top


#: below this ratio of a beat's top to a lower bound of its lead's scale, no ratio to the scale
#: itself can exceed :data:`_SPIKE_RATIO` (the margin covers the divisions' rounding)
_PROOF_RATIO = 2.9


def _spikes(a1: np.ndarray, top: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per beat, whether its ``top`` exceeds :data:`_SPIKE_RATIO` times its lead's scale (the 99th
    percentile of that row of ``a1``, the leads' |first difference|), and per lead whether that
    scale is positive.

    The percentiles (a partial sort per lead) are skipped when a count proves no beat a spike:
    if at least as many values of a row as lie from the percentile's lower order statistic up
    are ≥ ``v`` = its largest top / :data:`_PROOF_RATIO` > 0, that statistic is ≥ ``v``, and so
    is the percentile (numpy interpolates upwards from it); then every ``top / scale`` is at most
    ``top / v`` ≈ 2.9 < 3. The same answers either way."""
    rows = a1.shape[0]
    need = a1.shape[1] - int(_plan(a1.shape[1], (99.0,)).i[0])  # values from the lower order statistic up
    if rows == 1:  # one lead: its largest top and one count
        v1 = float(max_reduce(top)) / _PROOF_RATIO
        proven = v1 > 0 and np.count_nonzero(a1 >= v1) >= need
    else:
        tmax = np.full(rows, -np.inf)
        np.maximum.at(tmax, row, top)
        v = tmax / _PROOF_RATIO
        proven = bool((v > 0).all()) and bool(((a1 >= v[:, None]).sum(axis=1) >= need).all())
    if proven:
        return np.zeros(top.size, dtype=bool), np.ones(rows, dtype=bool)
    scale = row_percentile(a1, 99.0)  # np.percentile(..., axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(top > -np.inf, top / scale[row], 0.0) > _SPIKE_RATIO, scale > 0


#: why a beat's QRS boundaries are null on a paced lead
PACED_BEAT_REASON = ("paced beat: a pacing stimulus starts the QRS, so its onset and offset are not given "
                     "(no boundary is invented at the stimulus)")
#: the boundaries a paced beat does not get: its QRS (the stimulus starts it) and its P (a
#: stimulus is easily taken for one)
_PACED_NULL = ("qrs_on", "qrs_off", "p_on", "p_peak", "p_off")


def null_paced_beats(waves: dict[str, np.ndarray], paced_beats: np.ndarray | None,
                     reasons: dict[str, str]) -> dict[str, np.ndarray]:
    """``waves`` with the QRS and P boundaries of the ``paced_beats`` (per-beat mask of
    :func:`pacing_many`) null, and :data:`PACED_BEAT_REASON` under ``qrs_on``/``qrs_off`` in
    ``reasons`` when any beat is; R peak, T peak and T end stay (real waves)."""
    if paced_beats is None or not paced_beats.any():
        return waves
    out = dict(waves)
    for k in _PACED_NULL:
        out[k] = np.where(paced_beats, MISSING, waves[k])
    n, total = int(paced_beats.sum()), int(paced_beats.size)
    for k in ("qrs_on", "qrs_off"):
        reasons[k] = f"{n} of {total} beats: {PACED_BEAT_REASON}"
    return out


def paced_global_beats(r_peaks: np.ndarray, leads: list[tuple[np.ndarray, np.ndarray]], fs_hz: float,
                       same_beat_s: float = 0.10) -> np.ndarray:
    """Per global beat (``r_peaks``), True when it is a paced beat of any lead: ``leads`` holds
    each paced lead's ``(r_peaks, paced_beats)``; one beat is within ``same_beat_s`` of another
    lead's (:data:`ecg.delineation.multilead._SAME_BEAT_S`)."""
    out = np.zeros(r_peaks.size, dtype=bool)
    tol = same_beat_s * fs_hz
    for r, paced in leads:
        marked = r[paced]
        if marked.size and r_peaks.size:
            out |= (np.abs(r_peaks[:, None] - marked[None, :]) <= tol).any(axis=1)
    return out
