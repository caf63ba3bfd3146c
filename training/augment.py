"""ECG augmentations and the balanced batch generator used in training (numpy only).

Per sample: stretch-or-compress (±10 % in time), a random 20 s crop (zero-padded when
shorter), amplitude scaling, polarity flip (finger ECG polarity depends on which hand
touches which electrode), Gaussian noise and baseline wander. Per batch: mixup of signals,
RR features and labels. Class imbalance: records are drawn with probability proportional
to ``count(label) ** -0.5`` (between uniform and fully balanced); ``class_scale`` multiplies
a class's share of the draws (``s2``: the noise class's share halved, see docs/training.md).
``noise_stretch_p`` (``s3``): the share of readable-labelled samples (N/A/O) that get one or
two noise stretches (:func:`add_noise_stretches`) with their label kept, so that a recording
with a noisy stretch and a readable rhythm elsewhere is not taught to be ``~``.
"""

from __future__ import annotations

import numpy as np

from ecg.model import CLIP_SD, MODEL_FS_HZ, WINDOW_SAMPLES

__all__ = ["Augmenter", "sampling_probabilities", "random_crop", "add_noise_stretches", "NOISE_KINDS"]

#: kinds of noise stretch: a crop of a ``~``-labelled training record, electrode-motion-like
#: wander (a detrended random walk), an EMG-like burst (differenced white noise)
NOISE_KINDS = ("recorded", "motion", "emg")
_STRETCH_S = (1.0, 4.0)
_RAMP_S = 0.25


def sampling_probabilities(y: np.ndarray, n_classes: int, power: float = -0.5,
                           class_scale: np.ndarray | None = None) -> np.ndarray:
    """Per-record draw probabilities ∝ ``count(label) ** power × class_scale[label]``.

    ``class_scale`` (default all ones) multiplies each class's share of the draws before the
    shares are normalised again; a scale must be positive.
    """
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    scale = np.ones(n_classes) if class_scale is None else np.asarray(class_scale, dtype=np.float64)
    if scale.shape != (n_classes,) or np.any(scale <= 0):
        raise ValueError(f"class_scale must hold {n_classes} positive numbers, got {class_scale!r}")
    w = np.where(counts > 0, np.maximum(counts, 1.0) ** power, 0.0) * scale
    w = w[y]
    return w / w.sum()


def random_crop(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random window of :data:`WINDOW_SAMPLES` (zero-padded at a random place if shorter)."""
    out = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    if x.size >= WINDOW_SAMPLES:
        s = int(rng.integers(0, x.size - WINDOW_SAMPLES + 1))
        out[:] = x[s : s + WINDOW_SAMPLES]
    else:
        s = int(rng.integers(0, WINDOW_SAMPLES - x.size + 1))
        out[s : s + x.size] = x
    return out


def _noise_segment(kind: str, n: int, rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
    """``n`` samples of one kind of noise (:data:`NOISE_KINDS`), in the prepared signal's SD units."""
    if kind == "recorded":
        src = pool[int(rng.integers(len(pool)))]
        if src.size < n:
            src = np.resize(src, n)
        s = int(rng.integers(0, src.size - n + 1))
        return src[s : s + n].astype(np.float64) * rng.uniform(0.5, 1.5)
    if kind == "motion":
        walk = np.cumsum(rng.normal(size=n))
        walk -= np.polyval(np.polyfit(np.arange(n), walk, 1), np.arange(n))
        return walk / max(float(walk.std()), 1e-6) * rng.uniform(1.0, 4.0)
    burst = np.diff(rng.normal(size=n + 1))
    return burst / max(float(burst.std()), 1e-6) * rng.uniform(0.3, 1.5)


def add_noise_stretches(w: np.ndarray, rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
    """One or two noise stretches of 1–4 s each (kinds :data:`NOISE_KINDS`, ``recorded`` only
    when ``pool`` holds ``~``-labelled training signals) added to a window with 0.25 s ramps;
    the window's standard deviation is kept, as the record-wide standardisation of
    :func:`ecg.model.prepare_signal` would roughly keep it."""
    out = w.astype(np.float64)
    kinds = NOISE_KINDS if pool else NOISE_KINDS[1:]
    ramp_n = int(_RAMP_S * MODEL_FS_HZ)
    for _ in range(1 + int(rng.random() < 0.4)):
        n = min(int(rng.uniform(*_STRETCH_S) * MODEL_FS_HZ), w.size)
        start = int(rng.integers(0, w.size - n + 1))
        taper = np.ones(n)
        edge = np.hanning(2 * ramp_n)
        taper[:ramp_n], taper[n - ramp_n :] = edge[:ramp_n], edge[ramp_n:]
        out[start : start + n] += _noise_segment(str(kinds[int(rng.integers(len(kinds)))]), n, rng, pool) * taper
    out *= float(w.std()) / max(float(out.std()), 1e-6)
    return out.astype(np.float32)


class Augmenter:
    """Makes augmented training batches.

    Parameters
    ----------
    signals : list of np.ndarray
        Prepared 150 Hz signals.
    rr_z : np.ndarray
        Standardised RR features.
    y : np.ndarray
        Class indices.
    n_classes : int
    seed : int
    mixup_p : float
        Probability that a batch is mixed up.
    class_scale : np.ndarray, optional
        Per-class multiplier of the draw shares (:func:`sampling_probabilities`).
    noise_stretch_p : float
        Probability that a sample of a readable label (not ``~``) gets noise stretches
        (:func:`add_noise_stretches`; 0 draws nothing, so earlier runs resume unchanged).
    noise_label : int
        Class index of ``~`` (its records are the ``recorded`` noise pool).
    """

    def __init__(self, signals: list[np.ndarray], rr_z: np.ndarray, y: np.ndarray, n_classes: int,
                 *, seed: int, mixup_p: float = 0.25, class_scale: np.ndarray | None = None,
                 noise_stretch_p: float = 0.0, noise_label: int = 3) -> None:
        self.signals = signals
        self.rr_z = rr_z.astype(np.float32)
        self.y = y
        self.n_classes = n_classes
        self.rng = np.random.default_rng(seed)
        self.mixup_p = mixup_p
        self.p = sampling_probabilities(y, n_classes, class_scale=class_scale)
        self.noise_stretch_p = noise_stretch_p
        self.noise_label = noise_label
        self.noise_pool = [signals[i] for i in np.flatnonzero(y == noise_label)] if noise_stretch_p > 0 else []

    def sample(self, i: int) -> np.ndarray:
        rng = self.rng
        x = self.signals[i]
        if rng.random() < 0.3:
            factor = rng.uniform(0.9, 1.1)
            n_new = max(int(x.size * factor), 2)
            x = np.interp(np.linspace(0, x.size - 1, n_new), np.arange(x.size), x).astype(np.float32)
        w = random_crop(x, rng)
        if self.noise_stretch_p > 0 and self.y[i] != self.noise_label and rng.random() < self.noise_stretch_p:
            w = add_noise_stretches(w, rng, self.noise_pool)
        w = w * rng.uniform(0.7, 1.4)
        if rng.random() < 0.5:
            w = -w
        if rng.random() < 0.5:
            w = w + rng.normal(0.0, rng.uniform(0.01, 0.15), w.size).astype(np.float32)
        if rng.random() < 0.3:
            t = np.arange(w.size) / MODEL_FS_HZ
            w = w + rng.uniform(0.0, 0.4) * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6.3))
        return np.clip(w, -CLIP_SD, CLIP_SD).astype(np.float32)

    def batch(self, batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        idx = self.rng.choice(len(self.y), size=batch_size, p=self.p)
        sig = np.stack([self.sample(i) for i in idx])[..., None]
        rr = self.rr_z[idx].copy()
        lab = np.eye(self.n_classes, dtype=np.float32)[self.y[idx]]
        if self.rng.random() < self.mixup_p:
            lam = self.rng.beta(0.4, 0.4, size=(batch_size, 1)).astype(np.float32)
            lam = np.maximum(lam, 1 - lam)  # the first record stays dominant
            perm = self.rng.permutation(batch_size)
            sig = lam[..., None] * sig + (1 - lam[..., None]) * sig[perm]
            rr = lam * rr + (1 - lam) * rr[perm]
            lab = lam * lab + (1 - lam) * lab[perm]
        return {"signal": sig, "rr": rr}, lab
