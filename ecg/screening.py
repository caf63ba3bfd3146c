"""Local rhythm screening of a single-lead ECG: the function the companion and cloud call.

:func:`screen` runs, on one lead in millivolts:

1. input checks (finite samples, at least :data:`MIN_DURATION_S`, a sample rate of at
   least :data:`ecg.model.MIN_FS_HZ`) — failures raise :class:`ecg.errors.SignalError`;
2. R peaks and heart rate (:mod:`ecg.beats`), signal quality (:mod:`ecg.quality`);
3. the shipped TFLite model (:mod:`ecg.model`) on the waveform and RR irregularity
   features, loaded once per process.

Decision rules (documented in ``docs/screening.md``):

- quality not readable → label ``~``, category ``unreadable`` (whatever the model says);
- otherwise the model decides (:func:`ecg.model.decide`): AF when p(A) reaches the tuned
  ``af_threshold``, else the arg-max over N, O, ~ of probabilities times the tuned class
  weights; ``N`` → ``sinus_rhythm``, ``A`` → ``atrial_fibrillation``, ``O`` → ``other_rhythm``,
  ``~`` → ``unreadable``;
- **inconclusive**: a readable recording whose decided rhythm (N, A or O) has a model
  probability below :data:`INCONCLUSIVE_BELOW` gets category ``inconclusive`` and flag
  ``inconclusive`` (the label keeps the CinC code of the best guess);
- flags ``low_heart_rate`` (< :data:`LOW_HR_BPM`) and ``high_heart_rate``
  (> :data:`HIGH_HR_BPM`, not raised when the label is AF, whose fast rate is part of the
  AF finding) on readable recordings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecg import beats
from ecg.classes import RHYTHM_CLASSES
from ecg.errors import SignalError
from ecg.model import CLASSES, MIN_FS_HZ, RhythmModel, load_model
from ecg.preprocess import check_signal
from ecg.quality import Quality, assess
from ecg.rr_features import rr_features

__all__ = [
    "CATEGORIES",
    "INCONCLUSIVE_BELOW",
    "LOW_HR_BPM",
    "HIGH_HR_BPM",
    "MIN_DURATION_S",
    "ScreeningResult",
    "screen",
]

#: category of each CinC code (from the class table, :mod:`ecg.classes`)
CATEGORIES: dict[str, str] = {c.code: c.category for c in RHYTHM_CLASSES}
#: a readable rhythm decision with a probability below this is reported as inconclusive
INCONCLUSIVE_BELOW = 0.45
#: heart-rate flags (bpm)
LOW_HR_BPM = 50.0
HIGH_HR_BPM = 100.0
#: shortest recording screened (s)
MIN_DURATION_S = 5.0


@dataclass(frozen=True)
class ScreeningResult:
    """Outcome of :func:`screen`.

    Attributes
    ----------
    label : str
        CinC 2017 code: ``N``, ``A``, ``O`` or ``~``.
    category : str
        ``sinus_rhythm``, ``atrial_fibrillation``, ``other_rhythm``, ``unreadable`` or
        ``inconclusive``.
    probabilities : dict
        Model probability of each code (sums to 1).
    heart_rate_bpm : float or None
    quality : Quality
    flags : list of str
        ``low_heart_rate``, ``high_heart_rate``, ``inconclusive``.
    model_version : str
    """

    label: str
    category: str
    probabilities: dict[str, float]
    heart_rate_bpm: float | None
    quality: Quality
    flags: list[str] = field(default_factory=list)
    model_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (probabilities to 4 decimals, heart rate to 0.1 bpm)."""
        return {
            "label": self.label,
            "category": self.category,
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "heart_rate_bpm": None if self.heart_rate_bpm is None else round(self.heart_rate_bpm, 1),
            "quality": self.quality.to_dict(),
            "flags": list(self.flags),
            "model_version": self.model_version,
        }


def _one_lead(sig_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
    x, fs = check_signal(sig_mv, fs_hz, min_duration_s=MIN_DURATION_S)
    if x.ndim == 2:
        if x.shape[1] != 1:
            raise SignalError(f"screening needs one lead, got {x.shape[1]}", reason="bad_shape")
        x = x[:, 0]
    if fs < MIN_FS_HZ:
        raise SignalError(f"sample rate {fs:g} Hz is too low for screening (≥ {MIN_FS_HZ:g} Hz needed)",
                          reason="bad_fs", fs_hz=fs)
    return x, fs


def screen(sig_mv: np.ndarray, fs_hz: float, *, model: RhythmModel | None = None) -> ScreeningResult:
    """Screen one single-lead ECG for sinus rhythm, AF, other rhythm or unreadable.

    Parameters
    ----------
    sig_mv : np.ndarray
        One lead in millivolts, ``(n,)`` or ``(n, 1)``.
    fs_hz : float
        Sample rate (Hz), at least 100.
    model : RhythmModel, optional
        Defaults to the shipped model (loaded once, cached).

    Returns
    -------
    ScreeningResult

    Raises
    ------
    SignalError
        NaN/inf samples, shorter than 5 s, impossible or too low sample rate, several leads.
    ecg.model.ModelError
        The model cannot be loaded.

    Examples
    --------
    >>> import numpy as np
    >>> screen(np.zeros(9000), 300.0).category
    'unreadable'
    """
    x, fs = _one_lead(sig_mv, fs_hz)
    rhythm = model or load_model()
    peaks = beats.detect_r_peaks(x, fs)
    quality = assess(x, fs, r_peaks=peaks)
    hr = beats.heart_rate_bpm(peaks, fs)
    feats = rr_features(peaks, fs, duration_s=x.size / fs)
    probs = rhythm.predict(x, fs, feats)
    prob_map = {c: float(p) for c, p in zip(CLASSES, probs)}
    flags: list[str] = []
    if not quality.readable:
        label = "~"
        category = CATEGORIES[label]
    else:
        label = CLASSES[rhythm.decide(probs)]
        category = CATEGORIES[label]
        if label != "~" and prob_map[label] < INCONCLUSIVE_BELOW:
            category = "inconclusive"
            flags.append("inconclusive")
        if hr is not None and label != "~" and hr < LOW_HR_BPM:
            flags.append("low_heart_rate")
        if hr is not None and hr > HIGH_HR_BPM and label not in ("A", "~"):
            flags.append("high_heart_rate")
    return ScreeningResult(
        label=label,
        category=category,
        probabilities=prob_map,
        heart_rate_bpm=hr,
        quality=quality,
        flags=flags,
        model_version=rhythm.version,
    )
