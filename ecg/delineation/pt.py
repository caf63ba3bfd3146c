"""P and T waves: peak and boundaries within windows set by the QRS complexes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .filters import StackedViews
from .vec import any_reduce, clip_index, first_true, masked_argmax, ranges, row_median, walk_down

__all__ = ["t_waves", "t_search", "t_prefer", "t_from_peak", "t_turns", "t_ends", "TSearch", "TTurns", "p_waves", "isoelectric_all", "TWaves",
           "PWaves"]

#: T offset: slope falls below this fraction of the steepest descending slope
T_END_FRACTION = 0.45
#: an opposite lobe this large relative to the main one, starting right after it,
#: makes the T wave biphasic (searched up to _T_LOBE_SEARCH_S after the zero crossing)
_T_LOBE_RATIO = 0.5
#: the lead's usual T polarity wins unless the opposite deviation is this many times larger
_T_POLARITY_PREFERENCE = 2.0
_T_LOBE_SEARCH_S = 0.06
#: P boundaries: slope falls below this fraction of the steepest slope on that side
P_ON_FRACTION = 0.30
_P_OFF_FRACTION = 0.55


class TWaves(NamedTuple):
    """T waves of many beats: ``found`` per beat; indices and amplitude valid where found."""

    found: np.ndarray
    peak: np.ndarray
    offset: np.ndarray
    amplitude_mv: np.ndarray


class PWaves(NamedTuple):
    """P waves of many beats: ``found`` per beat; indices and amplitude valid where found."""

    found: np.ndarray
    onset: np.ndarray
    peak: np.ndarray
    offset: np.ndarray
    amplitude_mv: np.ndarray


def isoelectric_all(sv: StackedViews, qrs_on: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Isoelectric level per beat: median of the smoothed signal over the 20 ms before
    the QRS onset (PR segment); rows of the leads at offsets ``base`` of ``sv``."""
    on = np.asarray(qrs_on, dtype=np.int64)
    width = int(0.02 * sv.fs_hz)
    n = sv.n_samples
    smooth = sv.flat("smooth_mv")
    lo = np.maximum(on - width, 0)
    out = np.zeros(on.size)
    full = on - lo == width
    if any_reduce(full):
        idx = clip_index(lo[full, None] + np.arange(width + 1)[None, :], n) + base[full, None]
        out[full] = row_median(smooth[idx])
    for i in np.flatnonzero(~full):  # beats at the very start of the record
        seg = smooth[base[i] + lo[i] : base[i] + min(on[i] + 1, n)]
        out[i] = float(np.median(seg)) if seg.size else 0.0
    return out


def _deviation(sv: StackedViews, base: np.ndarray, start: np.ndarray, stop: np.ndarray,
               iso: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows of ``smooth_mv[start:stop + 1] - iso`` with their mask and arg-max of |dev|."""
    idx, valid = ranges(start, stop - start + 1, sv.n_samples, base=base)
    dev = sv.flat("smooth_mv")[idx] - iso[:, None]
    k = masked_argmax(np.abs(dev), valid)
    return dev, valid, k


def _second_lobe(dev: np.ndarray, valid: np.ndarray, k: np.ndarray, sign: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Per beat, an opposite-polarity lobe right after the main T lobe, if large enough:
    ``(has_lobe, lobe_index_in_row)``."""
    rows = np.arange(k.size)
    cols = np.arange(dev.shape[1])[None, :]
    has_cross, z = first_true(valid & (cols >= k[:, None]) & (dev * sign[:, None] < 0))
    n = valid.sum(axis=1)
    size = np.minimum(int(_T_LOBE_SEARCH_S * fs) + 1, n - z)
    idx, seg_valid = ranges(z, size, max(dev.shape[1], 1))
    seg = dev[rows[:, None], idx] * -sign[:, None]
    j = masked_argmax(seg, seg_valid)
    big = seg[rows, j] >= _T_LOBE_RATIO * np.abs(dev[rows, k]) if seg.shape[1] else np.zeros(k.size, dtype=bool)
    ok = has_cross & (size >= 3) & big & (j != 0) & (j != size - 1)
    return ok, z + j


class TSearch(NamedTuple):
    """The T windows of many beats read once: deviation rows from the isoelectric level,
    their mask, the arg-max of ``|dev|`` per row and the rows long enough to search."""

    dev: np.ndarray
    valid: np.ndarray
    k: np.ndarray
    ok: np.ndarray

    def take(self, rows: np.ndarray) -> TSearch:
        """The search of some rows (same columns: every step is row by row)."""
        return TSearch(self.dev[rows], self.valid[rows], self.k[rows], self.ok[rows])


def t_search(sv: StackedViews, base: np.ndarray, start: np.ndarray, stop: np.ndarray,
             iso_mv: np.ndarray) -> TSearch | None:
    """Read the T window ``[start, stop]`` of each beat (None when no window is long enough)."""
    ok = stop - start >= int(0.08 * sv.fs_hz)
    if not any_reduce(ok):
        return None
    dev, valid, k = _deviation(sv, base, start, np.where(ok, stop, start), np.asarray(iso_mv, dtype=np.float64))
    return TSearch(dev, valid, k, ok)


def t_prefer(search: TSearch, polarity: np.ndarray) -> np.ndarray:
    """Per beat, the T peak's column with the lead's usual polarity ``polarity`` (per beat,
    0 for none) preferred unless the opposite deviation is far larger."""
    dev, valid, k = search.dev, search.valid, search.k
    if not any_reduce(polarity):
        return k
    rows = np.arange(k.size)
    k_pol = masked_argmax(dev * polarity[:, None], valid)
    flip = (dev[rows, k] * polarity < 0) & (np.abs(dev[rows, k_pol]) * _T_POLARITY_PREFERENCE >= np.abs(dev[rows, k]))
    return np.where(flip, k_pol, k)


class TTurns(NamedTuple):
    """The T waves of many beats up to their steepest return towards the baseline:
    ``found`` per beat, the peak, the sample of that steepest slope and the amplitude."""

    found: np.ndarray
    peak: np.ndarray
    steep: np.ndarray
    amplitude_mv: np.ndarray

    def put(self, rows: np.ndarray, other: TTurns) -> TTurns:
        """A copy with ``rows`` replaced by ``other``'s values."""
        out = TTurns(*(a.copy() for a in self))
        for mine, theirs in zip(out, other):
            mine[rows] = theirs
        return out


def t_turns(sv: StackedViews, base: np.ndarray, start: np.ndarray, stop: np.ndarray, search: TSearch,
            k: np.ndarray) -> TTurns:
    """The T waves of the beats of ``search`` with their peaks at columns ``k``, up to their
    steepest return (row by row: any subset of rows gives those rows' result)."""
    fs = sv.fs_hz
    n = sv.n_samples
    dev, valid = search.dev, search.valid
    rows = np.arange(k.size)
    amp = dev[rows, k]
    sign = np.where(amp >= 0, 1.0, -1.0)
    has_lobe, lobe = _second_lobe(dev, valid, k, sign, fs)
    last = start + np.where(has_lobe, lobe, k)
    last_sign = np.where(has_lobe, -sign, sign)
    tail_n = stop - last + 1
    ok = search.ok & (tail_n >= 3)
    slope_t = sv.flat("slope_t")
    idx, tail_valid = ranges(last, tail_n, n, base=base)
    steep = clip_index(last + masked_argmax(-slope_t[idx] * last_sign[:, None], tail_valid), n)
    ok &= last_sign * slope_t[base + steep] < 0
    return TTurns(ok, start + k, steep, amp)


def t_ends(sv: StackedViews, base: np.ndarray, stop: np.ndarray, turns: TTurns) -> TWaves:
    """The T waves of ``turns`` with their offsets: where the slope after the steepest
    return falls below a fraction of it (row by row)."""
    a = sv.flat("abs_slope_t")
    steep = turns.steep
    end = walk_down(a, steep, +1, T_END_FRACTION * a[base + steep], np.where(turns.found, stop, steep),
                    sv.n_samples, base)
    return TWaves(turns.found, turns.peak, end, turns.amplitude_mv)


def t_from_peak(sv: StackedViews, base: np.ndarray, start: np.ndarray, stop: np.ndarray, search: TSearch,
                k: np.ndarray) -> TWaves:
    """T waves of the beats of ``search`` with their peaks at columns ``k`` (row by row:
    any subset of rows gives those rows' result)."""
    return t_ends(sv, base, stop, t_turns(sv, base, start, stop, search, k))


def t_waves(
    sv: StackedViews, base: np.ndarray, start: np.ndarray, stop: np.ndarray, iso_mv: np.ndarray,
    polarity: np.ndarray | None = None,
) -> TWaves:
    """T peaks and offsets searched in ``[start, stop]`` of each beat (its lead at offset
    ``base`` of ``sv``).

    The peak is the largest deviation from the isoelectric level (of the lead's usual
    T polarity ``polarity`` (per beat, 0 for none) if given, unless the other one is much
    larger); if an opposite lobe
    of at least ``_T_LOBE_RATIO`` of it follows (biphasic T), the offset is taken after
    that lobe. The offset is where the slope after the steepest return towards the
    baseline falls below a fraction of that slope.
    """
    start = np.asarray(start, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    search = t_search(sv, base, start, stop, iso_mv)
    if search is None:
        m = start.size
        return TWaves(np.zeros(m, dtype=bool), np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64), np.zeros(m))
    k = search.k if polarity is None else t_prefer(search, polarity)
    return t_from_peak(sv, base, start, stop, search, k)


def p_waves(sv: StackedViews, base: np.ndarray, start: np.ndarray, stop: np.ndarray, iso_mv: np.ndarray) -> PWaves:
    """P onset, peak and offset searched in ``[start, stop]`` of each beat (stop near the
    QRS onset; its lead at offset ``base`` of ``sv``)."""
    fs = sv.fs_hz
    n = sv.n_samples
    start = np.asarray(start, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    m = start.size
    zeros = np.zeros(m, dtype=np.int64)
    ok = stop - start >= int(0.06 * fs)
    if not any_reduce(ok):
        return PWaves(np.zeros(m, dtype=bool), zeros, zeros, zeros, np.zeros(m))
    dev, valid, k = _deviation(sv, base, start, np.where(ok, stop, start), np.asarray(iso_mv, dtype=np.float64))
    rows = np.arange(m)
    peak = start + k
    amp = dev[rows, k]
    sign = np.where(amp >= 0, 1.0, -1.0)
    slope = sv.flat("slope_wave")
    half = int(0.08 * fs)
    rise_lo = np.maximum(peak - half, start)
    rise_n = peak - rise_lo + 1
    fall_n = np.minimum(peak + half, stop) - peak + 1
    ok &= (rise_n >= 2) & (fall_n >= 2)
    idx, v = ranges(rise_lo, rise_n, n, base=base)
    # rows already refused may point anywhere: indices are kept inside
    m_on = clip_index(rise_lo + masked_argmax(slope[idx] * sign[:, None], v), n)
    idx, v = ranges(peak, fall_n, n, base=base)
    m_off = clip_index(peak + masked_argmax(-slope[idx] * sign[:, None], v), n)
    ok &= (slope[base + m_on] * sign > 0) & (slope[base + m_off] * sign < 0)
    a = sv.flat("abs_slope_wave")
    lo_lim = np.maximum(start - int(0.04 * fs), 0)
    onset = walk_down(a, m_on, -1, P_ON_FRACTION * a[base + m_on], np.where(ok, lo_lim, m_on), n, base)
    offset = walk_down(a, m_off, +1, _P_OFF_FRACTION * a[base + m_off], np.where(ok, stop + int(0.01 * fs), m_off),
                       n, base)
    return PWaves(ok, onset, peak, offset, amp)
