"""Export the rhythm model (one model, or the fold ensemble) as full-int8 TFLite with its JSON sidecar.

Usage::

    # the single model trained on all training records (``--folds ... final``), the 2026.12 way
    .venv-train/bin/python -m training.export --run training/runs/s1 --ship final
    # the fold models averaged in one graph (the r3 way)
    .venv-train/bin/python -m training.export --run training/runs/main --ship folds
    # s2's final model with the temperature and rule of another run's out-of-fold predictions (s2f5)
    .venv-train/bin/python -m training.export --run training/runs/s2 --oof-run training/runs/s2f5 \
        --folds 0,1,2,3,4 --ship final --out training/runs/s2f5/model/rhythm.tflite

Steps: fit the temperature on the pooled out-of-fold window logits and tune the decision
rule (:mod:`training.rule`) on the calibrated out-of-fold probabilities, never on the
validation split; build one graph from the shipped weights (``--ship final``: the model
trained on every training record with the folds' fixed schedule; ``--ship folds``: the
folds' logits averaged), dividing the logits by the temperature and applying the softmax; convert it twice — float32 (for the agreement check, kept in the run directory)
and full int8 (int8 inputs, weights, activations and output; calibrated on windows of
training records) with a dynamic batch dimension (:mod:`training.batch_graph`: one invoke for
many windows) — and write ``ecg/models/rhythm.tflite`` and ``rhythm.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np

from ecg.model import (
    BAND_HZ,
    CLASSES,
    DEFAULT_MODEL_PATH,
    MODEL_FS_HZ,
    STRIDE_SAMPLES,
    WINDOW_SAMPLES,
    DecisionParams,
    signal_windows,
)
from ecg.rr_features import FEATURE_NAMES
from training.data import SPLIT_SEED, VALIDATION_FRACTION, default_data_dir, load_dataset, load_readable, split_records
from training.batch_graph import check_same_outputs, dynamic_batch
from training.calibrate import fit_temperature
from training.rule import cross_validate, rule_figures, tune
from training.train import record_probs, standardise

log = logging.getLogger("training.export")


def pooled_oof(run: Path, folds: list[int]) -> dict[str, np.ndarray]:
    """Pooled out-of-fold predictions: names, labels, record probabilities and, when stored,
    the window logits with their record index (offset into the pooled records)."""
    names, ys, ps, zs, owners, n = [], [], [], [], [], 0
    for k in folds:
        z = np.load(run / f"fold{k}" / "oof.npz")
        names += [str(v) for v in z["names"]]
        ys.append(z["y"])
        ps.append(z["probs"])
        if "window_logits" in z:
            zs.append(z["window_logits"])
            owners.append(z["window_owner"] + n)
        n += len(z["y"])
    out = {"names": np.array(names), "y": np.concatenate(ys), "probs": np.concatenate(ps)}
    if len(zs) == len(folds):
        out |= {"window_logits": np.concatenate(zs), "window_owner": np.concatenate(owners)}
    return out


def tune_decision(run: Path, folds: list[int], data_dir: Path,
                  noise_weight_min: float | None = None) -> tuple[float, DecisionParams, dict[str, float]]:
    """Temperature and decision values from the pooled out-of-fold predictions (never validation).

    Returns ``(temperature, decision, cross_validated_figures)``: the temperature minimises
    the out-of-fold record NLL; the rule is tuned on the calibrated probabilities (with the
    quality gate's verdict per record) and its figures are 5-fold cross-validated
    (``noise_weight_min``: :func:`training.rule.tune`'s floor on the ``~`` weight).
    """
    oof = pooled_oof(run, folds)
    y = oof["y"]
    temperature, probs = 1.0, oof["probs"]
    if "window_logits" in oof:
        temperature = fit_temperature(oof["window_logits"], oof["window_owner"], y)
        probs = record_probs(oof["window_logits"], oof["window_owner"], len(y), temperature)
    readable_map = load_readable(data_dir, names=[str(v) for v in oof["names"]])
    readable = np.array([readable_map[str(v)] for v in oof["names"]])
    code, cat, _ = cross_validate(y, probs, readable, noise_weight_min=noise_weight_min)
    params, _ = tune(y, probs, readable, noise_weight_min=noise_weight_min)
    return temperature, params, rule_figures(y, code, cat)


def _input_order(float_bytes: bytes) -> list[str]:
    """Names of the converted graph's inputs in the order the calibrator feeds them."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=float_bytes)
    return ["signal" if "signal" in d["name"] else "rr" for d in interp.get_input_details()]


def _representative(data, names: list[str], mean, std, n: int, seed: int, order: list[str]):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    sub = data.subset(sorted(rng.choice(names, size=min(n, len(names)), replace=False).tolist()))
    rr_z = standardise(sub.rr, mean, std)

    def gen():  # type: ignore[no-untyped-def]
        for i, x in enumerate(sub.signals):
            w = signal_windows(x)[0]
            feeds = {"signal": w.reshape(1, WINDOW_SAMPLES, 1).astype(np.float32), "rr": rr_z[i : i + 1]}
            yield [feeds[k] for k in order]

    return gen


def convert(model, representative=None) -> bytes:  # type: ignore[no-untyped-def]
    """Float32 TFLite bytes, or full-int8 when a representative dataset is given."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def strip_names(tflite_bytes: bytes) -> bytes:
    """Drop tensor and signature names (about 15 % of a small model's file)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite_bytes))
    flatbuffer_utils.strip_strings(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def load_member(run: Path, job: str, config: dict):  # type: ignore[no-untyped-def,type-arg]
    """The Keras model of one job of a run: its architecture from ``config.json`` and its kept
    weights (``last.weights.h5`` of a fixed schedule, else ``best.weights.h5``)."""
    from training.arch import ArchSpec
    from training.model import build_model

    if "arch_spec" in config:
        model = build_model(job, arch=ArchSpec.from_dict(config["arch_spec"]))
    else:  # runs written before the architecture was configurable (r3)
        model = build_model(job, stages=tuple(tuple(int(v) for v in st) for st in config["stages"]))
    weights = run / job / "last.weights.h5"
    model.load_weights(weights if weights.is_file() else run / job / "best.weights.h5")
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--run", type=Path, default=Path("training/runs/main"))
    p.add_argument("--folds", type=str, default="0,1,2")
    p.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    p.add_argument("--version", type=str, default=None, help="model version (default rhythm-<run>-<date>)")
    p.add_argument("--ship", choices=("folds", "final"), default="folds",
                   help="folds: average the fold models in one graph; final: the one model trained on all training records")
    p.add_argument("--oof-run", type=Path, default=None,
                   help="run whose fold*/oof.npz tune the temperature and rule (default --run; s2f5: the 5-fold "
                        "run, while --run's final model, config and RR standardisation are shipped)")
    p.add_argument("--noise-weight-min", type=float, default=None,
                   help="lowest ~ class weight the rule's F1 search may choose (s5: 1.0; default: no floor)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from training.model import build_ensemble, count_macs

    folds = [int(s) for s in args.folds.split(",")]
    data = load_dataset(args.data)
    _, split = split_records(dict(zip(data.names, (CLASSES[i] for i in data.y))))
    train_names = [n for f in split for n in f]
    stats = json.loads((args.run / "rr_stats.json").read_text())
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    oof_run = args.oof_run or args.run
    temperature, decision, cv_figures = tune_decision(oof_run, folds, args.data, args.noise_weight_min)
    log.info("temperature %.3f; decision %s; cross-validated out-of-fold figures %s", temperature,
             decision.to_dict(), {k: round(v, 4) for k, v in cv_figures.items()})
    config = json.loads((args.run / "config.json").read_text())
    jobs = ["final"] if args.ship == "final" else [f"fold{k}" for k in folds]
    members = [load_member(args.run, job, config) for job in jobs]
    ens = build_ensemble(members, temperature)
    float_bytes = convert(ens)
    batch1 = strip_names(convert(ens, _representative(data, train_names, mean, std, 400, SPLIT_SEED, _input_order(float_bytes))))
    int8_bytes = dynamic_batch(batch1)  # same weights and quantisation, any number of windows per invoke
    check_same_outputs(batch1, int8_bytes)
    (oof_run / "rhythm_float.tflite").write_bytes(float_bytes)  # the shipped run's folder stays as it was
    version = args.version or f"rhythm-{args.run.name}-{dt.date.today().isoformat()}"
    meta = {
        "version": version,
        "classes": list(CLASSES),
        "input_fs_hz": MODEL_FS_HZ,
        "band_hz": list(BAND_HZ),
        "window_samples": WINDOW_SAMPLES,
        "stride_samples": STRIDE_SAMPLES,
        "rr_features": list(FEATURE_NAMES),
        "rr_mean": [float(v) for v in mean],
        "rr_std": [float(v) for v in std],
        "temperature": temperature,
        "decision": decision.to_dict() | {"tuned_on": f"pooled out-of-fold predictions of {oof_run.name}",
                                          "cross_validated_out_of_fold": {k: round(v, 4) for k, v in cv_figures.items()}},
        "folds": folds,
        "shipped": {"final": "one model trained on all training records; temperature and rule from the folds' "
                             "out-of-fold predictions",
                    "folds": "the fold models' logits averaged"}[args.ship],
        "architecture": config.get("arch", "r3"),
        "macs_per_window": int(sum(count_macs(m) for m in members)),
        "split": {"seed": SPLIT_SEED, "validation_fraction": VALIDATION_FRACTION},
        "n_params": int(sum(m.count_params() for m in members)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(int8_bytes)
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    log.info("wrote %s (%d bytes int8; float %d bytes in %s), version %s", args.out, len(int8_bytes),
             len(float_bytes), oof_run, version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
