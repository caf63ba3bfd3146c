"""CPU cost of the atrial-activity features (:mod:`ecg.atrial`) per 30 s CinC 2017 record.

For each of the first ``--records`` CinC records of 30 s whose context is readable (the only
ones screening hands to the model), the context's view and R peaks are computed once, then
:func:`ecg.atrial.context_features` is timed ``--repeats`` times (CPU time of this process, the
fastest run counts: load from other processes only adds). Printed: median, 90th percentile and
maximum over records, in µs, beside the R-peak detector on the same records measured the same
way (a peer on the same path, so the load of the moment shows in both).

Usage::

    .venv/bin/python benchmarks/atrial_cost.py --data ../shared/data --records 200 --repeats 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ecg.atrial import context_features
from ecg.beats import detect_r_peaks
from ecg.context import LeadContext
from training.data import CINC_FS_HZ, default_data_dir, read_cinc_mv, read_labels


def _fastest_us(run: object, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        run()  # type: ignore[operator]
        best = min(best, time.process_time() - t0)
    return best * 1e6


def measure(data_dir: Path, n_records: int, repeats: int) -> dict[str, object]:
    """``{"atrial_us": {...}, "r_peaks_us": {...}, "n": ...}`` over the readable 30-s records."""
    cinc = Path(data_dir) / "cinc2017"
    atrial, peaks = [], []
    for name in sorted(read_labels(cinc)):
        x = read_cinc_mv(cinc, name)
        if x.size != int(30 * CINC_FS_HZ):
            continue
        ctx = LeadContext.of(x, CINC_FS_HZ)
        if not ctx.quality.readable:
            continue
        wide, env = ctx.wide_mv, ctx.qrs_envelope
        atrial.append(_fastest_us(lambda: context_features(ctx), repeats))
        peaks.append(_fastest_us(lambda: detect_r_peaks(ctx.signal_mv, CINC_FS_HZ, wide_mv=wide, envelope=env),
                                 max(3, repeats // 4)))
        if len(atrial) == n_records:
            break

    def stats(v: list[float]) -> dict[str, float]:
        a = np.array(v)
        return {"median": round(float(np.median(a)), 1), "p90": round(float(np.percentile(a, 90)), 1),
                "max": round(float(a.max()), 1)}

    return {"n": len(atrial), "atrial_us": stats(atrial), "r_peaks_us": stats(peaks)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--records", type=int, default=200)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    out = measure(args.data, args.records, args.repeats)
    print(json.dumps(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
