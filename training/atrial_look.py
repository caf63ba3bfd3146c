"""Exploratory: do the atrial-activity features separate the AF records every CNN misses?

Training records only (the folds' pooled out-of-fold predictions; the validation split is
never read). Groups among the records the quality gate lets through:

- ``missed AF``: A-labelled records that every given run calls with p(A) below ``--missed-below``
  (each run's record probability = the mean of its windows' softmax at the run's own
  temperature fitted on its out-of-fold windows, :func:`training.ensemble_oof.member_window_probs`);
- ``caught AF``: the other A-labelled records; ``N`` and ``O``: sinus- and other-labelled.

For each feature of :mod:`ecg.atrial` (and the RR coefficient of variation for reference) it
prints the group medians and the area under the ROC curve of missed AF against N, O and N + O,
and of all AF against N + O, with 95 % bootstrap CIs (resampling records within each group).
Exploratory only: it chooses nothing; the declared test is the nested CV of
``training.stage_two --variants atrial``.

Usage (runtime venv, after ``training.stage_two_data``)::

    .venv/bin/python -m training.atrial_look --data ../shared/data --oof training/runs/s2_oof_now \
        training/runs/s4_oof_now training/runs/s5 training/runs/s6 --plot training/runs/atrial/look.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from ecg.atrial import FEATURE_NAMES
from ecg.model import CLASSES
from ecg.rr_features import FEATURE_NAMES as RR_NAMES
from training.data import default_data_dir
from training.stage_two_data import load_inputs

__all__ = ["auc", "auc_ci", "record_p_af", "groups", "main"]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve of ``pos`` above ``neg`` (Mann–Whitney, ties count half)."""
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def auc_ci(pos: np.ndarray, neg: np.ndarray, n_boot: int = 1000, seed: int = 16) -> tuple[float, float, float]:
    """:func:`auc` and its 95 % bootstrap interval (records resampled within each group)."""
    rng = np.random.default_rng(seed)
    boots = [auc(rng.choice(pos, pos.size), rng.choice(neg, neg.size)) for _ in range(n_boot)]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return auc(pos, neg), float(lo), float(hi)


def record_p_af(run: Path) -> dict[str, float]:
    """Each out-of-fold record's calibrated p(A) in ``run`` (mean over its windows)."""
    from training.ensemble_oof import member_window_probs

    folds = sorted(int(p.parent.name[4:]) for p in run.glob("fold*/oof.npz"))
    per_fold, _ = member_window_probs(run, folds)
    out: dict[str, float] = {}
    a = CLASSES.index("A")
    for z in per_fold:
        p = z["window_probs"][:, a]
        sums = np.bincount(z["window_owner"], weights=p, minlength=len(z["names"]))
        counts = np.bincount(z["window_owner"], minlength=len(z["names"]))
        out.update({str(n): float(s / c) for n, s, c in zip(z["names"], sums, counts)})
    return out


def groups(inputs: dict[str, np.ndarray], labels: dict[str, str], runs: list[Path],
           missed_below: float) -> dict[str, np.ndarray]:
    """Row indices (into ``inputs``) of the groups of the module doc."""
    p_af = [record_p_af(r) for r in runs]
    names = [str(n) for n in inputs["names"]]
    common = set.intersection(*(set(p) for p in p_af))
    rows = [i for i, n in enumerate(names) if n in common and bool(inputs["readable"][i])]
    lab = np.array([labels[names[i]] for i in rows])
    top = np.array([max(p[names[i]] for p in p_af) for i in rows])
    rows_a = np.array(rows)
    return {"missed AF": rows_a[(lab == "A") & (top < missed_below)],
            "caught AF": rows_a[(lab == "A") & (top >= missed_below)],
            "N": rows_a[lab == "N"], "O": rows_a[lab == "O"]}


def _table(inputs: dict[str, np.ndarray], g: dict[str, np.ndarray]) -> dict[str, dict[str, object]]:
    cols = {name: inputs["atrial"][:, k] for k, name in enumerate(FEATURE_NAMES)}
    cols["rr_cv"] = inputs["rr"][:, RR_NAMES.index("rr_cv")]
    no = np.concatenate([g["N"], g["O"]])
    af = np.concatenate([g["missed AF"], g["caught AF"]])
    out: dict[str, dict[str, object]] = {}
    for name, v in cols.items():
        med = {k: round(float(np.median(v[idx])), 3) for k, idx in g.items()}
        aucs = {"missed AF vs N": auc_ci(v[g["missed AF"]], v[g["N"]]),
                "missed AF vs O": auc_ci(v[g["missed AF"]], v[g["O"]]),
                "missed AF vs N+O": auc_ci(v[g["missed AF"]], v[no]),
                "all AF vs N+O": auc_ci(v[af], v[no])}
        out[name] = {"medians": med, "auc": {k: [round(x, 3) for x in a] for k, a in aucs.items()}}
        print(f"{name:15s} medians " + ", ".join(f"{k} {m:+.3f}" for k, m in med.items()))
        print(" " * 16 + "AUC " + "; ".join(f"{k} {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}]" for k, a in aucs.items()))
    return out


def _plot(inputs: dict[str, np.ndarray], g: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    rng = np.random.default_rng(0)
    for k, ax in enumerate(axes.ravel()):
        for j, (name, idx) in enumerate(g.items()):
            v = inputs["atrial"][idx, k]
            ax.scatter(j + rng.uniform(-0.25, 0.25, v.size), v, s=3, alpha=0.3)
            ax.plot([j - 0.3, j + 0.3], [np.median(v)] * 2, color="k")
        ax.set_xticks(range(len(g)), [f"{n}\n({g[n].size})" for n in g], fontsize=8)
        ax.set_title(FEATURE_NAMES[k], fontsize=9)
    fig.suptitle("Atrial features, training records out-of-fold (exploratory; validation not read)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--oof", type=Path, nargs="+", required=True, help="run folders with fold*/oof.npz")
    p.add_argument("--missed-below", type=float, default=0.09)
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    from training.data import read_labels

    inputs = load_inputs(args.data)
    labels = read_labels(Path(args.data) / "cinc2017")
    g = groups(inputs, labels, args.oof, args.missed_below)
    print("groups (readable training records): " + ", ".join(f"{k} {v.size}" for k, v in g.items()))
    out = _table(inputs, g)
    missed = [str(inputs["names"][i]) for i in g["missed AF"]]
    print("missed AF records (for label review, not for any rule): " + " ".join(missed))
    if args.plot:
        _plot(inputs, g, args.plot)
    if args.json:
        args.json.write_text(json.dumps({"groups": {k: int(v.size) for k, v in g.items()}, "missed_af": missed,
                                         "features": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
