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
# np.sqrt(2.0) (both correctly rounded)
_SQRT2 = math.sqrt(2.0)


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
    A recording has a few dozen intervals, so the cost is per-call overhead: the statistics
    run on Python floats. Every operation is one IEEE-754 operation as numpy does it (``-``,
    ``*``, ``/``, ``sqrt``, comparisons), the sums are numpy's pairwise summation
    (:func:`_numpy_sum`), the median and percentiles read one sort with numpy's "linear"
    interpolation (:func:`_quantile`): every value equals the numpy definition's to the bit
    (``tests/ecg/test_rr_features.py``).
    """
    peaks = np.asarray(r_peaks, dtype=np.float64).tolist()
    beats_per_10s = 10.0 * len(peaks) / max(float(duration_s), 1e-6)
    fs = float(fs_hz)
    rr_s = [v for v in [(b - a) / fs for a, b in zip(peaks, peaks[1:])] if _RR_MIN_S <= v <= _RR_MAX_S]
    if len(rr_s) < MIN_RR_INTERVALS:
        out = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
        out[12] = beats_per_10s
        return out
    return np.array((*_statistics(rr_s), beats_per_10s, 1.0), dtype=np.float32)


def _statistics(rr_s: list[float]) -> tuple[float, ...]:
    """The first twelve features of :data:`FEATURE_NAMES` from at least four RR intervals (s)."""
    n = len(rr_s)
    srt = sorted(rr_s)
    mean_rr = _numpy_sum(rr_s, 0, n) / n
    median_rr = _quantile(srt, 0.5)
    abs_drr = [abs(b - a) for a, b in zip(rr_s, rr_s[1:])]
    m = n - 1
    large_drr, short_rr, long_rr = 0.12 * median_rr, 0.85 * median_rr, 1.2 * median_rr
    return (
        float(np.log(mean_rr)),
        _std(rr_s) / mean_rr,
        math.sqrt(_numpy_sum([d * d for d in abs_drr], 0, m) / m) / mean_rr,
        _quantile(sorted(abs_drr), 0.5) / median_rr,
        len([d for d in abs_drr if d > 0.05]) / m,
        len([d for d in abs_drr if d > large_drr]) / m,
        (_quantile(srt, 0.75) - _quantile(srt, 0.25)) / median_rr,
        (_quantile(srt, 0.9) - _quantile(srt, 0.1)) / median_rr,
        _sd1_sd2(rr_s),
        len([v for v in rr_s if v < short_rr]) / n,
        len([v for v in rr_s if v > long_rr]) / n,
        _turning_point_ratio(rr_s),
    )


def _numpy_sum(x: list[float], lo: int, n: int) -> float:
    """``np.sum`` of ``x[lo:lo + n]`` (float64, contiguous): numpy's pairwise summation.

    Fewer than 8 values are added in order; up to 128 with eight accumulators (every 8th
    value each) combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the
    rest in order; longer runs split in two halves (the first a multiple of 8) summed the
    same way. Numpy's ``pairwise_sum``, in the same order, so the same rounding.
    """
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += x[i]
        return res
    if n <= 128:
        r0, r1, r2, r3, r4, r5, r6, r7 = x[lo : lo + 8]
        end = lo + n - n % 8
        for i in range(lo + 8, end, 8):
            r0 += x[i]
            r1 += x[i + 1]
            r2 += x[i + 2]
            r3 += x[i + 3]
            r4 += x[i + 4]
            r5 += x[i + 5]
            r6 += x[i + 6]
            r7 += x[i + 7]
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for i in range(end, lo + n):
            res += x[i]
        return res
    half = n // 2
    half -= half % 8
    return _numpy_sum(x, lo, half) + _numpy_sum(x, lo + half, n - half)


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


def _std(x: list[float]) -> float:
    """``np.std(x)``: the mean, the squared deviations and their mean, as numpy computes them."""
    n = len(x)
    mean = _numpy_sum(x, 0, n) / n
    return math.sqrt(_numpy_sum([(d := v - mean) * d for v in x], 0, n) / n)


def _sd1_sd2(rr_s: list[float]) -> float:
    """Poincaré SD1/SD2: near 1 for random RR (AF), small for a regular rhythm."""
    sd1 = _std([(b - a) / _SQRT2 for a, b in zip(rr_s, rr_s[1:])])
    sd2 = _std([(b + a) / _SQRT2 for a, b in zip(rr_s, rr_s[1:])])
    return min(sd1 / sd2, 5.0) if sd2 > 1e-9 else 0.0


def _turning_point_ratio(rr_s: list[float]) -> float:
    """Fraction of inner RR values that are local extremes (2/3 for a random series)."""
    inner = len(rr_s) - 2
    turning = len([b for a, b, c in zip(rr_s, rr_s[1:], rr_s[2:]) if (b > a and b > c) or (b < a and b < c)])
    return turning / inner if inner > 0 else 0.0
