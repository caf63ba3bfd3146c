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
    """
    out = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    peaks = np.asarray(r_peaks, dtype=np.float64)
    out[12] = 10.0 * peaks.size / max(float(duration_s), 1e-6)
    if peaks.size < 2:
        return out
    rr_s = np.diff(peaks) / float(fs_hz)
    rr_s = rr_s[(rr_s >= _RR_MIN_S) & (rr_s <= _RR_MAX_S)]
    if rr_s.size < MIN_RR_INTERVALS:
        return out
    mean_rr = float(np.mean(rr_s))
    median_rr = float(np.median(rr_s))
    drr = np.diff(rr_s)
    q10, q25, q75, q90 = np.percentile(rr_s, [10, 25, 75, 90])
    out[0] = np.log(mean_rr)
    out[1] = np.std(rr_s) / mean_rr
    out[2] = np.sqrt(np.mean(drr**2)) / mean_rr
    out[3] = np.median(np.abs(drr)) / median_rr
    out[4] = np.mean(np.abs(drr) > 0.05)
    out[5] = np.mean(np.abs(drr) > 0.12 * median_rr)
    out[6] = (q75 - q25) / median_rr
    out[7] = (q90 - q10) / median_rr
    out[8] = _sd1_sd2(rr_s)
    out[9] = np.mean(rr_s < 0.85 * median_rr)
    out[10] = np.mean(rr_s > 1.2 * median_rr)
    out[11] = _turning_point_ratio(rr_s)
    out[13] = 1.0
    return out


def _sd1_sd2(rr_s: np.ndarray) -> float:
    """Poincaré SD1/SD2: near 1 for random RR (AF), small for a regular rhythm."""
    x, y = rr_s[:-1], rr_s[1:]
    sd1 = np.std((y - x) / np.sqrt(2.0))
    sd2 = np.std((y + x) / np.sqrt(2.0))
    return float(min(sd1 / sd2, 5.0)) if sd2 > 1e-9 else 0.0


def _turning_point_ratio(rr_s: np.ndarray) -> float:
    """Fraction of inner RR values that are local extremes (2/3 for a random series)."""
    a, b, c = rr_s[:-2], rr_s[1:-1], rr_s[2:]
    turning = ((b > a) & (b > c)) | ((b < a) & (b < c))
    return float(np.mean(turning)) if turning.size else 0.0
