"""Held-out monitoring of the segmenter during training: sample-level F1 per wave.

Boundary errors (the figures that matter) are measured by
``benchmarks/delineation_ludb.py`` on the exported int8 fold models, through the runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.delineation.augment import clean_input
from training.delineation.data import Lead

__all__ = ["predict_leads", "sample_scores"]

_MULTIPLE = 8


def predict_leads(model: Any, leads: list[Lead], batch: int = 64) -> list[np.ndarray]:
    """Arg-max class per sample (model rate) of each clean lead, with a Keras model."""
    xs = [clean_input(ld)[0] for ld in leads]
    n = max(x.size for x in xs)
    n = -(-n // _MULTIPLE) * _MULTIPLE
    arr = np.zeros((len(xs), n, 1), dtype=np.float32)
    for i, x in enumerate(xs):
        arr[i, : x.size, 0] = x
    probs = model.predict(arr, batch_size=batch, verbose=0)
    return [np.argmax(probs[i, : x.size], axis=-1) for i, x in enumerate(xs)]


def sample_scores(leads: list[Lead], preds: list[np.ndarray]) -> dict[str, float]:
    """Per-class sample F1 and accuracy inside the annotated spans."""
    ys, ps = [], []
    for ld, p in zip(leads, preds, strict=True):
        _, y, w = clean_input(ld)
        keep = w > 0
        ys.append(y[keep])
        ps.append(p[keep])
    y, p = np.concatenate(ys), np.concatenate(ps)
    out = {"accuracy": round(float(np.mean(y == p)), 4)}
    for cls, name in ((1, "p"), (2, "qrs"), (3, "t")):
        tp = float(np.sum((y == cls) & (p == cls)))
        denom = float(np.sum(y == cls) + np.sum(p == cls))
        out[f"f1_{name}"] = round(2 * tp / denom, 4) if denom else float("nan")
    return out
