"""Tests of the temperature calibration (training/calibrate.py)."""

from __future__ import annotations

import numpy as np

from training.calibrate import expected_calibration_error, fit_temperature, negative_log_likelihood, reliability_table
from training.train import record_probs


def _overconfident(n: int, t_true: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window logits whose calibrated temperature is ``t_true`` (labels drawn from softmax(z / t_true))."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, (n, 4))
    p = np.exp(z / t_true)
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in p])
    return z, np.arange(n), y


def test_recovers_the_temperature() -> None:
    z, owner, y = _overconfident(4000, 2.0)
    t = fit_temperature(z, owner, y)
    assert 1.7 < t < 2.4
    assert negative_log_likelihood(record_probs(z, owner, y.size, t), y) < negative_log_likelihood(
        record_probs(z, owner, y.size, 1.0), y)


def test_calibration_error_drops_after_scaling() -> None:
    z, owner, y = _overconfident(4000, 2.0, seed=1)
    t = fit_temperature(z, owner, y)
    raw = record_probs(z, owner, y.size, 1.0)[:, 1]
    cal = record_probs(z, owner, y.size, t)[:, 1]
    assert expected_calibration_error(cal, y == 1) < expected_calibration_error(raw, y == 1)
    rows = reliability_table(cal, y == 1)
    assert sum(r["n"] for r in rows) == y.size and all(0.0 <= r["observed"] <= 1.0 for r in rows)
