"""How often does ``ecg.quality.assess`` call CinC 2017 records unreadable, per label?

A random sample per label (seeded) of the development records in ``../shared/data/cinc2017``;
prints the unreadable fraction and the reasons. Readable N/A/O records should almost never be
refused; the noisy class (~) should often be.

Usage::

    nice -n 10 .venv/bin/python benchmarks/quality_cinc2017.py [--data DIR] [--per-label 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ecg.io import read_record  # noqa: E402
from ecg.quality import assess  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")) / "cinc2017"
    ap.add_argument("--data", type=Path, default=default)
    ap.add_argument("--per-label", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    ref = args.data / "REFERENCE.csv"
    if not ref.is_file():
        print(f"CinC 2017 data not found at {args.data} (give --data or set CARDIOLINK_DATA)", file=sys.stderr)
        return 2
    by_label: dict[str, list[str]] = collections.defaultdict(list)
    with ref.open(newline="") as fh:
        for name, label in csv.reader(fh):
            by_label[label].append(name)
    rng = np.random.default_rng(args.seed)
    print(f"{'label':>5} {'n':>5} {'unreadable':>10}  reasons")
    for label in ("N", "A", "O", "~"):
        names = by_label.get(label, [])
        pick = rng.choice(names, min(args.per_label, len(names)), replace=False)
        reasons: collections.Counter[str] = collections.Counter()
        bad = 0
        for name in pick:
            rec = read_record(args.data / str(name))
            q = assess(rec.lead(0), rec.fs_hz)
            bad += not q.readable
            reasons.update(q.reasons)
        print(f"{label:>5} {len(pick):>5} {bad / max(1, len(pick)):>10.1%}  {dict(reasons.most_common())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
