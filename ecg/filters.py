"""Butterworth filter designs, built once per (order, band, rate) and shared by every step.

Designing a Butterworth filter (``scipy.signal.butter``) costs more than applying it to a
30-s recording, and the analysis path uses the same few designs over and over (the R-peak
detector, quality, the model input, the delineator, premature beats). Every module takes
its designs from here, so each is built once per process and rate.

Examples
--------
>>> s = butter_sos(2, (0.5, 40.0), "bandpass", 300.0)
>>> s.shape, s is butter_sos(2, (0.5, 40.0), "bandpass", 300.0)
((2, 6), True)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as _sps

__all__ = ["butter_sos", "butter_sos_zi", "butter_tf", "zero_phase_steady", "zero_phase"]

Band = float | tuple[float, float]


def _frozen(a: object) -> np.ndarray:
    # shared between callers: nobody may change it (scipy's sosfilt needs a writable
    # buffer, so the flag cannot enforce it)
    return np.ascontiguousarray(a, dtype=np.float64)


@lru_cache(maxsize=64)
def butter_sos(order: int, cut_hz: Band, btype: str, fs_hz: float) -> np.ndarray:
    """Second-order sections of a Butterworth filter (cached and shared: do not modify).

    Parameters
    ----------
    order : int
        Filter order (a band-pass of order 2 has 2 sections).
    cut_hz : float or (float, float)
        Corner frequency, or the (low, high) corners of a band, Hz.
    btype : str
        ``"lowpass"``, ``"highpass"``, ``"bandpass"`` or ``"bandstop"``.
    fs_hz : float
        Sample rate, Hz.
    """
    return _frozen(_sps.butter(order, cut_hz, btype=btype, fs=fs_hz, output="sos"))


@lru_cache(maxsize=64)
def butter_sos_zi(order: int, cut_hz: Band, btype: str, fs_hz: float) -> np.ndarray:
    """Steady-state initial conditions of :func:`butter_sos` for a unit step (cached)."""
    return _frozen(_sps.sosfilt_zi(butter_sos(order, cut_hz, btype, fs_hz)))


@lru_cache(maxsize=64)
def butter_tf(order: int, cut_hz: Band, btype: str, fs_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(b, a, zi)`` transfer function of a one-biquad design, for ``lfilter`` (cached).

    Only for order ≤ 2 (one section is well conditioned in this form); ``lfilter`` has
    about half the call overhead of ``sosfilt``.
    """
    if order > 2 or (order > 1 and btype in ("bandpass", "bandstop")):
        raise ValueError(f"butter_tf is for single biquads, not order {order} {btype}")
    b, a = _sps.sos2tf(butter_sos(order, cut_hz, btype, fs_hz))
    return _frozen(b), _frozen(a), _frozen(_sps.lfilter_zi(b, a))


def zero_phase_steady(x: np.ndarray, order: int, cut_hz: Band, btype: str, fs_hz: float) -> np.ndarray:
    """Forward-backward filtering of a 1-D signal, each pass started in steady state
    (no padding: cheaper than ``sosfiltfilt`` and free of its edge transients)."""
    if order <= 2 and btype in ("lowpass", "highpass"):
        b, a, zi = butter_tf(order, cut_hz, btype, fs_hz)
        y, _ = _sps.lfilter(b, a, x, zi=zi * x[0])
        y, _ = _sps.lfilter(b, a, y[::-1], zi=zi * y[-1])
        return y[::-1]
    sos = butter_sos(order, cut_hz, btype, fs_hz)
    zi = butter_sos_zi(order, cut_hz, btype, fs_hz)
    y, _ = _sps.sosfilt(sos, x, zi=zi * x[0])
    y, _ = _sps.sosfilt(sos, y[::-1], zi=zi * y[-1])
    return y[::-1]


def zero_phase(x: np.ndarray, order: int, cut_hz: Band, btype: str, fs_hz: float, *, axis: int = 0,
               padlen: int | None = None) -> np.ndarray:
    """``scipy.signal.sosfiltfilt`` (odd padding at the ends) with the cached design.

    A 1-D signal takes a path that reuses the cached initial conditions (the same
    arithmetic as ``sosfiltfilt``, without re-solving for them on every call).
    """
    sos = butter_sos(order, cut_hz, btype, fs_hz)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        return np.asarray(_sps.sosfiltfilt(sos, x, axis=axis, padlen=padlen))
    taps = 2 * sos.shape[0] + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * taps if padlen is None else int(padlen)
    if x.size <= edge:
        raise ValueError(f"the signal ({x.size} samples) must be longer than the padding ({edge})")
    ext = x
    if edge > 0:
        ext = np.concatenate((2 * x[0] - x[edge:0:-1], x, 2 * x[-1] - x[-2 : -(edge + 2) : -1]))
    zi = butter_sos_zi(order, cut_hz, btype, fs_hz)
    y, _ = _sps.sosfilt(sos, ext, zi=zi * ext[0])
    y, _ = _sps.sosfilt(sos, y[::-1], zi=zi * y[-1])
    y = y[::-1]
    return y[edge:-edge] if edge > 0 else y
