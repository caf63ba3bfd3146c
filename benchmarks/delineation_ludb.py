"""Delineation accuracy on LUDB: cardiolink's delineator beside neurokit2 (dwt).

For every record and lead asked for, each method delineates the whole 10-s lead; only
boundaries inside the lead's annotated span are scored. A detection matches a reference
boundary of the same kind within 150 ms (as in the LUDB paper), one to one, nearest
first. Reported per boundary: sensitivity, positive predictivity, mean ± SD of the error
(detection − reference, ms); per record: errors of the median PR, QRS and QT intervals.

Usage::

    nice -n 10 .venv/bin/python benchmarks/delineation_ludb.py [--data ../shared/data] \
        [--leads i ii] [--methods cardiolink neurokit2] [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.ludb_scoring import (  # noqa: E402  (re-exported: one scoring for every delineation benchmark)
    BOUNDARIES,
    TARGETED,
    TOLERANCE_S,
    Tally,
    match,
    record_bootstrap,
    reference_intervals_ms,
    reference_waves,
)

Delineator = Callable[[np.ndarray, float], dict[str, np.ndarray]]


# ----------------------------------------------------------------------------- methods
def _beats_dict(beats: Any) -> dict[str, np.ndarray]:
    return {k: np.asarray([-1 if getattr(b, k) is None else getattr(b, k) for b in beats], dtype=np.int64) for k in BOUNDARIES}


def _fold_delineator() -> Any:
    """The learned delineator with the segmenter that did not train on the current record
    (None: the shipped default of ``ecg.delineate.measure``)."""
    from functools import partial

    from ecg.delineation.learned import delineate_learned
    from ecg.delineation.segmenter import load_segmenter

    path = _SEGMENTER_OF.get(_CURRENT.get("record", ""), _SEGMENTER_OF.get("*"))
    return None if path is None else partial(delineate_learned, segmenter=load_segmenter(path))


def cardiolink_method(x_mv: np.ndarray, fs_hz: float) -> dict[str, np.ndarray]:
    """The learned delineator through the run-time path, ``ecg.delineate.measure(..., delineator=...)``."""
    from ecg.delineate import measure

    return _beats_dict(measure(x_mv, fs_hz, delineator=_fold_delineator()).beats)


def rules_method(x_mv: np.ndarray, fs_hz: float) -> dict[str, np.ndarray]:
    """The rule delineator alone (``ecg.delineation.lead.delineate_context``)."""
    from ecg.delineate import measure
    from ecg.delineation.lead import delineate_context

    return _beats_dict(measure(x_mv, fs_hz, delineator=delineate_context).beats)


def neurokit2_method(x_mv: np.ndarray, fs_hz: float) -> dict[str, np.ndarray]:
    import neurokit2 as nk

    fs = int(round(fs_hz))
    clean = nk.ecg_clean(x_mv, sampling_rate=fs)
    _, info = nk.ecg_peaks(clean, sampling_rate=fs)
    rpeaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    _, waves = nk.ecg_delineate(clean, rpeaks, sampling_rate=fs, method="dwt")
    names = {
        "p_on": "ECG_P_Onsets", "p_peak": "ECG_P_Peaks", "p_off": "ECG_P_Offsets",
        "qrs_on": "ECG_R_Onsets", "qrs_off": "ECG_R_Offsets",
        "t_peak": "ECG_T_Peaks", "t_off": "ECG_T_Offsets",
    }
    out = {"r_peak": rpeaks}
    for k, name in names.items():
        v = np.asarray(waves.get(name, []), dtype=np.float64)
        out[k] = np.where(np.isfinite(v), v, -1).astype(np.int64)
    return out


#: segmenter model per record for the learned method (set by --segmenter-folds / --segmenter)
_SEGMENTER_OF: dict[str, Path] = {}
_CURRENT: dict[str, str] = {}


def _wave_peak(x: np.ndarray, on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Per wave, the sample farthest from the line joining its onset and offset."""
    out = np.full(on.size, -1, dtype=np.int64)
    for i, (a, b) in enumerate(zip(on.tolist(), off.tolist(), strict=True)):
        if a < 0 or b <= a:
            continue
        seg = x[a : b + 1]
        line = np.linspace(seg[0], seg[-1], seg.size)
        out[i] = a + int(np.argmax(np.abs(seg - line)))
    return out


def segmenter_method(x_mv: np.ndarray, fs_hz: float) -> dict[str, np.ndarray]:
    """The segmenter's raw boundaries on ecg.beats' R peaks, without any rule check (the
    fold model that did not see this record when --segmenter-folds is given)."""
    from ecg.beats import detect_r_peaks
    from ecg.delineation.filters import make_views
    from ecg.delineation.segmenter import beat_boundaries, load_segmenter

    seg = load_segmenter(_SEGMENTER_OF.get(_CURRENT.get("record", ""), _SEGMENTER_OF.get("*")))
    r = detect_r_peaks(x_mv, fs_hz)
    b = beat_boundaries(seg.probabilities(x_mv, fs_hz), r, fs_hz, x_mv.size)
    smooth = make_views(x_mv, fs_hz).smooth_mv
    out = {k: b[k] for k in ("p_on", "p_off", "qrs_on", "qrs_off", "t_off")}
    out["r_peak"] = r
    out["p_peak"] = _wave_peak(smooth, b["p_on"], b["p_off"])
    out["t_peak"] = _wave_peak(smooth, b["t_on"], b["t_off"])
    return out


METHODS: dict[str, Delineator] = {"cardiolink": cardiolink_method, "rules": rules_method,
                                   "segmenter": segmenter_method, "neurokit2": neurokit2_method}


def our_intervals_ms(det: dict[str, np.ndarray], fs_hz: float) -> dict[str, float | None]:
    """Median PR, QRS, QT over beats where both ends were found."""
    def med(a: str, b: str) -> float | None:
        ok = (det[a] >= 0) & (det[b] >= 0)
        if not np.any(ok):
            return None
        return float(np.median(det[b][ok] - det[a][ok])) * 1000.0 / fs_hz
    return {"pr_ms": med("p_on", "qrs_on"), "qrs_ms": med("qrs_on", "qrs_off"), "qt_ms": med("qrs_on", "t_off")}


# ----------------------------------------------------------------------------- run
def record_names(data_dir: Path, records: list[str] | None = None, limit: int | None = None) -> list[str]:
    """LUDB record names under ``data_dir/ludb`` (only ``records`` when given, the first ``limit``)."""
    names = [line.strip().split("/")[-1] for line in (data_dir / "ludb" / "RECORDS").read_text().split()]
    if records is not None:
        names = [n for n in names if n in set(records)]
    return names[:limit] if limit else names


def lead_signal(data_dir: Path, name: str, lead: str, resample_hz: float | None = None
                ) -> tuple[np.ndarray, float, dict[str, np.ndarray], tuple[int, int]]:
    """One LUDB lead (mV), its rate, its reference boundaries and annotated span, resampled
    (signal and annotations) to ``resample_hz`` when given."""
    path = str(data_dir / "ludb" / "data" / name)
    rec = wfdb.rdrecord(path)
    col = [s.lower() for s in rec.sig_name].index(lead)
    x = np.asarray(rec.p_signal[:, col], dtype=np.float64)
    ref, span = reference_waves(path, lead)
    fs = float(rec.fs)
    if resample_hz:
        from ecg.delineation.segmenter_input import resample_to

        x = resample_to(x, fs, resample_hz)
        ref = {k: np.round(v * resample_hz / fs).astype(np.int64) for k, v in ref.items()}
        span = (int(round(span[0] * resample_hz / fs)), int(round(span[1] * resample_hz / fs)))
        fs = resample_hz
    return x, fs, ref, span


def delineate_quietly(method: str, name: str, x: np.ndarray, fs: float) -> dict[str, np.ndarray] | None:
    """``METHODS[method]`` on one lead of record ``name`` (None when it raised)."""
    _CURRENT["record"] = name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return METHODS[method](x, fs)
    except Exception:  # neurokit2 raises on some (paced) records: count them
        return None


def run(data_dir: Path, leads: list[str], methods: list[str], limit: int | None,
        records: list[str] | None = None, resample_hz: float | None = None) -> dict:
    names = record_names(data_dir, records, limit)
    result: dict = {"records": len(names), "fs_hz": resample_hz or 500.0, "leads": {}}
    for lead in leads:
        per_method: dict = {}
        for m in methods:
            tally, failures, seconds = Tally(), 0, 0.0
            interval_err: dict[str, list[float]] = {"pr_ms": [], "qrs_ms": [], "qt_ms": []}
            per_record = []
            for name in names:
                x, fs, ref, span = lead_signal(data_dir, name, lead, resample_hz)
                t0 = time.process_time()
                det = delineate_quietly(m, name, x, fs)
                seconds += time.process_time() - t0
                if det is None:
                    failures += 1
                    det = {k: np.zeros(0, dtype=np.int64) for k in BOUNDARIES}
                tally.add(ref, det, span, fs)
                ri, oi = reference_intervals_ms(ref, fs), our_intervals_ms(det, fs)
                row: dict[str, object] = {"record": name}
                for key in interval_err:
                    ref_ms, our_ms = ri[key], oi[key]
                    if ref_ms is not None and our_ms is not None:
                        interval_err[key].append(our_ms - ref_ms)
                        row[key] = round(our_ms - ref_ms, 1)
                per_record.append(row)
            per_method[m] = {
                "boundaries": {k: tally.row(k) for k in BOUNDARIES},
                "intervals": {
                    k: {"n": len(v), "mean_ms": float(np.mean(v)) if v else None, "sd_ms": float(np.std(v, ddof=1)) if len(v) > 1 else None}
                    for k, v in interval_err.items()
                },
                "failures": failures,
                "ms_per_lead": 1000.0 * seconds / len(names),
                "per_record": per_record,
            }
        result["leads"][lead] = per_method
    return result


def markdown(result: dict) -> str:
    lines = []
    for lead, per_method in result["leads"].items():
        lines.append(f"\n### Lead {lead.upper()} ({result['records']} LUDB records, {result['fs_hz']:g} Hz)\n")
        methods = list(per_method)
        lines.append("| boundary | " + " | ".join(f"{m} Se % | PPV % | error ms" for m in methods) + " |")
        lines.append("|---|" + "---|---|---|" * len(methods))
        for k in BOUNDARIES:
            cells = []
            for m in methods:
                r = per_method[m]["boundaries"][k]
                cells.append(f"{r['se']:.1f} | {r['ppv']:.1f} | {r['mean_ms']:+.1f} ± {r['sd_ms']:.1f}")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("| per-record interval error | " + " | ".join(methods) + " |")
        lines.append("|---|" + "---|" * len(methods))
        for k in ("pr_ms", "qrs_ms", "qt_ms"):
            cells = []
            for m in methods:
                r = per_method[m]["intervals"][k]
                cells.append("n/a" if r["mean_ms"] is None else f"{r['mean_ms']:+.1f} ± {r['sd_ms']:.1f} (n={r['n']})")
            lines.append(f"| {k[:-3].upper()} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("")
        lines.append("95 % CI by record bootstrap (mean / SD ms, Se / PPV %):")
        for k in TARGETED:
            for m in methods:
                ci = per_method[m]["boundaries"][k].get("ci95", {})
                if ci:
                    lines.append(f"- {k} {m}: mean {ci.get('mean_ms')}, SD {ci.get('sd_ms')}, Se {ci.get('se')}, "
                                 f"PPV {ci.get('ppv')}")
        lines.append("failures (raised): " + ", ".join(f"{m} {per_method[m]['failures']}" for m in methods)
                     + "; CPU time per lead: " + ", ".join(f"{m} {per_method[m]['ms_per_lead']:.0f} ms" for m in methods))
    return "\n".join(lines)


def use_fold_models(run_dir: Path, folds: list[int] | None = None) -> dict[str, int]:
    """Delineate each record with the fold model that did not train on it (``run_dir``:
    ``folds.json`` and ``foldK/delineation.tflite``); returns record → fold of the records
    held out by an exported fold model (only ``folds`` when given)."""
    fold_of: dict[str, int] = {}
    for k, fold in enumerate(json.loads((run_dir / "folds.json").read_text())):
        model = run_dir / f"fold{k}" / "delineation.tflite"
        if model.is_file() and (folds is None or k in folds):
            _SEGMENTER_OF.update(dict.fromkeys(fold, model))
            fold_of.update(dict.fromkeys(fold, k))
    return fold_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Delineation accuracy on LUDB: cardiolink beside neurokit2 (dwt).")
    default_data = os.environ.get("CARDIOLINK_DATA", str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=Path(default_data), help="folder holding ludb/ (default ../shared/data)")
    parser.add_argument("--leads", nargs="+", default=["i", "ii"])
    parser.add_argument("--methods", nargs="+", default=["cardiolink", "rules", "neurokit2"], choices=list(METHODS))
    parser.add_argument("--limit", type=int, default=None, help="only the first N records")
    parser.add_argument("--json", type=Path, default=None, help="also write all figures as JSON")
    parser.add_argument("--fs", type=float, default=None, help="resample every lead to this rate first (e.g. 250)")
    parser.add_argument("--segmenter", type=Path, default=None, help="segmenter .tflite for the learned method")
    parser.add_argument("--segmenter-folds", type=Path, default=None,
                        help="training run folder (folds.json, foldK/delineation.tflite): each record is "
                             "delineated by the fold model that did not train on it; only those records are scored")
    parser.add_argument("--folds", type=int, nargs="+", default=None,
                        help="with --segmenter-folds: score only these folds' records (e.g. 2 3 4)")
    args = parser.parse_args(argv)
    if not (args.data / "ludb" / "RECORDS").is_file():
        print(f"LUDB not found under {args.data}/ludb (set --data or CARDIOLINK_DATA)", file=sys.stderr)
        return 2
    records = None
    if args.segmenter is not None:
        _SEGMENTER_OF["*"] = args.segmenter
    if args.segmenter_folds is not None:
        records = list(use_fold_models(args.segmenter_folds, args.folds))
        print(f"cross-validated: {len(records)} records held out by {len({str(v) for v in _SEGMENTER_OF.values()})} fold models")
    result = run(args.data, args.leads, args.methods, args.limit, records, args.fs)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
