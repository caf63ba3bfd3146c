"""Which intervals each delineator reports on hand-held CinC 2017 records, by rhythm label.

A medical number must be measured well or be absent with a reason: on the records labelled
too noisy to classify (``~``) no interval should appear, on atrial fibrillation (``A``) no
PR. For the first ``--limit`` records (sorted names; lead I, 30 s, 300 Hz) every delineator
asked for runs through the run-time path (``ecg.delineate.measure(..., delineator=...)``)
and the records with a PR, QRS and QT are counted per label.

Usage::

    nice -n 10 .venv/bin/python benchmarks/delineation_cinc_nulls.py [--data ../shared/data] [--limit 400]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LABELS = ("N", "A", "O", "~")
INTERVALS = ("pr_ms", "qrs_ms", "qt_ms")


def delineators() -> dict[str, object]:
    """The delineators compared: the rule delineator and the learned one."""
    from ecg.delineation.learned import delineate_learned
    from ecg.delineation.lead import delineate_context

    return {"rules": delineate_context, "learned": delineate_learned}


def count(data: Path, limit: int) -> tuple[Counter, list[str]]:
    """Per (label, delineator, interval) the records where it was reported; also the
    ``~`` records given any interval (``name:delineator``)."""
    from ecg.delineate import measure
    from ecg.io import read_record

    base = data / "cinc2017"
    with (base / "REFERENCE.csv").open(newline="") as fh:
        label = {row[0]: row[1] for row in csv.reader(fh)}
    tally: Counter = Counter()
    noisy_with_numbers: list[str] = []
    for name in sorted(label)[:limit]:
        rec = read_record(base / name)
        x = rec.signals_mv[:, 0]
        tally[(label[name], "records")] += 1
        for tag, d in delineators().items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = measure(x, rec.fs_hz, delineator=d)  # type: ignore[arg-type]
            got = {k for k in INTERVALS if getattr(m, k) is not None}
            for k in got:
                tally[(label[name], tag, k)] += 1
            if label[name] == "~" and got:
                noisy_with_numbers.append(f"{name}:{tag}:{','.join(sorted(got))}")
    return tally, noisy_with_numbers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get("CARDIOLINK_DATA", str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=Path(default))
    ap.add_argument("--limit", type=int, default=400)
    args = ap.parse_args(argv)
    if not (args.data / "cinc2017" / "REFERENCE.csv").is_file():
        print(f"CinC 2017 not found under {args.data}", file=sys.stderr)
        return 2
    tally, noisy = count(args.data, args.limit)
    print("| label | records | " + " | ".join(f"{t} PR / QRS / QT" for t in delineators()) + " |")
    print("|---|---|" + "---|" * len(delineators()))
    for lab in LABELS:
        cells = [" / ".join(str(tally[(lab, t, k)]) for k in INTERVALS) for t in delineators()]
        print(f"| {lab} | {tally[(lab, 'records')]} | " + " | ".join(cells) + " |")
    print("noisy (~) records given an interval:", ", ".join(noisy) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
