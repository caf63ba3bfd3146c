"""Fit the rhythm model's second stage and judge it by nested cross-validation on out-of-fold data.

Usage (runtime venv; from the repository root)::

    # nested CV of the stage + rule against the CNN-alone rule, both on the same parts; no writing
    .venv/bin/python -m training.stage_two --run training/runs/s1 --data ../shared/data --dry-run
    # ... and write ``stage_two`` + the re-tuned ``decision`` into ecg/models/rhythm.json
    .venv/bin/python -m training.stage_two --run training/runs/s1 --data ../shared/data

Data: the pooled out-of-fold predictions of a run's three fold models (5,799 training
records; window logits calibrated with the shipped temperature and averaged per record, as
the exported graph and :mod:`ecg.model` do), with each record's context numbers from
:mod:`training.stage_two_data` (quality gate verdict and numbers, RR features of the current
R-peak detector). No validation-split record is used.

The stage (:class:`ecg.stage_two.StageTwo`) is a multinomial logistic regression with an L2
penalty chosen by inner cross-validated log-loss. Nested CV (:func:`nested_cv`), the parts
those of :func:`training.rule.cross_validate` (stratified, seed 16): for each outer part,
the stage is cross-fitted on the other parts (inner 4 parts) to give them honest stacked
probabilities, the rule (:func:`training.rule.tune`) is tuned on those, the stage is refitted
on all other parts, and stage + rule answer the outer part. So every figure comes from
records neither the stage nor the rule saw. The rule's guard (:func:`cnn_noise_cap`) keeps
the share of ``~``-labelled records given a rhythm answer within the CNN-alone rule's share
plus one standard error. :data:`VARIANTS` lists the other ways tried. Writing the sidecar
(without ``--dry-run``) fits the ``stage`` variant on all out-of-fold records and tunes the
rule on their cross-fitted stacked probabilities. On ``s1`` no variant met the adoption
criterion (model card, "Second stage"), so the shipped sidecar has no stage.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from ecg.model import CLASSES, DEFAULT_MODEL_PATH, RhythmModel
from ecg.stage_two import KINDS, P_FLOOR, StageTwo, design
from training.data import default_data_dir
from training.rule import (TARGETS, apply_gate_and_rule, bootstrap_figures, ci_text, cross_validate, noise_cap,
                           rule_figures, target_margins, tune)
from training.stage_two_data import load_inputs
from training.train import record_probs, softmax

__all__ = ["Variant", "VARIANTS", "OofTable", "oof_table", "fit_stage", "cross_fit", "nested_cv", "parts_of", "main"]

log = logging.getLogger("training.stage_two")
#: L2 penalties tried (per record, on standardised features)
L2_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)


@dataclass(frozen=True)
class Variant:
    """One way to build and fit the stage (``--variants``); only ``stage`` is a shipping candidate.

    Attributes
    ----------
    p_waves : bool
        Add the rule delineator's P-wave share and PR spread (not on the screening path).
    atrial : bool
        Add the atrial-activity features of :mod:`ecg.atrial` (from the context's view and
        R peaks, on the screening path).
    windows : bool
        Add the CNN's per-window extremes (max p(~), min and max p(A) over the windows).
    noise_weight : float
        Weight of ``~``-labelled records in the fit's log-likelihood.
    keep_cnn_noise : bool
        The stage re-weighs N/A/O only; p(~) stays the CNN's.
    guard : bool
        The rule may give a rhythm answer to at most the CNN-alone rule's share of the
        ``~``-labelled tuning records plus one standard error (:func:`cnn_noise_cap`).
    """

    p_waves: bool = False
    atrial: bool = False
    windows: bool = False
    noise_weight: float = 1.0
    keep_cnn_noise: bool = False
    guard: bool = True


#: the variants judged (model card, "Second stage"); ``stage`` is what ``ship`` writes
VARIANTS: dict[str, Variant] = {
    "stage": Variant(),
    "stage-unguarded": Variant(guard=False),
    "p-waves-unguarded": Variant(p_waves=True, guard=False),
    "atrial": Variant(atrial=True),
    "atrial-unguarded": Variant(atrial=True, guard=False),
    "atrial-keep-cnn-noise": Variant(atrial=True, keep_cnn_noise=True),
    "windows": Variant(windows=True),
    "windows-unguarded": Variant(windows=True, guard=False),
    "windows-noise-weight-3": Variant(windows=True, noise_weight=3.0),
    "keep-cnn-noise": Variant(keep_cnn_noise=True),
    "keep-cnn-noise-unguarded": Variant(keep_cnn_noise=True, guard=False),
}


class OofTable:
    """Pooled out-of-fold labels and probabilities with the context numbers of the same records."""

    def __init__(self, names: np.ndarray, y: np.ndarray, probs: np.ndarray, window_stats: np.ndarray,
                 readable: np.ndarray, rr_z: np.ndarray, quality: np.ndarray, p_numbers: np.ndarray,
                 atrial: np.ndarray | None = None) -> None:
        self.names, self.y, self.probs, self.window_stats = names, y, probs, window_stats
        self.readable, self.rr_z, self.quality, self.p_numbers = readable, rr_z, quality, p_numbers
        self.atrial = atrial

    def design(self, variant: Variant = Variant()) -> np.ndarray:
        """The stage's rows (:func:`ecg.stage_two.design`) plus the variant's extra columns."""
        cols = [design(self.probs, self.rr_z, self.quality)]
        if variant.atrial:
            if self.atrial is None:
                raise ValueError("this table has no atrial features (rebuild training.stage_two_data)")
            cols.append(self.atrial)
        if variant.p_waves:
            cols.append(np.column_stack([self.p_numbers[:, 0], self.p_numbers[:, 1] / 100.0]))
        if variant.windows:
            cols.append(np.log(np.clip(self.window_stats, P_FLOOR, 1.0)))
        return np.column_stack(cols)


def _window_stats(window_logits: np.ndarray, owner: np.ndarray, n: int, temperature: float) -> np.ndarray:
    """Per record: max p(~), min p(A), max p(A) over its windows."""
    p = softmax(window_logits / temperature)
    out = np.zeros((n, 3))
    for i in range(n):
        w = p[owner == i]
        out[i] = (w[:, 3].max(), w[:, 1].min(), w[:, 1].max())
    return out


def oof_table(run: Path, data_dir: Path, model: RhythmModel) -> OofTable:
    """The pooled out-of-fold table of ``run`` (temperature and RR standardisation of ``model``)."""
    temperature = float(model.meta.get("temperature", 1.0))
    names, ys, ps, ws = [], [], [], []
    for fold in sorted(run.glob("fold*/oof.npz")):
        z = np.load(fold)
        names += [str(n) for n in z["names"]]
        ys.append(z["y"])
        ps.append(record_probs(z["window_logits"], z["window_owner"], len(z["y"]), temperature))
        ws.append(_window_stats(z["window_logits"], z["window_owner"], len(z["y"]), temperature))
    inputs = load_inputs(data_dir)
    row = {str(n): i for i, n in enumerate(inputs["names"])}
    idx = np.array([row[n] for n in names])
    rr_z = np.stack([model.standardise_rr(v) for v in inputs["rr"][idx]]).astype(np.float64)
    return OofTable(np.array(names), np.concatenate(ys), np.concatenate(ps), np.concatenate(ws),
                    inputs["readable"][idx].astype(bool), rr_z, inputs["quality"][idx], inputs["p"][idx],
                    inputs["atrial"][idx] if "atrial" in inputs else None)


def _nll(theta: np.ndarray, x: np.ndarray, onehot: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    k, c = x.shape[1], onehot.shape[1]
    w, b = theta[: k * c].reshape(k, c), theta[k * c :]
    z = x @ w + b
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -float((onehot * logp).sum()) / n + 0.5 * l2 * float((w * w).sum())
    g = (np.exp(logp) - onehot) / n
    grad_w = x.T @ g + l2 * w
    return loss, np.concatenate([grad_w.ravel(), g.sum(axis=0)])


def fit_stage(x: np.ndarray, y: np.ndarray, l2: float, noise_weight: float = 1.0) -> StageTwo:
    """Multinomial logistic regression on the rows ``x`` (standardised here) for labels ``y``;
    ``~``-labelled records count ``noise_weight`` times in the log-likelihood."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    xs = (x - mean) / std
    c = len(CLASSES)
    w = np.where(y == CLASSES.index("~"), noise_weight, 1.0)
    onehot = np.eye(c)[y] * (w * y.size / w.sum())[:, None]
    theta0 = np.zeros(x.shape[1] * c + c)
    res = minimize(_nll, theta0, args=(xs, onehot, l2), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    k = x.shape[1]
    return StageTwo(KINDS[0], mean, std, res.x[: k * c].reshape(k, c), res.x[k * c :])


def _predict(stage: StageTwo, x: np.ndarray, cnn_noise: np.ndarray | None = None) -> np.ndarray:
    """Stage probabilities of rows ``x``; with ``cnn_noise`` (the CNN's p(~) per row) the stage
    only re-weighs N/A/O and p(~) stays the CNN's."""
    z = ((x - stage.mean) / stage.std) @ stage.weights + stage.bias
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    if cnn_noise is None:
        return p
    rhythm = p[:, :3] / p[:, :3].sum(axis=1, keepdims=True)
    return np.column_stack([rhythm * (1.0 - cnn_noise)[:, None], cnn_noise])


def parts_of(y: np.ndarray, k: int = 5, seed: int = 16) -> np.ndarray:
    """Stratified, seeded part of each record (as :func:`training.rule.cross_validate` cuts them)."""
    rng = np.random.default_rng(seed)
    part = np.empty(y.size, dtype=int)
    for c in range(len(CLASSES)):
        idx = np.flatnonzero(y == c)
        part[idx[rng.permutation(idx.size)]] = np.arange(idx.size) % k
    return part


def cross_fit(x: np.ndarray, y: np.ndarray, fit_on: np.ndarray, part: np.ndarray, l2: float,
              noise_weight: float = 1.0, cnn_noise: np.ndarray | None = None) -> np.ndarray:
    """Stacked probabilities of every record from stages fitted on the ``fit_on`` records of the other parts."""
    out = np.full((y.size, len(CLASSES)), np.nan)
    for j in np.unique(part):
        tr, te = fit_on & (part != j), part == j
        stage = fit_stage(x[tr], y[tr], l2, noise_weight)
        out[te] = _predict(stage, x[te], None if cnn_noise is None else cnn_noise[te])
    return out


def choose_l2(x: np.ndarray, y: np.ndarray, fit_on: np.ndarray, part: np.ndarray, noise_weight: float = 1.0) -> float:
    """The :data:`L2_GRID` value with the lowest cross-fitted log-loss on the ``fit_on`` records."""
    losses = []
    for l2 in L2_GRID:
        p = cross_fit(x, y, fit_on, part, l2, noise_weight)[fit_on]
        losses.append(-float(np.mean(np.log(np.clip(p[np.arange(p.shape[0]), y[fit_on]], 1e-9, 1)))))
    return L2_GRID[int(np.argmin(losses))]


def cnn_noise_cap(y: np.ndarray, probs: np.ndarray, readable: np.ndarray) -> float:
    """The guard on ``~``-labelled records given a rhythm answer: the share under the CNN-alone
    rule tuned on the same records, plus one standard error (:func:`training.rule.noise_cap`)."""
    prm, _ = tune(y, probs, readable)
    share = rule_figures(y, *apply_gate_and_rule(probs, readable, prm))["noise_given_rhythm"]
    return noise_cap(0.0 if np.isnan(share) else share, int((y == CLASSES.index("~")).sum()))


def nested_cv(t: OofTable, variant: Variant = Variant(),
              k: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """``(codes, categories, stacked_probs, l2_per_part)``: every record answered by a stage and rule
    fitted without it (module doc). ``stacked_probs`` are the outer stage's probabilities."""
    y, readable, x = t.y, t.readable, t.design(variant)
    noise = t.probs[:, CLASSES.index("~")] if variant.keep_cnn_noise else None
    part = parts_of(y, k)
    code, cat = np.zeros(y.size, dtype=int), np.zeros(y.size, dtype=int)
    stacked = np.full((y.size, len(CLASSES)), np.nan)
    l2s = []
    for j in range(k):
        tr, te = part != j, part == j
        inner = parts_of(y[tr], k - 1, seed=100 + j)
        nw = variant.noise_weight
        l2 = choose_l2(x[tr], y[tr], readable[tr], inner, nw)
        p_tr = cross_fit(x[tr], y[tr], readable[tr], inner, l2, nw, None if noise is None else noise[tr])
        cap = cnn_noise_cap(y[tr], t.probs[tr], readable[tr]) if variant.guard else None
        prm, _ = tune(y[tr], p_tr, readable[tr], noise_share_cap=cap)
        stage = fit_stage(x[tr & readable], y[tr & readable], l2, nw)
        stacked[te] = _predict(stage, x[te], None if noise is None else noise[te])
        code[te], cat[te] = apply_gate_and_rule(stacked[te], readable[te], prm)
        l2s.append(l2)
        log.info("outer part %d: l2 %g, rule call %.3f band %.3f", j, l2, prm.af_call_min, prm.af_band_min)
    return code, cat, stacked, l2s


def compare(y: np.ndarray, readable: np.ndarray, runs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, object]:
    """Figures with bootstrap CIs of each run, the smallest target margin, answers of ``~``-labelled
    and of model-noise recordings by label, and the paired difference of each run from the first."""
    names = list(runs)
    boots = bootstrap_figures(y, list(runs.values()))
    out: dict[str, object] = {}
    for name, (code, cat), b in zip(names, runs.values(), boots):
        f = rule_figures(y, code, cat)
        margins = target_margins(y, f)
        unr = cat == 3
        model_noise = unr & readable
        print(f"== {name}")
        print("  " + ", ".join(f"{key} {v:.4f} {ci_text(b[key])}" for key, v in f.items()))
        print(f"  smallest margin {min(margins.values()):+.3f} SE ({min(margins, key=margins.get)}); "  # type: ignore[arg-type]
              + ", ".join(f"{key} {v:+.2f}" for key, v in margins.items()))
        by_label = {c: int((model_noise & (y == i)).sum()) for i, c in enumerate(CLASSES)}
        print(f"  unreadable from the model (model_noise) by label: {by_label}; from the gate: {int((unr & ~readable).sum())}")
        noise = y == CLASSES.index("~")
        print("  ~-labelled answered: " + ", ".join(f"{n} {int((cat[noise] == i).sum())}" for i, n in
                                                    enumerate(("sinus", "AF", "other", "unreadable", "inconclusive"))))
        out[name] = {"figures": {key: [round(v, 4), *(round(float(q), 4) for q in np.nanpercentile(b[key], [2.5, 97.5]))]
                                 for key, v in f.items()},
                     "margins": {key: round(v, 3) for key, v in margins.items()}, "model_noise_by_label": by_label}
    f0 = rule_figures(y, *runs[names[0]])
    for name, code_cat, b in zip(names[1:], list(runs.values())[1:], boots[1:]):
        f = rule_figures(y, *code_cat)
        print(f"paired difference {name} − {names[0]}: " + ", ".join(
            f"{key} {f[key] - f0[key]:+.4f} {ci_text(b[key] - boots[0][key])}" for key in f0))
    return out


def ece_report(y: np.ndarray, readable: np.ndarray, probs: dict[str, np.ndarray]) -> dict[str, float]:
    """Expected calibration error of p(A) (readable records) of each set of probabilities."""
    from training.calibrate import expected_calibration_error

    out = {name: round(expected_calibration_error(p[readable, 1], y[readable] == 1), 4) for name, p in probs.items()}
    print("expected calibration error of p(A): " + ", ".join(f"{k} {v:.4f}" for k, v in out.items()))
    return out


def ship(t: OofTable, model_path: Path, nested: tuple[np.ndarray, np.ndarray], name: str = "stage") -> dict[str, object]:
    """Fit the variant ``name`` (``stage`` or ``atrial``: the ones the runtime implements) on all
    out-of-fold records, tune the rule (with the guard) on their cross-fitted stacked probabilities
    and write both, with the nested-CV figures ``nested`` (codes, categories), into the sidecar of
    ``model_path``."""
    variant = VARIANTS[name]
    if variant != Variant(atrial=variant.atrial):
        raise ValueError(f"variant {name!r} cannot be shipped: the runtime implements 'stage' and 'atrial' only")
    x = t.design(variant)
    part = parts_of(t.y)
    l2 = choose_l2(x, t.y, t.readable, part)
    stacked = cross_fit(x, t.y, t.readable, part, l2)
    params, _ = tune(t.y, stacked, t.readable, noise_share_cap=cnn_noise_cap(t.y, t.probs, t.readable))
    stage = replace(fit_stage(x[t.readable], t.y[t.readable], l2), atrial=variant.atrial)
    meta_path = model_path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["stage_two"] = stage.to_dict() | {
        "l2": l2, "variant": name,
        "fitted_on": f"pooled out-of-fold predictions of {len(t.y)} training records (readable ones)"}
    meta["decision"] = params.to_dict() | {
        "tuned_on": "cross-fitted stage-two probabilities of the pooled out-of-fold predictions",
        "nested_cross_validated_out_of_fold": {k: round(v, 4) for k, v in rule_figures(t.y, *nested).items()
                                               if np.isfinite(v)}}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote stage_two {name} (l2 {l2:g}) and decision {params.to_dict()} into {meta_path}")
    return meta


def stage_cpu_us(t: OofTable, n_records: int = 200, repeats: int = 50) -> dict[str, float]:
    """CPU µs per record of the fitted ``stage`` (:meth:`ecg.stage_two.StageTwo.probabilities`
    on one record's CNN probabilities, RR features and quality numbers), fastest of ``repeats``."""
    import time

    ok = np.flatnonzero(t.readable)
    stage = fit_stage(t.design()[ok], t.y[ok], 1e-2)
    times = []
    for i in ok[:n_records]:
        p, rr, q = t.probs[i : i + 1], t.rr_z[i : i + 1], t.quality[i : i + 1]
        runs = []
        for _ in range(repeats):
            t0 = time.process_time()
            stage.probabilities(p, rr, q)
            runs.append((time.process_time() - t0) * 1e6)
        times.append(min(runs))
    return {"median_us": round(float(np.median(times)), 1), "max_us": round(float(np.max(times)), 1), "n": len(times)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="model whose sidecar gets the stage")
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["stage"],
                   help="ways to build the stage, each judged by nested CV beside the CNN alone")
    p.add_argument("--dry-run", action="store_true", help="print the nested-CV comparison, write nothing")
    p.add_argument("--ship", choices=("stage", "atrial"), default="stage",
                   help="the variant written into the sidecar (without --dry-run)")
    p.add_argument("--json", type=Path, default=None, help="write the comparison here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model = RhythmModel(args.model)
    t = oof_table(args.run, args.data, model)
    print(f"{t.y.size} out-of-fold records, {int(t.readable.sum())} pass the quality gate; targets {TARGETS}")
    code0, cat0, _ = cross_validate(t.y, t.probs, t.readable)
    runs = {"CNN alone (rule CV)": (code0, cat0)}
    probs = {"CNN alone": t.probs}
    l2s = {}
    for name in args.variants:
        code, cat, stacked, l2s[name] = nested_cv(t, VARIANTS[name])
        runs[f"{name} (nested CV)"] = (code, cat)
        probs[name] = stacked
    out = {"n": int(t.y.size), "l2_per_part": l2s, "variants": {n: VARIANTS[n].__dict__ for n in args.variants}, "runs": compare(t.y, t.readable, runs),
           "ece_p_af": ece_report(t.y, t.readable, probs)}
    out["stage_cpu_us_per_record"] = stage_cpu_us(t)
    print(f"stage CPU per record: {out['stage_cpu_us_per_record']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if not args.dry_run:
        if args.ship not in args.variants:
            p.error(f"writing the sidecar needs the nested-CV figures of --variants {args.ship}")
        ship(t, args.model, runs[f"{args.ship} (nested CV)"], args.ship)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
