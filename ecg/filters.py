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

try:  # the compiled kernel behind scipy.signal.sosfilt (see _sosfilt_rows)
    from scipy.signal._sosfilt import _sosfilt as _SOSFILT
except ImportError:  # pragma: no cover - another scipy layout
    _SOSFILT = None


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


def _sosfilt_rows(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """``scipy.signal.sosfilt`` along the rows of a C-contiguous float64 ``(rows, n)`` array,
    started from ``zi`` (``(rows, sections, 2)``); ``x`` is filtered in place and returned.

    The compiled kernel that ``sosfilt`` itself calls, without its ~0.1 ms of argument
    checks, axis moves and copies per call (``tests/ecg/test_context.py`` holds it equal
    to ``sosfilt``); the public function when the kernel is not there.
    """
    if _SOSFILT is None:  # pragma: no cover - another scipy layout
        y, _ = _sps.sosfilt(sos, x, axis=-1, zi=np.moveaxis(zi, 1, 0))
        return np.asarray(y)
    _SOSFILT(sos, x, np.ascontiguousarray(zi))
    return x


def _forward_backward(sos: np.ndarray, zi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Forward then backward ``sosfilt`` of the rows of a fresh C-contiguous float64 2-D
    array (consumed), each pass started at ``zi`` times its first sample."""
    x = np.ascontiguousarray(x)  # no copy when it already is
    y = _sosfilt_rows(sos, x, zi[None, :, :] * x[:, :1, None])
    y = np.ascontiguousarray(y[:, ::-1])
    y = _sosfilt_rows(sos, y, zi[None, :, :] * y[:, :1, None])
    return y[:, ::-1]


def zero_phase_steady(x: np.ndarray, order: int, cut_hz: Band, btype: str, fs_hz: float) -> np.ndarray:
    """Forward-backward filtering along the last axis (one signal, or one per row), each
    pass started in steady state (no padding: cheaper than ``sosfiltfilt`` and free of its
    edge transients). Row by row the same arithmetic as filtering each row alone."""
    x = np.asarray(x, dtype=np.float64)
    if order <= 2 and btype in ("lowpass", "highpass"):
        b, a, zi = butter_tf(order, cut_hz, btype, fs_hz)
        y, _ = _sps.lfilter(b, a, x, axis=-1, zi=zi * x[..., :1])
        y, _ = _sps.lfilter(b, a, y[..., ::-1], axis=-1, zi=zi * y[..., -1:])
        return y[..., ::-1]
    rows = np.array(x.reshape(-1, x.shape[-1]), order="C")  # a copy: filtered in place
    y = _forward_backward(butter_sos(order, cut_hz, btype, fs_hz), butter_sos_zi(order, cut_hz, btype, fs_hz), rows)
    return y.reshape(x.shape)


def zero_phase(x: np.ndarray, order: int, cut_hz: Band, btype: str, fs_hz: float, *, axis: int = 0,
               padlen: int | None = None) -> np.ndarray:
    """``scipy.signal.sosfiltfilt`` (odd padding at the ends) with the cached design.

    The same arithmetic as ``sosfiltfilt``, along ``axis`` of an array of any shape,
    without re-solving for the initial conditions on every call; several leads are
    filtered in one pass along the last (contiguous) axis.
    """
    sos = butter_sos(order, cut_hz, btype, fs_hz)
    x = np.asarray(x, dtype=np.float64)
    moved = x.ndim > 1 and axis not in (-1, x.ndim - 1)
    if moved:
        x = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    shape = x.shape
    taps = 2 * sos.shape[0] + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * taps if padlen is None else int(padlen)
    if shape[-1] <= edge:
        raise ValueError(f"the signal ({shape[-1]} samples) must be longer than the padding ({edge})")
    rows = x.reshape(-1, shape[-1])
    if edge > 0:
        ext = np.concatenate((2 * rows[:, :1] - rows[:, edge:0:-1], rows,
                              2 * rows[:, -1:] - rows[:, -2 : -(edge + 2) : -1]), axis=1)
    else:
        ext = np.array(rows, order="C")  # a copy: filtered in place
    y = _forward_backward(sos, butter_sos_zi(order, cut_hz, btype, fs_hz), ext)
    if edge > 0:
        y = y[:, edge:-edge]
    y = y.reshape(shape)
    return np.moveaxis(y, -1, axis) if moved else y
