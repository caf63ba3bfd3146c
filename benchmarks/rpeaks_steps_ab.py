"""Paired CPU of the beats steps of one request, two source trees in one process.

The four steps the beats part owns in ``cloud.pipeline.analyse`` for a one-lead request —
R peaks (:func:`ecg.beats.detect_r_peaks` with the context's views handed in), the QRS
envelope (:func:`ecg.beats.band_envelope`), quality (:func:`ecg.quality.assess_many` of the
one context) and premature beats (:func:`ecg.ectopy.find_ectopy_in`) — on the first
``--records`` CinC 2017 records of exactly 30 s. Both trees' ``ecg`` packages are imported
into this one process (each with its own module objects and caches); each step runs on fresh
contexts holding the same views and R peaks, the trees alternate pass by pass (which goes
first alternates too), and each figure is the best pass in thread CPU time (µs per record).
Load swings hit both trees alike, which is what a per-tree process profile
(``benchmarks/analysis_cost.py --steps``) cannot promise on a busy machine.

Usage::

    git archive <old-commit> | tar -x -C /tmp/old_tree
    nice -n 10 .venv/bin/python benchmarks/rpeaks_steps_ab.py /tmp/old_tree . --data ../shared/data [--passes 40]
"""

from __future__ import annotations

import argparse
import glob
import importlib
import os
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

STEPS = ("rpeaks", "envelope", "quality", "ectopy")


def load_tree(tree: str) -> dict[str, ModuleType]:
    """The ``ecg`` modules of ``tree``, imported afresh (earlier imports of ``ecg`` dropped)."""
    for name in [k for k in sys.modules if k == "ecg" or k.startswith("ecg.")]:
        del sys.modules[name]
    sys.path.insert(0, os.path.abspath(tree))
    try:
        return {n: importlib.import_module(n) for n in ("ecg.io", "ecg.beats", "ecg.context", "ecg.ectopy", "ecg.quality")}
    finally:
        sys.path.pop(0)


def steps_of(m: dict[str, ModuleType]) -> dict[str, Callable[[list[Any]], object]]:
    """The four steps of one tree, each over a list of contexts."""
    beats, ectopy, quality = m["ecg.beats"], m["ecg.ectopy"], m["ecg.quality"]
    return {
        "rpeaks": lambda cs: [beats.detect_r_peaks(c.signal_mv, c.fs_hz, wide_mv=c.wide_mv, envelope=c.qrs_envelope)
                              for c in cs],
        "envelope": lambda cs: [beats.band_envelope(c.wide_mv, c.fs_hz) for c in cs],
        "quality": lambda cs: [quality.assess_many([c]) for c in cs],
        "ectopy": lambda cs: [ectopy.find_ectopy_in([c]) for c in cs],
    }


def fresh(m: dict[str, ModuleType], prepared: list[Any]) -> list[Any]:
    """New contexts holding the prepared views and R peaks (nothing else cached)."""
    out = []
    for c0 in prepared:
        c = m["ecg.context"].LeadContext.of(c0.signal_mv, c0.fs_hz)
        for key in ("wide_mv", "qrs_envelope", "r_peaks"):
            c.provide(key, getattr(c0, key))
        out.append(c)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree_a")
    ap.add_argument("tree_b")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--records", type=int, default=20)
    ap.add_argument("--passes", type=int, default=40)
    args = ap.parse_args()
    trees = {"A": load_tree(args.tree_a), "B": load_tree(args.tree_b)}
    records = []
    for f in sorted(glob.glob(os.path.join(args.data, "cinc2017", "A*.hea"))):
        r = trees["A"]["ecg.io"].read_record(f[:-4])
        if r.n_samples == int(30 * r.fs_hz):
            records.append(r)
        if len(records) == args.records:
            break
    prepared = {}
    for t, m in trees.items():
        prepared[t] = [m["ecg.context"].LeadContext.of(np.ascontiguousarray(r.signals_mv[:, 0]), r.fs_hz)
                       for r in records]
        for c in prepared[t]:
            _ = c.r_peaks  # the views and R peaks, once
    steps = {t: steps_of(m) for t, m in trees.items()}
    best = {(s, t): float("inf") for s in STEPS for t in trees}
    for p in range(args.passes):
        for s in STEPS:
            for t in ("A", "B") if p % 2 == 0 else ("B", "A"):
                contexts = fresh(trees[t], prepared[t])
                start = time.thread_time()
                steps[t][s](contexts)
                best[(s, t)] = min(best[(s, t)], time.thread_time() - start)
    n = len(records)
    total = {"A": 0.0, "B": 0.0}
    print(f"A = {args.tree_a}, B = {args.tree_b}, {n} records, best of {args.passes} passes, "
          f"load {os.getloadavg()[0]:.1f} (µs per record, thread CPU)")
    for s in STEPS:
        a, b = best[(s, "A")] / n * 1e6, best[(s, "B")] / n * 1e6
        total["A"] += a
        total["B"] += b
        print(f"  {s:9s} {a:7.0f} -> {b:7.0f}  ({b - a:+.0f})")
    print(f"  {'sum':9s} {total['A']:7.0f} -> {total['B']:7.0f}  ({total['B'] - total['A']:+.0f})")


if __name__ == "__main__":
    main()
