"""QRS complexes: locating beats and their onset, main deflection and offset."""

from __future__ import annotations

import numpy as np

from .filters import LeadViews, StackedViews
from .vec import Rows, any_reduce, clip_index, max_reduce, min_reduce, range_max, window_rows
from .window import Window, argmax_in, settled_run

__all__ = ["locate_beats", "locate_many", "qrs_bounds", "qrs_bounds_all", "main_polarity"]

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


def _windows(x: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    """Rows ``x[c - half : c + half + 1]`` with indices clipped at the ends (fine for max/min)."""
    idx = np.clip(centres[:, None] + np.arange(-half, half + 1)[None, :], 0, x.size - 1)
    return x[idx]


#: a detection whose steepest QRS-scale slope is below this fraction of the record's
#: 90th-percentile beat slope is a T or P wave taken for a beat, and is dropped
_MIN_BEAT_SLOPE_FRACTION = 0.3


#: the R wave counts as the main deflection unless the negative one is this much larger
_POSITIVE_PREFERENCE = 0.3


def main_polarity(views: LeadViews, r_peaks: np.ndarray) -> float:
    """+1 if the lead's QRS is dominated by a positive deflection, else -1."""
    if r_peaks.size == 0:
        return 1.0
    seg = _windows(views.clean_mv, np.asarray(r_peaks, dtype=np.int64), int(0.06 * views.fs_hz))
    return 1.0 if np.median(seg.max(axis=1)) >= _POSITIVE_PREFERENCE * np.median(-seg.min(axis=1)) else -1.0


def locate_beats(r_peaks: np.ndarray, views: LeadViews) -> tuple[np.ndarray, float]:
    """QRS main deflections (sample indices) and the lead polarity.

    Detections (``r_peaks``, from ``ecg.beats.detect_r_peaks`` through the analysis
    context) are moved to the extremum of the band-limited signal with the lead's
    dominant polarity, within ±60 ms; duplicates closer than 200 ms are merged.
    """
    sv, row = StackedViews.of([views])
    return locate_many([r_peaks], sv, row)[0]


def _gentle(sv: StackedViews, rows: Rows, det: np.ndarray) -> np.ndarray:
    """Detections whose steepest QRS-scale slope (±50 ms) is below a fraction of their
    lead's 90th-percentile beat slope (leads with at least 3 detections)."""
    n = sv.n_samples
    half = int(0.05 * sv.fs_hz)
    steep = range_max(sv.flat("abs_slope_qrs"), rows.base + np.maximum(det - half, 0),
                      rows.base + np.minimum(det + half, n - 1))  # the ±50 ms inside the lead
    level = rows.percentile(steep, 90)  # per lead, np.percentile(steep, 90)
    enough = rows.count() >= 3
    return enough[rows.lead] & (steep < _MIN_BEAT_SLOPE_FRACTION * level[rows.lead])


def locate_many(detections: list[np.ndarray], sv: StackedViews,
                stack_row: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """:func:`locate_beats` of several leads at once: lead ``j``'s detections against row
    ``stack_row[j]`` of ``sv``."""
    fs, n = sv.fs_hz, sv.n_samples
    dets = [np.sort(d[(d >= 0) & (d < n)]) for d in (np.asarray(d, dtype=np.int64) for d in detections)]
    lead = np.repeat(np.arange(len(dets), dtype=np.int64), [d.size for d in dets])
    det = np.concatenate(dets) if dets else np.zeros(0, dtype=np.int64)
    rows = Rows(lead, stack_row[lead] * n, len(dets))
    keep = ~_gentle(sv, rows, det)
    det, rows = det[keep], rows.take(keep)
    clean = sv.flat("clean_mv")
    half = int(0.06 * fs)
    inside: np.ndarray | None = None
    if det.size and int(min_reduce(det)) >= half and int(max_reduce(det)) + half <= n - 1:
        seg = window_rows(clean, rows.base + det - half, 2 * half + 1)  # every ±60 ms inside its lead
    else:
        at = det[:, None] + np.arange(-half, half + 1)[None, :]
        seg = clean[clip_index(at, n) + rows.base[:, None]]
        inside = (at >= 0) & (at < n)
    up, down = rows.median(max_reduce(seg, axis=1)), rows.median(-min_reduce(seg, axis=1))
    polarity = np.where(rows.count() == 0, 1.0, np.where(up >= _POSITIVE_PREFERENCE * down, 1.0, -1.0))
    sign = polarity[rows.lead]
    scores = sign[:, None] * seg
    # the extremum inside the lead
    peaks = det - half + (scores.argmax(axis=1) if inside is None else argmax_in(scores, inside))
    near = int(0.2 * fs)
    if not any_reduce((peaks[1:] - peaks[:-1] < near) & (rows.lead[1:] == rows.lead[:-1])):
        # no two beats of a lead closer than ``near`` (the usual case): nothing merges
        return list(zip(np.split(peaks, np.cumsum(rows.count())[:-1]), polarity.tolist()))
    return _merge_close(peaks.tolist(), (sign * clean[rows.base + peaks]).tolist(), rows.lead.tolist(),
                        polarity.tolist(), near)


def _merge_close(peaks: list[int], height: list[float], lead: list[int], polarity: list[float],
                 near: int) -> list[tuple[np.ndarray, float]]:
    """Per lead, close duplicates merged sequentially (the taller one stays)."""
    refined: list[list[int]] = [[] for _ in polarity]
    best: list[list[float]] = [[] for _ in polarity]
    for peak, h, j in zip(peaks, height, lead):
        kept, tops = refined[j], best[j]
        if kept and peak - kept[-1] < near:
            if h > tops[-1]:
                kept[-1], tops[-1] = peak, h
            continue
        kept.append(peak)
        tops.append(h)
    return [(np.asarray(kept, dtype=np.int64), pol) for kept, pol in zip(refined, polarity)]


def qrs_bounds_all(
    sv: StackedViews, base: np.ndarray, r: np.ndarray, lo: np.ndarray, hi: np.ndarray, noise_slope: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onsets and offsets of the QRS complexes around main deflections ``r`` (all beats at once).

    Walking outwards from the main deflection, each boundary is the edge of the first
    quiet stretch (``_QUIET_S`` long) where the QRS-scale slope stays under a fraction of
    the complex's largest slope: Q and S waves are joined to the R wave without such a
    stretch, the P wave is separated from the QRS by the PR segment.

    Parameters
    ----------
    sv : StackedViews
        The views of the leads.
    base : numpy.ndarray
        Per beat, the offset of its lead in ``sv``'s flat arrays (``row * n_samples``).
    r : numpy.ndarray
        Main deflections, sample indices.
    lo, hi : numpy.ndarray
        Per beat, the search may not pass these sample indices (neighbouring beats).
    noise_slope : float
        Slope noise level, mV/s; the quiet threshold is never below three times it.

    Returns
    -------
    tuple
        ``(onsets, offsets, largest_slopes_mv_per_s)``.
    """
    fs = sv.fs_hz
    n = sv.n_samples
    r = np.asarray(r, dtype=np.int64)
    b0 = np.maximum(np.asarray(lo, dtype=np.int64), r - int(_SEARCH_BEFORE_S * fs))
    b1 = np.minimum(np.asarray(hi, dtype=np.int64), r + int(_SEARCH_AFTER_S * fs))
    gap = max(int(round(_QUIET_S * fs)), 2)
    look = int(_RESUME_S * fs)
    before, after = int(_SEARCH_BEFORE_S * fs) + look, int(_SEARCH_AFTER_S * fs) + look
    win = Window(sv, base, r - before, r + after)  # column ``before`` is the main deflection in every row
    if r.size == 0:
        return r.copy(), r.copy(), np.zeros(0)
    a = win.read("abs_slope_qrs")
    half = int(0.05 * fs)
    cols = np.arange(2 * half + 1)
    near = (cols >= (b0 - r + half)[:, None]) & (cols <= (b1 - r + half)[:, None])  # within ±50 ms and [b0, b1]
    top = np.where(any_reduce(near, axis=1),
                   max_reduce(np.where(near, a[:, before - half : before + half + 1], -np.inf), axis=1, initial=-np.inf),
                   0.0)
    # each side read from the main deflection outwards (the onset's backwards: ``look`` + 1 values)
    onset = r - settled_run(a[:, before::-1], np.maximum(_ONSET_FRACTION * top, 3.0 * noise_slope), gap, r - b0,
                            _RESUME_ON_FRACTION * top, look + 1, r + 1)
    offset = r + settled_run(a[:, before:], np.maximum(_OFFSET_FRACTION * top, 3.0 * noise_slope), gap, b1 - r,
                             _RESUME_OFF_FRACTION * top, look, n - r)
    onset = np.maximum(onset - int(round(_ONSET_SHIFT_S * fs)), b0)
    offset = np.minimum(offset + int(round(_OFFSET_SHIFT_S * fs)), b1)
    return onset, offset, top


def qrs_bounds(views: LeadViews, r: int, lo: int, hi: int, noise_slope: float = 0.0) -> tuple[int, int, float]:
    """:func:`qrs_bounds_all` for one beat: ``(onset, offset, largest_slope_mv_per_s)``."""
    sv, rows = StackedViews.of([views])
    base = rows[:1] * sv.n_samples
    on, off, top = qrs_bounds_all(sv, base, np.array([r]), np.array([lo]), np.array([hi]), noise_slope)
    return int(on[0]), int(off[0]), float(top[0])
