"""Train the segmenter: 5-fold cross-validation by record, then one fit on all records.

Usage (repository root, training venv, one thread, resumable: rerun the same command)::

    OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 nice -n 10 \
        /work/venv-train/bin/python -m training.delineation.train --run training/delineation/runs/main \
        --data ../shared/data --epochs 30

Jobs ``fold0`` … ``fold4`` train on the other folds' records; ``final`` trains on all. Each
job runs the same fixed schedule (no early stopping, no epoch picked on held-out data:
the last epoch is the model), writes ``<job>/last.keras`` and ``<job>/state.json`` after
every epoch and ``<job>/done.json`` at the end; a rerun resumes unfinished jobs and skips
finished ones. Held-out sample-level scores are logged per epoch for monitoring only.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from training.delineation.augment import make_batch
from training.delineation.data import (N_FOLDS, NO_BOUNDARY_WEIGHT, BoundaryWeight, Lead, default_data_dir,
                                      folds_by_record, load_ludb)
from training.delineation.evaluate import predict_leads, sample_scores
from training.delineation.model import ARCHS, DEFAULT_ARCH

log = logging.getLogger("training.delineation.train")

SEED = 7


def _cosine_lr(base: float, epoch: int, epochs: int) -> float:
    return 0.05 * base + 0.95 * base * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1)))


def _load_or_build(job_dir: Path, lr: float, arch: str) -> tuple[Any, dict[str, Any]]:
    from tensorflow import keras

    from training.delineation.model import build_model

    state_path = job_dir / "state.json"
    if state_path.exists() and (job_dir / "last.keras").exists():
        model = keras.models.load_model(job_dir / "last.keras")
        return model, json.loads(state_path.read_text())
    model = build_model(arch=arch)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    return model, {"epoch": 0, "history": []}


def train_job(job: str, train: list[Lead], held: list[Lead], run: Path, epochs: int, batch: int, lr: float,
              crops_per_lead: int, arch: str = DEFAULT_ARCH, boundary: BoundaryWeight = NO_BOUNDARY_WEIGHT,
              seed: int = SEED) -> None:
    """Train (or resume) one job to ``epochs`` epochs and mark it done (``seed`` draws the
    crops and augmentations; the weights' initialisation is seeded in :func:`main`)."""
    job_dir = run / job
    job_dir.mkdir(parents=True, exist_ok=True)
    if (job_dir / "done.json").exists():
        log.info("%s already done", job)
        return
    model, state = _load_or_build(job_dir, lr, arch)
    job_id = int(job[4:]) if job.startswith("fold") else 99
    for epoch in range(int(state["epoch"]), epochs):
        t0 = time.process_time()
        model.optimizer.learning_rate.assign(_cosine_lr(lr, epoch, epochs))
        rng = np.random.default_rng([seed, job_id, epoch])
        order = np.concatenate([rng.permutation(len(train)) for _ in range(crops_per_lead)])
        losses = []
        for s in range(0, len(order) - batch + 1, batch):
            x, y, w = make_batch([train[i] for i in order[s : s + batch]], rng, boundary)
            losses.append(float(model.train_on_batch(x, y, sample_weight=w)))
        entry: dict[str, Any] = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
                                 "cpu_s": round(time.process_time() - t0, 1)}
        if held and ((epoch + 1) % 5 == 0 or epoch + 1 == epochs):
            entry["held_out"] = sample_scores(held, predict_leads(model, held))
        state = {"epoch": epoch + 1, "history": [*state["history"], entry]}
        model.save(job_dir / "last.keras")
        (job_dir / "state.json").write_text(json.dumps(state, indent=1))
        log.info("%s %s", job, json.dumps(entry))
    model.save_weights(job_dir / "final.weights.h5")
    (job_dir / "done.json").write_text(json.dumps({"epochs": epochs, "n_train_leads": len(train), "arch": arch,
                                                   "boundary_weight": boundary.as_dict(),
                                                   "held_out_records": sorted({ld.record for ld in held})}))


def _check_recipe(run: Path, recipe: dict[str, Any]) -> None:
    """Write the run's recipe once; refuse to resume a run with another recipe."""
    path = run / "recipe.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != recipe:
            raise SystemExit(f"{run} was started with {old}, not {recipe}: use another --run")
    else:
        path.write_text(json.dumps(recipe, indent=1))


JOB_ORDER = [*(f"fold{k}" for k in range(N_FOLDS)), "final"]


def seed_job_init(seed: int, job: str, arch: str) -> None:
    """Put the random state where the documented single-process run (``--jobs fold0 … fold4
    final``, one process) had it when it built ``job``'s network, whichever process trains it.

    The weights' initialisers draw their seeds from the global generators that
    ``set_random_seed`` seeds; a job's network is the k-th built in that run, and training
    draws nothing from them, so re-seeding and building the k earlier jobs' networks (then
    discarding them) gives ``job`` the same initial weights when the jobs are split over
    several worker processes. Jobs outside ``JOB_ORDER`` are seeded as the first."""
    import tensorflow as tf
    from tensorflow import keras

    from training.delineation.model import build_model

    tf.keras.utils.set_random_seed(seed)
    for _ in range(JOB_ORDER.index(job) if job in JOB_ORDER else 0):
        earlier = build_model(arch=arch)
        earlier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        del earlier


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--crops-per-lead", type=int, default=1)
    ap.add_argument("--arch", choices=sorted(ARCHS), default=DEFAULT_ARCH)
    ap.add_argument("--boundary-weight", type=float, default=1.0,
                    help="loss weight of samples near annotated wave onsets/offsets (1 = none)")
    ap.add_argument("--boundary-radius", type=int, default=0, help="model samples (125 Hz) either side of a boundary")
    ap.add_argument("--seed", type=int, default=SEED,
                    help="initialisation, crop and augmentation seed (the folds stay those of the split seed)")
    ap.add_argument("--jobs", nargs="*", default=JOB_ORDER)
    ap.add_argument("--init-as-one-process", action="store_true",
                    help="give each job the initial weights it gets in one process running all jobs in order "
                         "(JOB_ORDER), whichever jobs this process runs (default: the seeded stream continues "
                         "across this process's jobs, so the split of jobs over processes is part of the recipe)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(args.seed)
    leads = load_ludb(args.data)
    folds = folds_by_record(sorted({ld.record for ld in leads}))
    args.run.mkdir(parents=True, exist_ok=True)
    boundary = BoundaryWeight(args.boundary_weight, args.boundary_radius)
    _check_recipe(args.run, {"epochs": args.epochs, "batch": args.batch, "lr": args.lr, "arch": args.arch,
                             "crops_per_lead": args.crops_per_lead, "seed": args.seed,
                             "boundary_weight": boundary.as_dict()})
    (args.run / "folds.json").write_text(json.dumps(folds))
    for job in args.jobs:
        held_records = set(folds[int(job[4:])]) if job.startswith("fold") else set()
        train = [ld for ld in leads if ld.record not in held_records]
        held = [ld for ld in leads if ld.record in held_records]
        job_dir = args.run / job
        if args.init_as_one_process and not (job_dir / "done.json").exists() \
                and not (job_dir / "state.json").exists():
            seed_job_init(args.seed, job, args.arch)
        train_job(job, train, held, args.run, args.epochs, args.batch, args.lr, args.crops_per_lead, args.arch,
                  boundary, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
