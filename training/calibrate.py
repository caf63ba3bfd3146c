"""Probability calibration of the rhythm model: one temperature, and how to check it.

The exported graph computes ``softmax(mean_of_member_logits / T)`` per window and the
runtime averages the windows of a recording (:mod:`ecg.model`). :func:`fit_temperature`
chooses ``T`` on the out-of-fold window logits by minimising the negative log-likelihood
of the *record* probabilities (window-averaged exactly as at run time). A temperature
changes no arg-max inside a window; it makes "p(A) = 0.8" mean "AF about 8 times in 10".

:func:`reliability_table` and :func:`expected_calibration_error` report how well that
holds (the model card's reliability diagram is the table of one class, p(A)).
"""

from __future__ import annotations

import numpy as np

from training.train import record_probs

__all__ = ["fit_temperature", "negative_log_likelihood", "reliability_table", "expected_calibration_error"]


def negative_log_likelihood(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean ``-log p(true class)`` (probabilities floored at 1e-6)."""
    p = np.clip(np.asarray(probs)[np.arange(len(y)), np.asarray(y)], 1e-6, 1.0)
    return float(-np.mean(np.log(p)))


def fit_temperature(window_logits: np.ndarray, owner: np.ndarray, y: np.ndarray,
                    grid: np.ndarray | None = None) -> float:
    """Temperature minimising the record-level NLL (log-spaced grid 0.25–4, then refined)."""
    n = len(y)
    ts = np.exp(np.linspace(np.log(0.25), np.log(4.0), 49)) if grid is None else np.asarray(grid)
    nll = [negative_log_likelihood(record_probs(window_logits, owner, n, t), y) for t in ts]
    best = int(np.argmin(nll))
    lo, hi = ts[max(best - 1, 0)], ts[min(best + 1, len(ts) - 1)]
    fine = np.linspace(lo, hi, 21)
    nll_f = [negative_log_likelihood(record_probs(window_logits, owner, n, t), y) for t in fine]
    return float(fine[int(np.argmin(nll_f))])


def reliability_table(p: np.ndarray, hit: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width bin of predicted ``p``: count, mean prediction, observed frequency."""
    p = np.asarray(p, dtype=np.float64)
    hit = np.asarray(hit, dtype=bool)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        sel = idx == b
        if sel.any():
            rows.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "n": int(sel.sum()),
                         "mean_p": float(p[sel].mean()), "observed": float(hit[sel].mean())})
    return rows


def expected_calibration_error(p: np.ndarray, hit: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |mean prediction − observed frequency| over the bins."""
    rows = reliability_table(p, hit, bins)
    n = sum(r["n"] for r in rows)
    return float(sum(r["n"] * abs(r["mean_p"] - r["observed"]) for r in rows) / max(n, 1))
