"""Instructions per cloud analysis (callgrind): a cost measure that does not move with the load.

CPU time on the shared 2-core machine moves by tenths of a millisecond per one-lead request between runs
of the same code (other engineers' jobs, training); a cut of a few tens of microseconds
cannot be resolved by it. The number of instructions executed (valgrind's callgrind, event
``Ir``) is repeatable to a few thousandths of a percent whatever else runs, so it confirms
such a cut and says which compiled code the time goes to. It is not time: a recursive filter runs
fewer instructions per nanosecond than a vector loop, so report both.

Each tree (e.g. commits exported with ``git archive``) runs in its own process under
callgrind, from its own directory, with ``PYTHONHASHSEED=0``: the first 20 one-lead CinC
2017 records of 30 s and the first 10 twelve-lead LUDB records of 10 s as API requests
(``benchmarks/analysis_cost.py``'s records and payloads), through
``cloud.pipeline.analyse``, twice to warm up; then every request once more, each preceded
by ``os.getppid()``, on which callgrind dumps its counters (``--dump-before=getppid``), so
each dump holds exactly one request. Reported per tree: instructions per request (median
and range over records) and, for the one-lead requests, the share of each shared object
(numpy, libpython, scipy's filters, the TFLite runtime, ...); with two trees, the paired
difference B − A per record (mean, range, and in % of A).

Usage::

    nice -n 10 .venv/bin/python benchmarks/analysis_instructions.py TREE_A [TREE_B] --data ../shared/data

It takes about 3–6 minutes per tree (valgrind runs the interpreter ≈ 50× slower).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

N_ONE, N_TWELVE = 20, 10


def _child(data: Path) -> None:
    """Run inside the tree under callgrind: warm up, then one marked request after another."""
    sys.path.insert(0, os.getcwd())
    sys.path.insert(0, os.getcwd() + "/benchmarks")
    import warnings

    warnings.simplefilter("ignore")
    from analysis_cost import _payload, _records  # type: ignore[import-not-found]

    from cloud.pipeline import PipelineSettings, analyse
    from cloud.validation import parse_request
    from ecg.model import load_model

    one = _records(data, "cinc2017", "A*.hea", lambda r: r.n_samples == int(30 * r.fs_hz), N_ONE, "cinc2017")
    twelve = _records(data, "ludb/data", "*.hea", lambda r: r.signals_mv.shape[1] == 12, N_TWELVE, "ludb")
    load_model()
    settings = PipelineSettings()
    requests = [parse_request(_payload(r)) for r in one + twelve]
    print(f"records {len(one)} {len(twelve)}", flush=True)
    for _ in range(2):
        for request in requests:
            analyse(request, settings)
    for request in requests:
        os.getppid()  # callgrind dumps here: the next dump holds this request alone
        analyse(request, settings)
    os.getppid()
    sys.stdout.flush()
    os._exit(0)


def _self_costs(path: Path) -> dict[str, int]:
    """Exclusive instructions per shared object of one callgrind dump (``--compress-strings=no``)."""
    out: collections.Counter[str] = collections.Counter()
    obj, skip = "?", False
    with path.open(errors="replace") as f:
        for line in f:
            if line.startswith("ob="):
                obj = Path(line[3:].strip()).name or "?"
            elif line.startswith("calls="):
                skip = True  # the next cost line is a call's inclusive cost
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip:
                    skip = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    out[obj] += int(parts[1])
    return dict(out)


def _total(path: Path) -> int:
    with path.open(errors="replace") as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise ValueError(f"no totals in {path}")


def measure_tree(tree: Path, data: Path, work: Path) -> tuple[list[int], list[int], dict[str, int]]:
    """Instructions of each one-lead and each 12-lead request in ``tree``, and the one-lead
    requests' instructions per shared object (summed)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed")
    out = work / "cg"
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [valgrind, "--tool=callgrind", "--dump-before=getppid", "--compress-strings=no", "--compress-pos=no",
           f"--callgrind-out-file={out}.%p", sys.executable, str(Path(__file__).resolve()), "--child",
           "--data", str(data)]
    run = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    counts = [line.split()[1:] for line in run.stdout.splitlines() if line.startswith("records ")]
    if not counts:
        raise SystemExit(f"the run in {tree} failed:\n{run.stdout}\n{run.stderr[-3000:]}")
    n_one, n_twelve = (int(v) for v in counts[0])
    dumps = sorted(work.glob("cg.*.*"), key=lambda p: int(p.suffix[1:]))
    # dump 1: start-up and warm-up (ends at the first marker); dump k + 1: request k
    per_request = dumps[1 : 1 + n_one + n_twelve]
    totals = [_total(p) for p in per_request]
    objects: collections.Counter[str] = collections.Counter()
    for p in per_request[:n_one]:
        objects.update(_self_costs(p))
    return totals[:n_one], totals[n_one:], dict(objects)


def _line(label: str, values: list[int]) -> str:
    s = sorted(values)
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    return f"{label}: median {med / 1e6:.3f} M instructions per request (range {s[0] / 1e6:.3f}–{s[-1] / 1e6:.3f})"


def _paired(label: str, a: list[int], b: list[int]) -> str:
    d = [y - x for x, y in zip(a, b, strict=True)]
    rel = [100.0 * (y - x) / x for x, y in zip(a, b, strict=True)]
    return (f"{label}: B − A mean {sum(d) / len(d) / 1e3:+.1f} k instructions per request "
            f"({sum(rel) / len(rel):+.2f} %; per record {min(d) / 1e3:+.1f} … {max(d) / 1e3:+.1f} k)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("trees", nargs="*", type=Path)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", "../shared/data")).resolve())
    ap.add_argument("--objects", type=int, default=8, help="shared objects listed per tree (one-lead requests)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.data)
        return 0
    if len(args.trees) not in (1, 2):
        ap.error("give one tree, or two to compare")
    results = []
    for tree in (t.resolve() for t in args.trees):
        with tempfile.TemporaryDirectory() as work:
            one, twelve, objects = measure_tree(tree, args.data, Path(work))
        results.append((one, twelve))
        print(f"{tree}:")
        print("  " + _line("one lead 30 s", one))
        print("  " + _line("12 leads 10 s", twelve))
        total = sum(objects.values())
        shares = ", ".join(f"{name} {100.0 * v / total:.1f} %" for name, v in
                           sorted(objects.items(), key=lambda kv: -kv[1])[: args.objects])
        print(f"  one lead, by shared object: {shares}")
    if len(results) == 2:
        (a1, a12), (b1, b12) = results
        print(_paired("one lead 30 s", a1, b1))
        print(_paired("12 leads 10 s", a12, b12))
    return 0


if __name__ == "__main__":
    sys.exit(main())
