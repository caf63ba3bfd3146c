"""Paired A/B of the cloud analysis's CPU time between two source trees, under the same load.

Two worker processes (one per tree, e.g. an old commit exported with ``git worktree add``)
are timed alternately, record by record in a shuffled order with the first of each pair
drawn at random, so both see the same machine load; each call is the best of 3 CPU times
(``time.process_time``). Per record the median over rounds; reported: each tree's median
over records with a 95 % bootstrap interval (records resampled) and the paired mean
difference B − A with its 95 % bootstrap interval. Run it twice with the trees swapped: a
worker's position can favour it by up to ~1 ms on a loaded machine, and the mean of the two
runs cancels that.

Usage::

    nice -n 10 .venv/bin/python benchmarks/analysis_ab.py TREE_A TREE_B [--rounds 6] [--what cloud|delineate]

``--portable`` builds every request in both workers with ``benchmarks/ab_payloads.py`` of this
checkout (wfdb only, no project import), so a tree older than ``analysis_cost.py``'s helpers — e.g.
the code at the time issue 10 was filed, a94ac09 — can be timed against main on the same requests.

``--what delineate`` times the rule delineator (all leads in one pass) and the quality of the
first three leads on prepared contexts instead of the whole ``cloud.pipeline.analyse``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

N_ONE, N_TWELVE = 20, 10


def _worker(what: str, data: Path, portable: bool = False) -> None:
    """Serve ``"<record index> <repeats>"`` lines with the best CPU ms of that many runs."""
    sys.path.insert(0, os.getcwd())
    sys.path.insert(0, os.getcwd() + "/benchmarks")
    import warnings

    warnings.simplefilter("ignore")
    import importlib

    if portable:
        sys.path.append(str(Path(__file__).resolve().parent))  # after the tree: only ab_payloads comes from here
    payloads: Any = importlib.import_module("ab_payloads" if portable else "analysis_cost")
    _payload, _records = payloads._payload, payloads._records

    from cloud.pipeline import PipelineSettings, analyse
    from cloud.validation import parse_request
    from ecg.model import load_model

    one = _records(data, "cinc2017", "A*.hea", lambda r: r.n_samples == int(30 * r.fs_hz), N_ONE, "cinc2017")
    twelve = _records(data, "ludb/data", "*.hea", lambda r: r.signals_mv.shape[1] == 12, N_TWELVE, "ludb")
    load_model()
    settings = PipelineSettings()
    requests = [parse_request(_payload(r)) for r in one + twelve]
    run: Callable[[int], Any] = lambda i: analyse(requests[i], settings)  # noqa: E731
    if what == "delineate":
        from ecg.context import contexts_of, share_views
        from ecg.delineation.batch import delineate_many
        from ecg.quality import assess_many

        groups = [contexts_of(r.signals_mv[:, :1], r.fs_hz) for r in one] + [
            contexts_of(r.signals_mv, r.fs_hz) for r in twelve]
        for g in groups:
            share_views(g)
            for c in g:
                _ = (c.views, c.r_peaks)  # computed once, outside the timing
        run = lambda i: (delineate_many(groups[i]), assess_many(groups[i][:3]))  # noqa: E731
    for i in range(len(requests)):
        run(i)
    print("ready", flush=True)
    for line in sys.stdin:
        i, repeats = map(int, line.split())
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            run(i)
            best = min(best, time.process_time() - start)
        print(f"{best * 1000.0:.4f}", flush=True)


def _spawn(tree: Path, what: str, data: Path, portable: bool = False) -> subprocess.Popen[str]:
    extra = ["--portable"] if portable else []
    p = subprocess.Popen([sys.executable, __file__, "--worker", "--what", what, "--data", str(data), *extra], cwd=tree,
                         env={**os.environ, "PYTHONPATH": str(tree)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def _summary(a: np.ndarray, b: np.ndarray) -> str:
    draws = np.random.default_rng(0).integers(0, a.size, size=(4000, a.size))
    ca = np.percentile(np.median(a[draws], axis=1), [2.5, 97.5])
    cb = np.percentile(np.median(b[draws], axis=1), [2.5, 97.5])
    d = b - a
    cd = np.percentile(d[draws].mean(axis=1), [2.5, 97.5])
    return (f"A {np.median(a):.2f} [{ca[0]:.2f}, {ca[1]:.2f}]  B {np.median(b):.2f} [{cb[0]:.2f}, {cb[1]:.2f}]  "
            f"paired mean B − A {d.mean():+.2f} ms [{cd[0]:+.2f}, {cd[1]:+.2f}]")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("trees", nargs="*", type=Path)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--what", choices=("cloud", "delineate"), default="cloud")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", "../shared/data")).resolve())
    ap.add_argument("--portable", action="store_true",
                    help="build the requests with benchmarks/ab_payloads.py (wfdb only) in both workers")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker(args.what, args.data, args.portable)
        return 0
    tree_a, tree_b = (t.resolve() for t in args.trees)
    workers = {k: _spawn(t, args.what, args.data, args.portable) for k, t in (("a", tree_a), ("b", tree_b))}
    n = N_ONE + N_TWELVE
    times: dict[str, list[list[float]]] = {k: [[] for _ in range(n)] for k in workers}
    rng = random.Random(0)
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        order = list(range(n))
        rng.shuffle(order)
        for i in order:
            for who in (("a", "b") if rng.random() < 0.5 else ("b", "a")):
                p = workers[who]
                assert p.stdin is not None and p.stdout is not None
                p.stdin.write(f"{i} 3\n")
                p.stdin.flush()
                times[who][i].append(float(p.stdout.readline()))
    for p in workers.values():
        assert p.stdin is not None
        p.stdin.close()
        p.wait()
    med = {k: np.array([statistics.median(t) for t in v]) for k, v in times.items()}
    print(f"A = {tree_a}, B = {tree_b}, --what {args.what}, {args.rounds} rounds, load {load:.1f} → "
          f"{os.getloadavg()[0]:.1f}")
    print("one lead 30 s  :", _summary(med["a"][:N_ONE], med["b"][:N_ONE]))
    print("12 leads 10 s  :", _summary(med["a"][N_ONE:], med["b"][N_ONE:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
