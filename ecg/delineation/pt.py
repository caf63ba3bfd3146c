"""P and T waves: peak and boundaries within windows set by the QRS complexes."""

from __future__ import annotations

import numpy as np

from .filters import LeadViews

__all__ = ["t_wave", "p_wave", "TWave", "PWave"]

#: T offset: slope falls below this fraction of the steepest descending slope
_T_END_FRACTION = 0.25
#: P boundaries: slope falls below this fraction of the steepest slope on that side
_P_ON_FRACTION = 0.30
_P_OFF_FRACTION = 0.40


class TWave(tuple[int, int, float]):
    """``(peak, offset, amplitude_mv)``; amplitude relative to the isoelectric level."""

    __slots__ = ()


class PWave(tuple[int, int, int, float]):
    """``(onset, peak, offset, amplitude_mv)``."""

    __slots__ = ()


def _walk_down(slope_abs: np.ndarray, start: int, step: int, threshold: float, stop: int) -> int:
    i = start
    while (i + step - stop) * step <= 0:
        nxt = i + step
        if slope_abs[nxt] < threshold:
            return nxt
        if slope_abs[nxt] > slope_abs[i] and slope_abs[i] < 1.5 * threshold:
            return i
        i = nxt
    return i


def isoelectric_mv(views: LeadViews, qrs_on: int) -> float:
    """Isoelectric level: the smoothed signal just before the QRS onset (PR segment)."""
    fs = views.fs_hz
    lo = max(qrs_on - int(0.02 * fs), 0)
    seg = views.smooth_mv[lo : qrs_on + 1]
    return float(np.median(seg)) if seg.size else 0.0


def t_wave(views: LeadViews, qrs_off: int, start: int, stop: int, iso_mv: float) -> TWave | None:
    """T peak and offset searched in ``[start, stop]``.

    The peak is the largest deviation from the isoelectric level; the offset is where
    the slope after the steepest return towards the baseline falls below a fraction
    of that slope.
    """
    if stop - start < int(0.08 * views.fs_hz):
        return None
    dev = views.smooth_mv[start : stop + 1] - iso_mv
    k = int(np.argmax(np.abs(dev)))
    peak = start + k
    sign = 1.0 if dev[k] >= 0 else -1.0
    slope = views.slope_t
    tail = slope[peak : stop + 1] * sign
    if tail.size < 3:
        return None
    steep = peak + int(np.argmin(tail))  # steepest return towards the baseline
    if sign * slope[steep] >= 0:
        return None
    a = np.abs(slope)
    end = _walk_down(a, steep, +1, _T_END_FRACTION * a[steep], stop)
    return TWave((peak, end, float(dev[k])))


def p_wave(views: LeadViews, start: int, stop: int, iso_mv: float) -> PWave | None:
    """P onset, peak and offset searched in ``[start, stop]`` (stop near QRS onset)."""
    fs = views.fs_hz
    if stop - start < int(0.06 * fs):
        return None
    dev = views.smooth_mv[start : stop + 1] - iso_mv
    k = int(np.argmax(np.abs(dev)))
    peak = start + k
    sign = 1.0 if dev[k] >= 0 else -1.0
    slope = views.slope_wave * sign
    a = np.abs(views.slope_wave)
    half = int(0.08 * fs)
    rise = slope[max(peak - half, start) : peak + 1]
    fall = slope[peak : min(peak + half, stop) + 1]
    if rise.size < 2 or fall.size < 2:
        return None
    m_on = max(peak - half, start) + int(np.argmax(rise))
    m_off = peak + int(np.argmin(fall))
    if slope[m_on] <= 0 or slope[m_off] >= 0:
        return None
    lo_lim = max(start - int(0.04 * fs), 0)
    onset = _walk_down(a, m_on, -1, _P_ON_FRACTION * a[m_on], lo_lim)
    offset = _walk_down(a, m_off, +1, _P_OFF_FRACTION * a[m_off], stop + int(0.01 * fs))
    return PWave((onset, peak, offset, float(dev[k])))
