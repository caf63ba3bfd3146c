"""The rhythm model's side of one cloud request: exclusive CPU and calls per step.

For the first ``--records`` CinC 2017 records of 30 s, as one-lead API requests through
``cloud.pipeline.analyse``: the steps "rhythm model input", "rhythm model invoke" and
"screening rest" of ``benchmarks/analysis_cost.py`` (its :func:`step_table`, exclusive CPU ms
per record, mean over records and ``--repeats`` after a warm-up), and the Python-level and
C-level calls each step makes per request (``sys.setprofile``, one pass after the warm-up;
the numpy operators ``a + b`` etc. are invisible to it). Run it in each tree (e.g. an old
commit exported with ``git archive``), alternating trees so the load hits both alike::

    cd /tmp/old && PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/rhythm_side_cost.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WANT = ("rhythm model input", "rhythm model invoke", "screening")


def _requests(data: Path, n: int) -> list[Any]:
    import analysis_cost as ac  # type: ignore[import-not-found]

    from cloud.validation import parse_request

    recs = ac.first_records(sorted((data / "cinc2017").glob("A*.hea")),
                            lambda r: r.signals_mv.shape[1] == 1 and r.n_samples == int(30 * r.fs_hz), n)
    return [parse_request(ac._payload(r)) for r in recs]


def call_counts(requests: list[Any]) -> dict[tuple[str, str], float]:
    """Calls per request of each step: ``{(label, "call" | "c_call"): count}``."""
    import analysis_cost as ac  # type: ignore[import-not-found]

    from cloud.pipeline import PipelineSettings, analyse

    stack: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    undo = []

    def wrap(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def inside(*args: Any, **kwargs: Any) -> Any:
            stack.append(label)
            try:
                return fn(*args, **kwargs)
            finally:
                stack.pop()
        return inside

    for where, name, label in ac.STEPS:
        module, _, cls = where.partition(":")
        owner = getattr(importlib.import_module(module), cls) if cls else importlib.import_module(module)
        if hasattr(owner, name):
            undo.append((owner, name, getattr(owner, name)))
            setattr(owner, name, wrap(getattr(owner, name), label))

    def profile(frame: Any, event: str, arg: Any) -> None:
        if stack and event in ("call", "c_call"):
            counts[(stack[-1], event)] = counts.get((stack[-1], event), 0) + 1

    settings = PipelineSettings()
    for r in requests:
        analyse(r, settings)
    sys.setprofile(profile)
    try:
        for r in requests:
            analyse(r, settings)
    finally:
        sys.setprofile(None)
        for owner, name, fn in reversed(undo):
            setattr(owner, name, fn)
    return {k: v / len(requests) for k, v in counts.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared/data")))
    ap.add_argument("--records", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import analysis_cost as ac  # type: ignore[import-not-found]

    requests = _requests(args.data, args.records)
    print(f"{REPO}: {len(requests)} requests, load {os.getloadavg()[0]:.1f}")
    for label, ms in ac.step_table(requests, args.repeats).items():
        if label.startswith(WANT):
            print(f"{ms:7.3f} ms   {label}")
    for (label, event), n in sorted(call_counts(requests).items()):
        if label.startswith(WANT):
            print(f"{n:7.1f} {event:6s} {label}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
