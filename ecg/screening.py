"""Local rhythm screening of a single-lead ECG: the one function the phone and the cloud call.

:func:`screen` takes one lead **in millivolts at the recording's rate** and does its own
preprocessing: the model's input rate, band and windows come from the model's sidecar
(``ecg/models/rhythm.json``, see :mod:`ecg.model`). Callers never filter or resample before
it. It runs, once per recording:

1. caller checks (one lead, a possible sample rate of at least :data:`ecg.model.MIN_FS_HZ`)
   — failures raise :class:`ecg.errors.SignalError`, since they are the caller's mistake;
2. R peaks (:mod:`ecg.beats`) and signal quality (:mod:`ecg.quality`). NaN/inf samples,
   a recording shorter than :data:`MIN_DURATION_S`, flat, lead-off, clipped, implausible
   morphology (e.g. a square wave) ... give an **unreadable** answer with the quality
   reasons — the model is not run, and there is no heart rate;
3. the shipped TFLite model (:mod:`ecg.model`) on the waveform and RR features, then its
   second stage (:mod:`ecg.stage_two`) on the model's probabilities, those RR features and
   the quality numbers of step 2 (nothing recomputed);
4. the decision rule, :func:`decide` (:func:`apply_rule` for the code and category),
   with the parameters of the sidecar's ``decision`` section
   (:class:`ecg.model.DecisionParams`); a ``~`` decision is unreadable too (quality reason
   ``model_noise``, no heart rate).

Codes, categories and words come from the class table, :mod:`ecg.classes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ecg.atrial import context_features
from ecg.classes import CATEGORIES as ALL_CATEGORIES
from ecg.classes import CLASS_CODES, RHYTHM_CLASSES, UNREADABLE, by_category
from ecg.context import LeadContext, context_for
from ecg.errors import SignalError
from ecg.io import validate_fs
from ecg.model import MIN_FS_HZ, DecisionParams, RhythmModel, load_model
from ecg.quality import MIN_DURATION_S, Quality, assess
from ecg.rr_features import rr_features

__all__ = [
    "CATEGORIES",
    "MIN_DURATION_S",
    "MODEL_NOISE",
    "Verdict",
    "ScreeningResult",
    "apply_rule",
    "decide",
    "screen",
    "screen_many",
]

#: category of each CinC code (from the class table, :mod:`ecg.classes`)
CATEGORIES: dict[str, str] = {c.code: c.category for c in RHYTHM_CLASSES}
#: quality reason added when the signal passed the quality checks but the model found it noise
MODEL_NOISE = "model_noise"
# where apply_rule reads and writes (looked up once)
_A_INDEX, _NOISE_INDEX = CLASS_CODES.index("A"), CLASS_CODES.index("~")
_INCONCLUSIVE_INDEX = ALL_CATEGORIES.index("inconclusive")


@dataclass(frozen=True)
class Verdict:
    """What the decision rule says: a code, its category and flags."""

    code: str
    category: str
    flags: tuple[str, ...] = ()


def apply_rule(probs: np.ndarray, params: DecisionParams) -> tuple[np.ndarray, np.ndarray]:
    """The decision rule on many recordings at once (training tunes and scores with it).

    Rule ``af-band-v1`` (``docs/screening.md``), per row of model probabilities ``p``
    (order :data:`ecg.classes.CLASS_CODES`):

    1. best guess = arg-max of ``p × class_weights``;
    2. ``p(A) ≥ af_call_min`` → code ``A``, category ``atrial_fibrillation``;
    3. best guess ``~`` → ``unreadable``;
    4. ``af_band_min ≤ p(A) < af_call_min``, or best guess ``A`` (below ``af_call_min``)
       → ``inconclusive`` (the AF band), code = best guess;
    5. best guess N or O with ``p(code) < min_probability[code]`` → ``inconclusive``;
    6. otherwise the best guess's category.

    Parameters
    ----------
    probs : np.ndarray
        ``(n, 4)`` probabilities.
    params : DecisionParams

    Returns
    -------
    codes : np.ndarray
        ``(n,)`` index into :data:`ecg.classes.CLASS_CODES`.
    categories : np.ndarray
        ``(n,)`` index into :data:`ecg.classes.CATEGORIES` (the four classes, then ``inconclusive``).

    Examples
    --------
    >>> from ecg.model import load_model
    >>> codes, cats = apply_rule(np.array([[0.9, 0.05, 0.03, 0.02], [0.2, 0.1, 0.2, 0.5]]), load_model().decision)
    >>> codes.tolist(), cats.tolist()
    ([0, 3], [0, 3])
    """
    p = np.asarray(probs, dtype=np.float64)
    p = p.reshape(1, -1) if p.ndim < 2 else p  # np.atleast_2d without its wrapper
    a_idx, noise_idx, inconclusive = _A_INDEX, _NOISE_INDEX, _INCONCLUSIVE_INDEX
    codes = (p * np.asarray(params.class_weights)).argmax(axis=1)
    cats = codes.copy()  # the four model classes come first in CATEGORIES, in code order
    p_a = p[:, a_idx]
    called = p_a >= params.af_call_min
    floors = np.asarray(params.min_probability)[codes]
    unsure = ~called & (codes != noise_idx) & (
        (p_a >= params.af_band_min) | (codes == a_idx) | (p[np.arange(p.shape[0]), codes] < floors)
    )
    cats[unsure] = inconclusive
    codes[called] = a_idx
    cats[called] = a_idx
    return codes, cats


def decide(probabilities: Mapping[str, float] | None, heart_rate_bpm: float | None,
           params: DecisionParams) -> Verdict:
    """The decision rule for one recording: code, category and flags.

    Parameters
    ----------
    probabilities : mapping or None
        Probability of each code of :data:`ecg.classes.CLASS_CODES`; None when the signal
        is unreadable (the model was not run).
    heart_rate_bpm : float or None
        Heart rate of the recording, for the flags.
    params : DecisionParams
        The loaded model's ``decision`` parameters.

    Returns
    -------
    Verdict
        Code and category from :func:`apply_rule`; flags ``inconclusive``,
        ``low_heart_rate`` (< ``low_heart_rate_bpm``) and ``high_heart_rate``
        (> ``high_heart_rate_bpm``, not for AF) on readable answers.

    Examples
    --------
    >>> from ecg.model import load_model
    >>> decide(None, None, load_model().decision)
    Verdict(code='~', category='unreadable', flags=())
    """
    if probabilities is None:
        return Verdict(UNREADABLE.code, UNREADABLE.category)
    codes, cats = apply_rule(np.array([[float(probabilities[c]) for c in CLASS_CODES]]), params)
    code, category = CLASS_CODES[int(codes[0])], ALL_CATEGORIES[int(cats[0])]
    if category == UNREADABLE.category:
        return Verdict(code, category)
    flags: list[str] = ["inconclusive"] if category == "inconclusive" else []
    if heart_rate_bpm is not None and heart_rate_bpm < params.low_heart_rate_bpm:
        flags.append("low_heart_rate")
    if heart_rate_bpm is not None and heart_rate_bpm > params.high_heart_rate_bpm and code != "A":
        flags.append("high_heart_rate")
    return Verdict(code, category, tuple(flags))


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
        Model probability of each code (sums to 1); empty when the signal was unreadable
        (the model was not run).
    heart_rate_bpm : float or None
        None whenever the answer is unreadable.
    quality : Quality
        ``readable`` False with ``reasons`` whenever the answer is unreadable.
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

    @property
    def probability(self) -> float | None:
        """Model probability of the decided code (None when the model was not run)."""
        p = self.probabilities.get(self.label)
        return None if p is None else float(p)

    def rhythm(self) -> dict[str, Any]:
        """The answer as ``{code, category, probability, label}`` (``label``: patient words
        from :mod:`ecg.classes`); the cloud answer's ``rhythm`` is this very dict."""
        p = self.probability
        return {
            "code": self.label,
            "category": self.category,
            "probability": None if p is None else round(p, 4),
            "label": by_category(self.category).patient_label,
        }

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
            "rhythm": self.rhythm(),
        }


def _one_lead(sig_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
    fs = validate_fs(fs_hz)
    x = np.asarray(sig_mv, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise SignalError(f"screening needs one lead, got shape {x.shape}", reason="bad_shape")
    if fs < MIN_FS_HZ:
        raise SignalError(f"sample rate {fs:g} Hz is too low for screening (≥ {MIN_FS_HZ:g} Hz needed)",
                          reason="bad_fs", fs_hz=fs)
    return x, fs


def _unreadable(quality: Quality, version: str, probabilities: dict[str, float] | None = None) -> ScreeningResult:
    """An unreadable answer: no heart rate anywhere, quality not readable with its reasons."""
    quality = replace(quality, readable=False, heart_rate_bpm=None)
    return ScreeningResult(UNREADABLE.code, UNREADABLE.category, dict(probabilities or {}), None, quality,
                           model_version=version)


def screen(
    sig_mv: np.ndarray, fs_hz: float, *, model: RhythmModel | None = None, context: LeadContext | None = None
) -> ScreeningResult:
    """Screen one single-lead ECG for sinus rhythm, AF, other rhythm or unreadable.

    Parameters
    ----------
    sig_mv : np.ndarray
        One lead in millivolts at the recording's rate, ``(n,)`` or ``(n, 1)``. Unfiltered:
        screening band-passes and resamples by itself (values from the model's sidecar).
    fs_hz : float
        The recording's sample rate (Hz), at least 100.
    model : RhythmModel, optional
        Defaults to the shipped model (loaded once, cached).
    context : LeadContext, optional
        The analysis context of this lead (:mod:`ecg.context`): its R peaks and quality
        are reused and kept for the next steps. Must hold ``sig_mv`` at ``fs_hz``.

    Returns
    -------
    ScreeningResult
        Unreadable (``~``, no heart rate, reasons in ``quality``) for NaN/inf samples, less
        than :data:`MIN_DURATION_S`, flat, lead-off, clipped or implausible signals.

    Raises
    ------
    SignalError
        Impossible or too low sample rate, several leads.
    ecg.model.ModelError
        The model cannot be loaded.

    Examples
    --------
    >>> import numpy as np
    >>> r = screen(np.zeros(9000), 300.0)
    >>> r.category, r.heart_rate_bpm, r.quality.reasons[:2]
    ('unreadable', None, ['flat', 'lead_off'])
    """
    x, fs = _one_lead(sig_mv, fs_hz)
    rhythm = model or load_model()
    if x.size < MIN_DURATION_S * fs or not np.isfinite(x).all():
        return _unreadable(assess(x, fs), rhythm.version)
    return screen_many([context_for(x, fs, context)], model=rhythm)[0]


def screen_many(contexts: Sequence[LeadContext], *, model: RhythmModel | None = None) -> list[ScreeningResult]:
    """:func:`screen` of several leads or recordings, given their analysis contexts: each
    gets what :func:`screen` gives it alone; the model runs once over the windows of all
    readable ones (:meth:`ecg.model.RhythmModel.predict_many`).

    Parameters
    ----------
    contexts : sequence of LeadContext
        One per lead or recording (any rates and lengths); their R peaks and quality are
        reused and kept.
    model : RhythmModel, optional
        Defaults to the shipped model.

    Returns
    -------
    list of ScreeningResult
        One per context, in order.

    Raises
    ------
    SignalError
        A context's rate is too low for screening, or its R peaks cannot be detected.

    Examples
    --------
    >>> import numpy as np
    >>> from ecg.context import LeadContext
    >>> [r.category for r in screen_many([LeadContext.of(np.zeros(9000), 300.0)])]
    ['unreadable']
    """
    rhythm = model or load_model()
    results: list[ScreeningResult | None] = []
    ready: list[tuple[int, LeadContext, np.ndarray]] = []  # (position, context, RR features)
    for ctx in contexts:
        x, fs = _one_lead(ctx.signal_mv, ctx.fs_hz)
        if x.size < MIN_DURATION_S * fs:
            results.append(_unreadable(assess(x, fs), rhythm.version))
            continue
        peaks = ctx.r_peaks
        if not ctx.quality.readable:
            results.append(_unreadable(ctx.quality, rhythm.version))
            continue
        ready.append((len(results), ctx, rr_features(peaks, fs, duration_s=x.size / fs)))
        results.append(None)
    atrial = [context_features(c) for _, c, _ in ready] if rhythm.needs_atrial else None  # only if the stage reads them
    probs = rhythm.predict_many([c.signal_mv for _, c, _ in ready], [c.fs_hz for _, c, _ in ready],
                                [rr for _, _, rr in ready], [c.quality for _, c, _ in ready], atrial) if ready else []
    for (at, ctx, _), p in zip(ready, probs, strict=True):
        results[at] = _verdict(ctx, p, rhythm)
    return [r for r in results if r is not None]


def _verdict(ctx: LeadContext, probs: np.ndarray, rhythm: RhythmModel) -> ScreeningResult:
    """The decision on a readable context's model probabilities."""
    quality, hr = ctx.quality, ctx.heart_rate_bpm
    prob_map = dict(zip(CLASS_CODES, probs.tolist()))  # float(p) of each
    verdict = decide(prob_map, hr, rhythm.decision)
    if verdict.category == UNREADABLE.category:
        return _unreadable(replace(quality, reasons=[*quality.reasons, MODEL_NOISE]), rhythm.version, prob_map)
    return ScreeningResult(verdict.code, verdict.category, prob_map, hr, quality, list(verdict.flags), rhythm.version)
