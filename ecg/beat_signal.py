"""The R-peak detector's views of one lead: its 0.5–40 Hz band and its QRS envelope.

:func:`detector_band` is the 0.5–40 Hz zero-phase view (order 2, steady-state start) every
beat-level step reads (``ecg.context.LeadContext.wide_mv``); :func:`band_envelope` of it
is the QRS envelope (:func:`qrs_envelope`: RMS slope of the 5 Hz high-passed band over
100 ms, linear in amplitude), from which :mod:`ecg.beats` picks its candidates and
:mod:`ecg.unreadable` judges noise.

Examples
--------
>>> import numpy as np
>>> x = np.zeros(1000); x[500] = 1.0
>>> env = qrs_envelope(x, 250.0)
>>> int(np.argmax(env)) in range(490, 511), env.shape
(True, (1000,))
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import median_filter

from ecg.errors import SignalError
from ecg.filters import zero_phase_steady
from ecg.preprocess import check_signal

__all__ = ["MIN_DURATION_S", "as_one_lead", "detector_band", "detector_bands", "band_envelope", "qrs_envelope",
           "odd_width", "wide_band", "envelope_of", "noise_background", "background_step", "background_reaches"]

#: Shortest signal the detector accepts (s).
MIN_DURATION_S = 1.0

_QRS_HIGHPASS_HZ = 5.0
_WIDE_BAND_HZ = (0.5, 40.0)
_ENVELOPE_S = 0.10
_BACKGROUND_HALF_S = 1.0  # the noise background: median envelope over ±1 s
_BACKGROUND_RATE_HZ = 10.0  # computed on a 10 Hz grid


def wide_band(x: np.ndarray, fs_hz: float) -> np.ndarray:
    """The detector's 0.5–40 Hz zero-phase view (order 2, steady-state start) of one
    lead, or of each row of ``(n_leads, n_samples)``, without input checks."""
    low, high = _WIDE_BAND_HZ
    return zero_phase_steady(x - x[..., :1], 2, (low, min(high, 0.45 * fs_hz)), "bandpass", fs_hz)


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of odd ``width`` along the last axis (of one signal or of
    each row); near the ends, over the samples present."""
    half = width // 2
    n = x.shape[-1]
    c = np.empty(x.shape[:-1] + (n + 2 * half + 1,))  # running sum over half zeros, x, half zeros
    c[..., : half + 1] = 0.0
    np.cumsum(x, axis=-1, out=c[..., half + 1 : half + 1 + n])
    c[..., half + 1 + n :] = c[..., half + n : half + n + 1]
    out = c[..., width:] - c[..., :-width]
    if n <= 2 * half:
        idx = np.arange(n)
        return out / (np.minimum(idx + half, n - 1) - np.maximum(idx - half, 0) + 1)
    out /= width
    edge = _edge_shares(width)  # share of the window inside the signal
    out[..., :half] /= edge
    out[..., n - half :] /= edge[::-1]
    return out


@lru_cache(maxsize=16)
def _edge_shares(width: int) -> np.ndarray:
    """``np.arange(width // 2 + 1, width) / width``: the share of a centred ``width``-sample
    window inside the signal at its first samples (cached, read-only)."""
    edge = np.arange(width // 2 + 1, width) / width
    edge.setflags(write=False)
    return edge


def odd_width(n: float) -> int:
    """``n`` samples rounded to an odd window width (at least 1)."""
    k = max(1, int(round(n)))
    return k if k % 2 else k + 1


def as_one_lead(sig_mv: np.ndarray) -> np.ndarray:
    """One lead as a float64 1-D array (``(n,)`` or ``(n, 1)`` accepted)."""
    x = np.asarray(sig_mv, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise SignalError(f"expected one lead (1-D), got shape {x.shape}", reason="bad_shape")
    return x


def envelope_of(wide: np.ndarray, fs: float) -> np.ndarray:
    """RMS slope of the QRS band, from the 0.5–40 Hz signal (5 Hz high-pass on top), of one
    lead or of each row of ``(n_rows, n_samples)`` (row by row the same arithmetic), without
    input checks."""
    qrs = zero_phase_steady(wide, 2, _QRS_HIGHPASS_HZ, "highpass", fs)
    power = np.empty_like(qrs)  # squared first difference (0 at the first sample)
    power[..., 0] = 0.0
    np.subtract(qrs[..., 1:], qrs[..., :-1], out=power[..., 1:])
    np.multiply(power, power, out=power)
    mean_power = _moving_average(power, odd_width(_ENVELOPE_S * fs))  # a fresh array
    return np.sqrt(mean_power, out=mean_power)


def qrs_envelope(sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """The detector's QRS envelope: RMS slope (mV per sample) of the 5–30 Hz band, 100 ms.

    Parameters
    ----------
    sig_mv : numpy.ndarray
        One lead in mV.
    fs_hz : float
        Sample rate (Hz).

    Returns
    -------
    numpy.ndarray
        Same length as the signal; high over QRS complexes, low elsewhere.
    """
    return band_envelope(detector_band(sig_mv, fs_hz), fs_hz)


def detector_band(sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """The detector's 0.5–40 Hz zero-phase view of one lead in mV at ``fs_hz`` (order 2,
    steady-state start); :func:`band_envelope` of it is :func:`qrs_envelope`."""
    x, fs = check_signal(as_one_lead(sig_mv), fs_hz, min_duration_s=MIN_DURATION_S)
    return wide_band(x, fs)


def detector_bands(leads_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """:func:`detector_band` of every row of ``(n_leads, n_samples)`` in one filter pass
    (row by row the same arithmetic as one lead alone)."""
    x = np.asarray(leads_mv, dtype=np.float64)
    if x.ndim != 2:
        raise SignalError(f"expected (n_leads, n_samples), got shape {x.shape}", reason="bad_shape")
    check_signal(x.T, fs_hz, min_duration_s=MIN_DURATION_S)
    return wide_band(x, float(fs_hz))


def band_envelope(wide_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """:func:`qrs_envelope` of a signal already in the detector's band (:func:`detector_band`)."""
    return envelope_of(np.asarray(wide_mv, dtype=np.float64), float(fs_hz))



def background_step(fs_hz: float) -> int:
    """Samples per point of :func:`noise_background`'s 10 Hz grid."""
    return max(1, int(fs_hz / _BACKGROUND_RATE_HZ))


def noise_background(envelope: np.ndarray, fs_hz: float, samples: np.ndarray | None = None,
                     rows: np.ndarray | None = None) -> np.ndarray:
    """The envelope's noise background: its median over ±1 s, on a 10 Hz grid.

    One definition for the detector (a candidate must stand out of it; a *noisy stretch*)
    and for :mod:`ecg.unreadable`: ``scipy.ndimage.median_filter(envelope[::step], size,
    mode="mirror")`` with ``step`` = :func:`background_step` and ``size`` the odd number of
    grid points in 2 s.

    Parameters
    ----------
    envelope : numpy.ndarray
        A QRS envelope (:func:`band_envelope`), 1-D, non-empty; or one per row of a 2-D
        array, read with ``rows``.
    fs_hz : float
        Its sample rate (Hz).
    samples : numpy.ndarray, optional
        Sample indices at which to read it (the grid point at or before each); every grid
        point when None (1-D ``envelope`` only).
    rows : numpy.ndarray, optional
        With a 2-D ``envelope``: the row of each of ``samples`` (each row's background is
        its own, as if alone).

    Returns
    -------
    numpy.ndarray
        The background at ``samples`` (or at each grid point ``k * step``).
    """
    step = background_step(fs_hz)
    coarse = envelope[..., ::step]
    size = odd_width(2 * _BACKGROUND_HALF_S * fs_hz / step)
    half = size // 2
    width = coarse.shape[-1]
    at = None if samples is None else np.minimum(samples // step, width - 1)
    if width <= half:  # windows reach past one reflection: ndimage's own rule
        full = median_filter(coarse, size=(1, size) if rows is not None else size, mode="mirror")
        if at is None:
            return full
        return full[at] if rows is None else full[rows, at]
    # median_filter(mode="mirror") read at those points only: their windows of the mirrored
    # coarse envelope (of each row), one partial sort
    mirrored = np.concatenate((coarse[..., half:0:-1], coarse, coarse[..., -2 : -half - 2 : -1]), axis=-1)
    if rows is not None and at is not None:
        at = at + rows * mirrored.shape[1]
        mirrored = mirrored.ravel()
    step_bytes = mirrored.strides[-1]  # every window of the (flat, contiguous) mirrored envelope, as a view
    every = np.ndarray((mirrored.size - size + 1, size), mirrored.dtype, mirrored, 0, (step_bytes, step_bytes))
    windows = every[:width].copy() if at is None else every[at]
    windows.partition(half, axis=1)
    return windows[:, half]


def background_reaches(envelope: np.ndarray, fs_hz: float, threshold: float) -> np.ndarray:
    """``noise_background(envelope, fs_hz) >= threshold`` at every grid point (1-D envelope),
    without the medians: a window's median (its middle value; the window is odd) reaches the
    threshold exactly when more than half of its values do, so one running count of the
    values that reach it replaces a partial sort of every window (the same flags).

    Examples
    --------
    >>> env = np.r_[np.zeros(50), np.ones(50)]
    >>> bool((background_reaches(env, 100.0, 0.5) == (noise_background(env, 100.0) >= 0.5)).all())
    True
    """
    step = background_step(fs_hz)
    size = odd_width(2 * _BACKGROUND_HALF_S * fs_hz / step)
    half = size // 2
    above = envelope[::step] >= threshold
    width = above.size
    if width <= half:  # windows reach past one reflection: the medians themselves (ndimage's rule)
        return noise_background(envelope, fs_hz) >= threshold
    # the mirrored grid of noise_background (mode "mirror"), counted
    mirrored = np.concatenate((above[half:0:-1], above, above[-2 : -half - 2 : -1]))
    count = np.empty(mirrored.size + 1, dtype=np.intp)
    count[0] = 0
    np.cumsum(mirrored, out=count[1:])
    return count[size:] - count[:width] > half
