"""Screening figures of the shipped rhythm model and decision rule, with bootstrap 95 % CIs.

Usage (runtime venv, no TensorFlow; from the repository root)::

    .venv/bin/python benchmarks/rhythm_screening.py                 # shipped model, validation split
    .venv/bin/python benchmarks/rhythm_screening.py --model M.tflite --cv   # another model, + 5-fold CV rule

Every record of the CinC 2017 validation split (``training.data.split_records``: never
trained on, never used to choose epochs or tune the rule) goes through
:func:`ecg.screening.screen` exactly as on the phone. Reported, on *classifiable*
recordings (sinus, AF or other rhythm) and on *all* recordings:

- AF sensitivity and specificity (AF vs everything else) on classifiable recordings;
- the share of recordings left inconclusive or unreadable;
- CinC F1 (mean F1 of N, A, O) over all recordings on the reported codes, and the stricter
  version where an inconclusive recording counts as a miss;
- reliability of p(A) (calibration table, records the gate let through) and the model's
  CPU time per 30 s record (int8 inference of all windows, one thread).

``--external`` also screens the labelled 30 s MIT-BIH / CPSC 2021 windows of
``training/extra.py`` (Holter recordings, another device and lead): an out-of-domain AF
check for a model trained without them (r3); a model trained with them (s1) saw them, so
its figures there are a training-set fit.

``--compare-cost OLD.tflite`` measures the model CPU per 30 s record of the shipped model
and of another one (e.g. the previous release, ``git show REV:ecg/models/rhythm.tflite``
and its ``.json``) side by side in one run, records interleaved, plus their MACs per window.

``--oof RUN`` scores the pooled out-of-fold predictions of a training run (the fold
models' answers on the training records they did not see, calibrated with the shipped
temperature, with each record's quality-gate verdict): the rule cross-validated on them
(5 parts) with bootstrap CIs, and the reliability of their p(A). ``--diagram PNG`` draws
the reliability diagram of p(A) (out-of-fold and validation).

``--cv`` also re-tunes the rule by 5-fold cross-validation on these validation predictions
(tune on four fifths, apply to the fifth): a figure of the *model*, independent of the
shipped rule's values, used to compare two models on equal terms. Probabilities are cached
in ``--cache`` (default ``training/runs/cache``, per model file and rule values) so a
second run takes seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))

from ecg.model import CLASSES, DEFAULT_MODEL_PATH, RhythmModel  # noqa: E402
from ecg.classes import CATEGORIES  # noqa: E402
from ecg.screening import screen  # noqa: E402
from training.calibrate import expected_calibration_error  # noqa: E402
from training.extra import extra_windows  # noqa: E402
from training.data import CINC_FS_HZ  # noqa: E402
from training.metrics import bootstrap_ci, cinc_f1  # noqa: E402
from training.rule import TARGETS, apply_gate_and_rule, cross_validate, rule_figures  # noqa: E402
from training.tune_rule import model_cpu_ms, models_cpu_ms, validation_predictions  # noqa: E402


def figures_with_ci(y: np.ndarray, code: np.ndarray, cat: np.ndarray, n_boot: int = 1000) -> dict[str, list[float]]:
    """``{figure: [value, ci_low, ci_high]}`` (percentile bootstrap over records)."""
    base = rule_figures(y, code, cat)
    out = {}
    for key, val in base.items():
        lo, hi = bootstrap_ci(lambda i, k=key: rule_figures(y[i], code[i], cat[i])[k], y.size, n_boot=n_boot, seed=1)
        out[key] = [round(val, 4), round(lo, 4), round(hi, 4)]
    return out


def external_windows(data_dir: Path, model: RhythmModel) -> dict[str, object]:
    """screen() on the labelled 30 s MIT-BIH / CPSC 2021 windows (``training.extra``): AF figures
    on another device and lead (Holter, MLII / lead I); held out only for models trained without them.

    CIs: percentile bootstrap over *records* (windows of one record are not independent).
    """
    wins = extra_windows(data_dir)
    y = np.array([CLASSES.index(w.label) for w in wins])
    groups = np.array([w.group for w in wins])
    code, cat = np.zeros(y.size, dtype=int), np.zeros(y.size, dtype=int)
    for i, w in enumerate(wins):
        res = screen(w.sig_mv, w.fs_hz, model=model)
        code[i], cat[i] = CLASSES.index(res.label), CATEGORIES.index(res.category)
    uniq = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in uniq}
    rng = np.random.default_rng(1)
    base = rule_figures(y, code, cat)
    boots = []
    for _ in range(1000):
        idx = np.concatenate([members[g] for g in rng.choice(uniq, uniq.size)])
        boots.append(rule_figures(y[idx], code[idx], cat[idx]))
    out: dict[str, object] = {"n_windows": int(y.size), "n_groups": int(uniq.size),
                              "class_counts": {c: int(np.sum(y == i)) for i, c in enumerate(CLASSES)}}
    for k in ("af_se", "af_sp", "not_classified", "af_ppv"):
        vals = np.array([b[k] for b in boots])
        vals = vals[np.isfinite(vals)]
        out[k] = [round(base[k], 4), round(float(np.percentile(vals, 2.5)), 4), round(float(np.percentile(vals, 97.5)), 4)]
    out["categories_by_label"] = {c: {name: int(np.sum((y == i) & (cat == j))) for j, name in enumerate(CATEGORIES)}
                                  for i, c in enumerate(CLASSES[:3])}
    return out


def cost_side_by_side(data_dir: Path, models: list[RhythmModel], n_records: int = 20,
                      repeats: int = 7) -> dict[str, dict[str, float]]:
    """Model CPU ms per 30 s validation record of each model, measured record by record in turn
    (fastest of ``repeats`` runs each, one thread), so load changes hit every model alike."""
    times = models_cpu_ms(data_dir, models, n_records, repeats)
    return {m.version: {"median_ms": round(float(np.median(t)), 3), "max_ms": round(float(np.max(t)), 3),
                        "windows_per_record": int(m.windows(np.zeros(9000), CINC_FS_HZ).shape[0]),
                        "macs_per_window": m.macs_per_window(), "bytes": m.path.stat().st_size, "n": len(t)}
            for m, t in zip(models, times)}


def stage_two_cpu_us(data_dir: Path, model: RhythmModel, n_records: int = 20, repeats: int = 200) -> dict[str, float]:
    """CPU µs of the second stage per record (:meth:`ecg.model.RhythmModel.refine` on the context's
    quality and RR features, the CNN's probabilities given), fastest of ``repeats`` per record."""
    import time

    from ecg.context import LeadContext
    from ecg.rr_features import rr_features
    from training.data import read_cinc_mv, read_labels, split_records

    cinc = Path(data_dir) / "cinc2017"
    validation, _ = split_records(read_labels(cinc))
    times = []
    for name in validation[:n_records]:
        ctx = LeadContext.of(read_cinc_mv(cinc, name), CINC_FS_HZ)
        rr, quality = rr_features(ctx.r_peaks, CINC_FS_HZ, duration_s=ctx.duration_s), ctx.quality
        probs = model.predict_windows(model.windows(ctx.signal_mv, CINC_FS_HZ), rr)
        runs = []
        for _ in range(repeats):
            t0 = time.process_time()
            model.refine(probs, rr, quality)
            runs.append((time.process_time() - t0) * 1e6)
        times.append(min(runs))
    return {"median_us": round(float(np.median(times)), 1), "max_us": round(float(np.max(times)), 1), "n": len(times)}


def oof_figures(run: Path, data_dir: Path, model: RhythmModel) -> dict[str, object]:
    """A run's pooled out-of-fold predictions answered as the shipped model answers, with CIs, and
    their calibration: with a second stage (``stage_two`` in the sidecar), stage and rule by nested
    cross-validation (``training.stage_two.nested_cv``); without one, the rule cross-validated
    on the CNN's probabilities. The gate verdicts and RR features are the current context's."""
    from training.stage_two import VARIANTS, nested_cv, oof_table

    t = oof_table(run, data_dir, model)
    y, readable = t.y, t.readable
    if model.stage_two is not None:
        code, cat, probs, _ = nested_cv(t, VARIANTS["stage"])
    else:
        probs = t.probs
        code, cat, _ = cross_validate(y, probs, readable)
    return {"n": int(y.size), "stage_two": model.stage_two is not None, "cv_rule": figures_with_ci(y, code, cat),
            "argmax_cinc_f1": round(float(cinc_f1(y, probs.argmax(axis=1))), 4),
            "answers_by_label": answers_by_label(y, cat, readable),
            "reliability_p_af": reliability(y[readable], probs[readable, 1]),
            "ece_p_af": round(expected_calibration_error(probs[readable, 1], y[readable] == 1), 4)}


def reliability_diagram(path: Path, tables: dict[str, list[dict[str, float]]]) -> None:
    """PNG of observed AF fraction against mean predicted p(A), one line per table."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 4.2), dpi=120)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
    for (name, rows), marker in zip(tables.items(), "os^"):
        ax.plot([r["mean_p"] for r in rows], [r["observed"] for r in rows], marker=marker, label=name)
    ax.set_xlabel("predicted p(AF), bin mean")
    ax.set_ylabel("observed AF fraction")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=7)
    ax.set_title("Reliability of p(AF)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def reliability(y: np.ndarray, p_af: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Observed AF fraction per bin of predicted p(A) (equal-width bins)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (p_af >= lo) & ((p_af < hi) if hi < 1 else (p_af <= hi))
        if sel.any():
            rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(sel.sum()), "mean_p": round(float(p_af[sel].mean()), 3),
                         "observed": round(float((y[sel] == 1).mean()), 3)})
    return rows


def answers_by_label(y: np.ndarray, cat: np.ndarray, readable: np.ndarray) -> dict[str, dict[str, int]]:
    """Counts of each label per answered category; the unreadable ones split into the quality
    gate's (the model never ran) and the model's (``model_noise``: best guess ~)."""
    unr = cat == CATEGORIES.index("unreadable")
    rows = {name: cat == j for j, name in enumerate(CATEGORIES)}
    rows |= {"unreadable: quality gate": unr & ~readable, "unreadable: model_noise": unr & readable}
    return {name: {c: int(np.sum(sel & (y == i))) for i, c in enumerate(CLASSES)} for name, sel in rows.items()}


def _table(fig: dict[str, list[float]]) -> str:
    words = {
        "af_se": "AF sensitivity, classifiable", "af_sp": "AF specificity, classifiable",
        "not_classified": "inconclusive or unreadable (all)", "inconclusive": "inconclusive (all)",
        "unreadable": "unreadable (all)", "cinc_f1_all": "CinC F1, all, reported codes",
        "cinc_f1_strict": "CinC F1, all, inconclusive = miss", "cinc_f1_classifiable": "CinC F1, classifiable",
        "af_ppv": "AF positive predictive value, classifiable",
        "noise_given_rhythm": "~-labelled recordings answered sinus, AF or other",
    }
    lines = ["| figure | value (95 % CI) | target |", "|---|---|---|"]
    for k, (v, lo, hi) in fig.items():
        tgt = TARGETS.get(k)
        mark = "" if tgt is None else (f"≤ {tgt}" if k == "not_classified" else f"≥ {tgt}")
        lines.append(f"| {words.get(k, k)} | {v:.3f} ({lo:.3f}–{hi:.3f}) | {mark} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", _REPO.parent / "shared" / "data")))
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    p.add_argument("--cache", type=Path, default=_REPO / "training" / "runs" / "cache")
    p.add_argument("--cv", action="store_true", help="also re-tune the rule by 5-fold CV on these predictions")
    p.add_argument("--external", action="store_true",
                   help="also screen the labelled MIT-BIH / CPSC 2021 30 s windows (another device and lead)")
    p.add_argument("--compare-cost", type=Path, default=None, metavar="OLD.tflite",
                   help="also measure this model's CPU per record beside the shipped one, in one run")
    p.add_argument("--oof", type=Path, default=None, metavar="RUN",
                   help="also score the pooled out-of-fold predictions of this training run")
    p.add_argument("--diagram", type=Path, default=None, metavar="PNG", help="reliability diagram of p(A)")
    p.add_argument("--json", type=Path, default=None, help="write all figures here")
    args = p.parse_args(argv)
    model = RhythmModel(args.model)
    y, got = validation_predictions(args.data, model, args.cache)
    readable = got["readable"].astype(bool)
    out: dict[str, object] = {"model_version": model.version, "n": int(y.size),
                              "class_counts": {c: int(np.sum(y == i)) for i, c in enumerate(CLASSES)},
                              "decision": model.decision.to_dict()}
    print(f"# {model.version}: validation split, n = {y.size}\n")
    code, cat = apply_gate_and_rule(got["probs"], readable, model.decision)
    out["rule_agrees_with_screen"] = float(np.mean((code == got["codes"]) & (cat == got["categories"])))
    print(f"screen() and apply_rule on its probabilities agree on {out['rule_agrees_with_screen']:.4f} of records\n")
    out["screen_answers"] = figures_with_ci(y, got["codes"], got["categories"])
    print("## screen() answers (shipped model and rule), all validation records\n\n" + _table(out["screen_answers"]) + "\n")
    if args.cv:
        code, cat, _ = cross_validate(y, got["probs"], readable)
        out["cv_rule"] = figures_with_ci(y, code, cat)
        print("## Rule re-tuned by 5-fold CV on these predictions\n\n" + _table(out["cv_rule"]) + "\n")
    if args.external:
        ext = external_windows(args.data, model)
        out["external_windows"] = ext
        print("## MIT-BIH + CPSC 2021 30 s windows (held out only for a model trained without them, "
              "like r3; models trained with training/extra.py, like s1, saw them: a training-set fit)\n")
        print(f"{ext['n_windows']} windows from {ext['n_groups']} records/subjects, {ext['class_counts']}; CIs over records")
        for k in ("af_se", "af_sp", "not_classified", "af_ppv"):
            v = ext[k]  # type: ignore[index]
            print(f"- {k}: {v[0]:.3f} ({v[1]:.3f}–{v[2]:.3f})")
        print(f"- answers by label: {ext['categories_by_label']}\n")
    out["answers_by_label"] = answers_by_label(y, got["categories"], readable)
    print("## Answers by label (screen())\n\n| answer | " + " | ".join(CLASSES) + " |\n|---|" + "---|" * len(CLASSES))
    for name, row in out["answers_by_label"].items():  # type: ignore[attr-defined]
        print(f"| {name} | " + " | ".join(str(row[c]) for c in CLASSES) + " |")
    print()
    out["reliability_p_af"] = reliability(y[readable], got["probs"][readable, 1])
    out["ece_p_af"] = round(expected_calibration_error(got["probs"][readable, 1], y[readable] == 1), 4)
    ms = model_cpu_ms(args.data, model)
    out["model_cpu_ms_per_30s_record"] = {"median": round(float(np.median(ms)), 3), "max": round(float(np.max(ms)), 3),
                                           "n": int(ms.size), "how": "fastest of 7 runs per record, one thread"}
    if model.stage_two is not None:
        out["stage_two_cpu_us_per_record"] = stage_two_cpu_us(args.data, model)
        print(f"second stage CPU per record: {out['stage_two_cpu_us_per_record']}\n")
    print(f"## Reliability of p(A) (expected calibration error {out['ece_p_af']:.3f})\n\n| p(A) bin | n | mean p(A) | observed AF |\n|---|---|---|---|")
    for r in out["reliability_p_af"]:  # type: ignore[attr-defined]
        print(f"| {r['bin']} | {r['n']} | {r['mean_p']:.3f} | {r['observed']:.3f} |")
    print(f"\nmodel CPU per 30 s record (int8, all windows; fastest of 7 runs each, {ms.size} records): "
          f"median {np.median(ms):.2f} ms, max {np.max(ms):.2f} ms")
    if args.oof is not None:
        oof = oof_figures(args.oof, args.data, model)
        out["out_of_fold"] = oof
        how = "stage two and rule by nested CV" if oof["stage_two"] else "rule cross-validated on them"
        print(f"\n## Out-of-fold ({oof['n']} training records, fold models of {args.oof.name}), "
              f"{how} (5 parts)\n\n" + _table(oof["cv_rule"]))  # type: ignore[arg-type]
        print("\n| answer (out-of-fold) | " + " | ".join(CLASSES) + " |\n|---|" + "---|" * len(CLASSES))
        for name, row in oof["answers_by_label"].items():  # type: ignore[attr-defined]
            print(f"| {name} | " + " | ".join(str(row[c]) for c in CLASSES) + " |")
        print(f"\narg-max CinC F1 {oof['argmax_cinc_f1']:.3f}; expected calibration error of p(A) {oof['ece_p_af']:.3f}")
    if args.diagram is not None:
        tables = {"validation (shipped model)": out["reliability_p_af"]}
        if args.oof is not None:
            tables = {"out-of-fold (fold models)": out["out_of_fold"]["reliability_p_af"]} | tables  # type: ignore[index]
        reliability_diagram(args.diagram, tables)  # type: ignore[arg-type]
    if args.compare_cost is not None:
        out["cost_side_by_side"] = cost_side_by_side(args.data, [model, RhythmModel(args.compare_cost)])
        print("\n## Model CPU per 30 s record, side by side (fastest of 7 runs per record, one thread)\n")
        print("| model | MACs per window | windows | bytes | median ms | max ms |\n|---|---|---|---|---|---|")
        for ver, c in out["cost_side_by_side"].items():  # type: ignore[attr-defined]
            print(f"| {ver} | {c['macs_per_window'] / 1e6:.2f} M | {c['windows_per_record']} | {c['bytes']} | "
                  f"{c['median_ms']:.2f} | {c['max_ms']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
