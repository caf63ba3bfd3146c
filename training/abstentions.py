"""Where the abstentions, AF misses and false AF calls of a run come from, out-of-fold.

On the pooled out-of-fold predictions of a run, with the decision rule cross-validated (the
shipped procedure, :func:`training.rule.cross_validate`), every record is put in one source:

- ``gate``: the quality gate (:func:`ecg.quality.assess`) called it unreadable; it never
  reached the model. For these the model's own out-of-fold answer is shown too (what the
  rule would have said had the gate let it through), with the gate's reasons;
- ``model ~``: the model's weighted best guess was ``~`` (unreadable by the model);
- ``AF band``: ``af_band_min <= p(A) < af_call_min`` or best guess A below the call;
- ``N/O floor``: best guess N or O under its ``min_probability``;
- otherwise the rhythm answer.

Usage (runtime venv; from the repository root)::

    .venv/bin/python -m training.abstentions --run training/runs/s2 --data ../shared/data
    # a new run beside the shipped one: its model's temperature, paired differences by record
    .venv/bin/python -m training.abstentions --run training/runs/s4 --model training/runs/s4/model/rhythm.tflite \
        --reference training/runs/s2 --data ../shared/data
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from ecg import beats
from ecg.errors import EcgError
from ecg.model import CLASSES, DEFAULT_MODEL_PATH, DecisionParams, RhythmModel
from ecg.quality import assess
from ecg.screening import apply_rule
from training.data import CINC_FS_HZ, default_data_dir, read_cinc_mv
from training.rule import (AF, CATEGORY_NAMES, INCONCLUSIVE, NOISY, UNREADABLE, bootstrap_figures, ci_text,
                           cross_validate, parts, rule_figures)
from training.tune_rule import _oof

__all__ = ["SOURCES", "sources", "gate_reasons", "in_order_of", "main"]

#: source index → name (see the module doc)
SOURCES = ("gate", "model ~", "AF band", "N/O floor", "answered")
GATE, MODEL_NOISE, BAND, FLOOR, ANSWERED = range(5)


def sources(probs: np.ndarray, readable: np.ndarray, cat: np.ndarray, rules: list[DecisionParams],
            part_of: np.ndarray) -> np.ndarray:
    """Source index (:data:`SOURCES`) of each record, from the rule of its own part."""
    src = np.full(cat.size, ANSWERED)
    src[~readable] = GATE
    for j, prm in enumerate(rules):
        rows = (part_of == j) & readable
        p = np.nan_to_num(probs[rows])
        best = np.argmax(p * np.asarray(prm.class_weights), axis=1)
        pa = p[:, CLASSES.index("A")]
        called = pa >= prm.af_call_min
        band = ~called & (best != NOISY) & ((pa >= prm.af_band_min) | (best == AF))
        s = np.full(best.size, ANSWERED)
        s[(best == NOISY) & ~called] = MODEL_NOISE
        s[band] = BAND
        s[(cat[rows] == INCONCLUSIVE) & ~band] = FLOOR
        src[rows] = s
    return src


def gate_reasons(data_dir: Path, names: list[str]) -> Counter:
    """How often each reason of :func:`ecg.quality.assess` stops these records."""
    cinc = Path(data_dir) / "cinc2017"
    out: Counter = Counter()
    for name in names:
        sig_mv = read_cinc_mv(cinc, name)
        try:
            q = assess(sig_mv, CINC_FS_HZ, r_peaks=beats.detect_r_peaks(sig_mv, CINC_FS_HZ))
            out.update(q.reasons or ["(none)"])
        except EcgError as exc:
            out.update([f"error: {type(exc).__name__}"])
    return out


def _table(title: str, y: np.ndarray, src: np.ndarray, rows: np.ndarray) -> None:
    print(f"{title} (n = {int(rows.sum())}), by label:")
    for c, name in enumerate(CLASSES):
        sel = rows & (y == c)
        if sel.any():
            print(f"  {name}: {int(sel.sum())} = " + ", ".join(
                f"{SOURCES[s]} {int((src[sel] == s).sum())}" for s in range(len(SOURCES)) if (src[sel] == s).any()))


def _gate_answers(y: np.ndarray, probs: np.ndarray, rules: list[DecisionParams], part_of: np.ndarray,
                  gated: np.ndarray) -> None:
    """What the rule of each record's part says on the model's out-of-fold probabilities of the
    records the gate stopped."""
    cats = np.zeros(y.size, dtype=int)
    for j, prm in enumerate(rules):
        rows = (part_of == j) & gated
        if rows.any():
            cats[rows] = apply_rule(np.nan_to_num(probs[rows]), prm)[1]
    print("  the model's answer had the gate let them through (label: category counts):")
    for c, name in enumerate(CLASSES):
        sel = gated & (y == c)
        if sel.any():
            got = Counter(CATEGORY_NAMES[k] for k in cats[sel])
            print(f"    {name} ({int(sel.sum())}): " + ", ".join(f"{k} {v}" for k, v in got.most_common()))


def _argmax_noise(y: np.ndarray, probs: np.ndarray, readable: np.ndarray) -> str:
    """The model's own noise behaviour, without the rule: plain arg-max behind the gate."""
    best = np.argmax(np.nan_to_num(probs), axis=1)
    best[~readable] = NOISY
    return (f"N/A/O-labelled answered ~ {int(((best == NOISY) & (y != NOISY)).sum())}, "
            f"~-labelled given a rhythm {int(((best != NOISY) & (y == NOISY)).sum())}, "
            f"mean p(~) {float(np.nanmean(probs[:, NOISY])):.4f}")


def _report(y: np.ndarray, probs: np.ndarray, readable: np.ndarray, cat: np.ndarray,
            rules: list[DecisionParams]) -> None:
    """The source tables of one run (module doc)."""
    part_of = parts(y)
    src = sources(probs, readable, cat, rules, part_of)
    print("sources over all records: " + ", ".join(f"{SOURCES[s]} {int((src == s).sum())}" for s in range(5)))
    _table("not classified (unreadable or inconclusive)", y, src, cat >= UNREADABLE)
    af = y == AF
    _table("AF-labelled, not called AF (Se's misses, incl. unclassified)", y, src, af & (cat != AF))
    miss = af & (cat <= 2) & (cat != AF)
    print(f"  of those classifiable (the Se denominator): {int(miss.sum())} = " + ", ".join(
        f"{CATEGORY_NAMES[k]} {int((cat[miss] == k).sum())}" for k in range(3) if (cat[miss] == k).any()))
    if miss.any():
        print(f"    their p(A): median {float(np.median(probs[miss, AF])):.3f}, max {float(np.max(probs[miss, AF])):.3f}")
    _table("false AF calls (Sp)", y, src, ~af & (cat == AF))
    _gate_answers(y, probs, rules, part_of, ~readable)


def in_order_of(names: np.ndarray, names_ref: np.ndarray) -> np.ndarray:
    """Indices that put the reference's records in the order of ``names`` (the same set of
    records pooled in another fold order); exits when the two sets differ."""
    order = {str(n): i for i, n in enumerate(names_ref)}
    if len(order) != len(names_ref) or sorted(order) != sorted(str(n) for n in names):
        raise SystemExit("the reference run's out-of-fold records differ: no paired comparison")
    return np.array([order[str(n)] for n in names], dtype=int)


def _compare(args: argparse.Namespace, y: np.ndarray, code: np.ndarray, cat: np.ndarray) -> None:
    """Paired bootstrap differences run − reference of the cross-validated figures (same records).

    A reference pooled in another order (other folds, e.g. 3 against 5) is put in the run's
    record order first, so both rules are cross-validated on the same parts of the same records
    (the reference's figures can then differ slightly from its own run's order)."""
    temperature = float(RhythmModel(args.reference_model).meta.get("temperature", 1.0))
    y_ref, probs_ref, readable_ref = _oof(args.reference, args.data, temperature)
    idx = in_order_of(_oof_names(args.run), _oof_names(args.reference))
    y_ref, probs_ref, readable_ref = y_ref[idx], probs_ref[idx], readable_ref[idx]
    if not np.array_equal(y, y_ref):
        raise SystemExit("the reference run's labels differ: no paired comparison")
    code_ref, cat_ref, _ = cross_validate(y, probs_ref, readable_ref)
    print(f"{args.reference.name} (reference, in {args.run.name}'s record order): "
          + ", ".join(f"{k} {v:.4f}" for k, v in rule_figures(y, code_ref, cat_ref).items()))
    boot, boot_ref = bootstrap_figures(y, [(code, cat), (code_ref, cat_ref)])
    fig, fig_ref = rule_figures(y, code, cat), rule_figures(y, code_ref, cat_ref)
    print(f"{args.reference.name} (reference) arg-max: {_argmax_noise(y, probs_ref, readable_ref)}")
    print(f"paired {args.run.name} − {args.reference.name} (95 % bootstrap CI): " + ", ".join(
        f"{k} {fig[k] - fig_ref[k]:+.4f} {ci_text(boot[k] - boot_ref[k])}" for k in fig))
    miss, miss_ref = ((y == AF) & (c <= 2) & (c != AF) for c in (cat, cat_ref))
    print(f"classifiable AF-labelled answered sinus/other: {args.run.name} {int(miss.sum())}, "
          f"{args.reference.name} {int(miss_ref.sum())}, both {int((miss & miss_ref).sum())}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="model whose temperature to use")
    p.add_argument("--no-reasons", action="store_true", help="skip the gate's reasons (re-runs the gate)")
    p.add_argument("--reference", type=Path, default=None, help="run to compare with, paired by record")
    p.add_argument("--reference-model", type=Path, default=DEFAULT_MODEL_PATH, help="its model (temperature)")
    args = p.parse_args(argv)
    temperature = float(RhythmModel(args.model).meta.get("temperature", 1.0))
    y, probs, readable = _oof(args.run, args.data, temperature)
    code, cat, rules = cross_validate(y, probs, readable)
    fig = rule_figures(y, code, cat)
    print(f"{args.run.name}, n = {y.size}: " + ", ".join(f"{k} {v:.4f}" for k, v in fig.items()))
    print(f"  arg-max: {_argmax_noise(y, probs, readable)}")
    _report(y, probs, readable, cat, rules)
    if not args.no_reasons:
        names = [str(n) for n in np.asarray(_oof_names(args.run))[~readable & (y != NOISY)]]
        print(f"  gate reasons of the {len(names)} N/A/O-labelled records it stopped: "
              + ", ".join(f"{k} {v}" for k, v in gate_reasons(args.data, names).most_common()))
    if args.reference is not None:
        _compare(args, y, code, cat)
    return 0


def _oof_names(run: Path) -> np.ndarray:
    from training.export import pooled_oof

    folds = sorted(int(f.parent.name.removeprefix("fold")) for f in run.glob("fold*/oof.npz"))
    return pooled_oof(run, folds)["names"]


if __name__ == "__main__":
    raise SystemExit(main())
