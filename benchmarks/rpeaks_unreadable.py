"""Unreadable stretches (``ecg.unreadable``): do they hold the R-peak detector's errors?

For each record (channel 0, whole record, the detector through ``ecg.context.LeadContext``
as every caller runs it) the detector's missed and extra beats are located (±150 ms
one-to-one matching, as ``benchmarks/rpeaks_loro.py``) and counted inside and outside the
stretches :func:`ecg.unreadable.unreadable_spans` marks, for a sweep of the level
(``UNREADABLE_LEVEL`` is the shipped one). Outside the stretches — the beats that feed a
heart rate — Se and PPV are given with 95 % record-bootstrap intervals. MIT-BIH chose the
level; the CPSC 2021 sample (another database, 200 Hz ambulatory) checks it.

Usage::

    nice -n 15 .venv/bin/python benchmarks/rpeaks_unreadable.py [--data ../shared/data] [--json out.json]
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
from benchmarks.rpeaks_mitdb import TOLERANCE_S, load  # noqa: E402
from ecg.context import LeadContext  # noqa: E402
import ecg.unreadable as unreadable  # noqa: E402

LEVELS = (0.15, 0.2, 0.25, 0.3, 0.4)


def errors_at(ref: np.ndarray, found: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matched reference beats (mask), missed reference beats and extra detections
    (sample indices), greedy nearest one-to-one within ``tol``."""
    used = np.zeros(found.size, dtype=bool)
    matched = np.zeros(ref.size, dtype=bool)
    for i, r in enumerate(ref):
        j = int(np.searchsorted(found, r))
        best = None
        for c in (j - 1, j, j + 1):
            if 0 <= c < found.size and not used[c] and abs(int(found[c]) - int(r)) <= tol:
                if best is None or abs(int(found[c]) - int(r)) < abs(int(found[best]) - int(r)):
                    best = c
        if best is not None:
            used[best] = True
            matched[i] = True
    return matched, ref[~matched], found[~used]


def score(folder: Path) -> dict[str, Any]:
    """Per level: flagged seconds, errors inside, reference beats inside, and Se/PPV outside."""
    rows: dict[float, list[list[int]]] = {lv: [] for lv in LEVELS}
    stats = {lv: {"flagged_s": 0.0, "errors_inside": 0, "beats_inside": 0} for lv in LEVELS}
    total_s, total_errors = 0.0, 0
    for hea in sorted(folder.glob("*.hea")):
        sig, fs, ref = load(folder, hea.stem)
        ctx = LeadContext.of(sig, fs)
        found = np.asarray(ctx.r_peaks)
        _, missed, extra = errors_at(ref, found, int(round(TOLERANCE_S * fs)))
        total_s += sig.size / fs
        total_errors += missed.size + extra.size
        for lv in LEVELS:
            spans = unreadable.unreadable_spans(ctx.qrs_envelope, found, fs, level=lv)
            ref_out, found_out = ref[~unreadable.beats_in(ref, spans)], found[~unreadable.beats_in(found, spans)]
            m, fn, fp = errors_at(ref_out, found_out, int(round(TOLERANCE_S * fs)))
            rows[lv].append([int(m.sum()), int(fn.size), int(fp.size)])
            s = stats[lv]
            s["flagged_s"] += float((spans[:, 1] - spans[:, 0]).sum()) / fs
            s["errors_inside"] += int(unreadable.beats_in(missed, spans).sum() + unreadable.beats_in(extra, spans).sum())
            s["beats_inside"] += int(unreadable.beats_in(ref, spans).sum())
        print(f"{hea.stem:>12}: errors {missed.size + extra.size}", flush=True)
    out: dict[str, Any] = {"duration_s": round(total_s), "errors": total_errors}
    for lv in LEVELS:
        out[str(lv)] = {**stats[lv], "outside": summary(np.array(rows[lv]))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    shipped = unreadable.UNREADABLE_LEVEL
    result: dict[str, Any] = {"shipped_level": shipped}
    for db in ("mitdb", "cpsc2021_sample"):
        if (args.data / db).is_dir():
            result[db] = block = score(args.data / db)
            print(f"{db}: {block['errors']} errors in {block['duration_s']} s")
            for lv in LEVELS:
                s = block[str(lv)]
                o = s["outside"]
                print(f"  level {lv}{' (shipped)' if lv == shipped else ''}: flagged {s['flagged_s']:.0f} s, "
                      f"errors inside {s['errors_inside']}, reference beats inside {s['beats_inside']}; outside: "
                      f"Se {o['se']:.3f} {o['ci95']['se']} PPV {o['ppv']:.3f} {o['ci95']['ppv']} (FN {o['fn']}, FP {o['fp']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
