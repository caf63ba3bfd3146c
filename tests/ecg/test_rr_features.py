"""ecg.rr_features: every feature equals its numpy-statistics definition to the bit.

The module computes medians, percentiles and standard deviations from one sort and plain
sums (per-call overhead); :func:`_reference` is the definition written with ``np.median``,
``np.percentile`` and ``np.std``, so any drift in the fast path fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from ecg.rr_features import FEATURE_NAMES, MIN_RR_INTERVALS, _numpy_sum, rr_features


def _reference(r_peaks: np.ndarray, fs_hz: float, duration_s: float) -> np.ndarray:
    out = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    peaks = np.asarray(r_peaks, dtype=np.float64)
    out[12] = 10.0 * peaks.size / max(float(duration_s), 1e-6)
    if peaks.size < 2:
        return out
    rr = np.diff(peaks) / float(fs_hz)
    rr = rr[(rr >= 0.25) & (rr <= 2.0)]
    if rr.size < MIN_RR_INTERVALS:
        return out
    mean, median = float(np.mean(rr)), float(np.median(rr))
    drr = np.diff(rr)
    q10, q25, q75, q90 = np.percentile(rr, [10, 25, 75, 90])
    x, y = rr[:-1], rr[1:]
    sd1, sd2 = np.std((y - x) / np.sqrt(2.0)), np.std((y + x) / np.sqrt(2.0))
    a, b, c = rr[:-2], rr[1:-1], rr[2:]
    out[:12] = (np.log(mean), np.std(rr) / mean, np.sqrt(np.mean(drr**2)) / mean,
                np.median(np.abs(drr)) / median, np.mean(np.abs(drr) > 0.05),
                np.mean(np.abs(drr) > 0.12 * median), (q75 - q25) / median, (q90 - q10) / median,
                min(sd1 / sd2, 5.0) if sd2 > 1e-9 else 0.0, np.mean(rr < 0.85 * median),
                np.mean(rr > 1.2 * median), np.mean(((b > a) & (b > c)) | ((b < a) & (b < c))))
    out[13] = 1.0
    return out


@pytest.mark.parametrize("kind", ["uniform", "integer_ties", "near_constant", "with_outliers", "long"])
def test_equals_the_numpy_definition_to_the_bit(kind: str) -> None:
    rng = np.random.default_rng(16)
    for _ in range(400):
        m = int(rng.integers(0, 90 if kind != "long" else 400))  # > 129 intervals: numpy's sum splits
        rr = {"uniform": lambda: rng.uniform(80.0, 500.0, m),
              "integer_ties": lambda: rng.integers(150, 400, m).astype(float),
              "near_constant": lambda: 300.0 + rng.integers(-2, 3, m),
              "with_outliers": lambda: rng.normal(250.0, 90.0, m).clip(1.0),
              "long": lambda: rng.normal(200.0, 60.0, m).clip(60.0)}[kind]()
        fs = float(rng.choice([125.0, 250.0, 300.0, 360.0, 500.0]))
        peaks = np.cumsum(rr)
        got, want = rr_features(peaks, fs, duration_s=30.0), _reference(peaks, fs, 30.0)
        assert got.tobytes() == want.tobytes(), (m, fs, got, want)


def test_regular_rhythm_values() -> None:
    f = rr_features(np.arange(0, 9000, 300), 300.0, duration_s=30.0)
    assert f[FEATURE_NAMES.index("log_mean_rr_s")] == pytest.approx(0.0)
    assert f[FEATURE_NAMES.index("rr_cv")] == 0.0 and f[FEATURE_NAMES.index("rr_valid")] == 1.0
    assert f[FEATURE_NAMES.index("beats_per_10s")] == pytest.approx(10.0)


def test_sum_is_numpys_pairwise_sum() -> None:
    """The Python sum adds in numpy's order: equal to ``np.sum`` on every length up to 600
    (fails with a plain running sum, whose rounding differs from the eighth value on)."""
    rng = np.random.default_rng(7)
    for n in range(1, 600):
        x = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3) + rng.uniform(-1, 1)
        assert _numpy_sum(x.tolist(), 0, n) == float(np.sum(x)), n
        assert _numpy_sum([0.0, *x.tolist()], 1, n) == float(np.sum(x)), n
