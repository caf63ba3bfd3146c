"""Welch's power spectral density of one signal or of each row of a matrix, in one pass.

:func:`welch_psd` gives what ``scipy.signal.welch(x, fs, nperseg=nperseg)`` gives (tested
equal in ``tests/ecg/test_context.py``) with every segment transformed in one call; the
quality gate's high-frequency noise ratio (:mod:`ecg.quality`) reads it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as _sps


def welch_psd(x: np.ndarray, fs_hz: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch's power spectral density, as ``scipy.signal.welch(x, fs, nperseg=nperseg)``
    (periodic Hann window, half overlap, mean removed per segment, one-sided density),
    with every segment transformed in one call instead of one by one; along the last axis
    of one signal or of each row of ``(leads, n)`` (C-contiguous)."""
    step = nperseg - nperseg // 2
    n_seg = (x.shape[-1] - nperseg // 2) // step
    win = _hann(nperseg)
    shape = x.shape[:-1] + (n_seg, nperseg)
    strides = x.strides[:-1] + (step * x.strides[-1], x.strides[-1])
    segs = np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    spec = np.fft.rfft((segs - segs.mean(axis=-1, keepdims=True)) * win, axis=-1)
    p = (spec.real**2 + spec.imag**2).mean(axis=-2) / (fs_hz * float(win @ win))
    p[..., 1 : -1 if nperseg % 2 == 0 else None] *= 2.0
    return np.fft.rfftfreq(nperseg, 1.0 / fs_hz), p


@lru_cache(maxsize=16)
def _hann(nperseg: int) -> np.ndarray:
    """The periodic Hann window scipy's Welch uses (read-only, once per length)."""
    win = np.asarray(_sps.get_window("hann", nperseg), dtype=np.float64)
    win.setflags(write=False)
    return win
