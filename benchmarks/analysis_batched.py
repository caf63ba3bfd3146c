"""What analysing several same-shaped one-lead recordings together would save (issue 10, lever B).

The rule delineator, its views and the quality measures already run once over the rows of
one array for the leads of a 12-lead record; rows can as well be different recordings of
the same rate and length (devices send 30 s at a fixed rate). This script measures, on
CinC 2017 records of 30 s at 300 Hz, the CPU of the views + delineation + quality per
record when ``k`` recordings share one pass (``ecg.context.share_quality`` +
``share_lead_waves``) against one by one, after checking that every record gets the same
boundaries, reasons and quality either way. R peaks, the model and the rest of the analysis
are per record in both and not timed. Nothing in the cloud batches requests yet: the worker
would have to claim several queued jobs at once.

Usage::

    nice -n 10 .venv/bin/python benchmarks/analysis_batched.py [--data ../shared/data] [--records 40] [--k 4 8 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.analysis_cost import _records  # noqa: E402
from ecg.context import LeadContext, share_lead_waves, share_quality  # noqa: E402
from ecg.io import Record  # noqa: E402


def _contexts(records: list[Record]) -> list[LeadContext]:
    out = [LeadContext.of(r.signals_mv[:, 0], r.fs_hz) for r in records]
    for c in out:
        c.r_peaks  # noqa: B018 - per record in both ways: not timed
    return out


def _run(contexts: list[LeadContext], k: int) -> None:
    for i in range(0, len(contexts), k):
        group = contexts[i : i + k]
        if k > 1:
            share_quality(group)
            share_lead_waves(group)
        for c in group:
            _ = (c.quality, c.lead_waves)


def _same(a: list[LeadContext], b: list[LeadContext]) -> bool:
    return all(x.quality == y.quality and x.lead_waves.reasons == y.lead_waves.reasons
               and all(np.array_equal(v, y.lead_waves.waves[key]) for key, v in x.lead_waves.waves.items())
               for x, y in zip(a, b, strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", "../shared/data")))
    ap.add_argument("--records", type=int, default=40)
    ap.add_argument("--k", type=int, nargs="+", default=[4, 8, 20])
    args = ap.parse_args(argv)
    records = _records(args.data, "cinc2017", "A*.hea", lambda r: r.n_samples == int(30 * r.fs_hz), args.records,
                       "cinc2017")
    alone = _contexts(records)
    _run(alone, 1)
    for k in args.k:
        together = _contexts(records)
        _run(together, k)
        print(f"k = {k}: boundaries, reasons and quality equal to one by one: {_same(alone, together)}")
    print(f"{len(records)} records of 30 s, load {os.getloadavg()[0]:.1f}")
    for k in [1, *args.k]:
        best = []
        for _ in range(3):
            contexts = _contexts(records)
            start = time.process_time()
            _run(contexts, k)
            best.append((time.process_time() - start) * 1000.0 / len(records))
        print(f"k = {k:2d}: views + delineation + quality {min(best):.2f} ms CPU per record (best of 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
