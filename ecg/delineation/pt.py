"""P and T waves: peak and boundaries within windows set by the QRS complexes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .filters import StackedViews
from .vec import any_reduce, clip_index, first_true, masked_argmax, row_median, window_rows
from .window import Window, argmax_in, columns, walk_down_in

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
        # 0 <= lo and lo + width = on < n: every row lies inside its lead
        out[full] = row_median(window_rows(smooth, lo[full] + base[full], width + 1))
    for i in np.flatnonzero(~full):  # beats at the very start of the record
        seg = smooth[base[i] + lo[i] : base[i] + min(on[i] + 1, n)]
        out[i] = float(np.median(seg)) if seg.size else 0.0
    return out


def _second_lobe(dev: np.ndarray, valid: np.ndarray, length: np.ndarray, k: np.ndarray, sign: np.ndarray,
                 fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Per beat, an opposite-polarity lobe right after the main T lobe, if large enough:
    ``(has_lobe, lobe_index_in_row)`` (``length``: per row, the valid columns)."""
    rows = np.arange(k.size)
    cols = np.arange(dev.shape[1])[None, :]
    has_cross, z = first_true(valid & (cols >= k[:, None]) & (dev * sign[:, None] < 0))
    width = int(_T_LOBE_SEARCH_S * fs) + 1
    size = np.minimum(width, length - z)  # the lobe is searched in columns z … z + size - 1
    seg = columns(dev, z, width) * -sign[:, None]
    j = masked_argmax(seg, np.arange(width) < size[:, None])
    big = seg[rows, j] >= _T_LOBE_RATIO * np.abs(dev[rows, k])
    ok = has_cross & (size >= 3) & big & (j != 0) & (j != size - 1)
    return ok, z + j


class TSearch(NamedTuple):
    """The T windows of many beats read once: the window (positions ``[start, stop]`` of each
    beat; ``[start, start]`` where too short), the deviation rows from the isoelectric level,
    their mask, the arg-max of ``|dev|`` per row and the rows long enough to search."""

    win: Window
    dev: np.ndarray
    valid: np.ndarray
    k: np.ndarray
    ok: np.ndarray

    def take(self, rows: np.ndarray) -> TSearch:
        """The search of some rows (every step is row by row)."""
        return TSearch(self.win.take(rows), self.dev[rows], self.valid[rows], self.k[rows], self.ok[rows])


def t_search(sv: StackedViews, base: np.ndarray, start: np.ndarray, stop: np.ndarray,
             iso_mv: np.ndarray) -> TSearch | None:
    """Read the T window ``[start, stop]`` of each beat (None when no window is long enough)."""
    ok = stop - start >= int(0.08 * sv.fs_hz)
    if not any_reduce(ok):
        return None
    win = Window(sv, base, start, np.where(ok, stop, start))
    dev = win.read("smooth_mv") - np.asarray(iso_mv, dtype=np.float64)[:, None]
    return TSearch(win, dev, win.valid, masked_argmax(np.abs(dev), win.valid), ok)


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
    ``found`` per beat, the peak, the sample of that steepest slope (and the slope there,
    mV/s) and the amplitude."""

    found: np.ndarray
    peak: np.ndarray
    steep: np.ndarray
    steep_slope: np.ndarray
    amplitude_mv: np.ndarray

    def put(self, rows: np.ndarray, other: TTurns) -> TTurns:
        """A copy with ``rows`` replaced by ``other``'s values."""
        out = TTurns(*(a.copy() for a in self))
        for mine, theirs in zip(out, other):
            mine[rows] = theirs
        return out


def t_turns(search: TSearch, stop: np.ndarray, k: np.ndarray) -> TTurns:
    """The T waves of the beats of ``search`` with their peaks at columns ``k``, up to their
    steepest return (row by row: any subset of rows gives those rows' result)."""
    win = search.win
    dev, start = search.dev, win.origin
    rows = np.arange(k.size)
    amp = dev[rows, k]
    sign = np.where(amp >= 0, 1.0, -1.0)
    has_lobe, lobe = _second_lobe(dev, search.valid, win.length, k, sign, win.sv.fs_hz)
    last = start + np.where(has_lobe, lobe, k)
    last_sign = np.where(has_lobe, -sign, sign)
    tail_n = stop - last + 1
    ok = search.ok & (tail_n >= 3)
    slope = win.read("slope_t")
    col = argmax_in(slope * -last_sign[:, None], win.span(last, stop))  # the steepest return in [last, stop]
    at = slope[rows, col]
    ok &= last_sign * at < 0
    return TTurns(ok, start + k, clip_index(start + col, win.sv.n_samples), at, amp)


def t_ends(search: TSearch, stop: np.ndarray, turns: TTurns) -> TWaves:
    """The T waves of ``turns`` with their offsets: where the slope after the steepest
    return falls below a fraction of it (row by row)."""
    steep = turns.steep
    end = walk_down_in(search.win.read("abs_slope_t"), search.win.origin, steep, +1,
                       T_END_FRACTION * np.abs(turns.steep_slope), np.where(turns.found, stop, steep))
    return TWaves(turns.found, turns.peak, end, turns.amplitude_mv)


def t_from_peak(search: TSearch, stop: np.ndarray, k: np.ndarray) -> TWaves:
    """T waves of the beats of ``search`` with their peaks at columns ``k`` (row by row:
    any subset of rows gives those rows' result)."""
    return t_ends(search, stop, t_turns(search, stop, k))


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
    return t_from_peak(search, stop, k)


def p_waves(sv: StackedViews, base: np.ndarray, start: np.ndarray, stop: np.ndarray, iso_mv: np.ndarray) -> PWaves:
    """P onset, peak and offset searched in ``[start, stop]`` of each beat (stop near the
    QRS onset; its lead at offset ``base`` of ``sv``)."""
    fs = sv.fs_hz
    start = np.asarray(start, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    m = start.size
    zeros = np.zeros(m, dtype=np.int64)
    ok = stop - start >= int(0.06 * fs)
    if not any_reduce(ok):
        return PWaves(np.zeros(m, dtype=bool), zeros, zeros, zeros, np.zeros(m))
    lo_lim = np.maximum(start - int(0.04 * fs), 0)
    stop_in = np.where(ok, stop, start)
    win = Window(sv, base, lo_lim, stop_in + int(0.01 * fs))  # the P searches and walks read inside it
    origin = win.origin
    dev = win.read("smooth_mv") - np.asarray(iso_mv, dtype=np.float64)[:, None]
    rows = np.arange(m)
    k = argmax_in(np.abs(dev), win.span(start, stop_in))
    peak = origin + k
    amp = dev[rows, k]
    sign = np.where(amp >= 0, 1.0, -1.0)
    half = int(0.08 * fs)
    rise_lo = np.maximum(peak - half, start)
    fall_hi = np.minimum(peak + half, stop)
    ok &= (peak - rise_lo + 1 >= 2) & (fall_hi - peak + 1 >= 2)
    # the steepest rise in [rise_lo, peak] and fall in [peak, fall_hi]: read ±80 ms around the peak
    near = columns(win.read("slope_wave"), k - half, 2 * half + 1) * sign[:, None]
    j = np.arange(half + 1)
    j_on = argmax_in(near[:, : half + 1], j >= (rise_lo - peak + half)[:, None])
    j_off = argmax_in(-near[:, half:], j <= (fall_hi - peak)[:, None])
    rise, fall = near[rows, j_on], near[rows, half + j_off]  # slope × sign there
    ok &= (rise > 0) & (fall < 0)
    m_on, m_off = peak - half + j_on, peak + j_off
    a = win.read("abs_slope_wave")
    onset = walk_down_in(a, origin, m_on, -1, P_ON_FRACTION * np.abs(rise), np.where(ok, lo_lim, m_on))
    offset = walk_down_in(a, origin, m_off, +1, _P_OFF_FRACTION * np.abs(fall),
                          np.where(ok, stop + int(0.01 * fs), m_off))
    return PWaves(ok, onset, peak, offset, amp)
