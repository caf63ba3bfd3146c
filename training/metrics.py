"""Scores of the rhythm model (numpy only): CinC 2017 F1, AF operating points, bootstrap CIs.

Class indices follow :data:`ecg.model.CLASSES` = ``("N", "A", "O", "~")``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "f1_per_class",
    "cinc_f1",
    "af_operating_point",
    "af_sensitivity_at_specificity",
    "tune_class_weights",
    "bootstrap_ci",
]


def f1_per_class(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 4) -> np.ndarray:
    """F1 of each class (``2·TP / (2·TP + FP + FN)``; 0 when the class never occurs)."""
    out = np.zeros(n_classes)
    for c in range(n_classes):
        tp = np.sum((y_true == c) & (y_pred == c))
        denom = np.sum(y_true == c) + np.sum(y_pred == c)
        out[c] = 2.0 * tp / denom if denom else 0.0
    return out


def cinc_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """CinC 2017 score: mean of F1 for N, A and O (the noisy class is not averaged)."""
    return float(np.mean(f1_per_class(np.asarray(y_true), np.asarray(y_pred))[:3]))


def af_operating_point(y_true: np.ndarray, is_af_pred: np.ndarray) -> tuple[float, float]:
    """``(sensitivity, specificity)`` of a binary AF decision against AF-vs-rest truth."""
    af = np.asarray(y_true) == 1
    pred = np.asarray(is_af_pred, dtype=bool)
    se = float(np.mean(pred[af])) if af.any() else float("nan")
    sp = float(np.mean(~pred[~af])) if (~af).any() else float("nan")
    return se, sp


def af_sensitivity_at_specificity(y_true: np.ndarray, p_af: np.ndarray, min_specificity: float = 0.97) -> tuple[float, float]:
    """Best AF sensitivity over thresholds on ``p_af`` keeping specificity ≥ ``min_specificity``.

    Returns
    -------
    tuple
        ``(sensitivity, threshold)``.
    """
    af = np.asarray(y_true) == 1
    p = np.asarray(p_af, dtype=np.float64)
    neg = np.sort(p[~af])
    if neg.size == 0 or not af.any():
        return float("nan"), float("nan")
    # smallest threshold t with mean(neg < t) >= min_specificity, i.e. predict AF when p >= t
    k = int(np.ceil(min_specificity * neg.size)) - 1
    thr = float(np.nextafter(neg[k], np.inf)) if k < neg.size else float(neg[-1])
    return float(np.mean(p[af] >= thr)), thr


def tune_class_weights(y_true: np.ndarray, probs: np.ndarray, *, n_rounds: int = 3,
                       af_threshold: float | None = None, max_factor: float = 2.0) -> np.ndarray:
    """Per-class multipliers of the probabilities that maximise :func:`cinc_f1` of the decision.

    Coordinate search on a log grid within ``[1/max_factor, max_factor]``, N fixed at 1;
    the decision is :func:`ecg.model.decide` (AF first when ``af_threshold`` is given).
    Fit this on out-of-fold predictions only.
    """
    from ecg.model import decide

    w = np.ones(probs.shape[1])
    grid = np.exp(np.linspace(-np.log(max_factor), np.log(max_factor), 29))
    for _ in range(n_rounds):
        for c in range(1, probs.shape[1]):
            if af_threshold is not None and c == 1:
                continue
            scores = []
            for g in grid:
                w_try = w.copy()
                w_try[c] = g
                scores.append(cinc_f1(y_true, decide(probs, w_try, af_threshold)))
            w[c] = grid[int(np.argmax(scores))]
    return w


def bootstrap_ci(
    stat: Callable[[np.ndarray], float], n: int, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat(indices)`` over ``n`` records resampled with replacement."""
    rng = np.random.default_rng(seed)
    vals = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)])
    vals = vals[np.isfinite(vals)]
    lo, hi = np.percentile(vals, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)
