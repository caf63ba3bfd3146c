"""Figures of the screening decision rule and its tuning by cross-validation.

The rule itself is :func:`ecg.screening.apply_rule` (rule ``af-band-v1``, specified in
``docs/screening.md``; its parameters are :class:`ecg.model.DecisionParams`, the
``decision`` section of ``ecg/models/rhythm.json``). Training scores and tunes with that
very function; :func:`apply_gate_and_rule` only adds the quality gate in front of it
(a recording the gate rejects is ``~`` / ``unreadable`` and never reaches the model).

Figures (:func:`rule_figures`): on *classifiable* recordings (categories sinus, AF, other)
AF sensitivity and specificity (AF vs everything else, truth from the labels); the share of
all recordings that are inconclusive or unreadable; CinC F1 over *all* recordings scored on
the codes (the best guess, ``~`` for unreadable), and the stricter CinC F1 where an
inconclusive recording counts as a miss.

Tuning (:func:`tune`): the N/A/O class weights by coordinate search for the CinC F1 of the
codes, then a grid over ``af_call_min``, ``af_band_min`` and ``min_probability`` (N, O)
maximising the smallest *margin* over the four targets of :data:`TARGETS`, each margin in
units of its own standard error, so the rule sits as far from every target as the data allow
(and, when a target cannot be met, misses it by as little as possible). The ``~`` weight is
chosen with the N/A/O weights, for the CinC F1 alone, so it never sees the abstention budget.
Option ``noise_weights`` (e.g. :data:`NOISE_WEIGHTS`; tried on ``rhythm-2026.12-s1`` and *not*
adopted, see the model card) lets the ``~`` weight take part in the margin search: a lower
``~`` weight turns some model-noise answers into rhythm answers and frees budget for the AF
band. Guard: a candidate may give a rhythm answer (sinus, AF, other) to at most
:func:`noise_cap` of the ``~``-labelled recordings — the share under the F1-chosen ``~``
weight plus one standard error of it — so noise is not simply traded for the budget.
:func:`cross_validate` tunes on K-1 parts and applies the rule to the remaining part, so
every figure it returns comes from records the tuning did not see.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecg.classes import CATEGORIES
from ecg.model import DecisionParams
from ecg.screening import apply_rule
from training.metrics import cinc_f1

__all__ = [
    "CATEGORY_NAMES",
    "TARGETS",
    "apply_gate_and_rule",
    "NOISE_WEIGHTS",
    "make_params",
    "noise_cap",
    "target_margins",
    "rule_figures",
    "tune",
    "cross_validate",
    "parts",
]

#: category index → name (order of :func:`ecg.screening.apply_rule`'s categories)
CATEGORY_NAMES: tuple[str, ...] = CATEGORIES
SINUS, AF, OTHER, UNREADABLE, INCONCLUSIVE = (CATEGORIES.index(c) for c in (
    "sinus_rhythm", "atrial_fibrillation", "other_rhythm", "unreadable", "inconclusive"))
RULE = "af-band-v1"
#: heart-rate flag limits written into a new decision section (common clinical limits)
LOW_HR_BPM, HIGH_HR_BPM = 50.0, 100.0
N, A, O, NOISY = range(4)
#: issue 16's targets
TARGETS: dict[str, float] = {"af_se": 0.93, "af_sp": 0.99, "not_classified": 0.10, "cinc_f1_all": 0.82}
#: ``~`` class weights for the joint margin search (``tune(noise_weights=...)``; geometric, 0.5–2)
NOISE_WEIGHTS: tuple[float, ...] = tuple(float(v) for v in 2.0 ** np.linspace(-1.0, 1.0, 11))


def make_params(class_weights: np.ndarray, af_call_min: float, af_band_min: float, min_n: float, min_o: float,
                base: DecisionParams | None = None) -> DecisionParams:
    """A :class:`ecg.model.DecisionParams` (heart-rate flag limits taken from ``base``)."""
    low, high = (base.low_heart_rate_bpm, base.high_heart_rate_bpm) if base else (LOW_HR_BPM, HIGH_HR_BPM)
    r4 = lambda v: round(float(v), 4)  # noqa: E731 - the values as written into rhythm.json
    return DecisionParams(rule=RULE, class_weights=tuple(r4(v) for v in class_weights),
                          af_call_min=r4(af_call_min), af_band_min=r4(af_band_min),
                          min_probability=(r4(min_n), 0.0, r4(min_o), 0.0),
                          low_heart_rate_bpm=low, high_heart_rate_bpm=high)


def apply_gate_and_rule(probs: np.ndarray, readable: np.ndarray, params: DecisionParams) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, categories)``: the quality gate, then :func:`ecg.screening.apply_rule`."""
    readable = np.asarray(readable, dtype=bool)
    p = np.where(readable[:, None], np.nan_to_num(np.asarray(probs, dtype=np.float64)), 0.25)
    code, cat = apply_rule(p, params)
    code[~readable] = NOISY
    cat[~readable] = UNREADABLE
    return code, cat


def rule_figures(y: np.ndarray, code: np.ndarray, cat: np.ndarray) -> dict[str, float]:
    """Figures of one application of the rule (see the module doc)."""
    y = np.asarray(y)
    classifiable = cat <= OTHER
    af_true = y == A
    called = cat == AF
    pos, neg = classifiable & af_true, classifiable & ~af_true
    strict = np.where(cat == INCONCLUSIVE, -1, code)
    return {
        "af_se": float(called[pos].mean()) if pos.any() else float("nan"),
        "af_sp": float((~called[neg]).mean()) if neg.any() else float("nan"),
        "not_classified": float((~classifiable).mean()),
        "inconclusive": float((cat == INCONCLUSIVE).mean()),
        "unreadable": float((cat == UNREADABLE).mean()),
        "cinc_f1_all": cinc_f1(y, code),
        "cinc_f1_strict": cinc_f1(y, strict),
        "cinc_f1_classifiable": cinc_f1(y[classifiable], code[classifiable]),
        "af_ppv": float(af_true[called].mean()) if called.any() else float("nan"),
        "noise_given_rhythm": float(classifiable[y == NOISY].mean()) if (y == NOISY).any() else float("nan"),
    }



def bootstrap_figures(y: np.ndarray, runs: list[tuple[np.ndarray, np.ndarray]], n_boot: int = 1000,
                      seed: int = 1) -> list[dict[str, np.ndarray]]:
    """Per run, each figure of :func:`rule_figures` on ``n_boot`` record resamples (the same for all runs,
    so paired differences between runs are meaningful)."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, list[float]]] = [{} for _ in runs]
    for _ in range(n_boot):
        i = rng.integers(0, y.size, y.size)
        for acc, (code, cat) in zip(out, runs):
            for k, v in rule_figures(y[i], code[i], cat[i]).items():
                acc.setdefault(k, []).append(v)
    return [{k: np.array(v) for k, v in acc.items()} for acc in out]


def ci_text(vals: np.ndarray) -> str:
    """The 95 % percentile interval of the finite *vals*, as ``(lo to hi)``."""
    vals = vals[np.isfinite(vals)]
    return f"({np.percentile(vals, 2.5):.4f} to {np.percentile(vals, 97.5):.4f})"

def noise_cap(share: float, n_noise: int) -> float:
    """Largest share of ``~``-labelled recordings the tuner may answer with a rhythm: the
    reference ``share`` plus one binomial standard error (1 when there are none)."""
    if n_noise == 0:
        return 1.0
    return float(share + max(np.sqrt(share * (1.0 - share) / n_noise), 1.0 / n_noise))


def _tune_weights(y: np.ndarray, probs: np.ndarray, readable: np.ndarray, max_factor: float = 2.0,
                  noise_weight: float | None = None, noise_weight_min: float | None = None) -> np.ndarray:
    """Class weights by coordinate search for the CinC F1 of the best guess (``~`` fixed when given;
    searched only at or above ``noise_weight_min`` when that is given)."""
    w = np.ones(4)
    if noise_weight is not None:
        w[NOISY] = noise_weight
    grid = np.exp(np.linspace(-np.log(max_factor), np.log(max_factor), 21))
    noise_grid = grid if noise_weight_min is None else grid[grid >= noise_weight_min - 1e-12]
    for _ in range(2):
        for c in (A, O) if noise_weight is not None else (A, O, NOISY):
            scores = []
            for g in (noise_grid if c == NOISY else grid):
                w[c] = g
                code = np.argmax(probs * w, axis=1)
                code[~readable] = NOISY
                scores.append(cinc_f1(y, code))
            w[c] = (noise_grid if c == NOISY else grid)[int(np.argmax(scores))]
    return w


def _grids(y: np.ndarray, pa: np.ndarray, readable: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    neg = np.sort(pa[(y != A) & readable])
    pos = pa[(y == A) & readable]
    call = np.quantile(neg, np.linspace(0.97, 0.999, 24)) + 1e-9 if neg.size else np.array([0.5])
    call = np.unique(np.round(np.concatenate([call, [0.5, 0.6, 0.7, 0.8]]), 4))  # as written into rhythm.json
    band = np.quantile(pos, np.linspace(0.0, 0.25, 21)) if pos.size else np.array([])
    band = np.unique(np.round(np.concatenate([[0.0, 0.05, 0.1, 0.15, 0.2, 0.3], band]), 4))
    return call, band, np.array([0.0, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75])


def _search(y: np.ndarray, p: np.ndarray, readable: np.ndarray, w: np.ndarray, se: dict[str, float],
            targets: dict[str, float], max_noise_share: float) -> tuple[tuple[float, float], DecisionParams | None]:
    """The grid over call, band and N/O floors for fixed class weights: ``(key, params)`` of the
    best cell whose ``~``-labelled rhythm-answer share is at most ``max_noise_share``."""
    base = np.argmax(p * w, axis=1)
    base[~readable] = NOISY
    pa = p[:, A]
    call_grid, band_grid, min_grid = _grids(y, pa, readable)
    is_af, is_noise = y == A, y == NOISY
    n, n_noise = y.size, max(int(is_noise.sum()), 1)
    best_key, best = (-np.inf, -np.inf), None
    for call in call_grid:
        called = readable & (pa >= call)
        code = np.where(called, A, base)
        f1 = cinc_f1(y, code)
        low_n = (code == N)[None, :] & (p[None, :, N] < min_grid[:, None])  # (m, n)
        low_o = (code == O)[None, :] & (p[None, :, O] < min_grid[:, None])
        for band in band_grid[band_grid <= call]:
            in_band = ~called & readable & (code != NOISY) & ((pa >= band) | (code == A))
            ok = readable & (code != NOISY) & ~in_band
            cls = ok[None, None, :] & ~low_n[:, None, :] & ~low_o[None, :, :]  # (mN, mO, n)
            sens = (cls & (is_af & called)).sum(-1) / np.maximum((cls & is_af).sum(-1), 1)
            spec = 1 - (cls & (~is_af & called)).sum(-1) / np.maximum((cls & ~is_af).sum(-1), 1)
            nc = 1 - cls.sum(-1) / n
            margin = np.minimum.reduce([(sens - targets["af_se"]) / se["af_se"], (spec - targets["af_sp"]) / se["af_sp"],
                                        (targets["not_classified"] - nc) / se["not_classified"],
                                        np.full(nc.shape, (f1 - targets["cinc_f1_all"]) / 0.01)])
            safe = (cls & is_noise).sum(-1) / n_noise <= max_noise_share + 1e-12
            key_grid = np.where(safe, np.round(margin, 6) - 1e-9 * nc, -np.inf)  # ties: fewer unclassified
            i, j = np.unravel_index(int(np.argmax(key_grid)), key_grid.shape)
            key = (float(np.round(margin[i, j], 6)), float(-nc[i, j]))
            if safe[i, j] and key > best_key:
                best_key = key
                best = make_params(w, call, band, min_grid[i], min_grid[j])
    return best_key, best


def tune(y: np.ndarray, probs: np.ndarray, readable: np.ndarray, *, targets: dict[str, float] = TARGETS,
         noise_weights: Sequence[float] = (), noise_share_cap: float | None = None,
         noise_weight_min: float | None = None) -> tuple[DecisionParams, dict[str, float]]:
    """Parameters maximising the smallest standard-error margin over the targets (module doc).

    First the reference: class weights for the CinC F1 (``~`` included) and the grid (the
    whole search when ``noise_weights`` is empty, the default). Then each ``~`` weight of
    ``noise_weights`` with the A/O weights re-chosen for the F1 and the grid, kept only where
    at most :func:`noise_cap` of the ``~``-labelled recordings get a rhythm answer. Ties go
    to the earlier candidate (the reference first), then to the fewest recordings left
    unclassified.

    ``noise_share_cap`` (e.g. :func:`noise_cap` of another procedure's share) keeps only
    reference rules giving a rhythm answer to at most that share of the ``~``-labelled records
    (ignored when no rule of the grid passes it). ``noise_weight_min`` (e.g. 1.0, the ``s5``
    procedure) is the lowest ``~`` weight the F1 search may choose: the rule may then make the
    model's noise answers more frequent, never rarer than its own arg-max.

    Returns
    -------
    tuple
        ``(params, figures_on_the_tuning_data | {"margin": ..., "noise_cap": ...})``.
    """
    y = np.asarray(y)
    readable = np.asarray(readable, dtype=bool)
    p = np.where(readable[:, None], np.nan_to_num(np.asarray(probs, dtype=np.float64)), 0.25)
    n_af, n_other, n = int((y == A).sum()), int((y != A).sum()), y.size
    se = {k: np.sqrt(targets[k] * (1 - targets[k]) / max(m, 1)) for k, m in
          (("af_se", n_af), ("af_sp", n_other), ("not_classified", n))}
    w_f1 = _tune_weights(y, p, readable, noise_weight_min=noise_weight_min)
    best_key, best = (-np.inf, -np.inf), None
    if noise_share_cap is not None:  # the guard first; unguarded only when no rule passes it
        best_key, best = _search(y, p, readable, w_f1, se, targets, noise_share_cap)
    if best is None:
        best_key, best = _search(y, p, readable, w_f1, se, targets, 1.0)
    assert best is not None
    ref = rule_figures(y, *apply_gate_and_rule(p, readable, best))["noise_given_rhythm"]
    cap = noise_cap(0.0 if np.isnan(ref) else ref, int((y == NOISY).sum()))
    for g in noise_weights:
        if np.isclose(g, w_f1[NOISY]) or (noise_weight_min is not None and g < noise_weight_min - 1e-12):
            continue
        key, prm = _search(y, p, readable, _tune_weights(y, p, readable, noise_weight=g), se, targets, cap)
        if prm is not None and key > best_key:
            best_key, best = key, prm
    fig = rule_figures(y, *apply_gate_and_rule(p, readable, best))
    margin = _margin(fig, se, targets)
    if abs(margin - best_key[0]) > 1e-4:  # the grid's fast counting must be the rule's own result
        raise AssertionError(f"grid margin {best_key[0]} differs from the rule's {margin}")
    return best, fig | {"margin": margin, "noise_cap": cap}


def target_margins(y: np.ndarray, f: dict[str, float], targets: dict[str, float] = TARGETS) -> dict[str, float]:
    """Margin of each figure of :func:`rule_figures` over its target of :data:`TARGETS`, in its own
    standard error (the CinC F1 in units of 0.01), for the labels ``y`` the figures came from."""
    y = np.asarray(y)
    se = {k: np.sqrt(targets[k] * (1 - targets[k]) / max(m, 1)) for k, m in
          (("af_se", int((y == A).sum())), ("af_sp", int((y != A).sum())), ("not_classified", y.size))}
    return {"af_se": (f["af_se"] - targets["af_se"]) / se["af_se"], "af_sp": (f["af_sp"] - targets["af_sp"]) / se["af_sp"],
            "not_classified": (targets["not_classified"] - f["not_classified"]) / se["not_classified"],
            "cinc_f1_all": (f["cinc_f1_all"] - targets["cinc_f1_all"]) / 0.01}


def _margin(f: dict[str, float], se: dict[str, float], targets: dict[str, float]) -> float:
    return float(min((f["af_se"] - targets["af_se"]) / se["af_se"], (f["af_sp"] - targets["af_sp"]) / se["af_sp"],
                     (targets["not_classified"] - f["not_classified"]) / se["not_classified"],
                     (f["cinc_f1_all"] - targets["cinc_f1_all"]) / 0.01))


def parts(y: np.ndarray, k: int = 5, seed: int = 16) -> np.ndarray:
    """Part index (0 … ``k - 1``) of each record for :func:`cross_validate`: stratified by label, seeded."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    part = np.empty(y.size, dtype=int)
    for c in range(4):
        idx = np.flatnonzero(y == c)
        part[idx[rng.permutation(idx.size)]] = np.arange(idx.size) % k
    return part


def cross_validate(y: np.ndarray, probs: np.ndarray, readable: np.ndarray, *, k: int = 5, seed: int = 16,
                   targets: dict[str, float] = TARGETS,
                   noise_weights: Sequence[float] = (),
                   noise_weight_min: float | None = None) -> tuple[np.ndarray, np.ndarray, list[DecisionParams]]:
    """Codes and categories of every record from a rule tuned on the other ``k - 1`` parts.

    Parts are stratified by label and seeded; ``noise_weight_min`` as in :func:`tune`.
    Returns ``(codes, categories, params_per_part)``.
    """
    y = np.asarray(y)
    part = parts(y, k, seed)
    code = np.zeros(y.size, dtype=int)
    cat = np.zeros(y.size, dtype=int)
    fitted = []
    for j in range(k):
        tr, te = part != j, part == j
        prm, _ = tune(y[tr], probs[tr], readable[tr], targets=targets, noise_weights=noise_weights,
                      noise_weight_min=noise_weight_min)
        code[te], cat[te] = apply_gate_and_rule(probs[te], readable[te], prm)
        fitted.append(prm)
    return code, cat, fitted
