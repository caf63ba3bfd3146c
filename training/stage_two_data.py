"""Per-record inputs of the rhythm model's second stage, computed by the screening path itself.

For every CinC 2017 record (training and validation split alike; which records a fit may use
is decided by the caller) one :class:`ecg.context.LeadContext` is built exactly as
:func:`ecg.screening.screen` builds it, and the numbers the context already holds are kept:
the quality gate's verdict and numbers (:class:`ecg.quality.Quality`), the raw RR features of
its R peaks (:func:`ecg.rr_features.rr_features`), the atrial-activity features of its view
and R peaks (:func:`ecg.atrial.context_features`) and — for the experiment only, since the
screening path does not delineate — the P-wave share and PR spread of the rule delineator
(``ctx.lead_waves``), with the CPU time each step took.

Cached in ``training/runs/cache/stage_two-<key>.npz``, keyed on the ``ecg/`` sources, so a
change to R peaks, quality or delineation recomputes them (about 3 minutes of CPU for 7,249
records).

Usage::

    .venv/bin/python -m training.stage_two_data --data ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from ecg.atrial import ABSENT, context_features
from ecg.context import LeadContext
from ecg.delineation.lead import MISSING
from ecg.errors import EcgError
from ecg.rr_features import rr_features
from ecg.stage_two import QUALITY_NUMBERS, quality_numbers
from training.data import CACHE_DIR, CINC_FS_HZ, default_data_dir, read_cinc_mv, read_labels

__all__ = ["P_NUMBERS", "record_inputs", "load_inputs", "main"]

log = logging.getLogger("training.stage_two_data")
_REPO = Path(__file__).resolve().parent.parent
#: P-wave numbers of the experiment: share of beats with a P wave, robust spread of PR (ms)
P_NUMBERS = ("p_share", "pr_spread_ms")


def _p_numbers(ctx: LeadContext) -> np.ndarray:
    waves = ctx.lead_waves.waves
    p_on, r = waves["p_on"], waves["r_peak"]
    n = max(int(r.size), 1)
    has = p_on != MISSING
    share = float(np.count_nonzero(has)) / n
    pr_ms = (r[has] - p_on[has]) * 1000.0 / ctx.fs_hz
    spread = float(np.subtract(*np.percentile(pr_ms, [75, 25]))) if pr_ms.size >= 3 else 200.0
    return np.array([share, spread])


def record_inputs(sig_mv: np.ndarray, fs_hz: float) -> dict[str, object]:
    """The context's numbers for one record (see the module doc) and the CPU ms per step."""
    t0 = time.process_time()
    ctx = LeadContext.of(sig_mv, fs_hz)
    q = ctx.quality
    peaks = ctx.r_peaks
    rr = rr_features(peaks, fs_hz, duration_s=ctx.duration_s)
    t1 = time.process_time()
    atrial = context_features(ctx) if q.readable else ABSENT.copy()
    t_atrial = time.process_time()
    try:
        p = _p_numbers(ctx) if q.readable else np.array([0.0, 200.0])
    except EcgError:
        p = np.array([0.0, 200.0])
    t2 = time.process_time()
    return {"readable": q.readable, "quality": quality_numbers(q), "rr": rr, "p": p, "atrial": atrial,
            "context_ms": (t1 - t0) * 1e3, "atrial_ms": (t_atrial - t1) * 1e3, "p_ms": (t2 - t_atrial) * 1e3}


#: ``ecg/`` modules that do not shape these numbers (the model, the verdict, the stage itself)
_NOT_INPUTS = ("model.py", "screening.py", "stage_two.py")


def _key() -> str:
    h = hashlib.sha256()
    for src in sorted((_REPO / "ecg").rglob("*.py")):
        if src.name not in _NOT_INPUTS:
            h.update(src.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:12]


def load_inputs(data_dir: Path, cache_dir: Path = CACHE_DIR) -> dict[str, np.ndarray]:
    """``{names, readable, quality (n, k), rr (n, 14), p (n, 2), atrial (n, 6), context_ms, atrial_ms, p_ms}`` of every
    labelled record, from the cache when the ``ecg/`` sources have not changed."""
    cache = Path(cache_dir) / f"stage_two-{_key()}.npz"
    if cache.is_file():
        return dict(np.load(cache))
    cinc = Path(data_dir) / "cinc2017"
    names = sorted(read_labels(cinc))
    rows = []
    for i, name in enumerate(names):
        rows.append(record_inputs(read_cinc_mv(cinc, name), CINC_FS_HZ))
        if i % 500 == 0:
            log.info("%d / %d records", i, len(names))
    out = {"names": np.array(names), "readable": np.array([r["readable"] for r in rows]),
           "quality": np.array([r["quality"] for r in rows]), "rr": np.array([r["rr"] for r in rows]),
           "p": np.array([r["p"] for r in rows]), "atrial": np.array([r["atrial"] for r in rows]),
           "context_ms": np.array([r["context_ms"] for r in rows]),
           "atrial_ms": np.array([r["atrial_ms"] for r in rows]),
           "p_ms": np.array([r["p_ms"] for r in rows]), "quality_names": np.array(QUALITY_NUMBERS)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)  # type: ignore[arg-type]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    got = load_inputs(args.data)
    ok = got["readable"].astype(bool)
    log.info("%d records, %d readable; context %.1f ms, atrial features %.3f ms (readable), P waves %.1f ms CPU "
             "per record (median)", got["names"].size, int(ok.sum()), float(np.median(got["context_ms"])),
             float(np.median(got["atrial_ms"][ok])), float(np.median(got["p_ms"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
