"""Where the R-peak detectors' errors on the CPSC 2021 sample lie (issue 11, diagnosis).

The CPSC 2021 sample (18 ambulatory records at 200 Hz, channel 0) was never used to choose
anything in ``ecg.beats``; this script only *describes* its missed and extra beats, for
cardiolink and, in the same run, wfdb's XQRS and neurokit2 (defaults, as
``benchmarks/rpeaks_loro.py``; ±150 ms one-to-one matching, closest pairs first). Each
detector's errors are split by where they lie:

- inside / outside the stretches cardiolink marks unreadable
  (:func:`ecg.unreadable.unreadable_spans` of its own R peaks and QRS envelope — the same
  stretches for every detector, so the split compares like with like);
- the reference's beats with the symbols of ``--drop-symbols`` (default ``a``): in this
  sample all 8 are in ``data_92_4``, each on the T wave 240–260 ms after a normal beat,
  with a P wave on that T wave in lead II, no QRS in either lead and a 1.5-s pause —
  non-conducted premature atrial beats (seen by looking at all 8, 2 December 2026), which
  an R-peak detector should not find. Scored without them, a detection there is an extra
  beat.

Se and PPV with 95 % record-bootstrap intervals (``rpeaks_loro.summary``).

Usage::

    nice -n 15 .venv/bin/python benchmarks/rpeaks_cpsc_errors.py [--data ../shared/data] [--json out.json]
        [--no-peers] [--drop-symbols a]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.rpeaks_loro import summary  # noqa: E402
from benchmarks.rpeaks_mitdb import BEAT_SYMBOLS, DETECTORS, TOLERANCE_S, match_masks  # noqa: E402
from ecg.context import LeadContext  # noqa: E402
from ecg.unreadable import beats_in, unreadable_spans  # noqa: E402

#: per detector and record: (TP, FN, FP) overall, outside the marks, without the dropped symbols
_VIEWS = ("all", "outside", "without_dropped")


def load_with_symbols(folder: Path, rec: str) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Channel 0 in mV, its rate, the reference beats (sorted samples) and their symbols."""
    import wfdb

    r = wfdb.rdrecord(str(folder / rec), channels=[0])
    ann = wfdb.rdann(str(folder / rec), "atr")
    keep = [i for i, s in enumerate(ann.symbol) if s in BEAT_SYMBOLS]
    order = np.argsort(np.asarray(ann.sample)[keep], kind="stable")
    return (np.asarray(r.p_signal[:, 0], dtype=np.float64), float(r.fs),
            np.asarray(ann.sample, dtype=np.int64)[keep][order], np.asarray(ann.symbol)[keep][order])


def record_counts(ref: np.ndarray, dropped: np.ndarray, det: np.ndarray, spans: np.ndarray, tol: int
                  ) -> dict[str, Any]:
    """One detector on one record: (TP, FN, FP) per view, errors inside the marks, and how
    many ``dropped`` reference beats it found."""
    det = np.sort(np.asarray(det, dtype=np.int64))
    found, used = match_masks(ref, det, tol)
    ref_in, det_in = beats_in(ref, spans), beats_in(det, spans)
    out_found, out_used = match_masks(ref[~ref_in], det[~det_in], tol)
    kept_found, kept_used = match_masks(ref[~dropped], det, tol)
    counts = {view: [int(f.sum()), int((~f).sum()), int((~u).sum())]
              for view, (f, u) in zip(_VIEWS, ((found, used), (out_found, out_used), (kept_found, kept_used)))}
    return {**counts, "fn_inside": int((~found & ref_in).sum()), "fp_inside": int((~used & det_in).sum()),
            "ref_inside": int(ref_in.sum()), "dropped_found": int((found & dropped).sum()), "dropped": int(dropped.sum())}


def score(folder: Path, peers: tuple[str, ...], drop: frozenset[str]) -> dict[str, dict[str, Any]]:
    """Per detector: the per-record counts summed and summarised (see :func:`record_counts`)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in ("cardiolink", *peers)}
    for hea in sorted(folder.glob("*.hea")):
        sig, fs, ref, symbols = load_with_symbols(folder, hea.stem)
        ctx = LeadContext.of(sig, fs)
        ours = np.asarray(ctx.r_peaks)
        spans = unreadable_spans(ctx.qrs_envelope, ours, fs)
        dropped = np.isin(symbols, sorted(drop))
        tol = int(round(TOLERANCE_S * fs))
        for name in rows:
            det = ours if name == "cardiolink" else DETECTORS[name](sig, fs)
            rows[name].append(record_counts(ref, dropped, det, spans, tol))
        print(f"{hea.stem:>12}: " + "  ".join(f"{n} FN {r[-1]['all'][1]} FP {r[-1]['all'][2]}" for n, r in rows.items()),
              flush=True)
    return {name: _summarise(per_record) for name, per_record in rows.items()}


def _summarise(per_record: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {view: summary(np.array([r[view] for r in per_record])) for view in _VIEWS}
    for key in ("fn_inside", "fp_inside", "ref_inside", "dropped_found", "dropped"):
        out[key] = sum(r[key] for r in per_record)
    inside_tp = out["ref_inside"] - out["fn_inside"]
    out["inside"] = {"se": round(100 * inside_tp / max(out["ref_inside"], 1), 1),
                     "ppv": round(100 * inside_tp / max(inside_tp + out["fp_inside"], 1), 1)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-peers", action="store_true", help="cardiolink only")
    ap.add_argument("--drop-symbols", default="a", help="reference beat symbols scored apart (default: a)")
    args = ap.parse_args(argv)
    folder = args.data / "cpsc2021_sample"
    if not folder.is_dir():
        print(f"CPSC 2021 sample not found under {args.data}", file=sys.stderr)
        return 2
    result = score(folder, () if args.no_peers else ("xqrs", "neurokit2"), frozenset(args.drop_symbols))
    for name, r in result.items():
        a, o, w = r["all"], r["outside"], r["without_dropped"]
        print(f"{name:>10}: all Se {a['se']:.3f} {a['ci95']['se']} PPV {a['ppv']:.3f} {a['ci95']['ppv']} "
              f"(FN {a['fn']}, FP {a['fp']}) | inside the marks ({r['ref_inside']} beats) FN {r['fn_inside']} "
              f"FP {r['fp_inside']} (Se {r['inside']['se']}, PPV {r['inside']['ppv']}) | outside Se {o['se']:.3f} "
              f"{o['ci95']['se']} PPV {o['ppv']:.3f} {o['ci95']['ppv']} (FN {o['fn']}, FP {o['fp']}) | "
              f"'{args.drop_symbols}' marks found {r['dropped_found']} of {r['dropped']}; without them Se "
              f"{w['se']:.3f} {w['ci95']['se']} PPV {w['ppv']:.3f} {w['ci95']['ppv']} (FN {w['fn']}, FP {w['fp']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
