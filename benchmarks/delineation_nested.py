"""Choose the learned delineator's settings by nested cross-validation by record (LUDB).

Every LUDB record is delineated (one lead) by the segmenter fold model that never trained
on it (``--segmenter-folds``), once per candidate setting of :data:`GRID`, through the
run-time path (``benchmarks/delineation_ludb.py``'s ``cardiolink`` method). The procedure,
fixed before any held-out figure of it was seen:

- each targeted boundary has its own group of candidates (:data:`GRID`; the other
  settings stay at the shipped values while one group varies);
- for every outer fold k, the candidate with the smallest pooled error SD over the held-out
  records of the *other four* folds is chosen, among the candidates that keep that
  boundary's sensitivity (:data:`MIN_SE`; P: the issue's 96 %; T: the rule delineator's own
  T sensitivity on the same records) — ties (within :data:`TIE_MS`) go to the first listed;
  fold k's records are then scored with that choice;
- the pooled figures of those nested choices (160 records, record-bootstrap 95 % CI) are the
  unseen-record figures; the choice on all five folds is what would ship.

Usage::

    nice -n 10 .venv/bin/python benchmarks/delineation_nested.py --data ../shared/data \\
        --segmenter-folds training/runs/d125/cv [--fs 250] [--json nested.json]

The QRS groups go first (``--groups qrs_on qrs_off --json qrs.json``); the P and T groups then
run with that all-folds QRS choice (``--groups p_on t_off --qrs-choice qrs.json``).

Calibrated candidates (``"calibrated"`` as a threshold, declared 2026-12-02 12:00 in the model
card): for each outer fold the highest value of :data:`CAL_VALUES` whose pooled sensitivity on
the selection records reaches the group's floor (:data:`MIN_SE`) is that candidate's threshold;
it then competes with the fixed candidates by the same rule. ``--no-calibrated`` leaves them
out (the procedure as before); ``--shifts S`` runs every fold model with test-time averaging
over S shifts (``ecg.delineation.segmenter``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import delineation_ludb as bench  # noqa: E402

#: candidate settings of ``ecg.delineation.learned`` per targeted boundary (first: the values
#: shipped before the 2026-12-01 nested choice; ties go to the first listed)
#: 2026-12-02: the rule refinements at the recording's rate (``ecg.delineation.learned_refine``:
#: "min" QRS onset, P-onset and T-end criteria) were added, each with the other settings of
#: its group at the values shipped then, before any figure of them was seen; the T-end
#: "threshold" modes in a second round after the first round's figures (disclosed in the model
#: card). 2026-12-02 03:00: the P-onset alignment candidates (``P_ON_ALIGN``), declared in the
#: model card before any figure of them was seen. Every candidate names its group's settings in full, so the procedure does not
#: depend on the values shipped now.
GRID: dict[str, list[dict[str, Any]]] = {
    "qrs_on": [{"QRS_SOURCE.qrs_on": v} for v in ("learned", "mean", "rule", "min")],
    "qrs_off": [{"QRS_SOURCE.qrs_off": v} for v in ("mean", "learned", "rule")],
    "p_on": [{"P_CHECK": c, "P_TP_CHECK": tp, "P_MIN_SCORE": s, "P_ON_REFINE": "net", "P_ON_ALIGN": "none"}
             for c in ("most_beats", "steady") for tp in (False, True) for s in (0.5, 0.7)]
    + [{"P_CHECK": "most_beats", "P_TP_CHECK": False, "P_MIN_SCORE": 0.7, "P_ON_REFINE": m, "P_ON_ALIGN": "none"}
       for m in ("tangent", "mean_tangent", "threshold", "mean_threshold")]
    + [{"P_CHECK": "most_beats", "P_TP_CHECK": False, "P_MIN_SCORE": 0.7, "P_ON_REFINE": "mean_threshold",
        "P_ON_ALIGN": m} for m in ("xcorr", "mean_xcorr")],
    "t_off": [{"T_MIN_SCORE": s, "T_OFF_REFINE": "net"} for s in (0.83, 0.5, 0.7, 0.9)]
    + [{"T_MIN_SCORE": 0.83, "T_OFF_REFINE": m} for m in ("tangent", "mean_tangent", "threshold", "mean_threshold")]
    + [{"T_MIN_SCORE": "calibrated", "T_OFF_REFINE": m}
       for m in ("net", "tangent", "mean_tangent", "threshold", "mean_threshold")],
}
#: the values a ``"calibrated"`` threshold is chosen from (per outer fold, on its selection records)
CAL_VALUES: tuple[float, ...] = tuple(round(0.50 + 0.01 * i, 2) for i in range(46))
#: the setting key a ``"calibrated"`` candidate calibrates
CAL_KEY = "T_MIN_SCORE"
#: the sensitivity a candidate must keep on the selection folds (%; "rules": the rule
#: delineator's on the same records)
MIN_SE: dict[str, float | str] = {"p_on": 96.0, "t_off": "rules"}
#: SDs closer than this (ms) count as a tie
TIE_MS = 0.1


@contextmanager
def settings(values: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Temporarily set ``ecg.delineation.learned`` constants (``"QRS_SOURCE.qrs_on"`` sets one key)."""
    from ecg.delineation import learned

    saved = {"QRS_SOURCE": dict(learned.QRS_SOURCE)}
    for key in values:
        saved.setdefault(key.split(".")[0], getattr(learned, key.split(".")[0]))
    try:
        for key, value in values.items():
            if "." in key:
                learned.QRS_SOURCE = {**learned.QRS_SOURCE, key.split(".")[1]: value}
            else:
                setattr(learned, key, value)
        yield
    finally:
        for key, value in saved.items():
            setattr(learned, key, value)


Rows = list[tuple[np.ndarray, int, int, int]]


Sweep = list[Rows]  # a calibrated candidate's rows at every value of CAL_VALUES


def score_all(data_dir: Path, names: list[str], lead: str, fs: float | None,
              grid: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, list[Rows | Sweep]], dict[str, Rows]]:
    """Per boundary of ``grid`` and candidate, the per-record (errors ms, TP, FN, FP) of the
    learned delineator (for a calibrated candidate: per value of :data:`CAL_VALUES`); per
    boundary, the rule delineator's."""
    cand: dict[str, list[Any]] = {b: [_blank(o) for o in grid[b]] for b in grid}
    rules: dict[str, Rows] = {b: [] for b in grid}
    for name in names:
        x, rate, ref, span = bench.lead_signal(data_dir, name, lead, fs)
        for b, options in grid.items():
            for i, option in enumerate(options):
                if _is_calibrated(option):
                    for v, row in enumerate(_sweep(option, name, x, rate, lambda d: _one(ref, d, span, rate, b))):
                        cand[b][i][v].append(row)
                    continue
                with settings(option):
                    det = bench.delineate_quietly("cardiolink", name, x, rate)
                cand[b][i].append(_one(ref, det, span, rate, b))
        rules_det = bench.delineate_quietly("rules", name, x, rate)
        for b in grid:
            rules[b].append(_one(ref, rules_det, span, rate, b))
    return cand, rules


def _is_calibrated(option: dict[str, Any]) -> bool:
    return option.get(CAL_KEY) == "calibrated"


def _blank(option: dict[str, Any]) -> list[Any]:
    return [[] for _ in CAL_VALUES] if _is_calibrated(option) else []


def _sweep(option: dict[str, Any], name: str, x: np.ndarray, rate: float, score: Any) -> list[Any]:
    """A calibrated candidate's scored rows at every value of :data:`CAL_VALUES`. The
    threshold acts only through which beats' T confidences reach it
    (``ecg.delineation.learned._judge_waves``), so the delineator runs once per distinct set
    of kept T waves and values keeping the same set share its (identical) rows."""
    from ecg.delineation import learned

    seen: list[np.ndarray] = []
    judge = learned._judge_waves

    def spy(sv: Any, rows: Any, w: Any, scores: np.ndarray) -> Any:
        seen.append(scores[:, 1].copy())
        return judge(sv, rows, w, scores)

    learned._judge_waves = spy
    try:
        with settings({**option, CAL_KEY: CAL_VALUES[0]}):
            first = score(bench.delineate_quietly("cardiolink", name, x, rate))
    finally:
        learned._judge_waves = judge
    t_scores = seen[0] if seen else np.zeros(0)
    by_kept: dict[bytes, Any] = {(t_scores >= CAL_VALUES[0]).tobytes(): first}
    out = []
    for v in CAL_VALUES:
        key = (t_scores >= v).tobytes()
        if key not in by_kept:
            with settings({**option, CAL_KEY: v}):
                by_kept[key] = score(bench.delineate_quietly("cardiolink", name, x, rate))
        out.append(by_kept[key])
    return out


def _one(ref: dict[str, np.ndarray], det: dict[str, np.ndarray] | None, span: tuple[int, int], fs: float,
         boundary: str) -> tuple[np.ndarray, int, int, int]:
    tally = bench.Tally()
    empty = {k: np.zeros(0, dtype=np.int64) for k in bench.BOUNDARIES}
    tally.add(ref, det if det is not None else empty, span, fs)
    return tally.by_record[boundary][0]


def pooled(rows: Rows) -> dict[str, float]:
    """Mean, SD (ms), Se and PPV (%) of pooled per-record rows."""
    e = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0)
    tp, fn, fp = (int(sum(int(r[j]) for r in rows)) for j in (1, 2, 3))
    return {"mean_ms": float(e.mean()) if e.size else float("nan"),
            "sd_ms": float(e.std(ddof=1)) if e.size > 1 else float("nan"),
            "se": 100.0 * tp / max(tp + fn, 1), "ppv": 100.0 * tp / max(tp + fp, 1)}


def choose(options: list[Rows], rules: Rows, boundary: str, use: np.ndarray) -> int:
    """The candidate with the smallest SD on the records ``use`` among those keeping the
    sensitivity floor (all when none does); ties go to the first listed."""
    figs = [pooled([rows[i] for i in np.flatnonzero(use)]) for rows in options]
    floor = floor_of(boundary, rules, use)
    ok = [i for i, f in enumerate(figs) if floor is None or f["se"] >= floor] or list(range(len(figs)))
    best = min(figs[i]["sd_ms"] for i in ok)
    return next(i for i in ok if figs[i]["sd_ms"] <= best + TIE_MS)


def floor_of(boundary: str, rules: Rows, use: np.ndarray) -> float | None:
    """The sensitivity (%) a candidate must keep on the records ``use`` (None: no floor)."""
    floor = MIN_SE.get(boundary)
    if floor == "rules":
        return pooled([rules[i] for i in np.flatnonzero(use)])["se"]
    return None if floor is None else float(floor)


def calibrate(sweep: Sweep, rules: Rows, boundary: str, use: np.ndarray) -> int:
    """Index into :data:`CAL_VALUES` of the highest value whose pooled sensitivity on the
    records ``use`` reaches the group's floor (the lowest value when none does)."""
    floor = floor_of(boundary, rules, use)
    ok = [v for v, rows in enumerate(sweep)
          if floor is None or pooled([rows[i] for i in np.flatnonzero(use)])["se"] >= floor]
    return max(ok) if ok else 0


def resolve(options: list[Any], grid: list[dict[str, Any]], rules: Rows, boundary: str,
            use: np.ndarray) -> tuple[list[Rows], list[dict[str, Any]]]:
    """Every candidate's rows and setting with its calibrated threshold (if any) set on ``use``."""
    rows, named = [], []
    for option, o in zip(grid, options, strict=True):
        if _is_calibrated(option):
            v = calibrate(o, rules, boundary, use)
            rows.append(o[v])
            named.append({**option, "calibrated_value": CAL_VALUES[v]})
        else:
            rows.append(o)
            named.append(option)
    return rows, named


def nested(cand: dict[str, list[Any]], rules: dict[str, Rows], fold: np.ndarray,
           grid: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Per boundary: the choice per outer fold, the nested pooled figures with their record
    bootstrap CI, the all-folds choice and every candidate's pooled figures (calibrated ones
    at their all-folds value); ``grid`` (default :data:`GRID`) names the candidates scored."""
    grid = grid or {b: GRID[b] for b in cand}
    out: dict[str, Any] = {}
    for b, options in cand.items():
        picks, rows = [], []
        for k in sorted(set(fold.tolist())):
            use = fold != k
            resolved, named = resolve(options, grid[b], rules[b], b, use)
            i = choose(resolved, rules[b], b, use)
            picks.append(named[i])
            rows += [resolved[i][j] for j in np.flatnonzero(fold == k)]
        resolved, named = resolve(options, grid[b], rules[b], b, fold >= 0)
        out[b] = {"per_fold_choice": picks, "nested": pooled(rows),
                  "nested_ci95": bench.record_bootstrap(rows),
                  "all_folds_choice": named[choose(resolved, rules[b], b, fold >= 0)],
                  "candidates": [{"setting": named[i], **pooled(o)} for i, o in enumerate(resolved)],
                  "rules": pooled(rules[b])}
    return out


def use_qrs_choice(result: dict[str, Any]) -> dict[str, str]:
    """Set ``ecg.delineation.learned.QRS_SOURCE`` to the all-folds QRS choice of a
    ``--groups qrs_on qrs_off`` result (as written by ``--json``); returns the sources."""
    from ecg.delineation import learned

    source = dict(learned.QRS_SOURCE)
    for group in ("qrs_on", "qrs_off"):
        source[group] = result["boundaries"][group]["all_folds_choice"][f"QRS_SOURCE.{group}"]
    learned.QRS_SOURCE = source
    print(f"QRS_SOURCE for this run: {source}", flush=True)
    return source


def _prepare_segmenters(shifts: int | None) -> None:
    """Load the fold models once; set their test-time shifts (when given) and remember each
    record's probabilities (they do not depend on the settings scored: same input, same model)."""
    from ecg.delineation.segmenter import load_segmenter

    for path in set(bench._SEGMENTER_OF.values()):
        seg = load_segmenter(path)
        if shifts is not None:
            seg.shifts = shifts
        _remember_probabilities(seg)
        for member in seg.pt_members:  # P/T members (sidecar "pt_members"), run as they are
            _remember_probabilities(member)


def _remember_probabilities(seg: Any) -> None:
    """Wrap ``seg.probabilities_many`` with a cache keyed by the exact input bytes."""
    import hashlib

    run, memo = seg.probabilities_many, {}

    def cached(clean_mv: np.ndarray, fs_hz: float) -> np.ndarray:
        a = np.ascontiguousarray(clean_mv)
        key = (hashlib.sha1(a.tobytes()).hexdigest(), a.shape, str(a.dtype), float(fs_hz), seg.shifts)
        if key not in memo:
            memo[key] = run(clean_mv, fs_hz)
        return memo[key].copy()

    seg.probabilities_many = cached


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("CARDIOLINK_DATA", str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=Path(default_data))
    ap.add_argument("--segmenter-folds", type=Path, required=True)
    ap.add_argument("--lead", default="i")
    ap.add_argument("--fs", type=float, default=None, help="resample every lead to this rate first (e.g. 250)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--groups", nargs="+", choices=list(GRID), default=None, help="only these boundaries' groups")
    ap.add_argument("--qrs-choice", type=Path, default=None,
                    help="JSON of a --groups qrs_on qrs_off run: its all-folds QRS sources are used throughout "
                         "(the QRS onset feeds the P and T steps)")
    ap.add_argument("--no-calibrated", action="store_true", help="leave the calibrated candidates out")
    ap.add_argument("--shifts", type=int, default=None, help="test-time averaging over this many shifts")
    args = ap.parse_args(argv)
    if args.qrs_choice is not None:
        use_qrs_choice(json.loads(args.qrs_choice.read_text()))
    fold_of = bench.use_fold_models(args.segmenter_folds)
    _prepare_segmenters(args.shifts)
    grid = {b: [o for o in GRID[b] if not (args.no_calibrated and _is_calibrated(o))] for b in (args.groups or GRID)}
    names = bench.record_names(args.data, list(fold_of), args.limit)
    cand, rules = score_all(args.data, names, args.lead, args.fs, grid)
    result = nested(cand, rules, np.array([fold_of[n] for n in names]), grid)
    for b, r in result.items():
        f, ci = r["nested"], r["nested_ci95"]
        print(f"{b}: nested {f['mean_ms']:+.1f} ± {f['sd_ms']:.1f} ms (SD CI {ci.get('sd_ms')}), Se {f['se']:.1f} "
              f"PPV {f['ppv']:.1f}; choices per fold {r['per_fold_choice']}; all folds {r['all_folds_choice']}")
        for c in r["candidates"]:
            print(f"    {c['setting']}: {c['mean_ms']:+.1f} ± {c['sd_ms']:.1f}, Se {c['se']:.1f} PPV {c['ppv']:.1f}")
        print(f"    rules: {r['rules']['mean_ms']:+.1f} ± {r['rules']['sd_ms']:.1f}, Se {r['rules']['se']:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"records": len(names), "fs_hz": args.fs or 500.0, "lead": args.lead,
                                         "shifts": args.shifts, "grid": grid, "cal_values": CAL_VALUES,
                                         "boundaries": result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
