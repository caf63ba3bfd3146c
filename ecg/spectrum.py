"""Welch's power spectral density of one signal or of each row of a matrix, in one pass.

:func:`welch_psd` gives what ``scipy.signal.welch(x, fs, nperseg=nperseg)`` gives (tested
equal in ``tests/ecg/test_context.py``) with every segment transformed in one call; the
quality gate's high-frequency noise ratio (:mod:`ecg.quality_signal`) reads its density
(:func:`welch_density`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as _sps


def welch_psd(x: np.ndarray, fs_hz: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch's power spectral density, as ``scipy.signal.welch(x, fs, nperseg=nperseg)``
    (periodic Hann window, half overlap, mean removed per segment, one-sided density),
    with every segment transformed in one call instead of one by one; along the last axis
    of one signal or of each row of ``(leads, n)``: ``(frequencies_hz, density)``."""
    return np.fft.rfftfreq(nperseg, 1.0 / fs_hz), welch_density(x, fs_hz, nperseg)


def welch_density(x: np.ndarray, fs_hz: float, nperseg: int) -> np.ndarray:
    """:func:`welch_psd`'s density alone (the frequencies are ``np.fft.rfftfreq(nperseg, 1 / fs_hz)``)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    step = nperseg - nperseg // 2
    n_seg = (x.shape[-1] - nperseg // 2) // step
    win, win_power = _hann(nperseg)
    shape = x.shape[:-1] + (n_seg, nperseg)
    strides = x.strides[:-1] + (step * x.strides[-1], x.strides[-1])
    segs = np.ndarray(shape, np.float64, x, 0, strides)  # overlapping segments: a view (as_strided's)
    demeaned = segs - np.add.reduce(segs, axis=-1, keepdims=True) / nperseg  # segs.mean's arithmetic
    demeaned *= win
    spec = np.fft.rfft(demeaned, axis=-1)
    squares = spec.view(np.float64)  # real and imaginary parts interleaved
    squares *= squares
    power = squares[..., 0::2] + squares[..., 1::2]  # spec.real**2 + spec.imag**2
    p = np.add.reduce(power, axis=-2) / n_seg  # .mean(axis=-2)
    p /= fs_hz * win_power
    p[..., 1 : -1 if nperseg % 2 == 0 else None] *= 2.0
    return p


@lru_cache(maxsize=16)
def _hann(nperseg: int) -> tuple[np.ndarray, float]:
    """The periodic Hann window scipy's Welch uses (read-only) and its power ``win @ win``,
    once per length."""
    win = np.asarray(_sps.get_window("hann", nperseg), dtype=np.float64)
    win.setflags(write=False)
    return win, float(win @ win)
