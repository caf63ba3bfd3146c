"""Export trained segmenter jobs as full-int8 TFLite models with their JSON sidecars.

Usage (training venv)::

    /work/venv-train/bin/python -m training.delineation.export --run training/runs/delineation \
        --data ../shared/data [--jobs final fold0 ...]

``final`` goes to ``ecg/models/delineation.{tflite,json}`` (the shipped model); ``foldK``
to ``<run>/foldK/delineation.{tflite,json}`` (used by ``benchmarks/delineation_ludb.py
--segmenter-folds`` for cross-validated figures). The graph is rebuilt with an input
of any length (the network is fully convolutional; the runtime sizes the input per
recording) with every batch norm folded into its convolution
(:mod:`training.delineation.inference`, checked equal to the trained model), calibrated on
prepared :data:`WINDOW`-sample windows of training leads, and converted with int8 inputs,
weights, activations and outputs. The sidecar records the rate, classes, window,
training records, epochs and the int8-vs-float label agreement on held-out leads.

P/T members (``--pt-base RUN --pt-members RUN ...``, ``--run`` the output folder, fold jobs):
the base run's exported fold models copied with the members' beside them and named in the
sidecar's ``"pt_members"`` — the QRS from the base model, the P and T waves from the mean of
all (``ecg.delineation.segmenter``); nothing is converted::

    /work/venv-train/bin/python -m training.delineation.export --run training/runs/pt8/cv \
        --pt-base training/runs/d125/cv --pt-members training/runs/s8/cv

An ensemble (``--members RUN RUN ...`` with ``--run`` the output folder) is one graph: each
member's folded network on the same input and the mean of their class probabilities,
converted once, so the runtime invokes it like a single model::

    /work/venv-train/bin/python -m training.delineation.export --run training/runs/e8/cv \
        --members training/runs/d125/cv training/runs/s8/cv --data ../shared/data
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ecg.delineation.segmenter_input import CLASSES, CLIP, MODEL_FS_HZ
from training.delineation.augment import clean_input
from training.delineation.data import Lead, default_data_dir, load_ludb
from training.delineation.inference import check_equal, ensemble_model, inference_model
from training.delineation.model import ARCHS, DEFAULT_ARCH, build_model

log = logging.getLogger("training.delineation.export")

WINDOW = 1280
SHIPPED = Path(__file__).resolve().parents[2] / "ecg" / "models" / "delineation.tflite"


def _windows(leads: list[Lead], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(leads), size=min(n, len(leads)), replace=False)
    out = np.zeros((pick.size, WINDOW, 1), dtype=np.float32)
    for i, k in enumerate(pick):
        x = clean_input(leads[int(k)])[0]
        out[i, : min(x.size, WINDOW), 0] = x[:WINDOW]
    return out


def convert(model: Any, calibration: np.ndarray | None) -> bytes:
    """Float32 TFLite bytes, or full int8 when calibration windows are given."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if calibration is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([w[None]] for w in calibration)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def _labels(tflite: bytes, windows: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=tflite, num_threads=1)
    it.resize_tensor_input(it.get_input_details()[0]["index"], [1, windows.shape[1], 1], strict=False)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    s_in, z_in = i["quantization"]
    out = []
    for w in windows:
        x = w[None]
        if i["dtype"] == np.int8:
            x = np.clip(np.round(x / s_in) + z_in, -128, 127).astype(np.int8)
        it.set_tensor(i["index"], x)
        it.invoke()
        out.append(np.argmax(it.get_tensor(o["index"])[0], axis=-1))
    return np.stack(out)


def _load_member(job_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The trained Keras model of a finished job, its :class:`Arch` and ``done.json``."""
    done = json.loads((job_dir / "done.json").read_text())
    arch = ARCHS[done.get("arch", DEFAULT_ARCH)]
    trained = build_model(None, arch)  # any length: the runtime sizes the input per recording
    trained.load_weights(job_dir / "final.weights.h5")
    return trained, arch, done


def export_job(run: Path, job: str, leads: list[Lead], folds: list[list[str]],
               members: list[Path] | None = None, final_out: Path = SHIPPED) -> Path:
    """Convert one finished job; returns the written ``.tflite`` path.

    With ``members`` (run folders trained on the same folds), the job of every member is
    loaded and their probabilities are averaged in one graph (:func:`ensemble_model`),
    written under ``run``; an ensemble's ``final`` also goes to ``run/final`` (copy it to
    ``ecg/models`` only when it is adopted)."""
    loaded = [_load_member(m / job) for m in members] if members else [_load_member(run / job)]
    held_sets = {tuple(sorted(d["held_out_records"])) for _, _, d in loaded}
    if len(held_sets) != 1:
        raise SystemExit(f"{job}: the members held out different records")
    done = loaded[0][2]
    held = set(done["held_out_records"])
    train = [ld for ld in leads if ld.record not in held]
    check = [ld for ld in leads if ld.record in held] or train
    if members:
        model = ensemble_model([(t, a) for t, a, _ in loaded])
        trained: Any = [t for t, _, _ in loaded]
    else:
        trained, arch, _ = loaded[0]
        model = inference_model(trained, arch)  # batch norms folded into the convolutions
    calibration = _windows(train, 200, seed=1)
    check_equal(trained, model, calibration[:16])
    q = convert(model, calibration)
    probe = _windows(check, 64, seed=2)
    agreement = float(np.mean(_labels(q, probe) == _labels(convert(model, None), probe)))
    job_dir = run / job
    job_dir.mkdir(parents=True, exist_ok=True)
    target = final_out if job == "final" and not members else job_dir / "delineation.tflite"
    target.write_bytes(q)
    meta = {
        "version": f"delineation-{dt.date.today():%Y.%m}-{job}" + ("-ensemble" if members else ""),
        "fs_hz": MODEL_FS_HZ, "classes": list(CLASSES), "window": WINDOW, "clip": CLIP,
        "architecture": _architecture(loaded, members),
        "training": {"data": "LUDB (shared 160 records), every lead", "epochs": done["epochs"],
                     "n_train_leads": done["n_train_leads"], "held_out_records": sorted(held, key=int)},
        "int8_float_label_agreement": round(agreement, 4),
        "size_bytes": len(q),
    }
    target.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    log.info("%s: %d bytes, int8/float agreement %.4f -> %s", job, len(q), agreement, target)
    return target


def _architecture(loaded: list[tuple[Any, Any, dict[str, Any]]], members: list[Path] | None) -> dict[str, Any]:
    """The sidecar's architecture entry: one network, or the ensemble's members."""
    nets = [{**a.as_dict(), "parameters": int(t.count_params())} for t, a, _ in loaded]
    if not members:
        return nets[0]
    return {"type": "ensemble (class probabilities averaged)", "parameters": sum(n["parameters"] for n in nets),
            "members": [{"run": str(m), "seed": json.loads((m / "recipe.json").read_text()).get("seed")
                         if (m / "recipe.json").is_file() else None, **n} for m, n in zip(members, nets, strict=True)]}


def pt_pair_job(out: Path, base: Path, members: list[Path], job: str) -> Path:
    """Write ``out/job`` as ``base``'s exported ``job`` whose P and T waves are averaged with
    ``members``' exported ``job`` (run-time sidecar key ``"pt_members"``,
    :mod:`ecg.delineation.segmenter`): the files are copied unchanged, only the base's
    sidecar gains the key and its version a ``-pt`` suffix. Returns the base model's path."""
    folds = json.loads((base / "folds.json").read_text())
    if any(json.loads((m / "folds.json").read_text()) != folds for m in members):
        raise SystemExit("the P/T members were trained on different folds")
    job_dir = out / job
    job_dir.mkdir(parents=True, exist_ok=True)
    (out / "folds.json").write_text(json.dumps(folds))
    names = []
    for i, member in enumerate(members):
        src = member / job / "delineation.tflite"
        name = f"pt_member{i}.tflite"
        (job_dir / name).write_bytes(src.read_bytes())
        (job_dir / name).with_suffix(".json").write_text(src.with_suffix(".json").read_text())
        names.append(name)
    meta = json.loads((base / job / "delineation.json").read_text())
    meta.update({"version": f"{meta.get('version', '?')}-pt", "pt_members": names,
                 "pt_member_runs": [str(m) for m in members]})
    target = job_dir / "delineation.tflite"
    target.write_bytes((base / job / "delineation.tflite").read_bytes())
    target.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--jobs", nargs="*")
    ap.add_argument("--members", type=Path, nargs="+", default=None,
                    help="run folders whose jobs are averaged into one graph, written under --run")
    ap.add_argument("--pt-base", type=Path, default=None,
                    help="with --pt-members: write under --run this run's exported jobs with their P/T waves "
                         "averaged with the members' (no conversion; files copied, sidecar key pt_members)")
    ap.add_argument("--pt-members", type=Path, nargs="+", default=None)
    ap.add_argument("--final-out", type=Path, default=SHIPPED,
                    help="where a single run's final model goes (default: the shipped ecg/models/delineation.tflite)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if (args.pt_base is None) != (args.pt_members is None):
        raise SystemExit("--pt-base and --pt-members go together")
    if args.pt_base is not None:
        for job in args.jobs or [f"fold{k}" for k in range(5)]:
            log.info("%s", pt_pair_job(args.run, args.pt_base, args.pt_members, job))
        return 0
    leads = load_ludb(args.data)
    source = args.members[0] if args.members else args.run
    folds = json.loads((source / "folds.json").read_text())
    if args.members:
        if any(json.loads((m / "folds.json").read_text()) != folds for m in args.members):
            raise SystemExit("the members were trained on different folds")
        args.run.mkdir(parents=True, exist_ok=True)
        (args.run / "folds.json").write_text(json.dumps(folds))
    jobs = args.jobs or [p.name for p in sorted(source.iterdir()) if (p / "done.json").exists()]
    for job in jobs:
        export_job(args.run, job, leads, folds, args.members, args.final_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
