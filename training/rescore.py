"""Re-score a run's fold models on the current prepared inputs (out-of-fold, no training).

Usage (training venv; from the repository root)::

    .venv-train/bin/python -m training.rescore --run training/runs/s1 --out training/runs/s1_now

A fold model's out-of-fold predictions (``fold<k>/oof.npz``) are written when it is trained,
from the inputs of that day. When the R-peak detector changes, the RR features (and the
quality gate's verdicts) the shipped model sees at run time change too; this command runs
each fold model of ``--run`` on its held-out fold again, with the inputs the current code
prepares and the run's own RR standardisation (``rr_stats.json``, as the shipped sidecar),
and writes the same ``oof.npz`` files into ``--out`` (with the run's ``rr_stats.json`` and a
``config.json`` naming the source and the inputs' fingerprint). ``training.tune_rule
--source oof --run <out> --fit-temperature`` then scores it with the procedure of a new run.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from ecg.model import CLASSES
from training.data import N_FOLDS, default_data_dir, load_dataset, split_records
from training.train import inputs_fingerprint, predict_records, standardise

log = logging.getLogger("training.rescore")


def rescore(run: Path, out: Path, data_dir: Path, folds: list[int]) -> str:
    """Write ``out/fold<k>/oof.npz`` of each fold model of ``run`` on the current inputs.

    Returns the fingerprint of the CinC inputs used (:func:`training.train.inputs_fingerprint`).
    """
    from training.export import load_member

    data = load_dataset(data_dir)
    config = json.loads((run / "config.json").read_text())
    _, split = split_records(dict(zip(data.names, (CLASSES[i] for i in data.y))),
                             n_folds=int(config.get("n_folds", N_FOLDS)))
    stats = json.loads((run / "rr_stats.json").read_text())
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    for k in folds:
        va = data.subset(split[k])
        model = load_member(run, f"fold{k}", config)
        probs, z, owner = predict_records(model, va, standardise(va.rr, mean, std))
        (out / f"fold{k}").mkdir(parents=True, exist_ok=True)
        np.savez(out / f"fold{k}" / "oof.npz", names=np.array(va.names), y=va.y, probs=probs,
                 window_logits=z, window_owner=owner)
        log.info("fold%d: %d records re-scored (arg-max agreement with the stored oof: %s)", k, len(va.names),
                 _agreement(run / f"fold{k}" / "oof.npz", probs))
    fingerprint = inputs_fingerprint(data, None)
    (out / "rr_stats.json").write_text(json.dumps(stats))
    (out / "config.json").write_text(json.dumps(config | {"rescored_from": str(run), "inputs_cinc": fingerprint},
                                                indent=1))
    return fingerprint


def _agreement(stored: Path, probs: np.ndarray) -> str:
    """Share of records whose arg-max equals the stored out-of-fold one (``"n/a"`` without it)."""
    if not stored.is_file():
        return "n/a"
    old = np.load(stored)["probs"]
    return f"{float(np.mean(old.argmax(axis=1) == probs.argmax(axis=1))):.4f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--run", type=Path, required=True, help="run whose fold models are re-scored")
    p.add_argument("--out", type=Path, required=True, help="new folder for the re-scored oof.npz files")
    p.add_argument("--folds", type=str, default="0,1,2")
    args = p.parse_args(argv)
    if args.out.resolve() == args.run.resolve():
        p.error("--out must differ from --run (the training-time predictions are kept)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    fingerprint = rescore(args.run, args.out, args.data, [int(s) for s in args.folds.split(",")])
    log.info("inputs (CinC) fingerprint %s; written to %s", fingerprint, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
