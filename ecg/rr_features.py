"""RR-interval irregularity features: the second input of the rhythm model.

Atrial fibrillation is "irregularly irregular": successive RR intervals vary a lot and
without pattern. Premature beats ("other rhythm") give a few short intervals followed by
long ones. These statistics make that explicit beside the CNN, which sees the waveform.

The same function runs in training (``training/``) and at screening time, so the model
always sees features computed the same way. Features are raw here; the model's JSON
sidecar holds the training mean and standard deviation used to standardise them.

Examples
--------
>>> import numpy as np
>>> r = np.arange(0, 9000, 300)  # 60 bpm at 300 Hz, perfectly regular
>>> f = rr_features(r, 300.0, duration_s=30.0)
>>> f.shape == (len(FEATURE_NAMES),)
True
>>> round(float(f[FEATURE_NAMES.index("rr_cv")]), 6)
0.0
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FEATURE_NAMES", "MIN_RR_INTERVALS", "rr_features"]

#: names of the features, in the order :func:`rr_features` returns them
FEATURE_NAMES: tuple[str, ...] = (
    "log_mean_rr_s",
    "rr_cv",
    "rmssd_rel",
    "median_abs_drr_rel",
    "frac_drr_gt_50ms",
    "frac_drr_gt_12pct",
    "iqr_rr_rel",
    "range_10_90_rr_rel",
    "sd1_sd2",
    "frac_short_rr",
    "frac_long_rr",
    "turning_point_ratio",
    "beats_per_10s",
    "rr_valid",
)

#: fewer RR intervals than this give an all-zero vector with ``rr_valid = 0``
MIN_RR_INTERVALS = 4

# physiological RR range kept for the statistics (s): 30–240 bpm
_RR_MIN_S = 0.25
_RR_MAX_S = 2.0


def rr_features(r_peaks: np.ndarray, fs_hz: float, *, duration_s: float) -> np.ndarray:
    """RR irregularity features of one recording.

    Parameters
    ----------
    r_peaks : np.ndarray
        R-peak sample indices (increasing), as from :func:`ecg.beats.detect_r_peaks`.
    fs_hz : float
        Sample rate of the indices (Hz).
    duration_s : float
        Length of the recording (s); normalises the beat count.

    Returns
    -------
    np.ndarray
        ``float32`` vector of ``len(FEATURE_NAMES)`` values, in that order.

    Notes
    -----
    A recording has a few dozen intervals, so the cost is per-call overhead: one sort
    replaces ``np.median``/``np.percentile`` (the same order statistics and numpy's
    "linear" interpolation, :func:`_quantile`), and sums replace ``np.mean``/``np.std``
    (the same reductions in the same order), so every value equals numpy's to the bit.
    """
    out = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    peaks = np.asarray(r_peaks, dtype=np.float64)
    out[12] = 10.0 * peaks.size / max(float(duration_s), 1e-6)
    if peaks.size < 2:
        return out
    rr_s = np.diff(peaks) / float(fs_hz)
    rr_s = rr_s[(rr_s >= _RR_MIN_S) & (rr_s <= _RR_MAX_S)]
    n = rr_s.size
    if n < MIN_RR_INTERVALS:
        return out
    srt = np.sort(rr_s).tolist()
    mean_rr = float(rr_s.sum()) / n
    median_rr = _quantile(srt, 0.5)
    drr = np.diff(rr_s)
    abs_drr = np.abs(drr)
    out[:12] = (
        np.log(mean_rr),
        _std(rr_s) / mean_rr,
        math.sqrt(float((drr * drr).sum()) / drr.size) / mean_rr,
        _quantile(np.sort(abs_drr).tolist(), 0.5) / median_rr,
        np.count_nonzero(abs_drr > 0.05) / drr.size,
        np.count_nonzero(abs_drr > 0.12 * median_rr) / drr.size,
        (_quantile(srt, 0.75) - _quantile(srt, 0.25)) / median_rr,
        (_quantile(srt, 0.9) - _quantile(srt, 0.1)) / median_rr,
        _sd1_sd2(rr_s),
        np.count_nonzero(rr_s < 0.85 * median_rr) / n,
        np.count_nonzero(rr_s > 1.2 * median_rr) / n,
        _turning_point_ratio(rr_s),
    )
    out[13] = 1.0
    return out


def _quantile(srt: list[float], q: float) -> float:
    """Quantile ``q`` of sorted values as ``np.percentile(..., 100 * q)`` ("linear") computes it.

    The median (``q = 0.5``) is the middle value or the mean of the two middle ones, as
    ``np.median``; the others interpolate at index ``(n - 1) q`` with numpy's ``_lerp``.
    """
    n = len(srt)
    if q == 0.5:
        return srt[n // 2] if n % 2 else (srt[n // 2 - 1] + srt[n // 2]) / 2
    index = (n - 1) * q
    lo = math.floor(index)
    t = index - lo
    a, b = srt[lo], srt[min(lo + 1, n - 1)]
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _std(x: np.ndarray) -> float:
    """``np.std(x)``: the same sums in the same order."""
    d = x - float(x.sum()) / x.size
    return math.sqrt(float((d * d).sum()) / x.size)


def _sd1_sd2(rr_s: np.ndarray) -> float:
    """Poincaré SD1/SD2: near 1 for random RR (AF), small for a regular rhythm."""
    x, y = rr_s[:-1], rr_s[1:]
    sd1 = _std((y - x) / np.sqrt(2.0))
    sd2 = _std((y + x) / np.sqrt(2.0))
    return float(min(sd1 / sd2, 5.0)) if sd2 > 1e-9 else 0.0


def _turning_point_ratio(rr_s: np.ndarray) -> float:
    """Fraction of inner RR values that are local extremes (2/3 for a random series)."""
    a, b, c = rr_s[:-2], rr_s[1:-1], rr_s[2:]
    turning = ((b > a) & (b > c)) | ((b < a) & (b < c))
    return np.count_nonzero(turning) / turning.size if turning.size else 0.0
