"""Second stage of the rhythm model: the CNN's probabilities plus what the analysis context knows.

The CNN (:mod:`ecg.model`) sees the waveform and the RR features. The second stage is a
multinomial logistic regression (a few hundred multiply-adds, microseconds) over

- the log of the CNN's window-averaged probabilities (floored at :data:`P_FLOOR`, above the
  int8 output's resolution, so the float fold models it is fitted on and the int8 model it
  runs on agree),
- the RR features the CNN got (standardised with the sidecar's ``rr_mean``/``rr_std``), and
- the quality numbers the quality gate already computed for the same context
  (:class:`ecg.quality.Quality`: beat-template correlation, QRS prominence, high-frequency
  noise ratio, lead-off and clipped fractions), and
- optionally (a sidecar whose ``features`` end with :data:`ATRIAL_FEATURES`), the atrial-activity
  features of the context's view and R peaks (:func:`ecg.atrial.context_features`).

Nothing is recomputed: :func:`ecg.screening.screen` hands in the context's quality, the RR
features it fed the CNN and, when the stage reads them, the context's atrial features. Its coefficients are the sidecar's ``stage_two`` section
(:class:`StageTwo`), fitted by ``training/stage_two.py`` on out-of-fold predictions only,
and checked when the model loads (feature names, shapes, finite values). The phone and the
cloud run this one function, so they answer alike.

Examples
--------
>>> import numpy as np
>>> from ecg.quality import Quality
>>> q = Quality(readable=True, template_corr=0.95, qrs_prominence=6.0, hf_noise_ratio=0.01)
>>> quality_numbers(q).tolist()
[0.95, 6.0, 0.01, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ecg.atrial import FEATURE_NAMES as ATRIAL_NAMES
from ecg.classes import CLASS_CODES
from ecg.rr_features import FEATURE_NAMES as RR_NAMES

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.quality import Quality

__all__ = ["P_FLOOR", "QUALITY_NUMBERS", "FEATURES", "ATRIAL_FEATURES", "StageTwo", "StageTwoError", "quality_numbers",
           "design"]

#: floor of the CNN probabilities before the log (int8 output resolution is 1/256)
P_FLOOR = 0.005
#: the quality numbers the stage reads, in the order of :func:`quality_numbers`
QUALITY_NUMBERS: tuple[str, ...] = ("template_corr", "qrs_prominence", "hf_noise_ratio", "lead_off_fraction",
                                    "clipped_fraction")
#: the stage's input features, in the order of :func:`design`'s columns
FEATURES: tuple[str, ...] = (
    *(f"log_p_{c}" for c in CLASS_CODES),
    *(f"rr_z_{n}" for n in RR_NAMES),
    "template_corr", "log_qrs_prominence", "log_hf_noise_ratio", "lead_off_fraction", "clipped_fraction",
)
#: the atrial-activity columns a stage may add after :data:`FEATURES` (:mod:`ecg.atrial`)
ATRIAL_FEATURES: tuple[str, ...] = tuple(f"atrial_{n}" for n in ATRIAL_NAMES)
#: stage kinds this runtime implements (the sidecar's ``stage_two.kind``)
KINDS = ("logistic-v1",)


class StageTwoError(ValueError):
    """The sidecar's ``stage_two`` section does not fit this runtime (the message says what)."""


def quality_numbers(quality: Quality) -> np.ndarray:
    """The quality gate's numbers of one recording (order :data:`QUALITY_NUMBERS`; absent → 0)."""
    return np.array([0.0 if getattr(quality, k) is None else float(getattr(quality, k)) for k in QUALITY_NUMBERS])


def design(probs: np.ndarray, rr_z: np.ndarray, quality: np.ndarray, atrial: np.ndarray | None = None) -> np.ndarray:
    """The stage's feature rows (order :data:`FEATURES`, then :data:`ATRIAL_FEATURES` when
    ``atrial`` is given) of many recordings at once.

    Parameters
    ----------
    probs : np.ndarray
        ``(n, 4)`` CNN probabilities (order :data:`ecg.classes.CLASS_CODES`).
    rr_z : np.ndarray
        ``(n, 14)`` standardised RR features, as fed to the CNN.
    quality : np.ndarray
        ``(n, 5)`` rows of :func:`quality_numbers`.
    atrial : np.ndarray, optional
        ``(n, 6)`` rows of :func:`ecg.atrial.atrial_features`.
    """
    p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    q = np.atleast_2d(np.asarray(quality, dtype=np.float64))
    corr, prom, hf, lead_off, clipped = q.T
    cols = [
        np.log(np.clip(p, P_FLOOR, 1.0)),
        np.atleast_2d(np.asarray(rr_z, dtype=np.float64)),
        corr, np.log(np.clip(prom, 0.1, 1e3)), np.log(np.clip(hf, 1e-4, 1e3)), lead_off, clipped,
    ]
    if atrial is not None:
        cols.append(np.atleast_2d(np.asarray(atrial, dtype=np.float64)))
    return np.column_stack(cols)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class StageTwo:
    """Coefficients of the second stage (the sidecar's ``stage_two``).

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    mean, std : np.ndarray
        ``(k,)`` standardisation of the :data:`FEATURES` columns.
    weights : np.ndarray
        ``(k, 4)`` logistic-regression weights; ``bias`` ``(4,)``.
    atrial : bool
        Whether the columns end with :data:`ATRIAL_FEATURES` (then :meth:`probabilities`
        needs the recordings' atrial features).
    """

    kind: str
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    atrial: bool = False

    @property
    def features(self) -> tuple[str, ...]:
        """The names of the stage's columns."""
        return FEATURES + ATRIAL_FEATURES if self.atrial else FEATURES

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StageTwo:
        """Parse and check a sidecar section (raises :class:`StageTwoError`)."""
        try:
            kind, names = str(d["kind"]), list(d["features"])
            arrays = [np.asarray(d[k], dtype=np.float64) for k in ("mean", "std", "weights", "bias")]
        except (KeyError, TypeError, ValueError) as exc:
            raise StageTwoError(f"stage_two: bad or missing value ({type(exc).__name__}: {exc})") from None
        if kind not in KINDS:
            raise StageTwoError(f"stage_two.kind {kind!r} is not one of {KINDS}")
        if names not in (list(FEATURES), list(FEATURES + ATRIAL_FEATURES)):
            raise StageTwoError(f"stage_two.features {names} differ from this runtime's {list(FEATURES)} "
                                f"(optionally followed by {list(ATRIAL_FEATURES)})")
        mean, std, weights, bias = arrays
        k, c = len(names), len(CLASS_CODES)
        if mean.shape != (k,) or std.shape != (k,) or weights.shape != (k, c) or bias.shape != (c,):
            raise StageTwoError(f"stage_two shapes mean {mean.shape}, std {std.shape}, weights {weights.shape}, "
                                f"bias {bias.shape}; expected ({k},), ({k},), ({k}, {c}), ({c},)")
        if not all(np.all(np.isfinite(a)) for a in arrays) or np.any(std <= 0):
            raise StageTwoError("stage_two values must be finite, with positive std")
        return cls(kind, mean, std, weights, bias, atrial=len(names) > len(FEATURES))

    def to_dict(self) -> dict[str, Any]:
        """The sidecar section (values as lists)."""
        return {"kind": self.kind, "features": list(self.features), "mean": self.mean.tolist(),
                "std": self.std.tolist(), "weights": self.weights.tolist(), "bias": self.bias.tolist()}

    def probabilities(self, probs: np.ndarray, rr_z: np.ndarray, quality: np.ndarray,
                      atrial: np.ndarray | None = None) -> np.ndarray:
        """``(n, 4)`` second-stage probabilities of many recordings (see :func:`design`;
        ``atrial`` is required exactly when the stage reads atrial features)."""
        if self.atrial != (atrial is not None):
            raise StageTwoError(f"this stage {'reads' if self.atrial else 'does not read'} atrial features")
        x = (design(probs, rr_z, quality, atrial) - self.mean) / self.std
        return _softmax(x @ self.weights + self.bias)
