"""Atrial activity of one lead without a delineator: P-wave evidence and fibrillatory waves.

Atrial fibrillation replaces the P wave, which is locked to the next QRS complex, by
fibrillatory ("f") waves at 4–9 Hz that keep going regardless of the ventricles. So in the
stretch before each QRS complex (:data:`PRE_QRS_S`), averaged over the recording's beats,

- a **P wave** survives averaging: the beats' pre-QRS windows (each minus its least-squares
  line) correlate with their mean (``p_corr``), most of their energy is the mean's
  (``p_locked_share``), and the mean has a P-sized bump (``log_p_rel``, its peak-to-peak
  over the QRS amplitude);
- **f waves** do not: what is left after subtracting the mean window (the unlocked part,
  a QRST cancellation restricted to the stretch where the atria show) is large
  (``log_f_rel``, its 3–12 Hz RMS over the QRS amplitude) and has a spectral peak in
  3–12 Hz (``f_dominant_hz``) holding a large share of the band's power
  (``f_organisation``, the share within ±1.5 Hz of the peak).

Everything is read from what the analysis context (:class:`ecg.context.LeadContext`)
already holds: its 0.5–40 Hz view ``wide_mv`` and its ``r_peaks``; nothing is filtered or
detected again. Cost: one gather and two small matrix products per recording (the band's
spectrum is a DFT on a 0.5 Hz grid, not an FFT; the pre-QRS stretch is read at ~100 Hz).

Examples
--------
>>> import numpy as np
>>> fs = 300.0
>>> r = np.arange(150, 9000, 240)
>>> x = np.zeros(9000); x[r] = 1.0  # spikes only: no atrial activity at all
>>> f = atrial_features(x, r, fs)
>>> dict(zip(FEATURE_NAMES, f.round(2).tolist()))["log_f_rel"] <= -5
True
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ecg.delineation.vec import median1d

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.context import LeadContext

__all__ = ["FEATURE_NAMES", "ABSENT", "MIN_BEATS", "PRE_QRS_S", "F_BAND_HZ", "atrial_features", "context_features"]

#: names of the features, in the order :func:`atrial_features` returns them
FEATURE_NAMES: tuple[str, ...] = ("p_corr", "p_locked_share", "log_p_rel", "log_f_rel", "f_dominant_hz",
                                  "f_organisation")
#: the pre-QRS stretch, seconds relative to the R peak (P waves of PR intervals up to ~0.3 s)
PRE_QRS_S = (-0.35, -0.07)
#: half width of the QRS complex for its amplitude, seconds
QRS_HALF_S = 0.06
#: the fibrillatory band, Hz
F_BAND_HZ = (3.0, 12.0)
#: half width of the organisation window around the spectral peak, Hz
PEAK_HALF_HZ = 1.5
#: fewer beats with a full pre-QRS window than this: no atrial numbers (:data:`ABSENT`)
MIN_BEATS = 6
#: floor of the relative amplitudes before the log
REL_FLOOR = 1e-3
#: the features when there are too few beats: no P wave, no f waves (the least informative)
ABSENT = np.array([0.0, 0.0, math.log(REL_FLOOR), math.log(REL_FLOOR), 0.0, 0.0])
#: frequency step of the spectrum in the fibrillatory band, Hz
GRID_STEP_HZ = 0.5


#: the pre-QRS stretch is read on a grid of at least this rate (Hz): every k-th sample of the
#: 0.5–40 Hz view, enough for the 3–12 Hz band and a P wave, and k times cheaper
GRID_RATE_HZ = 100.0


@lru_cache(maxsize=16)
def _offsets(fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample offsets from the R peak of a beat's pre-QRS stretch (every k-th sample,
    :data:`GRID_RATE_HZ`) and of its QRS complex (every sample)."""
    step = max(1, int(fs_hz // GRID_RATE_HZ))
    lo, hi = (int(round(s * fs_hz)) for s in PRE_QRS_S)
    half = max(1, int(round(QRS_HALF_S * fs_hz)))
    pre, qrs = np.arange(lo, hi, step), np.arange(-half, half + 1)
    for a in (pre, qrs):
        a.setflags(write=False)
    return pre, qrs


@lru_cache(maxsize=16)
def _trend_basis(n: int) -> np.ndarray:
    """Orthonormal ``(n, 2)`` basis of a constant and a line over ``n`` samples."""
    t = np.arange(n) - (n - 1) / 2.0
    basis = np.column_stack([np.full(n, 1.0 / math.sqrt(n)), t / math.sqrt(float(t @ t))])
    basis.setflags(write=False)
    return basis


@lru_cache(maxsize=16)
def _band_dft(n: int, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """``(freqs_hz, basis)``: the tapered DFT of ``n`` samples at ``rate_hz`` on the
    :data:`F_BAND_HZ` grid (:data:`GRID_STEP_HZ`) as one real ``(n, 2 * k)`` matrix (cosine
    then sine columns); the periodic Hann taper is scaled to unit mean square."""
    freqs = np.arange(F_BAND_HZ[0], F_BAND_HZ[1] + GRID_STEP_HZ / 2, GRID_STEP_HZ)
    taper = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    taper /= math.sqrt(float(np.mean(taper * taper)))
    phase = 2.0 * np.pi * np.arange(n)[:, None] * freqs[None, :] / rate_hz
    basis = np.ascontiguousarray(np.hstack([np.cos(phase), np.sin(phase)]) * taper[:, None])
    for a in (freqs, basis):
        a.setflags(write=False)
    return freqs, basis


def _windows(wide_mv: np.ndarray, r_peaks: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float] | None:
    """Detrended pre-QRS windows ``(beats, m)`` on the grid (each minus its least-squares line:
    what is left of the baseline and of a T wave's slope would otherwise leak into the band's
    lowest frequencies) and the median QRS amplitude (mV), or None."""
    pre_at, qrs_at = _offsets(fs_hz)
    a, b = np.searchsorted(r_peaks, (-pre_at[0], wide_mv.size - qrs_at[-1]))
    r = r_peaks[a:b, None]
    if r.shape[0] < MIN_BEATS or pre_at.size < 8:
        return None
    qrs = wide_mv[r + qrs_at]
    amp = median1d(qrs.max(axis=1) - qrs.min(axis=1))
    pre = wide_mv[r + pre_at]
    basis = _trend_basis(pre.shape[1])
    return pre - (pre @ basis) @ basis.T, amp


def _band_power(unlocked: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """``(freqs_hz, power)``: the rows' mean tapered power spectrum on the band's grid, scaled
    so that ``2 * step / rate * power.sum()`` is the band's mean square."""
    freqs, basis = _band_dft(unlocked.shape[1], rate_hz)
    z = unlocked @ basis
    z *= z
    k = freqs.size
    power = (z[:, :k] + z[:, k:]).sum(axis=0) / (unlocked.shape[0] * unlocked.shape[1])
    return freqs, power


def atrial_features(wide_mv: np.ndarray, r_peaks: np.ndarray, fs_hz: float) -> np.ndarray:
    """The atrial-activity features of one lead (order :data:`FEATURE_NAMES`).

    Parameters
    ----------
    wide_mv : np.ndarray
        The lead's 0.5–40 Hz view in millivolts (:attr:`ecg.context.LeadContext.wide_mv`).
    r_peaks : np.ndarray
        Its R-peak sample indices, increasing (:attr:`ecg.context.LeadContext.r_peaks`).
    fs_hz : float
        Sample rate (Hz).

    Returns
    -------
    np.ndarray
        ``(6,)`` floats: ``p_corr`` (median correlation of a beat's pre-QRS window with the
        mean window, −1…1), ``p_locked_share`` (energy of the mean window over the windows'
        mean energy, 0…1), ``log_p_rel`` (log of the mean window's peak-to-peak over the QRS
        amplitude), ``log_f_rel`` (log of the unlocked part's 3–12 Hz RMS over the QRS
        amplitude), ``f_dominant_hz`` (its spectral peak in 3–12 Hz) and ``f_organisation``
        (share of the 3–12 Hz power within ±1.5 Hz of the peak). :data:`ABSENT` with fewer
        than :data:`MIN_BEATS` beats or a flat QRS.
    """
    got = _windows(np.asarray(wide_mv, dtype=np.float64), np.asarray(r_peaks, dtype=np.int64), float(fs_hz))
    if got is None or not got[1] > 0:
        return ABSENT.copy()
    pre, amp = got
    rate_hz = float(fs_hz) / max(1, int(float(fs_hz) // GRID_RATE_HZ))
    mean_window = pre.sum(axis=0) / pre.shape[0]
    energy = np.einsum("ij,ij->i", pre, pre)
    m_energy = float(mean_window @ mean_window)
    den = np.sqrt(energy * m_energy)
    corr = (pre @ mean_window) / np.maximum(den, 1e-300)
    mean_energy = float(energy.sum()) / energy.size
    locked = m_energy / mean_energy if mean_energy > 0 else 0.0
    freqs, power = _band_power(pre - mean_window, rate_hz)
    total = float(power.sum())
    peak = int(np.argmax(power))
    near = int(round(PEAK_HALF_HZ / GRID_STEP_HZ))
    organisation = float(power[max(0, peak - near) : peak + near + 1].sum()) / total if total > 0 else 0.0
    f_rms = math.sqrt(2.0 * GRID_STEP_HZ / rate_hz * total)
    p_rel = float(mean_window.max() - mean_window.min()) / amp
    return np.array([median1d(corr), min(locked, 1.0), math.log(max(p_rel, REL_FLOOR)),
                     math.log(max(f_rms / amp, REL_FLOOR)), float(freqs[peak]) if total > 0 else 0.0, organisation])


def context_features(ctx: LeadContext) -> np.ndarray:
    """:func:`atrial_features` of an analysis context's ``wide_mv`` and ``r_peaks`` (computed
    once by the context and reused here)."""
    return atrial_features(ctx.wide_mv, ctx.r_peaks, ctx.fs_hz)
