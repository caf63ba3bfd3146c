"""Batched cloud analysis (issue 10, lever B): same answers, CPU per record.

:func:`cloud.pipeline.analyse_many` analyses several requests in one call; same-shaped
one-lead requests share the 0.5–40 Hz view, quality and delineation passes over their
rows. This script

1. checks, on CinC 2017 records, that every answer of ``analyse_many`` in batches of k is
   byte-equal (all fields but ``processingMs``) to :func:`cloud.pipeline.analyse` on the
   request alone: the first ``--records`` 30-s records (one group per batch), and the
   first ``--records`` records of any length in batch order (groups of mixed shapes,
   most of them alone);
2. measures the CPU (``time.process_time``) per record of the whole analysis, alone and in
   batches of k of the 30-s records (record *i* and the k − 1 after it), interleaved batch
   by batch: median over batches with a 95 % bootstrap interval
   (:func:`benchmarks.analysis_cost.median_ci95`).

Usage::

    nice -n 10 .venv/bin/python benchmarks/analysis_batched.py [--data ../shared/data] [--records 40]
        [--k 4 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.analysis_cost import _payload, _records, batch_ms, cpu_ms, median_ci95  # noqa: E402
from cloud.pipeline import Outcome, PipelineSettings, analyse, analyse_many, outcome_of  # noqa: E402
from cloud.validation import AnalysisRequest, parse_request  # noqa: E402

SETTINGS = PipelineSettings()


def comparable(outcome: Outcome) -> str:
    """An outcome as bytes: the answer without ``processingMs``, or the error."""
    if outcome.body is not None:
        return json.dumps({k: v for k, v in outcome.body.items() if k != "processingMs"}, sort_keys=True)
    if outcome.unanalysable is not None:
        return f"unanalysable: {outcome.unanalysable.detail}"
    return f"failure: {outcome.failure}"


def count_equal(requests: list[AnalysisRequest], k: int) -> tuple[int, list[str]]:
    """How many answers of ``analyse_many`` in consecutive batches of *k* equal the answer
    alone, and the record ids of those that do not."""
    alone = [comparable(outcome_of(analyse, r, SETTINGS)) for r in requests]
    together: list[str] = []
    for i in range(0, len(requests), k):
        together += [comparable(o) for o in analyse_many(requests[i : i + k], SETTINGS)]
    differ = [r.record_id for r, a, b in zip(requests, alone, together, strict=True) if a != b]
    return len(requests) - len(differ), differ


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", "../shared/data")))
    ap.add_argument("--records", type=int, default=40)
    ap.add_argument("--k", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    thirty = _records(args.data, "cinc2017", "A*.hea", lambda r: r.n_samples == int(30 * r.fs_hz), args.records,
                      "cinc2017")
    mixed = _records(args.data, "cinc2017", "A*.hea", lambda r: True, args.records, "cinc2017")
    sets = {"30 s": [parse_request(_payload(r)) for r in thirty],
            "any length": [parse_request(_payload(r)) for r in mixed]}
    print(f"load {os.getloadavg()[0]:.1f}; CinC 2017 from {args.data}")
    failed = False
    for name, requests in sets.items():
        for k in args.k:
            equal, differ = count_equal(requests, k)
            failed |= bool(differ)
            print(f"{name}, batches of {k}: {equal}/{len(requests)} answers byte-equal to the request alone"
                  + (f"; differ: {differ}" if differ else ""))
    requests = sets["30 s"]
    rows: dict[str, list[float]] = {"alone": [], **{f"k{k}": [] for k in args.k}}
    for i, request in enumerate(requests):
        rows["alone"].append(cpu_ms(lambda: analyse(request, SETTINGS), args.repeats))
        for k in args.k:
            rows[f"k{k}"].append(batch_ms(requests, i, k, args.repeats))
    print(f"CPU ms per record, whole cloud analysis, {len(requests)} records of 30 s (median [95 % CI]); "
          f"load {os.getloadavg()[0]:.1f}")
    for key, values in rows.items():
        lo, hi = median_ci95(values)
        label = "alone (analyse)" if key == "alone" else f"in batches of {key[1:]} (analyse_many)"
        print(f"  {label}: {statistics.median(values):.2f} [{lo:.2f}, {hi:.2f}]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
