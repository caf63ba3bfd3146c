"""Specificity and sensitivity of every finding code, as the cloud reports them.

Each shared LUDB record (12 leads, 10 s) goes through the cloud's own analysis function
(``cloud.pipeline.analyse``, the path every upload takes), and each finding code in the
answer is scored against the cardiologists' diagnoses in the record's header:

====================== ==========================================================
code                   reference statement in the LUDB header
====================== ==========================================================
rhythm ``A`` (AF)      ``Rhythm: Atrial fibrillation`` (flutter records left out)
first_degree_av_block  ``I degree AV block``
lbbb_pattern           ``Complete left bundle branch block``
rbbb_pattern           ``Complete right bundle branch block``
left_axis_deviation    ``Electric axis of the heart: left axis deviation``
right_axis_deviation   ``Electric axis of the heart: right axis deviation``
pac                    ``Atrial extrasystole`` (any type)
pvc                    ``Ventricular extrasystole`` (any type)
long_qtc / short_qtc   no LUDB statement: the reference is the QTc (Fridericia) of
                       the cardiologists' own wave boundaries (:func:`annotated_qt_rr`:
                       earliest QRS onset to latest T end over the 12 leads), judged
                       with the same limits for the header's ``<sex>``
====================== ==========================================================

The cloud is not told the patient's sex (its long-QTc limit is then the women's); the
companion and ``cardio measure`` are. So long/short QTc are scored twice: as the cloud
reports them, and with the header's sex applied to the cloud's QTc by the one rule
(``ecg.findings.interval_findings``). The measured QTc is also compared with the
annotated one (mean and SD of the difference).

PAC and PVC are also scored on consecutive 30-s windows of the shared MIT-BIH records
(channel 0, one lead, as the device records): a window is positive when its beat labels
hold a PVC (``V``) or a PAC (``A a J S``). No threshold is fitted here (every rule uses a
published limit), so every record counts as unseen; 95 % intervals are Wilson intervals
(windows of one MIT-BIH record are not independent: read those as optimistic).

Usage::

    nice -n 10 .venv/bin/python benchmarks/findings_ludb.py [--data ../shared/data] [--json out.json]
        [--skip-mitdb]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STANDARD = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
REFERENCE = {  # regular expressions on the lower-cased header comments
    "af": r"rhythm: atrial fibrillation",
    "first_degree_av_block": r"\bi degree av block",
    "lbbb_pattern": r"(?<!in)complete left bundle branch block",
    "rbbb_pattern": r"(?<!in)complete right bundle branch block",
    "left_axis_deviation": r"electric axis of the heart: left axis deviation",
    "right_axis_deviation": r"electric axis of the heart: right axis deviation",
    "pac": r"atrial extrasystole",
    "pvc": r"ventricular extrasystole",
}
#: the measured value each tunable finding rests on, and the limits tried by the CV
MARGINS = {
    "first_degree_av_block": ("prMs", (200.0, 205.0, 210.0, 215.0, 220.0)),
    "lbbb_pattern": ("qrsMs", (120.0, 125.0, 130.0, 135.0, 140.0)),
}
TARGET_SPECIFICITY = {"first_degree_av_block": 0.97, "lbbb_pattern": 0.985}
RATE_ONLY = ("long_qtc", "short_qtc")
PVC_SYMBOLS = frozenset("V")
PAC_SYMBOLS = frozenset("AaJS")


def wilson(k: int, n: int) -> list[float | None]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return [None, None]
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def analyse_mv(signals_mv: np.ndarray, fs_hz: float, lead_names: tuple[str, ...], record_id: str) -> dict[str, Any]:
    """The cloud's answer for signals in mV (sent as counts at 1,000 per mV)."""
    from cloud.pipeline import PipelineSettings, analyse
    from cloud.validation import AnalysisRequest

    counts = np.round(np.asarray(signals_mv, dtype=np.float64).reshape(signals_mv.shape[0], -1) * 1000.0)
    req = AnalysisRequest(record_id, float(fs_hz), 1000.0, 0, lead_names, counts.astype(np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyse(req, PipelineSettings())


def codes_of(body: dict[str, Any]) -> set[str]:
    """Finding codes of a cloud answer, plus ``af`` when the rhythm decided is AF."""
    codes = {str(d.get("code")) for d in body.get("diagnoses", []) if d.get("probability") is None}
    rhythm = body.get("rhythm")
    if isinstance(rhythm, dict):
        is_af = rhythm.get("code") == "A" or rhythm.get("category") == "atrial_fibrillation"
    else:  # older answers: the most probable rhythm class
        probs = [d for d in body.get("diagnoses", []) if d.get("probability") is not None]
        is_af = bool(probs) and max(probs, key=lambda d: float(d["probability"]))["code"] == "A"
    if is_af:
        codes.add("af")
    return codes


def tally(rows: list[tuple[bool, bool]]) -> dict[str, Any]:
    """Sensitivity and specificity with Wilson intervals from (reference, reported) pairs."""
    tp = sum(r and f for r, f in rows)
    fn = sum(r and not f for r, f in rows)
    fp = sum(f and not r for r, f in rows)
    tn = sum(not r and not f for r, f in rows)
    return {"tp": tp, "fn": fn, "fp": fp, "tn": tn,
            "sensitivity": round(tp / (tp + fn), 4) if tp + fn else None, "sensitivity_ci95": wilson(tp, tp + fn),
            "specificity": round(tn / (tn + fp), 4) if tn + fp else None, "specificity_ci95": wilson(tn, tn + fp)}


def _lead_beats(ann_symbols: list[str], ann_samples: list[int]) -> list[tuple[int, int, int | None]]:
    """``(qrs_on, r_peak, t_end or None)`` of every annotated beat of one lead (the T end is
    the first one after the QRS onset and before the next beat's)."""
    beats, t_ends = [], []
    for j, sym in enumerate(ann_symbols):
        if sym == "N" and 0 < j < len(ann_symbols) - 1 and ann_symbols[j - 1] == "(":
            beats.append((ann_samples[j - 1], ann_samples[j]))
        elif sym == "t" and j < len(ann_symbols) - 1 and ann_symbols[j + 1] == ")":
            t_ends.append(ann_samples[j + 1])
    out: list[tuple[int, int, int | None]] = []
    for i, (on, peak) in enumerate(beats):
        nxt = beats[i + 1][0] if i + 1 < len(beats) else math.inf
        ends = [t for t in t_ends if on < t < nxt]
        out.append((on, peak, ends[0] if ends else None))
    return out


def annotated_qt_rr(record_base: Path, fs_hz: float, leads: tuple[str, ...] = tuple(s.lower() for s in STANDARD),
                    onset_pct: float = 25.0, end_pct: float = 75.0) -> tuple[float | None, float | None]:
    """Reference QT and RR (ms) of one LUDB record from the cardiologists' wave boundaries.

    Per beat (beats matched across leads within 100 ms of their QRS onset; a beat counts
    when at least half of the annotated leads mark its T end), QT runs from the
    ``onset_pct`` percentile of the annotated QRS onsets over leads to the ``end_pct``
    percentile of the T ends: 25/75 is the definition ``ecg.delineate.measure_leads`` uses
    for its global boundaries; 0/100 (earliest onset to latest end in any lead) is the
    AHA/ACCF/HRS one for simultaneous leads, which on separately annotated leads also adds
    the annotators' lead-to-lead scatter. The record's QT is the median over beats (≥ 2);
    RR the median interval between the annotated QRS peaks of the lead with the most beats.
    """
    import wfdb

    per_lead = []
    for lead in leads:
        if record_base.with_suffix(f".{lead}").is_file():
            ann = wfdb.rdann(str(record_base), lead)
            per_lead.append(_lead_beats(list(ann.symbol), [int(x) for x in ann.sample]))
    if not per_lead:
        return None, None
    anchor = max(per_lead, key=len)
    rr_ms = float(np.median(np.diff([p for _, p, _ in anchor]))) * 1000.0 / fs_hz if len(anchor) >= 3 else None
    reach = 0.1 * fs_hz
    qts = []
    for on0, _, _ in anchor:
        same = [b for beats in per_lead for b in beats if abs(b[0] - on0) <= reach]
        ends = [t for _, _, t in same if t is not None]
        if len(ends) >= max(1, len(per_lead) / 2):
            onsets = [on for on, _, _ in same]
            qts.append((float(np.percentile(ends, end_pct)) - float(np.percentile(onsets, onset_pct))) * 1000.0 / fs_hz)
    return (float(np.median(qts)) if len(qts) >= 2 else None), rr_ms


def header_sex(comments: list[str]) -> str | None:
    """``"M"``/``"F"`` from a LUDB header's ``<sex>:`` line, None when absent."""
    for line in comments:
        m = re.match(r"\s*<sex>:\s*([MF])\b", line)
        if m:
            return m.group(1)
    return None


def qtc_scores(rows: list[dict[str, Any]], ref_key: str = "qtc_ref_ms") -> dict[str, Any]:
    """Long/short QTc against the annotated QTc, and the measured − annotated QTc difference.

    Each row holds ``sex``, ``ref_key`` (the reported formula's QTc of the annotated QT and
    RR) and ``measurements.qtcMs`` (the cloud's). Rows without either QTc are left out and
    counted.
    """
    from ecg.findings import interval_findings, qtc_limits

    def codes(qtc: float, sex: str | None) -> set[str]:
        return {f.code for f in interval_findings(pr_ms=None, qrs_ms=None, qtc_ms=qtc, heart_rate_bpm=None,
                                                  p_waves=False, sex=sex)}  # type: ignore[arg-type]

    pairs: dict[str, list[tuple[bool, bool]]] = {"long_qtc": [], "short_qtc": [], "long_qtc_cloud_no_sex": [],
                                                 "short_qtc_cloud_no_sex": []}
    diffs, skipped = [], 0
    for r in rows:
        ref, got = r.get(ref_key), (r["measurements"] or {}).get("qtcMs")
        if ref is None or got is None:
            skipped += 1
            continue
        diffs.append(got - ref)
        want, have = codes(ref, r["sex"]), codes(got, r["sex"])
        for code in ("long_qtc", "short_qtc"):
            pairs[code].append((code in want, code in have))
            pairs[f"{code}_cloud_no_sex"].append((code in want, code in r["found"]))
    d = np.asarray(diffs)
    half = 1.96 * float(np.std(d, ddof=1)) / math.sqrt(d.size) if d.size > 1 else None
    out: dict[str, Any] = {code: tally(p) for code, p in pairs.items()}
    out["qtc_difference_ms"] = {"n": int(d.size), "left_out": skipped, "mean": round(float(np.mean(d)), 1),
                                "mean_ci95": [round(float(np.mean(d)) - half, 1), round(float(np.mean(d)) + half, 1)]
                                if half is not None else None,
                                "sd": round(float(np.std(d, ddof=1)), 1) if d.size > 1 else None,
                                "formula": qtc_limits(None).formula}
    return out


def ludb(data: Path) -> dict[str, Any]:
    import wfdb

    from ecg.delineation.summary import qtc_ms
    from ecg.findings import reported_qtc_ms

    base = data / "ludb"
    names = [Path(s).name for s in (base / "RECORDS").read_text().split()]
    pairs: dict[str, list[tuple[bool, bool]]] = {k: [] for k in REFERENCE}
    rates = dict.fromkeys(RATE_ONLY, 0)
    false: dict[str, list[str]] = {k: [] for k in REFERENCE}
    rows: list[dict[str, Any]] = []
    for name in names:
        rec = wfdb.rdrecord(str(base / "data" / name))
        text = " ".join(rec.comments).lower()
        body = analyse_mv(rec.p_signal, float(rec.fs), STANDARD, f"ludb-{name}")
        found = codes_of(body)
        for code, pattern in REFERENCE.items():
            if code == "af" and "flutter" in text:
                continue
            ref = re.search(pattern, text) is not None
            pairs[code].append((ref, code in found))
            if ref != (code in found):
                false[code].append(f"{name}{'-' if ref else '+'}")
        for code in RATE_ONLY:
            rates[code] += code in found
        refs = {}
        for key, pct in (("qtc_ref_ms", (25.0, 75.0)), ("qtc_ref_extreme_ms", (0.0, 100.0))):
            qt_ref, rr_ref = annotated_qt_rr(base / "data" / name, float(rec.fs), onset_pct=pct[0], end_pct=pct[1])
            refs[key] = reported_qtc_ms(**dict(zip(("bazett_ms", "fridericia_ms"), qtc_ms(qt_ref, rr_ref), strict=True)))
        rows.append({"record": name, "found": sorted(found), "measurements": body.get("measurements"),
                     "sex": header_sex(rec.comments), **refs,
                     "reference": sorted(c for c, pat in REFERENCE.items() if re.search(pat, text)),
                     "flutter": "flutter" in text})
        print(f"ludb {name:>4}: {sorted(found)} {body.get('measurements')}", flush=True)
    out: dict[str, Any] = {code: {**tally(p), "errors": false[code]} for code, p in pairs.items()}
    out.update({code: {"reports": n, "records": len(names)} for code, n in rates.items()})
    out["per_record"] = rows
    return out


def margin_cv(rows: list[dict[str, Any]], n_folds: int = 5, seed: int = 11) -> dict[str, Any]:
    """Cross-validated limit for each finding of :data:`MARGINS`.

    Records are dealt into folds; on the other folds, the lowest limit reaching the target
    specificity is chosen (the highest limit when none does) and applied to the held-out
    fold. Returns the pooled held-out sensitivity/specificity and the limits chosen.
    """
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(rows)) % n_folds
    out: dict[str, Any] = {}
    for code, (key, limits) in MARGINS.items():
        ref = np.array([code in r["reference"] for r in rows])
        found = np.array([code in r["found"] for r in rows])
        value = np.array([(r["measurements"] or {}).get(key) or -1.0 for r in rows], dtype=float)
        pred = {lim: found & (value >= lim) if key == "qrsMs" else found & (value > lim) for lim in limits}
        held: list[tuple[bool, bool]] = []
        chosen = []
        for k in range(n_folds):
            tr = fold != k
            ok = [lim for lim in limits if np.sum(~ref[tr] & ~pred[lim][tr]) / max(np.sum(~ref[tr]), 1)
                  >= TARGET_SPECIFICITY[code]]
            lim = ok[0] if ok else limits[-1]
            chosen.append(lim)
            held += list(zip(ref[~tr].tolist(), pred[lim][~tr].tolist(), strict=True))
        out[code] = {**tally(held), "limits_chosen_per_fold": chosen, "measure": key,
                     "target_specificity": TARGET_SPECIFICITY[code]}
    return out


def mitdb_windows(data: Path, window_s: float = 30.0) -> dict[str, Any]:
    import wfdb

    base = data / "mitdb"
    pairs: dict[str, list[tuple[bool, bool]]] = {"pac": [], "pvc": []}
    for rec_name in sorted(p.stem for p in base.glob("*.hea")):
        rec = wfdb.rdrecord(str(base / rec_name), channels=[0])
        ann = wfdb.rdann(str(base / rec_name), "atr")
        fs, n = float(rec.fs), int(window_s * rec.fs)
        sym, at = np.asarray(ann.symbol), np.asarray(ann.sample)
        for s in range(0, rec.p_signal.shape[0] - n + 1, n):
            inside = sym[(at >= s) & (at < s + n)]
            body = analyse_mv(rec.p_signal[s : s + n], fs, ("II",), f"mitdb-{rec_name}-{s}")
            found = codes_of(body)
            pairs["pvc"].append((bool(set(inside) & PVC_SYMBOLS), "pvc" in found))
            pairs["pac"].append((bool(set(inside) & PAC_SYMBOLS), "pac" in found))
        print(f"mitdb {rec_name} done", flush=True)
    return {code: tally(rows) for code, rows in pairs.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--skip-mitdb", action="store_true")
    args = ap.parse_args(argv)
    if not (args.data / "ludb" / "RECORDS").is_file():
        print(f"LUDB not found under {args.data}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"ludb": ludb(args.data)}
    result["ludb_margin_cv"] = margin_cv(result["ludb"]["per_record"])
    result["ludb_qtc"] = qtc_scores(result["ludb"]["per_record"])
    result["ludb_qtc_extreme"] = qtc_scores(result["ludb"]["per_record"], "qtc_ref_extreme_ms")
    if not args.skip_mitdb and (args.data / "mitdb").is_dir():
        result["mitdb_30s"] = mitdb_windows(args.data)
    for db, block in result.items():
        for code, r in block.items():
            if code == "per_record":
                continue
            if code == "qtc_difference_ms":
                print(f"{db:>10} {'QTc measured - annotated':>22}  {r}")
                continue
            if "specificity" in r:
                print(f"{db:>10} {code:>22}  Se {r['sensitivity']} {r['sensitivity_ci95']}  "
                      f"Sp {r['specificity']} {r['specificity_ci95']}  (TP {r['tp']} FN {r['fn']} FP {r['fp']} TN {r['tn']})")
            else:
                print(f"{db:>10} {code:>22}  reported in {r['reports']} of {r['records']} records")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
