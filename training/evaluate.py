"""Score the shipped model on the validation split, end to end, with bootstrap 95 % CIs.

Usage (runtime venv is enough — no TensorFlow)::

    .venv/bin/python -m training.evaluate --run training/runs/main

Every validation record is read from its ``.mat`` file and passed through
:func:`ecg.screening.screen` exactly as the companion does (quality gate, R peaks,
RR features, int8 model). The float32 export of the same ensemble (``<run>/rhythm_float.tflite``)
is run on the same inputs for the int8 agreement figure. Results go to
``<run>/metrics.json`` and a Markdown table on stdout (pasted into the model card).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from ecg import beats
from ecg.model import CLASSES, DEFAULT_MODEL_PATH, RhythmModel
from ecg.rr_features import rr_features
from ecg.screening import screen
from training.data import CINC_FS_HZ, read_cinc_mv, default_data_dir, read_labels, split_records
from training.metrics import (
    af_operating_point,
    af_sensitivity_at_specificity,
    bootstrap_ci,
    cinc_f1,
    f1_per_class,
)


def _fmt(v: float, ci: tuple[float, float]) -> str:
    return f"{v:.3f} ({ci[0]:.3f}–{ci[1]:.3f})"


def evaluate(data_dir: Path, run: Path, model_path: Path, limit: int | None = None) -> dict[str, object]:
    cinc = data_dir / "cinc2017"
    labels = read_labels(cinc)
    validation, _ = split_records(labels)
    if limit:
        validation = validation[:: max(len(validation) // limit, 1)][:limit]
    int8 = RhythmModel(model_path)
    float_path = run / "rhythm_float.tflite"
    shutil.copyfile(model_path.with_suffix(".json"), float_path.with_suffix(".json"))
    flt = RhythmModel(float_path)
    y = np.array([CLASSES.index(labels[n]) for n in validation])
    screened, p_int8, p_float, dec_float, elapsed = [], [], [], [], []
    for name in validation:
        sig_mv = read_cinc_mv(cinc, name)
        t0 = time.perf_counter()
        res = screen(sig_mv, CINC_FS_HZ, model=int8)
        elapsed.append(time.perf_counter() - t0)
        screened.append(res)
        peaks = beats.detect_r_peaks(sig_mv, CINC_FS_HZ)
        feats = rr_features(peaks, CINC_FS_HZ, duration_s=sig_mv.size / CINC_FS_HZ)
        # screen() does not run the model on unreadable signals: the model metrics still need its output
        p8 = np.array([res.probabilities[c] for c in CLASSES]) if res.probabilities else int8.predict(sig_mv, CINC_FS_HZ, feats)
        p_int8.append(p8)
        pf = flt.predict(sig_mv, CINC_FS_HZ, feats)
        p_float.append(pf)
        dec_float.append(flt.decide(pf))
    P8, PF = np.array(p_int8), np.array(p_float)
    model_pred = np.array([int8.decide(p) for p in P8])
    screen_pred = np.array([CLASSES.index(r.label) for r in screened])
    agree = model_pred == np.array(dec_float)
    n = len(y)

    def ci(f):  # type: ignore[no-untyped-def]
        return bootstrap_ci(f, n, n_boot=1000, seed=1)

    se97, thr97 = af_sensitivity_at_specificity(y, P8[:, 1], 0.97)
    se_dec, sp_dec = af_operating_point(y, screen_pred == 1)
    out: dict[str, object] = {
        "n_validation": n,
        "class_counts": {c: int(np.sum(y == i)) for i, c in enumerate(CLASSES)},
        "screen_cinc_f1": cinc_f1(y, screen_pred),
        "screen_cinc_f1_ci": ci(lambda i: cinc_f1(y[i], screen_pred[i])),
        "screen_f1_per_class": dict(zip(CLASSES, f1_per_class(y, screen_pred).round(4).tolist())),
        "model_cinc_f1": cinc_f1(y, model_pred),
        "model_cinc_f1_ci": ci(lambda i: cinc_f1(y[i], model_pred[i])),
        "model_f1_per_class": dict(zip(CLASSES, f1_per_class(y, model_pred).round(4).tolist())),
        "af_se_at_sp97": se97,
        "af_se_at_sp97_ci": ci(lambda i: af_sensitivity_at_specificity(y[i], P8[i, 1], 0.97)[0]),
        "af_threshold_at_sp97": thr97,
        "af_decision_se": se_dec,
        "af_decision_se_ci": ci(lambda i: af_operating_point(y[i], screen_pred[i] == 1)[0]),
        "af_decision_sp": sp_dec,
        "af_decision_sp_ci": ci(lambda i: af_operating_point(y[i], screen_pred[i] == 1)[1]),
        "int8_float_agreement": float(agree.mean()),
        "int8_float_agreement_ci": ci(lambda i: float(agree[i].mean())),
        "int8_float_max_abs_prob_diff": float(np.max(np.abs(P8 - PF))),
        "float_model_cinc_f1": cinc_f1(y, np.array(dec_float)),
        "unreadable_by_quality": int(sum(not r.quality.readable for r in screened)),
        "inconclusive": int(sum("inconclusive" in r.flags for r in screened)),
        "confusion_screen": np.array([[int(np.sum((y == a) & (screen_pred == b))) for b in range(4)]
                                      for a in range(4)]).tolist(),
        "screen_ms_median": float(np.median(elapsed) * 1000),
        "model_version": int8.version,
    }
    return out


def markdown(m: dict) -> str:  # type: ignore[type-arg]
    rows = [
        ("CinC F1 = mean(F1 N, A, O), full screening (quality gate + model)", _fmt(m["screen_cinc_f1"], m["screen_cinc_f1_ci"])),
        ("CinC F1, model decision alone", _fmt(m["model_cinc_f1"], m["model_cinc_f1_ci"])),
        ("F1 per class N / A / O / ~ (screening)", " / ".join(f"{v:.3f}" for v in m["screen_f1_per_class"].values())),
        ("AF vs rest: sensitivity at specificity ≥ 0.97 (threshold on p(A))", _fmt(m["af_se_at_sp97"], m["af_se_at_sp97_ci"])),
        ("AF vs rest, shipped decision: sensitivity", _fmt(m["af_decision_se"], m["af_decision_se_ci"])),
        ("AF vs rest, shipped decision: specificity", _fmt(m["af_decision_sp"], m["af_decision_sp_ci"])),
        ("int8 vs float32: same decision", _fmt(m["int8_float_agreement"], m["int8_float_agreement_ci"])),
        ("records unreadable by the quality gate / inconclusive", f"{m['unreadable_by_quality']} / {m['inconclusive']}"),
    ]
    lines = ["| metric (validation, n = %d) | value (95 %% CI) |" % m["n_validation"], "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    cm = m["confusion_screen"]
    lines += ["", "Confusion (rows truth, columns screening label), order N A O ~:", ""]
    lines += ["    " + " ".join(f"{v:5d}" for v in row) for row in cm]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--run", type=Path, default=Path("training/runs/main"))
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    p.add_argument("--limit", type=int, default=None, help="only this many records (smoke check)")
    args = p.parse_args(argv)
    m = evaluate(args.data, args.run, args.model, args.limit)
    (args.run / "metrics.json").write_text(json.dumps(m, indent=1))
    print(markdown(m))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
