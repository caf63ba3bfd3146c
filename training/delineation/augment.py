"""Augmented training crops for the segmenter (numpy only).

Per lead and draw: amplitude scaling (which changes the signal-to-noise ratio, since the
noise below is absolute), polarity flip, baseline wander (slow sinusoids), white noise,
EMG-like bursts, mains hum, a time stretch of ±10 % and a simulated recording rate
between 250 and 500 Hz (the lead is resampled to that rate, then prepared by the very
function the runtime uses, :func:`ecg.delineation.segmenter_input.prepare`). Labels follow
the stretch. A crop of :data:`CROP_SAMPLES` overlapping the annotated span is returned with
its per-sample weights (0 outside the span).
"""

from __future__ import annotations

import numpy as np

from ecg.delineation.segmenter_input import MODEL_FS_HZ, prepare, resample_to, typical_amplitude
from training.delineation.data import LUDB_FS_HZ, NO_BOUNDARY_WEIGHT, BoundaryWeight, Lead, label_vector

__all__ = ["CROP_SAMPLES", "RATES_HZ", "STRETCHES", "make_batch", "clean_input"]

CROP_SAMPLES = 1024
RATES_HZ = (250.0, 300.0, 360.0, 400.0, 500.0)
STRETCHES = (0.9, 0.95, 1.0, 1.05, 1.1)


def _noise(x: np.ndarray, amp_mv: float, rng: np.random.Generator) -> np.ndarray:
    n = x.size
    t = np.arange(n) / LUDB_FS_HZ
    out = x.copy()
    for _ in range(int(rng.integers(0, 3))):  # baseline wander
        f = rng.uniform(0.05, 0.7)
        out += rng.uniform(0.0, 0.8) * amp_mv * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    out += rng.normal(0.0, rng.uniform(0.0, 0.06) * amp_mv, n)  # white noise
    if rng.random() < 0.3:  # EMG-like burst: high-passed noise under a smooth envelope
        burst = np.diff(rng.normal(0.0, rng.uniform(0.02, 0.15) * amp_mv, n + 1))
        centre, width = rng.uniform(0, n), rng.uniform(0.3, 3.0) * LUDB_FS_HZ
        out += burst * np.exp(-0.5 * ((np.arange(n) - centre) / width) ** 2)
    if rng.random() < 0.2:  # mains hum
        f = 50.0 if rng.random() < 0.5 else 60.0
        out += rng.uniform(0.0, 0.1) * amp_mv * np.sin(2 * np.pi * f * t)
    return out


def augmented_lead(lead: Lead, rng: np.random.Generator, boundary: BoundaryWeight = NO_BOUNDARY_WEIGHT,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One augmented, prepared lead with per-sample labels and weights at the model rate.

    ``boundary`` weights the samples near annotated wave boundaries (it draws nothing from
    ``rng``: the crops are the same with or without it).
    """
    amp = max(typical_amplitude(lead.sig_mv - np.median(lead.sig_mv), LUDB_FS_HZ), 1e-3)
    x = lead.sig_mv * rng.uniform(0.5, 2.0) * (-1.0 if rng.random() < 0.3 else 1.0)
    x = _noise(x, amp, rng)
    rate = float(rng.choice(RATES_HZ))
    stretch = float(rng.choice(STRETCHES))
    xr = resample_to(x, LUDB_FS_HZ, rate * stretch)
    prepared = prepare(xr, rate)
    scale = prepared.size / lead.sig_mv.size
    y, w = label_vector(lead.waves, lead.span, prepared.size, scale, boundary)
    return prepared, y, w


def clean_input(lead: Lead) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lead prepared without augmentation, with labels and weights (for validation)."""
    prepared = prepare(lead.sig_mv, LUDB_FS_HZ)
    y, w = label_vector(lead.waves, lead.span, prepared.size, MODEL_FS_HZ / LUDB_FS_HZ)
    return prepared, y, w


def _crop(x: np.ndarray, y: np.ndarray, w: np.ndarray, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    n, L = x.size, CROP_SAMPLES
    if n < L:
        pad = L - n
        return np.pad(x, (0, pad)), np.pad(y, (0, pad)), np.pad(w, (0, pad))
    idx = np.flatnonzero(w)
    lo, hi = (int(idx[0]), int(idx[-1])) if idx.size else (0, n)
    a = max(0, min(n - L, lo - L // 4))
    b = max(a, min(n - L, hi - 3 * L // 4))
    s = int(rng.integers(a, b + 1))
    return x[s : s + L], y[s : s + L], w[s : s + L]


def make_batch(leads: list[Lead], rng: np.random.Generator, boundary: BoundaryWeight = NO_BOUNDARY_WEIGHT,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays ``x (B, L, 1)``, ``y (B, L)`` and ``w (B, L)`` of augmented crops, one per lead."""
    xs, ys, ws = [], [], []
    for lead in leads:
        x, y, w = _crop(*augmented_lead(lead, rng, boundary), rng)
        xs.append(x)
        ys.append(y)
        ws.append(w)
    return np.stack(xs)[..., None].astype(np.float32), np.stack(ys), np.stack(ws).astype(np.float32)
