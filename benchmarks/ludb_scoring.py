"""LUDB reference boundaries and their scoring, shared by the delineation benchmarks.

A detection matches a reference boundary of the same kind within :data:`TOLERANCE_S` (as in
the LUDB paper), one to one, nearest first; unmatched detections count as false only inside
the lead's annotated span. Intervals are bootstrapped by record (beats of one record are not
independent).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import wfdb

BOUNDARIES = ("p_on", "p_peak", "p_off", "qrs_on", "r_peak", "qrs_off", "t_peak", "t_off")
TARGETED = ("p_on", "qrs_on", "qrs_off", "t_off")
_WAVE_OF_SYMBOL = {"p": "p", "N": "qrs", "t": "t"}
TOLERANCE_S = 0.150


# ----------------------------------------------------------------------------- reference
def reference_waves(record_path: str, lead: str) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """LUDB reference boundaries of one lead and its annotated span ``(first, last)``."""
    ann = wfdb.rdann(record_path, lead)
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = list(ann.symbol)
    ref: dict[str, list[int]] = {k: [] for k in (*BOUNDARIES, "t_on")}
    for j, sym in enumerate(symbols):
        wave = _WAVE_OF_SYMBOL.get(sym)
        if wave is None:
            continue
        peak_key = "r_peak" if wave == "qrs" else f"{wave}_peak"
        ref[peak_key].append(int(samples[j]))
        if j > 0 and symbols[j - 1] == "(":
            ref[f"{wave}_on"].append(int(samples[j - 1]))
        if j + 1 < len(symbols) and symbols[j + 1] == ")":
            ref[f"{wave}_off"].append(int(samples[j + 1]))
    span = (int(samples.min()), int(samples.max()))
    return {k: np.asarray(v, dtype=np.int64) for k, v in ref.items()}, span


def reference_intervals_ms(ref: dict[str, np.ndarray], fs_hz: float) -> dict[str, float | None]:
    """Median PR, QRS and QT of the annotated beats of one lead."""
    pr, qrs, qt = [], [], []
    for on in ref["qrs_on"]:
        offs = ref["qrs_off"][(ref["qrs_off"] > on) & (ref["qrs_off"] < on + 0.25 * fs_hz)]
        if offs.size:
            qrs.append(offs[0] - on)
        p = ref["p_on"][(ref["p_on"] < on) & (ref["p_on"] > on - 0.45 * fs_hz)]
        if p.size:
            pr.append(on - p[-1])
        t = ref["t_off"][(ref["t_off"] > on) & (ref["t_off"] < on + 0.75 * fs_hz)]
        if t.size:
            qt.append(t[0] - on)
    def med(v: list[int]) -> float | None:
        return float(np.median(v)) * 1000.0 / fs_hz if v else None
    return {"pr_ms": med(pr), "qrs_ms": med(qrs), "qt_ms": med(qt)}


# ----------------------------------------------------------------------------- scoring
def match(ref: np.ndarray, det: np.ndarray, tol: int) -> tuple[list[int], np.ndarray]:
    """One-to-one matching, nearest pairs first.

    Returns the errors (det − ref, samples) of matched pairs and a mask of matched
    detections.
    """
    pairs = sorted(
        (abs(int(d) - int(r)), i, j)
        for i, r in enumerate(ref)
        for j, d in enumerate(det)
        if abs(int(d) - int(r)) <= tol
    )
    ref_used = np.zeros(ref.size, dtype=bool)
    det_used = np.zeros(det.size, dtype=bool)
    errors: list[int] = []
    for _, i, j in pairs:
        if ref_used[i] or det_used[j]:
            continue
        ref_used[i] = det_used[j] = True
        errors.append(int(det[j]) - int(ref[i]))
    return errors, det_used


class Tally:
    """Accumulates TP/FN/FP and errors per boundary."""

    def __init__(self) -> None:
        self.tp: dict[str, int] = dict.fromkeys(BOUNDARIES, 0)
        self.fn: dict[str, int] = dict.fromkeys(BOUNDARIES, 0)
        self.fp: dict[str, int] = dict.fromkeys(BOUNDARIES, 0)
        self.err_ms: dict[str, list[float]] = {k: [] for k in BOUNDARIES}
        #: per record (one entry per ``add``): errors (ms) and TP/FN/FP, for the bootstrap
        self.by_record: dict[str, list[tuple[np.ndarray, int, int, int]]] = {k: [] for k in BOUNDARIES}

    def add(self, ref: dict[str, np.ndarray], det: dict[str, np.ndarray], span: tuple[int, int], fs_hz: float) -> None:
        """Score one lead; unmatched detections count as false only inside ``span``."""
        tol = int(round(TOLERANCE_S * fs_hz))
        for k in BOUNDARIES:
            d = det[k][det[k] >= 0]
            errors, det_used = match(ref[k], d, tol)
            inside = (d >= span[0]) & (d <= span[1])
            tp, fn, fp = len(errors), int(ref[k].size) - len(errors), int(np.sum(inside & ~det_used))
            self.tp[k] += tp
            self.fn[k] += fn
            self.fp[k] += fp
            e_ms = np.asarray(errors, dtype=np.float64) * 1000.0 / fs_hz
            self.err_ms[k].extend(e_ms.tolist())
            self.by_record[k].append((e_ms, tp, fn, fp))

    def row(self, k: str) -> dict[str, Any]:
        tp, fn, fp = self.tp[k], self.fn[k], self.fp[k]
        e = np.asarray(self.err_ms[k])
        out: dict[str, Any] = {
            "se": 100.0 * tp / (tp + fn) if tp + fn else float("nan"),
            "ppv": 100.0 * tp / (tp + fp) if tp + fp else float("nan"),
            "mean_ms": float(e.mean()) if e.size else float("nan"),
            "sd_ms": float(e.std(ddof=1)) if e.size > 1 else float("nan"),
            "n_ref": tp + fn,
        }
        if k in TARGETED:
            out["ci95"] = record_bootstrap(self.by_record[k])
        return out


def record_bootstrap(rows: list[tuple[np.ndarray, int, int, int]], n_boot: int = 1000, seed: int = 5
                     ) -> dict[str, list[float]]:
    """95 % percentile intervals of mean, SD, Se and PPV, resampling records (beats of one
    record are not independent)."""
    if len(rows) < 2:
        return {}
    rng = np.random.default_rng(seed)
    stats: dict[str, list[float]] = {"mean_ms": [], "sd_ms": [], "se": [], "ppv": []}
    for _ in range(n_boot):
        pick = [rows[i] for i in rng.integers(0, len(rows), len(rows))]
        e = np.concatenate([r[0] for r in pick])
        tp, fn, fp = (sum(r[j] for r in pick) for j in (1, 2, 3))
        if e.size > 1:
            stats["mean_ms"].append(float(e.mean()))
            stats["sd_ms"].append(float(e.std(ddof=1)))
        if tp + fn:
            stats["se"].append(100.0 * tp / (tp + fn))
        if tp + fp:
            stats["ppv"].append(100.0 * tp / (tp + fp))
    return {k: [round(float(np.percentile(v, 2.5)), 1), round(float(np.percentile(v, 97.5)), 1)]
            for k, v in stats.items() if v}
