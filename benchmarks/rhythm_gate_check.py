"""Are the quality gate's cached verdicts unchanged by a cost-only change to the gate's code?

``training.data.load_readable`` caches one readable/unreadable verdict per CinC record, keyed on
the code of :data:`training.data.GATE_SOURCES`; a commit touching those files (e.g. a cost-only
cut in ``ecg/quality.py``) drops the cache and the rule tuner recomputes it. Keep a copy of the
old cache first, then run this after the change: it rebuilds the verdicts of every labelled
record with the current code and lists the records whose verdict differs from the copy.

Usage (runtime venv; from the repository root)::

    cp training/runs/cache/readable.npz training/runs/readable_before.npz   # before rebasing
    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/rhythm_gate_check.py training/runs/readable_before.npz \\
        --data ../shared/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from training.data import default_data_dir, load_readable


def compare(kept: dict[str, bool], now: dict[str, bool]) -> list[str]:
    """Records present in both whose verdict differs (sorted)."""
    return sorted(n for n in set(kept) & set(now) if kept[n] != now[n])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kept", type=Path, help="copy of an earlier training/runs/cache/readable.npz")
    p.add_argument("--data", type=Path, default=default_data_dir())
    args = p.parse_args(argv)
    z = np.load(args.kept)
    kept = dict(zip((str(n) for n in z["names"]), z["readable"].astype(bool).tolist()))
    now = load_readable(args.data)  # every labelled record, current code (cached again)
    diff = compare(kept, now)
    print(f"gate verdicts: {len(now)} now, {len(kept)} kept, {len(set(kept) & set(now))} in both, "
          f"{len(diff)} differ: {diff[:20]}")
    print(f"readable now {sum(now.values())}, unreadable {len(now) - sum(now.values())}")
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main())
