"""CPU time of the rhythm model's invoke per 30 s record: alone, and in batches of several records.

Usage (from the repository root; ``OLD`` an exported older tree, e.g. ``git archive <commit>``)::

    nice -n 10 .venv/bin/python benchmarks/rhythm_invoke_cost.py --data ../shared/data --compare OLD

Each measurement runs in a child process that imports ``ecg`` from one tree: the windows and RR
features of the first ``--records`` 30 s validation records are prepared once (not timed); then
``RhythmModel.predict_windows`` per record (one call = one record's invoke(s), dequantisation and
averaging) and, where the tree has it, ``predict_windows_many`` over groups of ``--batch``
records, timed with ``time.process_time`` — the fastest of ``--repeats`` runs per record or group
(the least disturbed by other processes), per record. ``--compare`` alternates the old tree and
this one for ``--rounds`` rounds, so that both see the same machine load; the medians over
records are printed per round, with a 95 % bootstrap CI of the median over records.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parent.parent


def _records(data: Path, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Windows and raw RR features of the first ``n`` 30 s validation records (tree on sys.path)."""
    from ecg import beats
    from ecg.model import load_model
    from ecg.rr_features import rr_features
    from training.data import CINC_FS_HZ, read_cinc_mv, read_labels, split_records

    cinc = data / "cinc2017"
    validation, _ = split_records(read_labels(cinc))
    model, wins, feats = load_model(), [], []
    for name in validation:
        x = read_cinc_mv(cinc, name)
        if x.size != int(30 * CINC_FS_HZ):
            continue
        wins.append(model.windows(x, CINC_FS_HZ))
        feats.append(rr_features(beats.detect_r_peaks(x, CINC_FS_HZ), CINC_FS_HZ, duration_s=30.0))
        if len(wins) == n:
            break
    return wins, feats


def _fastest_ms(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        runs.append((time.process_time() - t0) * 1000.0)
    return min(runs)


def measure(data: Path, n: int, batch: int, repeats: int) -> dict[str, list[float]]:
    """Per-record CPU ms of this process's tree: ``single`` and (if available) ``batch``."""
    from ecg.model import load_model

    model = load_model()
    wins, feats = _records(data, n)
    out: dict[str, list[float]] = {"single": [_fastest_ms(lambda w=w, f=f: model.predict_windows(w, f), repeats)
                                              for w, f in zip(wins, feats)]}
    if hasattr(model, "predict_windows_many"):
        out["batch"] = []
        for s in range(0, len(wins) - batch + 1, batch):
            w, f = wins[s : s + batch], feats[s : s + batch]
            ms = _fastest_ms(lambda w=w, f=f: model.predict_windows_many(w, f), repeats)
            out["batch"] += [ms / batch] * batch
    return out


def _median_ci(v: list[float], seed: int = 0) -> str:
    a = np.asarray(v)
    rng = np.random.default_rng(seed)
    boot = [np.median(rng.choice(a, a.size)) for _ in range(1000)]
    return f"{np.median(a):.3f} ms [{np.percentile(boot, 2.5):.3f}, {np.percentile(boot, 97.5):.3f}]"


def _child(tree: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    cmd = [sys.executable, __file__, "--child", str(tree), "--data", str(args.data), "--records", str(args.records),
           "--batch", str(args.batch), "--repeats", str(args.repeats)]
    env = {"PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=_REPO.parent / "shared" / "data")
    p.add_argument("--compare", type=Path, default=None, help="an older tree measured alternately with this one")
    p.add_argument("--records", type=int, default=40)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        sys.path.insert(0, str(args.child))
        print(json.dumps(measure(args.data, args.records, args.batch, args.repeats)))
        return 0
    trees = ([("old", args.compare)] if args.compare else []) + [("this", _REPO)]
    for rnd in range(args.rounds):
        for label, tree in trees:
            got = _child(tree, args)
            print(f"round {rnd} {label} ({tree}): " + "; ".join(
                f"{k} {_median_ci(v)} per record (n={len(v)})" for k, v in got.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
