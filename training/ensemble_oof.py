"""Ensembles of trained runs scored out-of-fold (the members' calibrated probabilities averaged).

Usage (from the repository root)::

    # the ensemble of several runs, out-of-fold (runtime venv is enough: it reads oof.npz files)
    .venv/bin/python -m training.ensemble_oof --oof training/runs/s2_oof_now training/runs/s4_oof_now \
        training/runs/s5 --out training/runs/ens3_oof
    .venv/bin/python -m training.tune_rule --source oof --run training/runs/ens3_oof --fit-temperature \
        --noise-weight-min 1 --dry-run

A member's window probabilities are the softmax of its window logits divided by *its own*
temperature, fitted on its pooled out-of-fold window logits (:func:`training.calibrate.fit_temperature`,
the export's step). The ensemble's window probability is the mean over members; it is stored
as ``window_logits = log(mean probability)`` so that every scorer of ``oof.npz`` files reads it
unchanged (a further temperature fitted on top is then the ensemble's own calibration).

Used on 2026-12-02 to judge the ensemble of ``s2``, ``s4`` and ``s5`` as the teacher of a distilled
student (``docs/training.md``, "The s2 + s4 + s5 ensemble out-of-fold"): it was not better than
its best member, so no student was trained.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.calibrate import fit_temperature
from training.train import softmax

__all__ = ["member_window_probs", "ensemble_oof", "main"]


def member_window_probs(oof_dir: Path, folds: list[int]) -> tuple[list[dict[str, np.ndarray]], float]:
    """Per fold, one member's ``oof.npz`` with window probabilities (own fitted temperature) added.

    Returns ``(per_fold, temperature)``; ``per_fold[i]["window_probs"]`` is
    ``softmax(window_logits / temperature)``.
    """
    from training.export import pooled_oof

    pooled = pooled_oof(oof_dir, folds)
    if "window_logits" not in pooled:
        raise ValueError(f"{oof_dir}: oof.npz without window logits cannot be calibrated")
    temperature = fit_temperature(pooled["window_logits"], pooled["window_owner"], pooled["y"])
    per_fold = []
    for k in folds:
        z = dict(np.load(oof_dir / f"fold{k}" / "oof.npz"))
        z["window_probs"] = softmax(z["window_logits"] / temperature)
        per_fold.append(z)
    return per_fold, temperature


def ensemble_oof(members: list[Path], out: Path, folds: tuple[int, ...] = (0, 1, 2)) -> list[float]:
    """Write ``out/fold<k>/oof.npz``: the members' calibrated window probabilities averaged.

    The members must answer the same records with the same windows (same split and inputs);
    a mismatch raises ``ValueError``. Returns the members' temperatures.
    """
    loaded = [member_window_probs(m, list(folds)) for m in members]
    for i, k in enumerate(folds):
        ref = loaded[0][0][i]
        for (per_fold, _), member in zip(loaded[1:], members[1:]):
            z = per_fold[i]
            if not (np.array_equal(z["names"], ref["names"]) and np.array_equal(z["window_owner"], ref["window_owner"])):
                raise ValueError(f"{member} fold{k}: other records or windows than {members[0]}")
        p = np.mean([per_fold[i]["window_probs"] for per_fold, _ in loaded], axis=0)
        owner = ref["window_owner"]
        rec = np.zeros((len(ref["names"]), p.shape[1]))
        np.add.at(rec, owner, p)
        rec /= np.bincount(owner, minlength=len(rec))[:, None]
        (out / f"fold{k}").mkdir(parents=True, exist_ok=True)
        np.savez(out / f"fold{k}" / "oof.npz", names=ref["names"], y=ref["y"], probs=rec,
                 window_logits=np.log(np.clip(p, 1e-12, 1.0)), window_owner=owner)
    temps = [t for _, t in loaded]
    (out / "config.json").write_text(json.dumps({"ensemble_of": [str(m) for m in members], "temperatures": temps},
                                                indent=1))
    return temps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--oof", type=Path, nargs="+", required=True, help="folders holding fold<k>/oof.npz, one per member")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    temps = ensemble_oof(args.oof, args.out)
    print("members' temperatures: " + ", ".join(f"{m.name} {t:.4f}" for m, t in zip(args.oof, temps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
