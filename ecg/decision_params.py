"""The decision section of the rhythm model's sidecar: :class:`DecisionParams`, and the r3 class choice.

:class:`DecisionParams` holds the values of the verdict rule :func:`ecg.screening.decide`
(specified in ``docs/screening.md``), checked when the model loads; :func:`decide` is the
older AF-first class choice that training's tuner still uses. Re-exported by :mod:`ecg.model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecg.classes import CLASS_CODES

__all__ = ["CLASSES", "DECISION_RULES", "DecisionParams", "decide"]

#: CinC 2017 class codes, in the order of the model's output (the table in :mod:`ecg.classes`)
CLASSES: tuple[str, ...] = CLASS_CODES

#: decision rules this runtime implements (the sidecar's ``decision.rule``)
DECISION_RULES = ("af-band-v1",)


@dataclass(frozen=True)
class DecisionParams:
    """Parameters of the decision rule (:func:`ecg.screening.apply_rule`): the sidecar's ``decision``.

    The rule is specified in ``docs/screening.md``; the values are tuned by training.

    Attributes
    ----------
    rule : str
        Name of the rule (one of :data:`DECISION_RULES`).
    class_weights : tuple of float
        One weight per class (order :data:`CLASSES`) multiplying the probabilities for the
        best guess.
    af_call_min : float
        p(A) at or above which the answer is AF.
    af_band_min : float
        Lower end of the AF band: ``af_band_min <= p(A) < af_call_min`` is inconclusive.
    min_probability : tuple of float
        Per class (order :data:`CLASSES`): a best guess N or O below it is inconclusive
        (0 where the sidecar gives none).
    low_heart_rate_bpm, high_heart_rate_bpm : float
        Heart-rate flags.
    """

    rule: str
    class_weights: tuple[float, ...]
    af_call_min: float
    af_band_min: float
    min_probability: tuple[float, ...]
    low_heart_rate_bpm: float
    high_heart_rate_bpm: float

    def __post_init__(self) -> None:
        if self.rule not in DECISION_RULES:
            raise ValueError(f"decision rule {self.rule!r} is not one of {DECISION_RULES}")
        w = self.class_weights
        if len(w) != len(CLASSES) or not all(np.isfinite(v) and v > 0 for v in w):
            raise ValueError(f"class_weights must be {len(CLASSES)} positive numbers, got {list(w)}")
        if len(self.min_probability) != len(CLASSES) or not all(0.0 <= v <= 1.0 for v in self.min_probability):
            raise ValueError(f"min_probability values must lie in [0, 1], got {list(self.min_probability)}")
        if not 0.0 <= self.af_band_min <= self.af_call_min <= 1.0:
            raise ValueError(f"need 0 <= af_band_min <= af_call_min <= 1, got {self.af_band_min!r}, {self.af_call_min!r}")
        if not 0.0 < self.low_heart_rate_bpm < self.high_heart_rate_bpm:
            raise ValueError(f"heart-rate flags must satisfy 0 < low < high, got "
                             f"{self.low_heart_rate_bpm!r}, {self.high_heart_rate_bpm!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DecisionParams:
        """Parse a sidecar's ``decision`` section (raises ValueError, KeyError or TypeError).

        ``class_weights`` names every class; ``min_probability`` names N and/or O.
        """
        weights, floors = d["class_weights"], d["min_probability"]
        if set(weights) != set(CLASSES):
            raise ValueError(f"class_weights must name exactly {list(CLASSES)}, got {sorted(weights)}")
        if not set(floors) <= {"N", "O"}:
            raise ValueError(f"min_probability may name N and O only, got {sorted(floors)}")
        return cls(
            rule=str(d["rule"]),
            class_weights=tuple(float(weights[c]) for c in CLASSES),
            af_call_min=float(d["af_call_min"]),
            af_band_min=float(d["af_band_min"]),
            min_probability=tuple(float(floors.get(c, 0.0)) for c in CLASSES),
            low_heart_rate_bpm=float(d["low_heart_rate_bpm"]),
            high_heart_rate_bpm=float(d["high_heart_rate_bpm"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """The sidecar's ``decision`` section (without the free-text ``tuned_on``)."""
        return {
            "rule": self.rule,
            "class_weights": dict(zip(CLASSES, self.class_weights)),
            "af_call_min": self.af_call_min,
            "af_band_min": self.af_band_min,
            "min_probability": {c: v for c, v in zip(CLASSES, self.min_probability) if c in ("N", "O")},
            "low_heart_rate_bpm": self.low_heart_rate_bpm,
            "high_heart_rate_bpm": self.high_heart_rate_bpm,
        }


def decide(probs: np.ndarray, class_weights: np.ndarray, af_threshold: float | None = None) -> np.ndarray:
    """Decided class index per row of ``probs`` (``(n, 4)``, order :data:`CLASSES`).

    The r3 AF-first class choice that training's tuner uses; screening itself decides with
    :func:`ecg.screening.apply_rule` (the sidecar's ``decision`` rule).

    AF first: a row whose ``p(A) >= af_threshold`` is AF (the threshold is tuned for a
    target specificity); the others take the arg-max of ``probs * class_weights`` over
    N, O and ~. Without a threshold: the plain weighted arg-max over all four classes.
    """
    p = np.asarray(probs, dtype=np.float64) * np.asarray(class_weights, dtype=np.float64)
    a = CLASSES.index("A")
    if af_threshold is None:
        return np.argmax(p, axis=1)
    p[:, a] = -1.0
    out = np.argmax(p, axis=1)
    out[np.asarray(probs)[:, a] >= af_threshold] = a
    return out
