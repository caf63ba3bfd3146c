"""Synthetic single-lead ECGs with known beats for the R-peak stress set.

Each beat is a sum of Gaussian waves (P, Q, R, S, T; widths and lags in seconds). Beat
kinds: ``N`` normal, ``V`` premature ventricular (no P, wide, opposite T; amplitude set
per call), ``P`` paced (a 2-ms pacing spike 40 ms before a wide QRS), ``B`` bundle-branch
block (notched RSR', 140 ms). Noise: baseline wander (0.3 Hz), EMG (band-limited white
noise), mains hum. Returns the signal in mV and the sample index of each R wave.
"""

from __future__ import annotations

import numpy as np

# (amplitude mV, centre s relative to R, sd s)
_WAVES = {
    "N": ((0.15, -0.18, 0.022), (-0.10, -0.025, 0.008), (1.0, 0.0, 0.009), (-0.25, 0.025, 0.009), (0.30, 0.28, 0.045)),
    "V": ((1.0, 0.0, 0.030), (-0.45, 0.06, 0.035), (-0.35, 0.30, 0.060)),
    "P": ((1.0, 0.0, 0.028), (-0.30, 0.06, 0.030), (-0.30, 0.32, 0.060)),
    "B": ((0.10, -0.20, 0.022), (0.55, -0.02, 0.010), (-0.20, 0.015, 0.010), (0.85, 0.045, 0.012), (-0.20, 0.30, 0.05)),
}


def beat_train(kinds: str, rr_s: list[float] | float, fs_hz: float, *, v_amp: float = 1.0,
               start_s: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Clean ECG for the beat sequence ``kinds`` with the given RR intervals.

    ``rr_s`` is the interval *before* each beat after the first (one value, or one per beat).
    """
    rrs = np.broadcast_to(np.asarray(rr_s, dtype=float), (max(len(kinds) - 1, 0),))
    r_times = start_s + np.concatenate(([0.0], np.cumsum(rrs)))
    n = int((r_times[-1] + 1.0) * fs_hz)
    t = np.arange(n) / fs_hz
    x = np.zeros(n)
    for kind, tr in zip(kinds, r_times, strict=True):
        scale = v_amp if kind == "V" else 1.0
        for amp, lag, sd in _WAVES[kind]:
            sel = slice(max(0, int((tr + lag - 5 * sd) * fs_hz)), min(n, int((tr + lag + 5 * sd) * fs_hz) + 1))
            x[sel] += scale * amp * np.exp(-0.5 * ((t[sel] - tr - lag) / sd) ** 2)
        if kind == "P":  # pacing spike, 2 ms wide, 40 ms before the paced QRS
            a, b = int((tr - 0.040) * fs_hz), int((tr - 0.038) * fs_hz) + 1
            x[a:b] += 3.0
    r_idx = np.round(r_times * fs_hz).astype(np.int64)
    # the R wave of a bundle-branch block beat is its taller, later peak (R')
    r_idx = r_idx + np.array([int(round(0.045 * fs_hz)) if k == "B" else 0 for k in kinds])
    return x, r_idx


def add_noise(x: np.ndarray, fs_hz: float, *, wander_mv: float = 0.0, emg_mv: float = 0.0,
              mains_mv: float = 0.0, seed: int = 0) -> np.ndarray:
    """``x`` plus baseline wander, EMG-like noise (RMS ``emg_mv``) and 50 Hz hum."""
    rng = np.random.default_rng(seed)
    t = np.arange(x.size) / fs_hz
    out = x + wander_mv * np.sin(2 * np.pi * 0.3 * t) + 0.5 * wander_mv * np.sin(2 * np.pi * 0.07 * t + 1.0)
    if emg_mv:
        e = rng.normal(0.0, 1.0, x.size)
        e = np.convolve(e, np.ones(3) / 3, mode="same") - np.convolve(e, np.ones(25) / 25, mode="same")
        out = out + emg_mv * e / max(float(np.std(e)), 1e-12)
    if mains_mv:
        out = out + mains_mv * np.sin(2 * np.pi * 50.0 * t)
    return out


def pattern(unit: str, repeats: int, rr_normal_s: float, coupling_s: float) -> tuple[str, list[float]]:
    """Repeat a unit such as ``"NV"`` (bigeminy); a ``V`` comes ``coupling_s`` after its
    predecessor and the beat after a ``V`` follows a compensatory pause."""
    kinds = unit * repeats
    rr: list[float] = []
    for i in range(1, len(kinds)):
        if kinds[i] == "V":
            rr.append(coupling_s)
        elif kinds[i - 1] == "V":
            rr.append(2 * rr_normal_s - coupling_s)
        else:
            rr.append(rr_normal_s)
    return kinds, rr
