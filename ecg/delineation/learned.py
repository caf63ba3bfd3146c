"""The learned delineator: the segmenter's boundaries on the rule delineator's beats and gates.

For the leads of one recording (:class:`ecg.context.LeadContext`, same rate and length),
all at once:

1. each lead's beats are placed on its own R wave exactly as the rule delineator places
   them (:func:`ecg.delineation.qrs.locate_many` on the shared filtered views);
2. the segmenter (:mod:`ecg.delineation.segmenter`) labels every sample of every lead
   P / QRS / T in one invoke, from the leads' ``clean_mv`` views; each beat takes its QRS,
   the T after it and the P before it, each with a confidence
   (:func:`~ecg.delineation.segmenter.beat_boundaries_many`; P and T from the mean with the
   sidecar's ``"pt_members"`` when it names any);
3. the rule delineator's QRS search runs (the only rule boundary search): its QRS
   amplitudes and noise feed the rule delineator's lead gates, which decide whether a lead
   can be measured at all (QRS amplitude, noise, beats alike; an unmeasurable lead stays
   null with its reason); each QRS offset is the mean of its and the segmenter's, each QRS
   onset the segmenter's (:data:`QRS_SOURCE`: what measurably helps); on a lead where its QRS widths vary
   beyond the interval limit (noise) its boundaries are kept, so that lead gets no QRS,
   PR or QT, as from the rule delineator;
4. the network decides which waves are there: a T wave counts when its mean T
   probability reaches :data:`T_MIN_SCORE` (then T ends far from the lead's median QT
   are dropped), a P wave when its largest P probability reaches :data:`P_MIN_SCORE`;
   a lead reports P waves only when the network found one before most beats
   (:data:`P_CHECK`; otherwise none, with the reason: e.g. atrial fibrillation);
5. rules refine the network's boundaries at the recording's rate where that measurably
   helps (:mod:`ecg.delineation.learned_refine`): each P onset (:data:`P_ON_REFINE`) is the
   mean of the network's and a slope-threshold boundary on the network's own wave (the T
   end, :data:`T_OFF_REFINE`, is the network's own since the P/T members: the nested
   procedure's choice); then each P onset is averaged with the onset
   placed alike within all the lead's P waves (:data:`P_ON_ALIGN`: each P wave aligned to
   the lead's mean P wave, so the onset still follows the beat's own P wave and PR changes
   between beats are kept).

The constants (QRS sources, P and T thresholds, P checks, refinements) are those chosen on all five
cross-validation folds by the nested procedure of ``benchmarks/delineation_nested.py``,
whose per-fold choices give the unseen-record figures (``docs/performance.md``). Without the segmenter model (or without
a TFLite runtime) the rule delineator's answer is returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ecg.model import ModelError

from .batch import (
    _NO_P,
    _gate,
    _noise_mv,
    _qrs_all,
    _qrs_similarity_all,
    check_p_consistency,
    delineate_many,
    drop_odd_t,
    lead_waves_of,
    tp_activity,
)
from .filters import LeadViews, StackedViews
from .lead import _P_MIN_BEAT_FRACTION, MISSING, LeadWaves, _empty, delineate_context
from .learned_refine import align_p_on, isoelectric, refine_p_on, refine_t_off
from .qrs import locate_many
from .segmenter import WaveSegmenter, beat_boundaries_many, load_segmenter
from .summary import MIN_BEATS, median_intervals_many
from .vec import Rows, masked_argmax, ranges

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.context import LeadContext

__all__ = ["delineate_learned", "delineate_learned_many", "default_delineator", "many_of", "LEARNED_IS_DEFAULT",
           "P_MIN_SCORE", "T_MIN_SCORE", "P_TP_CHECK",
           "P_CHECK", "QRS_SOURCE", "P_ON_REFINE", "T_OFF_REFINE", "P_ON_ALIGN"]

#: the delineator every caller gets unless it names one (``ecg.context.LeadContext``):
#: phone, cloud and ``cardio measure`` alike
LEARNED_IS_DEFAULT = False

#: a P wave counts when its largest P probability reaches this
P_MIN_SCORE = 0.7
#: where each QRS boundary comes from: "learned" (the segmenter), "rule" (the rule
#: delineator's QRS search), "mean" (their average where both exist) or "min" (the earlier)
QRS_SOURCE = {"qrs_on": "learned", "qrs_off": "mean"}
#: a T wave counts when its mean T probability reaches this (2026-12-02 lever `pt8`: the
#: threshold calibrated on all five folds' records for the averaged P/T probabilities of the
#: shipped pair, by the nested procedure; 0.83 before, for `d125` alone)
T_MIN_SCORE = 0.80
#: which lead-level P check runs: "most_beats" (P waves before most beats, else none),
#: "steady" (the rule delineator's: also a steady P–QRS distance, off-distance P waves
#: dropped) or "none" ("none" let a fibrillation record through)
P_CHECK = "most_beats"
#: apply the rule delineator's T–P activity check (flutter/fibrillation waves as large as P)
P_TP_CHECK = False
#: P onsets refined at the recording's rate (:data:`ecg.delineation.learned_refine.P_ON_MODES`)
P_ON_REFINE = "mean_threshold"
#: P onsets placed alike within a lead's P waves (:func:`ecg.delineation.learned_refine.align_p_on`;
#: "none", "xcorr" or "mean_xcorr")
P_ON_ALIGN = "mean_xcorr"
#: T ends refined at the recording's rate (:data:`ecg.delineation.learned_refine.T_OFF_MODES`;
#: "net" = the network's own T end, the all-folds choice with the averaged T probabilities of
#: lever `pt8`; "mean_threshold" before)
T_OFF_REFINE = "net"
_WAVES = ("p_on", "p_off", "qrs_on", "qrs_off", "t_off")


def _peaks(x: np.ndarray, on: np.ndarray, off: np.ndarray, n: int, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per wave: the sample farthest from the line joining its onset and offset, and that
    distance (mV); ``MISSING``/0 where the wave is absent."""
    peak = np.full(on.size, MISSING, dtype=np.int64)
    amp = np.zeros(on.size)
    sel = np.flatnonzero((on >= 0) & (off > on))
    if sel.size == 0:
        return peak, amp
    a, b, bb = on[sel], off[sel], base[sel]
    idx, valid = ranges(a, b - a + 1, n, base=bb)
    seg = x[idx]
    first, last = x[bb + a], x[bb + b]
    k = np.arange(idx.shape[1])[None, :]
    line = first[:, None] + (last - first)[:, None] * k / np.maximum(b - a, 1)[:, None]
    dev = np.abs(seg - line)
    j = masked_argmax(dev, valid)
    peak[sel], amp[sel] = a + j, dev[np.arange(sel.size), j]
    return peak, amp


def _learned_waves(seg: WaveSegmenter, sv: StackedViews, stack_row: np.ndarray,
                   located: list[tuple[np.ndarray, float]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every beat's segmenter boundaries (``WAVE_KEYS`` + ``t_on``) and its P and T
    confidences ``(beats, 2)``, lead after lead."""
    fs, n = sv.fs_hz, sv.n_samples
    probs, probs_pt = seg.wave_probabilities_many(sv.clean_mv[stack_row], fs)
    b = beat_boundaries_many(probs, [peaks for peaks, _ in located], fs, n, probs_pt)
    w = _empty(b["p_score"].size)
    w["r_peak"][:] = np.concatenate([p for p, _ in located]) if located else np.zeros(0, dtype=np.int64)
    for key in (*_WAVES, "t_on"):
        w[key] = b[key]
    return w, np.stack([b["p_score"], b["t_score"]], axis=1)


def delineate_learned_many(contexts: list[LeadContext], segmenter: WaveSegmenter | None = None) -> list[LeadWaves]:
    """The learned delineator on the leads of one recording (same rate and length).

    Parameters
    ----------
    contexts : list of LeadContext
        The leads (their beat marks and filtered views are reused).
    segmenter : WaveSegmenter, optional
        The model to run (default: the shipped one).

    Returns
    -------
    list of LeadWaves
        One per context, as from the rule delineator; the rule delineator's own answer
        when no segmenter can be loaded.
    """
    try:
        seg = segmenter or load_segmenter()
    except ModelError:
        return delineate_many(contexts)
    views = [c.views for c in contexts]
    sv, stack_row = StackedViews.of(views)
    fs, n = sv.fs_hz, sv.n_samples
    located = locate_many([c.beat_marks for c in contexts], sv, stack_row)
    counts = np.array([p.size for p, _ in located], dtype=np.int64)
    lead = np.repeat(np.arange(len(contexts), dtype=np.int64), counts)
    rows = Rows(lead, stack_row[lead] * n, len(contexts))
    w, scores = _learned_waves(seg, sv, stack_row, located)
    r = w["r_peak"]
    rule = {k: np.full(r.size, MISSING, dtype=np.int64) for k in ("qrs_on", "r_peak", "qrs_off")}
    qrs_amp = rows.median(_qrs_all(sv, rows, r, rule))  # the rule delineator's QRS search and gates
    noise = _noise_mv(sv, rows, stack_row, rule["qrs_on"], rule["qrs_off"])
    corr = _qrs_similarity_all(sv, rows, r)
    _combine_qrs(w, rule, _unsteady_qrs(rule, counts, fs)[lead])
    gates = [None if counts[j] == 0 else _gate(float(qrs_amp[j]), float(noise[j]), float(corr[j]))
             for j in range(len(contexts))]
    ok = np.array([counts[j] > 0 and gates[j] is None for j in range(len(contexts))], dtype=bool)
    keep = ok[lead]
    sub, ws, score = rows.take(keep), {k: v[keep] for k, v in w.items()}, scores[keep]
    why_no_p = _judge_waves(sv, sub, ws, score)
    return lead_waves_of(located, views, ws, why_no_p, gates, qrs_amp, noise, fs)


def _unsteady_qrs(rule: dict[str, np.ndarray], counts: np.ndarray, fs: float) -> np.ndarray:
    """Per lead, True when the rule delineator's QRS search finds QRS widths that vary
    between beats beyond the interval limit (:data:`ecg.delineation.summary.MAX_SPREAD_MS`):
    on one rhythm the QRS barely changes, so a wide spread means the complexes sit in noise.
    The segmenter's own boundaries can be steady on noise (it always draws a wave shape)."""
    ends = np.cumsum(counts)
    per_lead = [{"qrs_on": rule["qrs_on"][e - c : e], "qrs_off": rule["qrs_off"][e - c : e]}
                for e, c in zip(ends.tolist(), counts.tolist(), strict=True)]
    out = np.zeros(counts.size, dtype=bool)
    for j, (waves, (value, _)) in enumerate(zip(per_lead, median_intervals_many(per_lead, "qrs_on", "qrs_off", fs),
                                               strict=True)):
        both = int(np.sum((waves["qrs_on"] != MISSING) & (waves["qrs_off"] != MISSING)))
        out[j] = value is None and both >= MIN_BEATS
    return out


def _combine_qrs(w: dict[str, np.ndarray], rule: dict[str, np.ndarray], unsteady: np.ndarray) -> None:
    """QRS boundaries from :data:`QRS_SOURCE`: the segmenter's, the rule delineator's QRS
    search's, or (``"mean"``) the average of both where both exist; beats of leads where the
    rule search's QRS widths are unsteady (``unsteady``, per beat) take the rule search's, so
    the interval checks find them unreliable and report no QRS, PR or QT exactly as the
    rule delineator does (no interval from a stretch of noise)."""
    for key, source in QRS_SOURCE.items():
        mine, theirs = w[key], rule[key]
        if source == "rule":
            w[key] = theirs.copy()
        elif source == "mean":
            both = (mine != MISSING) & (theirs != MISSING)
            out = np.where(mine != MISSING, mine, theirs)
            out[both] = np.rint((mine[both] + theirs[both]) / 2.0).astype(np.int64)
            w[key] = out
        elif source == "min":
            both = (mine != MISSING) & (theirs != MISSING)
            w[key] = np.where(both, np.minimum(mine, theirs), np.where(mine != MISSING, mine, theirs))
    for key in ("qrs_on", "qrs_off"):
        w[key][unsteady] = rule[key][unsteady]


def _p_before_most_beats(w: dict[str, np.ndarray], fs: float, rows: Rows) -> list[str | None]:
    """Per lead, the reason it has no P wave when the segmenter found one before fewer than
    :data:`ecg.delineation.lead._P_MIN_BEAT_FRACTION` of its beats (those far enough from the
    record start to have room for one), else None."""
    has = w["p_on"] != MISSING
    eligible = rows.count() - rows.count(w["qrs_on"] < int(0.34 * fs))
    few = (eligible <= 0) | (rows.count(has) < np.maximum(2, _P_MIN_BEAT_FRACTION * eligible))
    return [_NO_P if f else None for f in few.tolist()]


def _judge_waves(sv: StackedViews, rows: Rows, w: dict[str, np.ndarray], scores: np.ndarray) -> list[str | None]:
    """Unsure T waves and odd T ends dropped, P waves judged, P/T peaks; per lead, why it
    has no P wave."""
    n = sv.n_samples
    smooth = sv.flat("smooth_mv")
    unsure = scores[:, 1] < T_MIN_SCORE
    for k in ("t_on", "t_off"):
        w[k][unsure] = MISSING
    w["t_peak"], _ = _peaks(smooth, w["t_on"], w["t_off"], n, rows.base)
    iso = isoelectric(sv, rows, w) if (T_OFF_REFINE, P_ON_REFINE) != ("net", "net") else None
    refine_t_off(sv, rows, w, T_OFF_REFINE, iso)
    drop_odd_t(w, sv.fs_hz, rows)
    weak = scores[:, 0] < P_MIN_SCORE
    for k in ("p_on", "p_off"):
        w[k][weak] = MISSING
    w["p_peak"], p_amps = _peaks(smooth, w["p_on"], w["p_off"], n, rows.base)
    refine_p_on(sv, rows, w, P_ON_REFINE, iso)
    align_p_on(sv, rows, w, P_ON_ALIGN)
    why: list[str | None] = [None] * rows.n_leads
    if P_CHECK == "most_beats":
        why = _p_before_most_beats(w, sv.fs_hz, rows)
    elif P_CHECK == "steady":
        why = check_p_consistency(w, sv.fs_hz, rows)
    if P_TP_CHECK:
        tp = tp_activity(sv, w, p_amps, rows)
        why = [a if a is not None else b for a, b in zip(why, tp)]
    return why


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
    return delineate_learned_many([ctx], segmenter)[0]


def default_delineator() -> Callable[[LeadContext], LeadWaves]:
    """The delineator used when a caller names none (:data:`LEARNED_IS_DEFAULT`)."""
    return delineate_learned if LEARNED_IS_DEFAULT else delineate_context


def many_of(delineator: Callable[[LeadContext], LeadWaves] | None
            ) -> Callable[[list[LeadContext]], list[LeadWaves]] | None:
    """The all-leads-at-once form of a delineator (None: the default's), or None when it
    has none (then each lead is delineated alone)."""
    from . import batch, learned

    d = delineator or default_delineator()
    if d is delineate_learned:
        return learned.delineate_learned_many  # looked up when called (benchmarks wrap them)
    if d is delineate_context:
        return batch.delineate_many
    return None
