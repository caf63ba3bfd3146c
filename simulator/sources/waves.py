"""Beat shapes, rhythms and artefacts for synthetic single-lead ECG (all in mV, seconds).

Each beat is a sum of Gaussian bumps (P, Q, R, S, T) placed around its R peak, in the
spirit of the dynamical model of McSharry et al. (2003), but evaluated directly from a
list of beat times, which keeps the R-peak positions exactly known. QT follows Bazett
(QT = QTc * sqrt(RR)) so T waves move with the rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal as sp_signal

__all__ = [
    "Wave",
    "SINUS_BEAT",
    "PVC_BEAT",
    "beat_waves",
    "sinus_rr_s",
    "af_rr_s",
    "render_beats",
    "f_waves_mv",
    "baseline_wander_mv",
    "mains_hum_mv",
    "muscle_noise_mv",
]

#: corrected QT interval used for T-wave placement (s)
_QTC_S = 0.40


@dataclass(frozen=True)
class Wave:
    """One Gaussian component of a beat: centre relative to the R peak, height, width."""

    offset_s: float
    amplitude_mv: float
    width_s: float


#: a normal conducted beat (lead I-like, as between two fingers), T placed separately
SINUS_BEAT = (
    Wave(-0.165, 0.12, 0.022),  # P
    Wave(-0.028, -0.10, 0.009),  # Q
    Wave(0.0, 1.00, 0.010),  # R
    Wave(0.030, -0.22, 0.011),  # S
)
#: a premature ventricular beat: no P, wide tall QRS, discordant T
PVC_BEAT = (
    Wave(-0.020, 0.35, 0.030),
    Wave(0.030, 1.35, 0.032),
    Wave(0.095, -0.45, 0.030),
)
_SINUS_T = Wave(0.0, 0.28, 0.050)
_PVC_T = Wave(0.0, -0.45, 0.070)


def beat_waves(rr_s: float, *, ventricular: bool, with_p: bool) -> tuple[Wave, ...]:
    """The waves of one beat whose preceding RR interval is ``rr_s`` seconds."""
    qt_s = _QTC_S * math.sqrt(max(rr_s, 0.25))
    if ventricular:
        t_wave = _PVC_T
        return PVC_BEAT + (Wave(qt_s - 0.08, t_wave.amplitude_mv, t_wave.width_s),)
    waves = SINUS_BEAT if with_p else SINUS_BEAT[1:]
    return waves + (Wave(qt_s - 0.12, _SINUS_T.amplitude_mv, _SINUS_T.width_s),)


def sinus_rr_s(
    duration_s: float, hr_bpm: float, hrv_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """RR intervals of sinus rhythm with respiratory and Mayer-wave modulation.

    Parameters
    ----------
    duration_s : float
        Time to cover, s.
    hr_bpm : float
        Mean heart rate.
    hrv_fraction : float
        Size of the RR modulation relative to the mean RR (e.g. 0.04).
    rng : numpy.random.Generator
        Source of the small random part and the phases.
    """
    rr0_s = 60.0 / hr_bpm
    phase_resp, phase_mayer = rng.uniform(0, 2 * math.pi, size=2)
    out: list[float] = []
    t_s = 0.0
    while t_s < duration_s + 2.0:
        modulation = (
            0.6 * math.sin(2 * math.pi * 0.25 * t_s + phase_resp)
            + 0.4 * math.sin(2 * math.pi * 0.1 * t_s + phase_mayer)
        )
        rr_s = rr0_s * (1.0 + hrv_fraction * modulation + 0.25 * hrv_fraction * rng.standard_normal())
        rr_s = max(rr_s, 0.25)
        out.append(rr_s)
        t_s += rr_s
    return np.asarray(out)


def af_rr_s(duration_s: float, hr_bpm: float, rng: np.random.Generator) -> np.ndarray:
    """Irregularly irregular RR intervals of atrial fibrillation (no two alike)."""
    rr0_s = 60.0 / hr_bpm
    out: list[float] = []
    t_s = 0.0
    while t_s < duration_s + 2.0:
        rr_s = max(0.28, rr0_s * rng.uniform(0.55, 1.5))
        out.append(rr_s)
        t_s += rr_s
    return np.asarray(out)


def render_beats(
    beat_times_s: np.ndarray,
    rr_s: np.ndarray,
    ventricular: np.ndarray,
    *,
    with_p: bool,
    n_samples: int,
    fs_hz: float,
    amplitude_scale: float,
) -> np.ndarray:
    """Sum the beats placed at ``beat_times_s`` (R peaks, s) into a signal in mV."""
    out = np.zeros(n_samples)
    half_window = int(0.7 * fs_hz)
    for r_s, rr, is_pvc in zip(beat_times_s, rr_s, ventricular, strict=True):
        centre = int(round(r_s * fs_hz))
        lo, hi = max(0, centre - half_window), min(n_samples, centre + half_window)
        if lo >= hi:
            continue
        t_s = np.arange(lo, hi) / fs_hz - r_s
        for wave in beat_waves(float(rr), ventricular=bool(is_pvc), with_p=with_p):
            out[lo:hi] += wave.amplitude_mv * np.exp(-0.5 * ((t_s - wave.offset_s) / wave.width_s) ** 2)
    return out * amplitude_scale


def f_waves_mv(n_samples: int, fs_hz: float, amplitude_mv: float, rng: np.random.Generator) -> np.ndarray:
    """Fibrillatory waves: 4-8 Hz with slowly wandering frequency and amplitude."""
    t_s = np.arange(n_samples) / fs_hz
    freq_hz = 6.0 + 1.2 * np.sin(2 * math.pi * 0.07 * t_s + rng.uniform(0, 2 * math.pi))
    phase = 2 * math.pi * np.cumsum(freq_hz) / fs_hz + rng.uniform(0, 2 * math.pi)
    envelope = 1.0 + 0.4 * np.sin(2 * math.pi * 0.21 * t_s + rng.uniform(0, 2 * math.pi))
    return amplitude_mv * envelope * (np.sin(phase) + 0.35 * np.sin(2 * phase + 1.0))


def baseline_wander_mv(n_samples: int, fs_hz: float, amplitude_mv: float, rng: np.random.Generator) -> np.ndarray:
    """Slow drift (breathing, finger pressure): a few sinusoids between 0.05 and 0.5 Hz."""
    t_s = np.arange(n_samples) / fs_hz
    out = np.zeros(n_samples)
    for freq_hz, weight in ((0.07, 0.5), (0.22, 0.35), (0.45, 0.15)):
        out += weight * np.sin(2 * math.pi * freq_hz * t_s + rng.uniform(0, 2 * math.pi))
    return amplitude_mv * out


def mains_hum_mv(n_samples: int, fs_hz: float, amplitude_mv: float, hum_hz: float) -> np.ndarray:
    """Power-line interference at ``hum_hz`` (aliased if above Nyquist, as a real ADC would)."""
    t_s = np.arange(n_samples) / fs_hz
    return amplitude_mv * np.sin(2 * math.pi * hum_hz * t_s)


def muscle_noise_mv(n_samples: int, fs_hz: float, rms_mv: float, rng: np.random.Generator) -> np.ndarray:
    """Electromyographic noise: band-limited (20 Hz to 0.45 fs) Gaussian noise of given RMS."""
    if rms_mv <= 0 or n_samples < 32:
        return np.zeros(n_samples)
    white = rng.standard_normal(n_samples)
    high_hz = min(150.0, 0.45 * fs_hz)
    from ecg.filters import butter_sos

    band = np.asarray(sp_signal.sosfilt(butter_sos(2, (20.0, high_hz), "bandpass", fs_hz), white))
    band_rms = float(np.sqrt(np.mean(band**2))) or 1.0
    # bursts: the grip tightens and relaxes
    t_s = np.arange(n_samples) / fs_hz
    bursts = 0.6 + 0.4 * np.abs(np.sin(2 * math.pi * 0.13 * t_s + rng.uniform(0, 2 * math.pi)))
    return rms_mv * bursts * band / band_rms
