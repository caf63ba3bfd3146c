"""Train the fold models of the rhythm ensemble (resumable: rerun the same command).

Usage (from the repository root, in the training venv)::

    .venv-train/bin/python -m training.train --run training/runs/main --epochs 40

Each fold *k* of :func:`training.data.split_records` trains on the other folds plus the
labelled MIT-BIH / CPSC 2021 windows of :mod:`training.extra` (``--no-extra`` to leave them
out) and is scored on fold *k* (CinC records only) from ``--eval-from`` on
(window-averaged probabilities, CinC F1 with the plain arg-max). Every epoch writes
``fold{k}/last.keras`` (model and optimiser) and ``fold{k}/state.json``; the best epoch's
weights go to ``fold{k}/best.weights.h5`` and its out-of-fold record probabilities, window
logits and window owners to ``fold{k}/oof.npz`` (the export fits the temperature on them). Rerunning resumes each unfinished fold
from its last checkpoint; finished folds are skipped. ``config.json`` holds the options and a
fingerprint of the prepared inputs (:func:`inputs_fingerprint`): a rerun whose inputs differ
(e.g. the R-peak detector changed the RR features) is refused. ``--prepare-only`` builds the
input caches and the run's config once, before the jobs start in parallel.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from ecg.model import CLASSES, signal_windows
from training.augment import Augmenter
from training.data import CACHE_DIR, N_FOLDS, Dataset, default_data_dir, load_dataset, split_records
from training.metrics import cinc_f1, f1_per_class
from training.arch import ARCHS

log = logging.getLogger("training.train")


def rr_stats(rr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (floored) of raw RR features over training records."""
    mean = rr.mean(axis=0)
    std = np.maximum(rr.std(axis=0), 1e-3)
    return mean, std


def standardise(rr: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Same rule as :meth:`ecg.model.RhythmModel.standardise_rr`."""
    return np.clip((rr - mean) / std, -5.0, 5.0).astype(np.float32)


def inputs_fingerprint(data: Dataset, extra: Dataset | None) -> str:
    """Hash of the prepared inputs (names, labels, RR features, 150 Hz signals as cached)."""
    h = hashlib.sha256()
    for ds in (data,) if extra is None else (data, extra):
        h.update("\n".join(ds.names).encode())
        h.update(np.asarray(ds.y, dtype=np.int64).tobytes())
        h.update(np.asarray(ds.rr, dtype=np.float64).tobytes())
        for x in ds.signals:
            h.update(np.asarray(x, dtype=np.float16).tobytes())
    return h.hexdigest()[:16]


def class_scale(noise_draw_scale: float) -> np.ndarray:
    """Per-class draw-share multipliers: ``noise_draw_scale`` for ``~``, 1 for the rhythms."""
    scale = np.ones(len(CLASSES))
    scale[CLASSES.index("~")] = noise_draw_scale
    return scale


def make_loss(focal_gamma: float = 0.0):  # type: ignore[no-untyped-def]
    """The training loss: cross-entropy with label smoothing 0.05 (``focal_gamma`` 0, every run up to
    ``s2f5``) or, in its place, the focal loss ``-sum_c y_c (1 - p_c) ** gamma log p_c`` on the
    (mixup) labels without smoothing (``f5``: gamma 2, no class weighting — ``alpha`` 1). The focal
    factor down-weights the samples the model already gets right, so the confident misses weigh
    more; label smoothing would undo most of that (a hit's smoothed off-class terms are not
    down-weighted) and the focal loss already keeps the probabilities off 0 and 1 (docs/training.md "f5")."""
    from tensorflow import keras

    if focal_gamma == 0.0:
        return keras.losses.CategoricalCrossentropy(label_smoothing=0.05)
    return keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=focal_gamma)


def window_inputs(ds: Dataset, rr_z: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All model windows of ``ds`` with their RR features, and the record index of each window."""
    wins, rrs, owner = [], [], []
    for i, x in enumerate(ds.signals):
        w = signal_windows(x)
        wins.append(w)
        rrs.append(np.repeat(rr_z[i : i + 1], len(w), axis=0))
        owner += [i] * len(w)
    return {"signal": np.concatenate(wins)[..., None], "rr": np.concatenate(rrs)}, np.asarray(owner)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def record_probs(window_logits: np.ndarray, owner: np.ndarray, n_records: int, temperature: float = 1.0) -> np.ndarray:
    """Window probabilities (softmax of logits / temperature) averaged per record, as at run time."""
    p = softmax(window_logits / temperature)
    out = np.zeros((n_records, p.shape[1]))
    np.add.at(out, owner, p)
    return out / np.bincount(owner, minlength=n_records)[:, None]


def predict_records(model, ds: Dataset, rr_z: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """``(record_probs, window_logits, window_owner)`` of a Keras fold model on ``ds``."""
    from training.model import logits_model

    feeds, owner = window_inputs(ds, rr_z)
    z = logits_model(model).predict(feeds, batch_size=batch_size, verbose=0)
    return record_probs(z, owner, len(ds.names)), z, owner


def _lr(epoch: int, epochs: int, base: float) -> float:
    warm = 2
    if epoch < warm:
        return base * (epoch + 1) / warm
    t = (epoch - warm) / max(epochs - warm, 1)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def _job_sets(job: str, data: Dataset, folds: list[list[str]], extra: Dataset | None) -> tuple[Dataset, Dataset | None]:
    """Training set (plus the extra windows) and held-out set (``None`` for ``final``) of a job."""
    if job == "final":
        tr, va = data.subset([n for f in folds for n in f]), None
    else:
        k = int(job.removeprefix("fold"))
        tr = data.subset([n for j, f in enumerate(folds) if j != k for n in f])
        va = data.subset(folds[k])
    if extra is not None and extra.names:
        tr = Dataset(tr.names + extra.names, np.concatenate([tr.y, extra.y]), tr.signals + extra.signals,
                     np.concatenate([tr.rr, extra.rr]))
    return tr, va


def train_fold(job: str, data: Dataset, folds: list[list[str]], run: Path, args: argparse.Namespace,
               mean: np.ndarray, std: np.ndarray, extra: Dataset | None = None) -> None:
    """Train one job (``fold<k>`` or ``final``), resuming from its last checkpoint.

    With ``--select last`` (the default) the last epoch is the model (``last.weights.h5``) and a
    fold's held-out predictions come from it; with ``--select best`` the epoch with the best
    held-out CinC F1 is kept (``best.weights.h5``, the r3 procedure).
    """
    import tensorflow as tf
    from tensorflow import keras

    from training.arch import ArchSpec
    from training.model import build_model

    fold_dir = run / job
    fold_dir.mkdir(parents=True, exist_ok=True)
    state_path = fold_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"epoch": -1, "best_f1": -1.0, "history": []}
    if state["epoch"] + 1 >= args.epochs:
        log.info("%s already trained (%d epochs)", job, state["epoch"] + 1)
        return
    tr, va = _job_sets(job, data, folds, extra)
    tr_z = standardise(tr.rr, mean, std)
    va_z = standardise(va.rr, mean, std) if va is not None else None
    seed_offset = len(folds) if job == "final" else int(job.removeprefix("fold"))
    tf.keras.utils.set_random_seed(args.seed + seed_offset)
    last = fold_dir / "last.keras"
    if last.is_file():
        model = keras.models.load_model(last)
        log.info("%s: resuming after epoch %d", job, state["epoch"] + 1)
    else:
        model = build_model(job, arch=ArchSpec.from_dict(args.arch_spec))
        model.compile(optimizer=keras.optimizers.AdamW(args.lr, weight_decay=1e-3),
                      loss=make_loss(getattr(args, "focal_gamma", 0.0)))
    aug = Augmenter(tr.signals, tr_z, tr.y, len(CLASSES), seed=args.seed * 100 + seed_offset * 10 + state["epoch"] + 1,
                    class_scale=class_scale(getattr(args, "noise_draw_scale", 1.0)),
                    noise_stretch_p=getattr(args, "noise_stretch_p", 0.0), noise_label=CLASSES.index("~"))
    steps = max(len(tr.names) // args.batch, 1)
    for epoch in range(state["epoch"] + 1, args.epochs):
        t0, c0 = time.time(), time.process_time()
        model.optimizer.learning_rate.assign(_lr(epoch, args.epochs, args.lr))
        losses = []
        for _ in range(steps):
            xb, yb = aug.batch(args.batch)
            losses.append(float(model.train_on_batch(xb, yb)))
        entry = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": round(time.time() - t0, 1),
                 "cpu_s": round(time.process_time() - c0, 1)}
        is_last = epoch == args.epochs - 1
        if va is not None and (is_last or _scored(epoch, args)):
            _score_epoch(model, va, va_z, fold_dir, state, entry, select=args.select, is_last=is_last)
        if is_last and args.select == "last":
            model.save_weights(fold_dir / "last.weights.h5")
        model.save(fold_dir / "last.keras.tmp.keras")
        (fold_dir / "last.keras.tmp.keras").replace(last)
        state["history"].append(entry)
        state["epoch"] = epoch
        state_path.write_text(json.dumps(state, indent=1))
        log.info("%s epoch %d: %s", job, epoch, json.dumps(entry))


def _scored(epoch: int, args: argparse.Namespace) -> bool:
    """Whether a fold's held-out set is scored after ``epoch`` (before the last one)."""
    if args.select == "best":
        return epoch >= args.eval_from
    return args.eval_every > 0 and (epoch + 1) % args.eval_every == 0


def _score_epoch(model, va: Dataset, va_z: np.ndarray, fold_dir: Path, state: dict, entry: dict,  # type: ignore[no-untyped-def,type-arg]
                 *, select: str, is_last: bool) -> None:
    """Score the held-out fold and keep its out-of-fold predictions: with ``select="best"``
    those (and the weights) of the best epoch so far; with ``select="last"`` those of the last
    epoch — earlier scores are then only logged, never used to choose anything."""
    probs, z, owner = predict_records(model, va, va_z)
    pred = probs.argmax(axis=1)
    f1 = cinc_f1(va.y, pred)
    entry["val_f1"] = f1
    entry["val_f1_NAO~"] = [round(float(v), 4) for v in f1_per_class(va.y, pred)]
    if select == "best" and f1 > state["best_f1"]:
        state["best_f1"], state["best_epoch"] = f1, entry["epoch"]
        model.save_weights(fold_dir / "best.weights.h5")
    elif not (select == "last" and is_last):
        return
    np.savez(fold_dir / "oof.npz", names=np.array(va.names), y=va.y, probs=probs,
             window_logits=z, window_owner=owner)


def _write_config(args: argparse.Namespace) -> None:
    """The run's ``config.json``; a rerun with other training options or other prepared inputs
    is refused (resuming must continue the same schedule on the same inputs). Options added
    later (``noise_draw_scale``, ``noise_stretch_p``, ``n_folds``, ``focal_gamma``, ``inputs``) are written only when set,
    so older runs still resume."""
    keys = ("epochs", "batch", "lr", "seed", "arch", "select", "no_extra", "data")
    config = {k: str(getattr(args, k)) for k in keys} | {"arch_spec": args.arch_spec, "data": str(Path(args.data).resolve())}
    if getattr(args, "noise_draw_scale", 1.0) != 1.0:
        config["noise_draw_scale"] = str(args.noise_draw_scale)
    if getattr(args, "noise_stretch_p", 0.0) != 0.0:
        config["noise_stretch_p"] = str(args.noise_stretch_p)
    if getattr(args, "n_folds", N_FOLDS) != N_FOLDS:
        config["n_folds"] = str(args.n_folds)
    if getattr(args, "focal_gamma", 0.0) != 0.0:
        config["focal_gamma"] = str(args.focal_gamma)
    if getattr(args, "inputs", None) is not None:
        config["inputs"] = args.inputs
    path = args.run / "config.json"
    if path.is_file():
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), config.get(k)) for k in old.keys() | config.keys() if old.get(k) != config.get(k)}
        if diff:
            raise SystemExit(f"{path} was written with other options or inputs {diff}; use a new --run"
                             " (changed inputs: the model must be retrained on what the runtime computes)")
        return
    path.write_text(json.dumps(config, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir(), help="folder holding cinc2017/ (default ../shared/data or $CARDIOLINK_DATA)")
    p.add_argument("--run", type=Path, default=Path("training/runs/main"), help="run directory (checkpoints)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--folds", type=str, default=None,
                   help="comma-separated jobs: fold indices and/or 'final' (all training records); default all folds")
    p.add_argument("--n-folds", type=int, default=N_FOLDS,
                   help=f"number of folds of the training records (default {N_FOLDS}; s2f5: 5); the validation split is the same")
    p.add_argument("--arch", choices=sorted(ARCHS), default="s1", help="architecture (training/model.py ARCHS)")
    p.add_argument("--select", choices=("last", "best"), default="last",
                   help="last: fixed schedule, the last epoch is the model; best: epoch with the best held-out F1 (r3)")
    p.add_argument("--eval-every", type=int, default=0,
                   help="with --select last: also log the held-out F1 every N epochs (never used to choose)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-from", type=int, default=None,
                   help="score the held-out fold from this epoch on (default: the second half)")
    p.add_argument("--no-extra", action="store_true",
                   help="train on CinC 2017 only (no MIT-BIH / CPSC 2021 windows)")
    p.add_argument("--noise-draw-scale", type=float, default=1.0,
                   help="multiply the noise class's share of the training draws (s2: 0.5)")
    p.add_argument("--noise-stretch-p", type=float, default=0.0,
                   help="share of N/A/O samples given noise stretches with their label kept (s3: 0.3)")
    p.add_argument("--focal-gamma", type=float, default=0.0,
                   help="focal loss with this exponent instead of label-smoothed cross-entropy (0, as up to s2f5; f5: 2)")
    p.add_argument("--prepare-only", action="store_true",
                   help="build the input caches and the run's config.json, then stop (run once before parallel jobs)")
    args = p.parse_args(argv)
    if args.noise_draw_scale <= 0:
        p.error("--noise-draw-scale must be positive")
    if not 0.0 <= args.noise_stretch_p <= 1.0:
        p.error("--noise-stretch-p must be within 0..1")
    if args.focal_gamma < 0:
        p.error("--focal-gamma must not be negative")
    if args.n_folds < 2:
        p.error("--n-folds must be at least 2")
    if args.folds is None:
        args.folds = ",".join(str(i) for i in range(args.n_folds))
    bad = [j for j in args.folds.split(",") if j != "final" and not (j.isdigit() and int(j) < args.n_folds)]
    if bad:
        p.error(f"--folds: {bad} not a fold index below --n-folds {args.n_folds} nor 'final'")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.eval_from is None:
        args.eval_from = args.epochs // 2
    data = load_dataset(args.data)
    extra = None
    if not args.no_extra:
        from training.extra import load_extra

        names, y, sigs, rr = load_extra(args.data, CACHE_DIR)
        extra = Dataset(names, y, sigs, rr)
        log.info("extra windows: %d (N/A/O/~ %s)", len(names), np.bincount(y, minlength=len(CLASSES)).tolist())
    validation, folds = split_records(dict(zip(data.names, (CLASSES[i] for i in data.y))), n_folds=args.n_folds)
    train_names = [n for f in folds for n in f]
    mean, std = rr_stats(data.subset(train_names).rr)
    args.run.mkdir(parents=True, exist_ok=True)
    args.arch_spec = ARCHS[args.arch].to_dict()
    args.inputs = inputs_fingerprint(data, extra)
    _write_config(args)
    (args.run / "rr_stats.json").write_text(json.dumps({"mean": mean.tolist(), "std": std.tolist()}))
    if args.prepare_only:
        log.info("inputs prepared (fingerprint %s); config in %s", args.inputs, args.run / "config.json")
        return 0
    log.info("records: %d train (%s), %d validation held out", len(train_names),
             "/".join(str(len(f)) for f in folds), len(validation))
    for job in args.folds.split(","):
        train_fold(job if job == "final" else f"fold{int(job)}", data, folds, args.run, args, mean, std, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
