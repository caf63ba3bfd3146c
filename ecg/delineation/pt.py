"""P and T waves: peak and boundaries within windows set by the QRS complexes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .filters import LeadViews

__all__ = ["t_wave", "p_wave", "TWave", "PWave"]

#: T offset: slope falls below this fraction of the steepest descending slope
_T_END_FRACTION = 0.45
#: an opposite lobe this large relative to the main one, starting right after it,
#: makes the T wave biphasic (searched up to _T_LOBE_SEARCH_S after the zero crossing)
_T_LOBE_RATIO = 0.5
#: the lead's usual T polarity wins unless the opposite deviation is this many times larger
_T_POLARITY_PREFERENCE = 2.0
_T_LOBE_SEARCH_S = 0.06
#: P boundaries: slope falls below this fraction of the steepest slope on that side
_P_ON_FRACTION = 0.30
_P_OFF_FRACTION = 0.55


class TWave(NamedTuple):
    """T wave of one beat: sample indices and amplitude from the isoelectric level."""

    peak: int
    offset: int
    amplitude_mv: float


class PWave(NamedTuple):
    """P wave of one beat: sample indices and amplitude from the isoelectric level."""

    onset: int
    peak: int
    offset: int
    amplitude_mv: float


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


def _second_lobe(dev: np.ndarray, k: int, sign: float, fs: float) -> int | None:
    """Index of an opposite-polarity lobe right after the main T lobe, if large enough."""
    after = dev[k:] * sign
    cross = np.flatnonzero(after < 0)
    if cross.size == 0:
        return None
    z = k + int(cross[0])
    seg = dev[z : z + int(_T_LOBE_SEARCH_S * fs) + 1] * -sign
    if seg.size < 3:
        return None
    j = int(np.argmax(seg))
    if seg[j] < _T_LOBE_RATIO * abs(dev[k]) or j in (0, seg.size - 1):
        return None
    return z + j


def t_wave(
    views: LeadViews, qrs_off: int, start: int, stop: int, iso_mv: float, polarity: float = 0.0
) -> TWave | None:
    """T peak and offset searched in ``[start, stop]``.

    The peak is the largest deviation from the isoelectric level (of the lead's usual
    T polarity ``polarity`` if given, unless the other one is much larger); if an opposite lobe
    of at least ``_T_LOBE_RATIO`` of it follows (biphasic T), the offset is taken after
    that lobe. The offset is where the slope after the steepest return towards the
    baseline falls below a fraction of that slope.
    """
    fs = views.fs_hz
    if stop - start < int(0.08 * fs):
        return None
    dev = views.smooth_mv[start : stop + 1] - iso_mv
    k = int(np.argmax(np.abs(dev)))
    if polarity != 0.0 and dev[k] * polarity < 0:
        k_pol = int(np.argmax(dev * polarity))
        if abs(dev[k_pol]) * _T_POLARITY_PREFERENCE >= abs(dev[k]):
            k = k_pol  # keep the lead's usual T polarity unless the other is far larger
    peak = start + k
    amp = float(dev[k])
    sign = 1.0 if amp >= 0 else -1.0
    lobe = _second_lobe(dev, k, sign, fs)
    last, last_sign = (peak, sign) if lobe is None else (start + lobe, -sign)
    slope = views.slope_t
    tail = slope[last : stop + 1] * last_sign
    if tail.size < 3:
        return None
    steep = last + int(np.argmin(tail))  # steepest return towards the baseline
    if last_sign * slope[steep] >= 0:
        return None
    a = np.abs(slope)
    end = _walk_down(a, steep, +1, _T_END_FRACTION * a[steep], stop)
    return TWave(peak, int(end), amp)


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
    return PWave(int(onset), peak, int(offset), float(dev[k]))
