"""Tune the decision rule's values and write them into the model's ``decision`` section.

Usage (runtime venv is enough; from the repository root)::

    # the shipped model: 5-fold CV on its validation-split predictions (see below)
    .venv/bin/python -m training.tune_rule --source validation
    # a retrained model: on the pooled out-of-fold predictions of its run
    .venv/bin/python -m training.tune_rule --source oof --run training/runs/r4 --model M.tflite

Sources of the probabilities the rule is tuned on:

- ``oof``: the fold models' out-of-fold probabilities of the training records
  (``<run>/fold*/oof.npz``) with the quality gate's verdict per record; the validation
  split stays untouched for the model card.
- ``validation``: the shipped ensemble's own probabilities on the validation split (never
  trained on), obtained through :func:`ecg.screening.screen`. Used when a model's
  out-of-fold predictions are not stored (the r3 ensemble). Its figures are then the
  5-fold cross-validated ones (:func:`training.rule.cross_validate`): each fifth scored by
  a rule tuned on the other four fifths.

In both cases the values written are those tuned on all of the source, and the command
prints the cross-validated figures, their margins over the targets (in standard errors) and
the spread of the per-part values (stability).

``--joint-noise-weight`` lets the ``~`` class weight take part in the margin search
(:data:`training.rule.NOISE_WEIGHTS`, with the guard on ``~``-labelled recordings given a
rhythm answer); not the shipped procedure (model card: tried on ``s1``, not adopted)::

    .venv/bin/python -m training.tune_rule --source oof --run training/runs/s1 --joint-noise-weight --dry-run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from ecg import beats
from ecg.model import CLASSES, DEFAULT_MODEL_PATH, DecisionParams, RhythmModel
from ecg.rr_features import rr_features
from ecg.screening import screen
from training.data import CINC_FS_HZ, read_cinc_mv, default_data_dir, load_readable, read_labels, split_records
from training.rule import (CATEGORY_NAMES, NOISE_WEIGHTS, bootstrap_figures, ci_text, cross_validate, rule_figures,
                           target_margins, tune)
from training.calibrate import fit_temperature
from training.train import record_probs

__all__ = ["screen_split", "validation_predictions", "model_cpu_ms", "models_cpu_ms", "partition_spread", "main"]

_REPO = Path(__file__).resolve().parent.parent
CACHE = _REPO / "training" / "runs" / "cache"


def screen_split(cinc: Path, names: list[str], model: RhythmModel) -> dict[str, np.ndarray]:
    """screen() on each record: probabilities (NaN when the gate stopped it), gate verdict, code
    and category."""
    probs, readable, codes, cats = [], [], [], []
    for name in names:
        sig_mv = read_cinc_mv(cinc, name)
        res = screen(sig_mv, CINC_FS_HZ, model=model)
        probs.append([res.probabilities.get(c, np.nan) for c in CLASSES])
        readable.append(bool(res.probabilities))  # the gate let it through to the model
        codes.append(CLASSES.index(res.label))
        cats.append(CATEGORY_NAMES.index(res.category))
    return {"probs": np.array(probs), "readable": np.array(readable), "codes": np.array(codes),
            "categories": np.array(cats)}


def models_cpu_ms(data_dir: Path, models: list[RhythmModel], n_records: int = 20,
                  repeats: int = 7) -> list[np.ndarray]:
    """CPU ms of the int8 inference (all windows + RR input) per 30 s validation record, for each
    model: the fastest of ``repeats`` runs per record (the least disturbed by other processes),
    the models measured record by record in turn so load changes hit every model alike."""
    cinc = Path(data_dir) / "cinc2017"
    validation, _ = split_records(read_labels(cinc))
    times: list[list[float]] = [[] for _ in models]
    for name in validation:
        sig_mv = read_cinc_mv(cinc, name)
        if sig_mv.size != int(30 * CINC_FS_HZ):
            continue
        feats = rr_features(beats.detect_r_peaks(sig_mv, CINC_FS_HZ), CINC_FS_HZ, duration_s=30.0)
        for model, out in zip(models, times):
            wins = model.windows(sig_mv, CINC_FS_HZ)
            runs = []
            for _ in range(repeats):
                t0 = time.process_time()
                model.predict_windows(wins, feats)
                runs.append((time.process_time() - t0) * 1000.0)
            out.append(min(runs))
        if len(times[0]) == n_records:
            break
    return [np.array(t) for t in times]


def model_cpu_ms(data_dir: Path, model: RhythmModel, n_records: int = 20, repeats: int = 7) -> np.ndarray:
    """:func:`models_cpu_ms` of one model."""
    return models_cpu_ms(data_dir, [model], n_records, repeats)[0]


def validation_predictions(data_dir: Path, model: RhythmModel, cache_dir: Path = CACHE) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(y, screen_split(...))`` on the validation split, cached per model file, decision values
    and ``ecg/`` source (a change to R peaks or quality re-screens)."""
    cinc = Path(data_dir) / "cinc2017"
    labels = read_labels(cinc)
    validation, _ = split_records(labels)
    y = np.array([CLASSES.index(labels[n]) for n in validation])
    h = hashlib.sha256(model.path.read_bytes() + json.dumps(model.decision.to_dict(), sort_keys=True).encode())
    for src in sorted((_REPO / "ecg").rglob("*.py")):  # the screening code too: any change re-screens
        h.update(src.read_bytes())
    key = h.hexdigest()[:12]
    cache = Path(cache_dir) / f"validation-{model.version}-{key}.npz"
    if cache.is_file():
        return y, dict(np.load(cache))
    got = screen_split(cinc, validation, model)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **got)
    return y, got


def _oof(run: Path, data_dir: Path, temperature: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled out-of-fold labels, probabilities and gate verdicts. With window logits stored, the
    probabilities use ``temperature`` as the exported graph does; ``None`` fits it on those
    logits first (:func:`training.export.tune_decision`'s step, for runs not exported)."""
    from training.export import pooled_oof

    folds = sorted(int(f.parent.name.removeprefix("fold")) for f in run.glob("fold*/oof.npz"))
    oof = pooled_oof(run, folds)
    names = [str(n) for n in oof["names"]]
    probs = oof["probs"]
    if "window_logits" in oof:
        if temperature is None:
            temperature = fit_temperature(oof["window_logits"], oof["window_owner"], oof["y"])
            print(f"temperature fitted on the pooled out-of-fold window logits: {temperature:.4f}")
        probs = record_probs(oof["window_logits"], oof["window_owner"], len(names), temperature)
    readable = load_readable(data_dir, names=names)
    return oof["y"], probs, np.array([readable[n] for n in names])


def _print_figures(title: str, f: dict[str, float]) -> None:
    print(f"{title}: " + ", ".join(f"{k} {v:.4f}" for k, v in f.items()))


def _report_cv(y: np.ndarray, code: np.ndarray, cat: np.ndarray, parts: list[DecisionParams],
               boot: dict[str, np.ndarray]) -> None:
    cv = rule_figures(y, code, cat)
    print("cross-validated (95 % bootstrap CI over records): "
          + ", ".join(f"{k} {v:.4f} {ci_text(boot[k])}" for k, v in cv.items()))
    _print_figures("  margins over the targets (standard errors)", target_margins(y, cv))
    noise = y == CLASSES.index("~")
    print("  ~-labelled recordings by answer: " + ", ".join(
        f"{name} {int((cat[noise] == i).sum())}" for i, name in enumerate(CATEGORY_NAMES)) + f" (of {int(noise.sum())})")
    for key in ("af_call_min", "af_band_min"):
        vals = [getattr(q, key) for q in parts]
        print(f"  per-part {key}: {min(vals):.3f}–{max(vals):.3f}")
    print("  per-part ~ weight: " + ", ".join(f"{q.class_weights[-1]:.3f}" for q in parts))


def _cross_validated(y: np.ndarray, probs: np.ndarray, readable: np.ndarray, joint: bool,
                     noise_weight_min: float | None = None) -> None:
    """Print the cross-validated figures with CIs; with ``joint``, also the shipped procedure's
    and the paired bootstrap difference (joint − shipped) of each figure."""
    code, cat, parts = cross_validate(y, probs, readable, noise_weights=NOISE_WEIGHTS if joint else (),
                                      noise_weight_min=noise_weight_min)
    if not joint:
        _report_cv(y, code, cat, parts, bootstrap_figures(y, [(code, cat)])[0])
        return
    code0, cat0, parts0 = cross_validate(y, probs, readable, noise_weight_min=noise_weight_min)
    b_joint, b_ref = bootstrap_figures(y, [(code, cat), (code0, cat0)])
    print("== the shipped procedure (~ weight for the CinC F1)")
    _report_cv(y, code0, cat0, parts0, b_ref)
    print("== the ~ weight in the joint margin search")
    _report_cv(y, code, cat, parts, b_joint)
    f_joint, f_ref = rule_figures(y, code, cat), rule_figures(y, code0, cat0)
    print("paired difference joint − shipped (95 % CI): " + ", ".join(
        f"{k} {f_joint[k] - f_ref[k]:+.4f} {ci_text(b_joint[k] - b_ref[k])}" for k in f_ref))


def partition_spread(y: np.ndarray, probs: np.ndarray, readable: np.ndarray, seeds: list[int],
                     noise_weight_min: float | None = None) -> list[dict[str, float]]:
    """Cross-validated figures of the shipped rule procedure under several CV partitions.

    :func:`training.rule.cross_validate` assigns its parts by a seeded permutation of the
    records in the order given, so another seed (or another pooling order) is another partition
    of the same predictions. Returns, per seed, :func:`rule_figures` plus the four target
    margins (SE) and ``smallest_margin`` — the spread the adoption criteria live inside.
    """
    out = []
    for seed in seeds:
        code, cat, _ = cross_validate(y, probs, readable, seed=seed, noise_weight_min=noise_weight_min)
        f = rule_figures(y, code, cat)
        m = target_margins(y, f)
        out.append(f | {f"margin_{k}": v for k, v in m.items()} | {"smallest_margin": min(m.values())})
    return out


def _print_spread(y: np.ndarray, rows: list[dict[str, float]], seeds: list[int]) -> None:
    n_noise = int((y == CLASSES.index("~")).sum())
    keys = ("af_se", "af_sp", "not_classified", "cinc_f1_all", "smallest_margin")
    for seed, r in zip(seeds, rows):
        print(f"  partition seed {seed}: " + ", ".join(f"{k} {r[k]:.4f}" for k in keys)
              + f", ~-labelled given a rhythm {round(r['noise_given_rhythm'] * n_noise)}")
    for k in (*keys, "noise_given_rhythm"):
        v = np.array([r[k] for r in rows]) * (n_noise if k == "noise_given_rhythm" else 1)
        print(f"  {k}{' (records)' if k == 'noise_given_rhythm' else ''} over {len(rows)} partitions: "
              f"mean {v.mean():.4f}, SD {v.std(ddof=1) if v.size > 1 else 0.0:.4f}, {v.min():.4f}–{v.max():.4f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--source", choices=("oof", "validation"), required=True)
    p.add_argument("--run", type=Path, default=None, help="run directory (for --source oof)")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="model whose sidecar gets the values")
    p.add_argument("--dry-run", action="store_true", help="print, do not write the sidecar")
    p.add_argument("--joint-noise-weight", action="store_true",
                   help="the ~ weight joins the margin search (training.rule.NOISE_WEIGHTS), not the shipped procedure")
    p.add_argument("--fit-temperature", action="store_true",
                   help="with --source oof: fit the temperature on the run's out-of-fold logits instead of the model's")
    p.add_argument("--noise-weight-min", type=float, default=None,
                   help="lowest ~ class weight the F1 search may choose (s5's declared procedure: 1.0)")
    p.add_argument("--partition-seeds", type=str, default=None,
                   help="comma-separated CV partition seeds: also print the cross-validated figures under each "
                        "partition and their spread (information; the shipped procedure uses seed 16)")
    args = p.parse_args(argv)
    model = RhythmModel(args.model)
    if args.source == "oof":
        if args.run is None:
            p.error("--source oof needs --run")
        temperature = None if args.fit_temperature else float(model.meta.get("temperature", 1.0))
        y, probs, readable = _oof(args.run, args.data, temperature)
        what = f"pooled out-of-fold predictions of {args.run.name} ({y.size} training records)"
    else:
        y, got = validation_predictions(args.data, model)
        probs, readable = got["probs"], got["readable"].astype(bool)
        what = (f"5-fold CV on the validation-split predictions of {model.version} ({y.size} records; "
                "out-of-fold predictions of this ensemble were not stored)")
    _cross_validated(y, probs, readable, args.joint_noise_weight, args.noise_weight_min)
    if args.partition_seeds:
        seeds = [int(v) for v in args.partition_seeds.split(",")]
        print("cross-validated figures under other CV partitions (same predictions, same procedure):")
        _print_spread(y, partition_spread(y, probs, readable, seeds, args.noise_weight_min), seeds)
    noise_weights = NOISE_WEIGHTS if args.joint_noise_weight else ()
    params, fitted = tune(y, probs, readable, noise_weights=noise_weights, noise_weight_min=args.noise_weight_min)
    _print_figures("tuned on all of the source (optimistic)", fitted)
    section = params.to_dict() | {"tuned_on": what}
    print(json.dumps(section, indent=1))
    if not args.dry_run:
        meta_path = args.model.with_suffix(".json")
        meta = json.loads(meta_path.read_text())
        meta["decision"] = section
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
        print(f"wrote the decision section of {meta_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
