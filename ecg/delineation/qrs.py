"""QRS complexes: locating beats and their onset, main deflection and offset."""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from .filters import LeadViews

__all__ = ["locate_beats", "qrs_bounds", "main_polarity"]

#: onset: quiet means the slope stays below this fraction of the largest QRS slope
_ONSET_FRACTION = 0.15
#: offset: the same fraction after the QRS
_OFFSET_FRACTION = 0.07
#: how far from the main deflection the boundaries may lie, s
_SEARCH_BEFORE_S = 0.14
_SEARCH_AFTER_S = 0.16
#: the threshold crossings lie systematically inside the visual boundaries; these
#: constant shifts (s) move them out (calibrated on the public LUDB records)
_ONSET_SHIFT_S = 0.014
_OFFSET_SHIFT_S = 0.003
#: a quiet stretch followed within _RESUME_S by a slope of this fraction of the largest
#: one is a turning point inside the QRS (slurred S or Q), not its end
_RESUME_ON_FRACTION = 0.3
_RESUME_OFF_FRACTION = 0.2
_RESUME_S = 0.04
#: length of the quiet stretch that separates the QRS from its surroundings, s
_QUIET_S = 0.008


def _fallback_r_peaks(views: LeadViews) -> np.ndarray:
    """Energy-envelope QRS detector used when ``ecg.beats`` is not available."""
    fs = views.fs_hz
    energy = views.slope_qrs**2
    win = max(int(0.1 * fs), 1)
    env = np.convolve(energy, np.ones(win) / win, mode="same")
    ref = float(np.percentile(env, 99.0))
    if ref <= 0.0:
        return np.zeros(0, dtype=np.int64)
    peaks, _ = find_peaks(env, height=0.15 * ref, distance=int(0.25 * fs))
    return peaks.astype(np.int64)


def _detector_r_peaks(x_mv: np.ndarray, views: LeadViews) -> np.ndarray:
    try:
        from ecg.beats import detect_r_peaks
    except ImportError:
        return _fallback_r_peaks(views)
    try:
        return np.asarray(detect_r_peaks(x_mv, views.fs_hz), dtype=np.int64)
    except Exception:  # the shared detector refusing a signal must not stop delineation
        return _fallback_r_peaks(views)


#: a detection whose steepest QRS-scale slope is below this fraction of the record's
#: 90th-percentile beat slope is a T or P wave taken for a beat, and is dropped
_MIN_BEAT_SLOPE_FRACTION = 0.3


def _drop_gentle(views: LeadViews, det: np.ndarray) -> np.ndarray:
    if det.size < 3:
        return det
    half = int(0.05 * views.fs_hz)
    a = np.abs(views.slope_qrs)
    steep = np.asarray([a[max(r - half, 0) : r + half + 1].max() for r in det])
    return det[steep >= _MIN_BEAT_SLOPE_FRACTION * float(np.percentile(steep, 90))]


#: the R wave counts as the main deflection unless the negative one is this much larger
_POSITIVE_PREFERENCE = 0.3


def main_polarity(views: LeadViews, r_peaks: np.ndarray) -> float:
    """+1 if the lead's QRS is dominated by a positive deflection, else -1."""
    fs = views.fs_hz
    half = int(0.06 * fs)
    pos, neg = [], []
    for r in r_peaks:
        seg = views.clean_mv[max(r - half, 0) : r + half + 1]
        if seg.size:
            pos.append(float(seg.max()))
            neg.append(float(-seg.min()))
    if not pos:
        return 1.0
    return 1.0 if np.median(pos) >= _POSITIVE_PREFERENCE * np.median(neg) else -1.0


def locate_beats(x_mv: np.ndarray, views: LeadViews) -> tuple[np.ndarray, float]:
    """QRS main deflections (sample indices) and the lead polarity.

    Detections from ``ecg.beats.detect_r_peaks`` (or a fallback) are moved to the
    extremum of the band-limited signal with the lead's dominant polarity, within
    ±60 ms; duplicates closer than 200 ms are merged.
    """
    fs = views.fs_hz
    det = _detector_r_peaks(x_mv, views)
    det = det[(det >= 0) & (det < views.clean_mv.size)]
    det = _drop_gentle(views, np.sort(det))
    polarity = main_polarity(views, det)
    half = int(0.06 * fs)
    refined: list[int] = []
    for r in np.sort(det):
        lo, hi = max(r - half, 0), min(r + half + 1, views.clean_mv.size)
        seg = polarity * views.clean_mv[lo:hi]
        peak = lo + int(np.argmax(seg))
        if refined and peak - refined[-1] < int(0.2 * fs):
            if polarity * views.clean_mv[peak] > polarity * views.clean_mv[refined[-1]]:
                refined[-1] = peak
            continue
        refined.append(peak)
    return np.asarray(refined, dtype=np.int64), polarity


def _quiet_edge(a: np.ndarray, start: int, step: int, threshold: float, gap: int, stop: int) -> int:
    """First index from ``start`` (moving by ``step``) that begins a quiet run.

    A quiet run is ``gap`` consecutive samples whose slope stays below ``threshold``.
    Returns the index of the run's first sample (the sample next to the QRS), or
    ``stop`` if no run is found before it.
    """
    run = 0
    i = start
    edge = start
    while (stop - i) * step > 0:
        i += step
        if a[i] < threshold:
            if run == 0:
                edge = i
            run += 1
            if run >= gap:
                return edge
        else:
            run = 0
    return stop


def _settled_edge(
    a: np.ndarray, start: int, step: int, threshold: float, gap: int, stop: int, resume: float, look: int
) -> int:
    """Like :func:`_quiet_edge`, but a quiet run followed within ``look`` samples by a
    slope of at least ``resume`` is the turning point of a slurred wave (e.g. the broad
    S of a right bundle branch block), not the end of the complex: search on past it."""
    edge = _quiet_edge(a, start, step, threshold, gap, stop)
    for _ in range(4):
        if edge == stop:
            return edge
        ahead = a[edge : edge + step * look : step] if step > 0 else a[max(edge - look, 0) : edge + 1][::-1]
        again = np.flatnonzero(ahead >= resume)
        if again.size == 0:
            return edge
        edge = _quiet_edge(a, edge + step * int(again[0]), step, threshold, gap, stop)
    return edge


def qrs_bounds(views: LeadViews, r: int, lo: int, hi: int, noise_slope: float = 0.0) -> tuple[int, int, float]:
    """Onset and offset of the QRS around main deflection ``r``.

    Walking outwards from the main deflection, each boundary is the edge of the first
    quiet stretch (``_QUIET_S`` long) where the QRS-scale slope stays under a fraction of
    the complex's largest slope: Q and S waves are joined to the R wave without such a
    stretch, the P wave is separated from the QRS by the PR segment.

    Parameters
    ----------
    views : LeadViews
    r : int
        Main deflection, sample index.
    lo, hi : int
        The search may not pass these sample indices (neighbouring beats).
    noise_slope : float
        Slope noise level, mV/s; the quiet threshold is never below three times it.

    Returns
    -------
    tuple
        ``(onset, offset, largest_slope_mv_per_s)``.
    """
    fs = views.fs_hz
    a = np.abs(views.slope_qrs)
    b0 = max(lo, r - int(_SEARCH_BEFORE_S * fs))
    b1 = min(hi, r + int(_SEARCH_AFTER_S * fs))
    core = a[max(r - int(0.05 * fs), b0) : min(r + int(0.05 * fs), b1) + 1]
    top = float(core.max()) if core.size else 0.0
    gap = max(int(round(_QUIET_S * fs)), 2)
    onset = _settled_edge(a, r, -1, max(_ONSET_FRACTION * top, 3.0 * noise_slope), gap, b0,
                          _RESUME_ON_FRACTION * top, int(_RESUME_S * fs))
    offset = _settled_edge(a, r, +1, max(_OFFSET_FRACTION * top, 3.0 * noise_slope), gap, b1,
                           _RESUME_OFF_FRACTION * top, int(_RESUME_S * fs))
    onset = max(onset - int(round(_ONSET_SHIFT_S * fs)), b0)
    offset = min(offset + int(round(_OFFSET_SHIFT_S * fs)), b1)
    return onset, offset, top
