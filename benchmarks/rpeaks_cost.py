"""CPU cost of R peaks, premature beats and signal quality, this tree against another one.

What ``cloud.pipeline.analyse`` pays for them: on one lead (CinC 2017 records of exactly
30 s at 300 Hz), :func:`ecg.beats.detect_r_peaks` given the context's 0.5–40 Hz view (and
its QRS envelope, where the tree's detector takes it), :func:`ecg.ectopy.find_ectopy`
on that view, and :func:`ecg.ectopy.find_ectopy_in` on the lead's context (the cloud's
step: with the unreadable stretches of the lead); on 12 leads (LUDB, 10 s at 500 Hz, ``--records12``),
:func:`ecg.ectopy.find_ectopy_in` on the recording's contexts (their 0.5–40 Hz views
and lead II's R peaks already computed, as in the cloud). Rows at once: R peaks of the
12 leads of each LUDB record, and of batches of 8 CinC records of 30 s, by
:func:`ecg.beats.detect_r_peaks_many` (views handed in) beside the same rows one by one
(a tree without it: one by one for both), per record. Signal quality: :func:`ecg.quality.assess_many`
on fresh contexts of the one-lead records and of the three screened leads (I, II, V1) of each
LUDB record, their views and R peaks handed in (as the cloud's quality step finds them; the
heart rate is computed inside, as there). Each tree runs in its own
subprocess, the trees interleaved round by round (so load swings hit both alike); the
figure per tree is the best (least) mean over ``--passes`` passes of all records, in
thread CPU time, taken over the rounds.

Usage::

    git archive <old-commit> | tar -x -C /tmp/old_tree
    nice -n 10 .venv/bin/python benchmarks/rpeaks_cost.py --data ../shared/data --against /tmp/old_tree

Without ``--against`` only this tree is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_TIMED = ("r_peaks_ms", "ectopy_ms", "ectopy_in_ms", "ectopy12_ms", "rows12_alone_ms", "rows12_many_ms",
          "rows8_alone_ms", "rows8_many_ms", "quality_ms", "quality3_ms")

_CHILD = r"""
import glob, inspect, json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from ecg.io import read_record
import ecg.beats as beats
from ecg.context import LeadContext, contexts_of, share_r_peaks, share_wide
from ecg.ectopy import find_ectopy, find_ectopy_in
from ecg.quality import assess_many

files = sorted(glob.glob(sys.argv[2] + "/cinc2017/A*.hea"))
records = []
for f in files:
    r = read_record(f[:-4])
    if r.n_samples == int(30 * r.fs_hz):
        records.append(r)
    if len(records) == int(sys.argv[3]):
        break
takes_envelope = "envelope" in inspect.signature(beats.detect_r_peaks).parameters
items = []
ones = []
for r in records:
    x, fs = r.signals_mv[:, 0], r.fs_hz
    wide = beats.detector_band(x, fs)
    extra = {"envelope": beats.band_envelope(wide, fs)} if takes_envelope else {}
    items.append((x, fs, wide, extra, beats.detect_r_peaks(x, fs, wide_mv=wide, **extra)))
    one = contexts_of(r.signals_mv[:, :1], fs, r.lead_names[:1])
    one[0].r_peaks, one[0].qrs_envelope
    ones.append(one)

twelve = []
for f in sorted(glob.glob(sys.argv[2] + "/ludb/data/*.hea"))[: int(sys.argv[5])]:
    r = read_record(f[:-4])
    names = [n.lower() for n in r.lead_names]
    if r.signals_mv.shape[1] != 12 or "ii" not in names:
        continue
    ctxs = contexts_of(r.signals_mv, r.fs_hz, r.lead_names)
    share_wide(ctxs)
    ctxs[names.index("ii")].r_peaks
    twelve.append((ctxs, names.index("ii")))

def r_peaks():
    for x, fs, wide, extra, _ in items:
        beats.detect_r_peaks(x, fs, wide_mv=wide, **extra)

def ectopy():
    for x, fs, wide, _, peaks in items:
        find_ectopy(wide[:, None], fs, peaks)

def ectopy_in():
    for one in ones:
        find_ectopy_in(one, 0)

def ectopy12():
    for ctxs, lead in twelve:
        find_ectopy_in(ctxs, lead)

many = getattr(beats, "detect_r_peaks_many", None)
leads12 = []
for ctxs, _ in twelve:
    w = np.stack([c.wide_mv for c in ctxs])
    leads12.append((np.stack([c.signal_mv for c in ctxs]), ctxs[0].fs_hz, w, np.stack([c.qrs_envelope for c in ctxs])))
batches = [tuple(np.stack([it[j] for it in items[s:s + 8]]) for j in (0, 2)) + (items[s][1],)
           for s in range(0, len(items) - 7, 8)]
batches = [(x, fs, w, np.stack([beats.band_envelope(r, fs) for r in w]) if takes_envelope else None)
           for x, w, fs in batches]

def rows_alone(groups):
    for x, fs, w, e in groups:
        for i in range(x.shape[0]):
            beats.detect_r_peaks(x[i], fs, wide_mv=w[i], **({} if e is None else {"envelope": e[i]}))

def rows_many(groups):
    if many is None:
        return rows_alone(groups)
    for x, fs, w, e in groups:
        many(x, fs, wide_mv=w, envelope=e)

screened = []
for ctxs, _ in twelve:
    names = [c.lead.lower() for c in ctxs]
    three = [ctxs[names.index(n)] for n in ("i", "ii", "v1")]
    share_r_peaks(three)
    screened.append(three)

def fresh(groups):
    # new contexts of the same leads, their views and R peaks handed in (quality not yet known)
    out = []
    for group in groups:
        new = []
        for c in group:
            d = LeadContext.of(c.signal_mv, c.fs_hz, lead=c.lead)
            for key in ("wide_mv", "qrs_envelope", "r_peaks"):
                d.provide(key, getattr(c, key))
            new.append(d)
        out.append(new)
    return out

out = {"envelope_handed_in": takes_envelope, "records": len(items), "records12": len(twelve),
       "rows_api": many is not None, "batches8": len(batches)}
for name, run, n in (("r_peaks_ms", r_peaks, len(items)), ("ectopy_ms", ectopy, len(items)),
                     ("ectopy_in_ms", ectopy_in, len(ones)), ("ectopy12_ms", ectopy12, len(twelve)),
                     ("rows12_alone_ms", lambda: rows_alone(leads12), len(leads12)),
                     ("rows12_many_ms", lambda: rows_many(leads12), len(leads12)),
                     ("rows8_alone_ms", lambda: rows_alone(batches), 8 * len(batches)),
                     ("rows8_many_ms", lambda: rows_many(batches), 8 * len(batches)),
                     ("quality_ms", assess_many, len(ones)), ("quality3_ms", assess_many, len(screened))):
    best = float("inf")
    for _ in range(int(sys.argv[4])):
        groups = fresh(ones if name == "quality_ms" else screened) if run is assess_many else None
        start = time.thread_time()
        if groups is None:
            run()
        else:
            for group in groups:
                run(group)
        best = min(best, (time.thread_time() - start) / max(n, 1))
    out[name] = 1000.0 * best
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--against", type=Path, help="another source tree (e.g. a `git archive` export) to time alike")
    ap.add_argument("--records", type=int, default=20)
    ap.add_argument("--records12", type=int, default=20, help="LUDB 12-lead records (0: none)")
    ap.add_argument("--passes", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args(argv)
    if not (args.data / "cinc2017").is_dir():
        print(f"CinC 2017 records not found under {args.data}", file=sys.stderr)
        return 2
    trees = {"this tree": REPO, **({"against": args.against.resolve()} if args.against else {})}
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            done = subprocess.run([sys.executable, "-c", _CHILD, str(tree), str(args.data), str(args.records),
                                   str(args.passes), str(args.records12)], capture_output=True, text=True, check=True)
            row = json.loads(done.stdout)
            seen = best.setdefault(name, row)
            for key in _TIMED:
                seen[key] = min(seen[key], row[key])
    print(f"load average {os.getloadavg()[0]:.1f}; CPU ms per record, best of {args.rounds} rounds")
    for name, row in best.items():
        print(f"{name:>10}: 30-s 300 Hz lead: detect_r_peaks {row['r_peaks_ms']:.2f} ms (envelope handed in: "
              f"{row['envelope_handed_in']}), find_ectopy {row['ectopy_ms']:.2f} ms, find_ectopy_in (the cloud's step, "
              f"with the unreadable stretches) {row['ectopy_in_ms']:.2f} ms, {row['records']} records; "
              f"12 leads 10 s: find_ectopy_in {row['ectopy12_ms']:.2f} ms, {row['records12']} records")
        print(f"{'':>10}  R peaks rows at once (rows API: {row['rows_api']}): 12 leads of 10 s per record "
              f"{row['rows12_many_ms']:.2f} ms (one by one {row['rows12_alone_ms']:.2f}); 8 x 30-s records, per record "
              f"{row['rows8_many_ms']:.2f} ms (one by one {row['rows8_alone_ms']:.2f}), {row['batches8']} batches")
        print(f"{'':>10}  signal quality (assess_many, views and R peaks handed in): one 30-s lead "
              f"{row['quality_ms']:.2f} ms, three screened leads of a 12-lead record {row['quality3_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
