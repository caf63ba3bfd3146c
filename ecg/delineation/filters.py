"""Signal views used by the delineator: band-limited signal and scale-space slopes.

The delineator works on one lead in millivolts at its own sample rate; every width is
given in seconds and converted here, so the same code serves 300 Hz (CinC) and 500 Hz
(LUDB) records. Slopes are derivatives of Gaussian-smoothed signals, a single-scale
relative of the dyadic wavelet transform used by Martínez et al. (2004): a small scale
for the QRS complex, larger ones for the P and T waves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ecg.filters import zero_phase

__all__ = ["LeadViews", "make_views", "make_views_many", "HIGHPASS_HZ", "LOWPASS_HZ"]

#: baseline-wander corner of the zero-phase high-pass filter
HIGHPASS_HZ = 0.5
#: corner of the zero-phase low-pass filter (mains and EMG)
LOWPASS_HZ = 40.0

#: Gaussian scales (standard deviation, seconds) of the slope signals
_SIGMA_QRS_S = 0.004
_SIGMA_WAVE_S = 0.012
_SIGMA_T_S = 0.020


@dataclass(frozen=True)
class LeadViews:
    """Filtered views of one lead (all arrays share the input's length).

    Attributes
    ----------
    clean_mv : band-limited signal (0.5–40 Hz, zero phase), mV.
    smooth_mv : ``clean_mv`` smoothed at the P/T scale, mV.
    slope_qrs : slope at the QRS scale, mV/s.
    slope_wave : slope at the P-wave scale, mV/s.
    slope_t : slope at the T-wave scale, mV/s.
    fs_hz : sample rate, Hz.
    """

    clean_mv: np.ndarray
    smooth_mv: np.ndarray
    slope_qrs: np.ndarray
    slope_wave: np.ndarray
    slope_t: np.ndarray
    fs_hz: float

    @property
    def abs_slope_qrs(self) -> np.ndarray:
        """``|slope_qrs|``, computed once per lead."""
        return self._abs("slope_qrs")

    @property
    def abs_slope_wave(self) -> np.ndarray:
        """``|slope_wave|``, computed once per lead."""
        return self._abs("slope_wave")

    @property
    def abs_slope_t(self) -> np.ndarray:
        """``|slope_t|``, computed once per lead."""
        return self._abs("slope_t")

    def _abs(self, name: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_abs_cache", {})
        if name not in cache:
            cache[name] = np.abs(getattr(self, name))
        return cache[name]  # type: ignore[no-any-return]


def _band_limit(x_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    y = zero_phase(x_mv, 2, HIGHPASS_HZ, "highpass", fs_hz)
    if fs_hz > 2.2 * LOWPASS_HZ:
        y = zero_phase(y, 4, LOWPASS_HZ, "lowpass", fs_hz)
    return np.asarray(y, dtype=np.float64)


def make_views(x_mv: np.ndarray, fs_hz: float) -> LeadViews:
    """Build the filtered views of one lead.

    Parameters
    ----------
    x_mv : numpy.ndarray
        One lead, shape ``(n_samples,)``, millivolts, finite.
    fs_hz : float
        Sample rate in Hz.

    Returns
    -------
    LeadViews
    """
    return make_views_many(np.asarray(x_mv, dtype=np.float64)[:, None], fs_hz)[0]


def make_views_many(x_mv: np.ndarray, fs_hz: float) -> list[LeadViews]:
    """:func:`make_views` of every column of ``(n_samples, n_leads)`` at once: each filter
    runs once over all leads (the same arithmetic per lead, so the same views)."""
    x = np.asarray(x_mv, dtype=np.float64)
    clean = _band_limit(x[:, 0], fs_hz)[:, None] if x.shape[1] == 1 else _band_limit(x, fs_hz)

    def gauss(sigma_s: float, order: int) -> np.ndarray:
        y = gaussian_filter1d(clean, max(sigma_s * fs_hz, 0.8), axis=0, order=order)
        return np.asarray(y * fs_hz if order else y)

    smooth, s_qrs, s_wave, s_t = gauss(_SIGMA_WAVE_S, 0), gauss(_SIGMA_QRS_S, 1), gauss(_SIGMA_WAVE_S, 1), gauss(_SIGMA_T_S, 1)
    col = np.ascontiguousarray
    return [
        LeadViews(clean_mv=col(clean[:, j]), smooth_mv=col(smooth[:, j]), slope_qrs=col(s_qrs[:, j]),
                  slope_wave=col(s_wave[:, j]), slope_t=col(s_t[:, j]), fs_hz=float(fs_hz))
        for j in range(x.shape[1])
    ]
