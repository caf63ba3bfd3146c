"""The learned delineator: the segmenter's boundaries inside the rule delineator's checks.

For one lead (:class:`ecg.context.LeadContext`):

1. the rule delineator (:func:`ecg.delineation.lead.delineate_context`) runs first — it
   places each beat on its R wave and decides whether the lead can be measured at all
   (QRS amplitude, noise, beats alike); an unmeasurable lead stays null with its reason;
2. the segmenter (:mod:`ecg.delineation.segmenter`) labels every sample P / QRS / T, and
   each beat takes its QRS, the T after it and the P before it; a boundary comes from the
   source that :data:`SOURCE` names — QRS and P boundaries are the mean of the segmenter's
   and the rule delineator's, the T end is the segmenter's (chosen on cross-validated LUDB
   figures, see ``docs/performance.md``); a beat whose P wave only the rules found keeps
   it; P and T peaks are the samples farthest from the line joining the wave's onset and
   offset;
3. the rule delineator's consistency checks run on the result: T waves far from the
   record's median QT are dropped, and P waves are kept only when most beats have one at
   a steady distance from the QRS with a quiet T–P stretch (otherwise none, with the
   reason: e.g. atrial fibrillation); when only the rule delineator's P waves pass these
   checks, they are kept.

Without the segmenter model (or without a TFLite runtime) the rule delineator's answer
is returned unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecg.model import ModelError

from .lead import MISSING, LeadWaves, _check_p_consistency, _drop_odd_t, _tp_activity, delineate_context
from .segmenter import WaveSegmenter, beat_boundaries, load_segmenter

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.context import LeadContext

__all__ = ["delineate_learned", "SOURCE", "P_FILL_FROM_RULE", "P_FALLBACK_TO_RULE"]

#: which delineator sets each boundary: "learned", "rule", or "mean" (the average of the
#: two where both found it, else the one that did). Chosen on the held-out records of CV
#: folds 0 and 1 and confirmed on the folds not looked at (``docs/performance.md``): the
#: two delineators' QRS and P errors are partly independent, so their mean is tighter
#: than either (lead I QRS onset SD 9.2 ms against 11.1 learned and 13.0 rules).
SOURCE = {
    "p_on": "mean", "p_off": "mean",
    "qrs_on": "mean", "qrs_off": "mean",
    "t_off": "learned",
}
#: beats where the segmenter found no P wave but the rule delineator did keep the rule's
P_FILL_FROM_RULE = True
#: when the learned P waves fail the record's P checks (steady PR, quiet T–P) but the rule
#: delineator's passed them, the rule delineator's P waves are kept
P_FALLBACK_TO_RULE = True


def _combine(rule: np.ndarray, learned: np.ndarray, source: str) -> np.ndarray:
    if source == "rule":
        return rule.copy()
    if source == "learned":
        return learned.copy()
    both = (rule != MISSING) & (learned != MISSING)
    out = np.where(learned != MISSING, learned, rule)
    out[both] = np.round((rule[both] + learned[both]) / 2.0).astype(out.dtype)
    return out


def _peaks(x: np.ndarray, on: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per wave: the sample farthest from the onset–offset line, and that distance (mV)."""
    peak = np.full(on.size, MISSING, dtype=np.int64)
    amp = np.zeros(on.size)
    for i in np.flatnonzero((on >= 0) & (off > on)):
        seg = x[on[i] : off[i] + 1]
        dev = np.abs(seg - np.linspace(seg[0], seg[-1], seg.size))
        j = int(np.argmax(dev))
        peak[i], amp[i] = on[i] + j, float(dev[j])
    return peak, amp


def delineate_learned(ctx: LeadContext, segmenter: WaveSegmenter | None = None) -> LeadWaves:
    """Delineate the context's lead with the segmenter (a :data:`ecg.context.Delineator`).

    Parameters
    ----------
    ctx : LeadContext
        The lead's analysis context (its R peaks and views are reused).
    segmenter : WaveSegmenter, optional
        The model to run (default: the shipped one).

    Returns
    -------
    LeadWaves
        As from the rule delineator, with the learned boundaries.
    """
    rule = delineate_context(ctx)
    if "all" in rule.reasons or rule.n_beats == 0 or rule.views is None:
        return rule
    try:
        seg = segmenter or load_segmenter()
    except ModelError:
        return rule
    fs = ctx.fs_hz
    learned = beat_boundaries(seg.probabilities(ctx.signal_mv, fs), rule.waves["r_peak"], fs, ctx.n_samples)
    w = {k: v.copy() for k, v in rule.waves.items()}
    for key, source in SOURCE.items():
        w[key] = _combine(rule.waves[key], learned[key], source)
    if P_FILL_FROM_RULE and "p" not in rule.reasons:
        gap = (w["p_on"] == MISSING) & (rule.waves["p_on"] != MISSING)
        w["p_on"][gap], w["p_off"][gap] = rule.waves["p_on"][gap], rule.waves["p_off"][gap]
    smooth = rule.views.smooth_mv
    if SOURCE["t_off"] == "learned":
        t_on = np.where(w["t_off"] >= 0, learned["t_on"], MISSING)
        w["t_peak"], _ = _peaks(smooth, t_on, w["t_off"])
    _drop_odd_t(w, fs)
    reasons = {k: v for k, v in rule.reasons.items() if k != "p"}
    w["p_peak"], p_amps = _peaks(smooth, w["p_on"], w["p_off"])
    why_no_p = _check_p_consistency(w, fs) or _tp_activity(rule.views, w, p_amps)
    if why_no_p is not None and P_FALLBACK_TO_RULE and "p" not in rule.reasons:
        for k in ("p_on", "p_peak", "p_off"):
            w[k] = rule.waves[k].copy()
        why_no_p = None
    if why_no_p is not None:
        for k in ("p_on", "p_peak", "p_off"):
            w[k][:] = MISSING
        reasons["p"] = why_no_p
    return LeadWaves(w, fs, rule.polarity, rule.qrs_amplitude_mv, rule.noise_mv, reasons, rule.views)
