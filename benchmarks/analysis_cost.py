"""CPU cost of the analysis path, side by side with neurokit2 in one run.

Usage::

    nice -n 10 .venv/bin/python benchmarks/analysis_cost.py [--data ../shared/data] [--records 20]
        [--records12 10] [--repeats 5] [--steps] [--batch 4 8] [--json out.json]

Everything is **CPU time of this process** (``time.process_time``: every thread, no
waiting), so the figures hold on a shared machine; each figure is the median over records
of the median over ``--repeats`` runs, ours and the peer's interleaved record by record.

1. One lead, 30 s (CinC 2017, 300 Hz): what the phone runs — :func:`ecg.screening.screen`
   and :func:`ecg.delineate.measure` sharing one :class:`ecg.context.LeadContext` (R peaks,
   quality, rhythm model, P/QRS/T delineation, intervals, findings) — against
   ``neurokit2.ecg_process`` (clean, R peaks, rate, quality, delineation, phase), which
   delineates too but runs no rhythm model.
2. Twelve leads, 10 s (LUDB, 500 Hz): screen on I, II, V1 + :func:`ecg.delineate.measure_leads`
   on one context per lead, against ``ecg_process`` on each of the 12 leads.
3. The cloud's analysis in process (:func:`cloud.pipeline.analyse` on a checked request:
   counts → mV, contexts, rhythm, measurements, premature beats, answer): CPU per record,
   one lead 30 s and 12 leads 10 s (targets ≤ 12 ms and ≤ 50 ms), with a 95 % bootstrap
   interval of the median over records (:func:`median_ci95`). HTTP and JSON are not
   in it: ``benchmarks/cloud_load.py`` reads the server's whole process tree for that.
   Beside it, never instead of it: one lead 30 s **per record in batches of k**
   (``--batch``, default 4 and 8): :func:`cloud.pipeline.analyse_many` on record *i* and
   the k − 1 records after it (cyclically), CPU of the whole batched analysis (all steps)
   divided by k — what a worker spends per record when the queue holds ≥ k same-shaped
   one-lead jobs (under load); measured interleaved with the single-request figure.
4. R peaks alone: :func:`ecg.beats.detect_r_peaks` on the raw signal vs
   ``neurokit2.ecg_peaks`` on an already cleaned signal and vs ``ecg_clean + ecg_peaks``.
5. Linearity: :func:`ecg.delineate.measure` on the first 30 s … 10 min of MIT-BIH 100
   (360 Hz): CPU ms and ms per minute of ECG.
6. With ``--steps``: where the cloud analysis spends its CPU, step by step (exclusive
   CPU ms per record: each step's own time, without the steps it calls), one lead and 12
   leads. The steps are timed by wrapping the functions named in :data:`STEPS`.

Without ``--data`` (or when it is missing) the committed fixtures are used (5 CinC, 3 LUDB
records, the 2-minute MIT-BIH excerpt) and a note says so.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The cloud and the command run one OpenBLAS thread per process (cloud/__init__.py); measure that,
# for both sides of the comparison, so numpy must not load OpenBLAS before the setting.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cloud.pipeline import PipelineSettings, analyse, analyse_many  # noqa: E402
from cloud.validation import parse_request  # noqa: E402
from ecg.beats import detect_r_peaks  # noqa: E402
from ecg.context import LeadContext, contexts_of  # noqa: E402
from ecg.delineate import measure, measure_leads  # noqa: E402
from ecg.io import Record, read_record  # noqa: E402
from ecg.model import load_model  # noqa: E402
from ecg.screening import screen  # noqa: E402

from benchmarks.ab_payloads import _payload  # noqa: E402,F401  (imported by the other analysis scripts)
from benchmarks.ab_payloads import first_records as _first_records  # noqa: E402

def cpu_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU time (ms) of ``fn`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000.0


def _records(data: Path | None, folder: str, pattern: str, keep: Callable[[Record], bool], n: int,
             fixture: str) -> list[Record]:
    paths = sorted((data / folder).glob(pattern)) if data is not None and (data / folder).is_dir() else []
    if not paths:
        paths = sorted((REPO / "tests/fixtures" / fixture).glob("*.hea"))
    return first_records(paths, keep, n)


def first_records(paths: list[Path], keep: Callable[[Record], bool], n: int) -> list[Record]:
    """The first *n* records of *paths* (read in order) that *keep* accepts."""
    return _first_records(paths, keep, n, read=read_record)


def _ours_one(x: np.ndarray, fs: float) -> None:
    ctx = LeadContext.of(x, fs)
    screen(x, fs, context=ctx)
    measure(x, fs, context=ctx)


def _ours_twelve(rec: Record) -> None:
    ctxs = contexts_of(rec.signals_mv, rec.fs_hz, rec.lead_names)
    for name in ("i", "ii", "v1"):
        j = rec.lead_index(name)
        screen(ctxs[j].signal_mv, rec.fs_hz, context=ctxs[j])
    measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names, contexts=ctxs)


#: the steps of ``cloud.pipeline.analyse`` timed by ``--steps``: (module or "module:Class",
#: function, label). Each is looked up through its module when called, so wrapping the
#: module attribute times every call.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("ecg.beats", "detect_r_peaks", "R peaks (`ecg.beats.detect_r_peaks`)"),
    ("ecg.beats", "detect_r_peaks_many", "R peaks (`ecg.beats.detect_r_peaks`)"),
    ("ecg.beats", "detector_band", "0.5–40 Hz view (`LeadContext.wide_mv`)"),
    ("ecg.beats", "detector_bands", "0.5–40 Hz view (`LeadContext.wide_mv`)"),
    ("ecg.beats", "band_envelope", "QRS envelope (`LeadContext.qrs_envelope`)"),
    ("ecg.quality", "assess_context", "signal quality (`ecg.quality`)"),
    ("ecg.quality", "assess_many", "signal quality (`ecg.quality`)"),
    ("ecg.model:RhythmModel", "windows", "rhythm model input (band-pass, resample, windows)"),
    ("ecg.model:RhythmModel", "predict_windows", "rhythm model invoke"),
    ("ecg.model:RhythmModel", "predict_windows_many", "rhythm model invoke"),
    ("ecg.screening", "screen", "screening: RR features, decision (rest of `screen`)"),
    ("ecg.screening", "screen_many", "screening: RR features, decision (rest of `screen`)"),
    ("ecg.delineation.filters", "stack_views", "delineator views (filters, slopes)"),
    ("ecg.delineation.batch", "delineate_many", "delineator (P/QRS/T of every beat, all leads)"),
    ("ecg.delineate", "summarise", "per-lead intervals, pacing, findings"),
    ("ecg.delineate", "global_waves", "multi-lead boundaries"),
    ("ecg.delineate", "_shape_findings", "axis, bundle-branch patterns"),
    ("ecg.ectopy", "find_ectopy_in", "premature beats (`ecg.ectopy`)"),
    ("cloud.pipeline", "analyse", "request → answer (scaling, contexts, rest)"),
    ("cloud.pipeline", "analyse_many", "request → answer (scaling, contexts, rest)"),
)


@contextlib.contextmanager
def _timed_steps(acc: dict[str, float]) -> Iterator[None]:
    """Wrap :data:`STEPS` so each adds its exclusive CPU seconds to ``acc[label]``."""
    stack: list[float] = []
    undo: list[tuple[Any, str, Any]] = []

    def wrap(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.process_time() - start
                inner = stack.pop()
                acc[label] = acc.get(label, 0.0) + spent - inner
                if stack:
                    stack[-1] += spent
        return timed

    for where, name, label in STEPS:
        module, _, cls = where.partition(":")
        owner = getattr(importlib.import_module(module), cls) if cls else importlib.import_module(module)
        if not hasattr(owner, name):  # renamed since: reported as not measured
            continue
        undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, wrap(getattr(owner, name), label))
    try:
        yield
    finally:
        for owner, name, fn in reversed(undo):
            setattr(owner, name, fn)


def step_table(requests: list[Any], repeats: int, batch: int = 1) -> dict[str, float]:
    """Exclusive CPU ms per record of each step of ``cloud.pipeline.analyse`` (mean over
    records and ``repeats``, after one warm-up pass); with ``batch`` k > 1, of
    ``analyse_many`` on consecutive batches of k requests."""
    import cloud.pipeline as pipeline

    settings = PipelineSettings()
    batches = [requests[i : i + batch] for i in range(0, len(requests), batch)]

    def one_pass() -> None:
        for group in batches:
            if batch > 1:
                pipeline.analyse_many(group, settings)
            else:
                pipeline.analyse(group[0], settings)

    one_pass()
    acc: dict[str, float] = {}
    with _timed_steps(acc):
        for _ in range(repeats):
            one_pass()
    runs = max(1, repeats * len(requests))
    return {label: acc[label] * 1000.0 / runs if label in acc else float("nan") for _, _, label in STEPS}


def _median(rows: list[float]) -> float:
    return float(statistics.median(rows)) if rows else float("nan")


def median_ci95(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval (percentile method, records resampled) of the median over
    records: how much the figure depends on which records were drawn (not on the load).

    >>> median_ci95([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    if not values:
        return float("nan"), float("nan")
    v = np.asarray(values, dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, v.size, size=(resamples, v.size))
    medians = np.median(v[draws], axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def run(args: argparse.Namespace) -> dict[str, Any]:
    import neurokit2 as nk

    data = args.data if args.data is not None and args.data.is_dir() else None
    singles = _records(data, "cinc2017", "A*.hea", lambda r: r.n_samples == int(30 * r.fs_hz), args.records, "cinc2017")
    twelve = _records(data, "ludb/data", "*.hea", lambda r: r.signals_mv.shape[1] == 12, args.records12, "ludb")
    load_model()
    res: dict[str, Any] = {"load_before": os.getloadavg(), "data": str(data) if data else "fixtures",
                           "records": len(singles), "records12": len(twelve), "neurokit2": nk.__version__}
    rows: dict[str, list[float]] = {k: [] for k in (
        "ours_1", "nk_1", "ours_12", "nk_12", "cloud_1", "cloud_12", "peaks_ours", "peaks_nk", "peaks_nk_clean",
        *(f"cloud_1_k{k}" for k in args.batch))}
    settings = PipelineSettings()
    requests1 = [parse_request(_payload(rec)) for rec in singles]
    for i, rec in enumerate(singles):
        x, fs = rec.signals_mv[:, 0], rec.fs_hz
        clean = nk.ecg_clean(x, sampling_rate=fs)
        request = requests1[i]
        rows["ours_1"].append(cpu_ms(lambda: _ours_one(x, fs), args.repeats))
        rows["nk_1"].append(cpu_ms(lambda: nk.ecg_process(x, sampling_rate=fs), args.repeats))
        rows["cloud_1"].append(cpu_ms(lambda: analyse(request, settings), args.repeats))
        for k in args.batch:
            rows[f"cloud_1_k{k}"].append(batch_ms(requests1, i, k, args.repeats))
        rows["peaks_ours"].append(cpu_ms(lambda: detect_r_peaks(x, fs), args.repeats))
        rows["peaks_nk"].append(cpu_ms(lambda: nk.ecg_peaks(clean, sampling_rate=fs), args.repeats))
        rows["peaks_nk_clean"].append(
            cpu_ms(lambda: nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=fs), sampling_rate=fs), args.repeats))
    for rec in twelve:
        request = parse_request(_payload(rec))
        rows["ours_12"].append(cpu_ms(lambda: _ours_twelve(rec), args.repeats))
        rows["nk_12"].append(cpu_ms(lambda: [nk.ecg_process(rec.signals_mv[:, j], sampling_rate=rec.fs_hz)
                                             for j in range(12)], args.repeats))
        rows["cloud_12"].append(cpu_ms(lambda: analyse(request, settings), args.repeats))
    res["median_cpu_ms"] = {k: _median(v) for k, v in rows.items()}
    res["ci95_cpu_ms"] = {k: median_ci95(rows[k]) for k in ("cloud_1", "cloud_12", *(f"cloud_1_k{k}" for k in args.batch))}
    res["batch"] = list(args.batch)
    if args.steps:
        res["steps_ms"] = {"one lead 30 s": step_table(requests1, args.repeats),
                           "12 leads 10 s": step_table([parse_request(_payload(r)) for r in twelve], args.repeats),
                           **{f"one lead 30 s, batches of {k}": step_table(requests1, args.repeats, k)
                              for k in args.batch[-1:]}}
    res["linearity"] = _linearity(data, args.repeats)
    res["load_after"] = os.getloadavg()
    return res


def batch_ms(requests: list[Any], start: int, k: int, repeats: int) -> float:
    """CPU ms per record of :func:`cloud.pipeline.analyse_many` on ``requests[start]`` and
    the ``k - 1`` after it (cyclically; distinct when there are at least ``k``)."""
    batch = [requests[(start + j) % len(requests)] for j in range(k)]
    settings = PipelineSettings()
    return cpu_ms(lambda: analyse_many(batch, settings), repeats) / k


def _linearity(data: Path | None, repeats: int) -> list[dict[str, float]]:
    path = data / "mitdb" / "100.hea" if data is not None and (data / "mitdb" / "100.hea").is_file() else None
    rec = read_record(path or REPO / "tests/fixtures/mitdb/100_2min.hea")
    x, fs = rec.signals_mv[:, 0], rec.fs_hz
    out = []
    for seconds in (30, 60, 120, 300, 600):
        if seconds * fs > x.size:
            break
        seg = x[: int(seconds * fs)]
        ms = cpu_ms(lambda: measure(seg, fs), max(1, repeats // 2 if seconds > 120 else repeats))
        out.append({"seconds": seconds, "cpu_ms": ms, "ms_per_min": ms * 60.0 / seconds})
    return out


def _ci(res: dict[str, Any], key: str) -> str:
    lo, hi = res.get("ci95_cpu_ms", {}).get(key, (float("nan"), float("nan")))
    return f"[{lo:.1f}, {hi:.1f}]"


def report(res: dict[str, Any]) -> str:
    m = res["median_cpu_ms"]
    lines = [
        f"data: {res['data']} ({res['records']} single-lead 30 s, {res['records12']} twelve-lead 10 s records); "
        f"neurokit2 {res['neurokit2']}; load average {res['load_before'][0]:.1f} → {res['load_after'][0]:.1f}",
        "",
        "| what (CPU ms per record, median) | cardiolink | neurokit2 | ratio |",
        "|---|---|---|---|",
        f"| one lead 30 s: screen + measure (one context) vs `ecg_process` | {m['ours_1']:.1f} | {m['nk_1']:.1f} | "
        f"{m['nk_1'] / m['ours_1']:.1f}× |",
        f"| 12 leads 10 s: screen I/II/V1 + measure_leads vs `ecg_process` × 12 | {m['ours_12']:.1f} | "
        f"{m['nk_12']:.1f} | {m['nk_12'] / m['ours_12']:.1f}× |",
        f"| R peaks: `detect_r_peaks` (raw) vs `ecg_peaks` on a cleaned signal | {m['peaks_ours']:.2f} | "
        f"{m['peaks_nk']:.2f} | {m['peaks_nk'] / m['peaks_ours']:.2f}× |",
        f"| R peaks: `detect_r_peaks` (raw) vs `ecg_clean` + `ecg_peaks` | {m['peaks_ours']:.2f} | "
        f"{m['peaks_nk_clean']:.2f} | {m['peaks_nk_clean'] / m['peaks_ours']:.2f}× |",
        "",
        "| cloud analysis in process (`cloud.pipeline.analyse`) | CPU ms per record (median [95 % CI]) | target |",
        "|---|---|---|",
        f"| one lead 30 s | {m['cloud_1']:.1f} {_ci(res, 'cloud_1')} | ≤ 12 |",
        f"| 12 leads 10 s | {m['cloud_12']:.1f} {_ci(res, 'cloud_12')} | ≤ 50 |",
        *(f"| one lead 30 s, per record in batches of {k} (`analyse_many`; queue holding ≥ {k} such jobs) | "
          f"{m[f'cloud_1_k{k}']:.1f} {_ci(res, f'cloud_1_k{k}')} | — |" for k in res.get("batch", [])),
        "",
        "| `measure` on MIT-BIH 100 | CPU ms | ms per minute of ECG |",
        "|---|---|---|",
    ]
    lines += [f"| {r['seconds']} s | {r['cpu_ms']:.1f} | {r['ms_per_min']:.1f} |" for r in res["linearity"]]
    if "steps_ms" in res:
        columns = list(res["steps_ms"])
        tables = [res["steps_ms"][c] for c in columns]
        lines += ["", "| step of `cloud.pipeline.analyse` (exclusive CPU ms per record, mean) | " + " | ".join(columns)
                  + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(f"{t[label]:.2f}" for t in tables) + " |" for label in tables[0]]
        lines.append("| **sum** | " + " | ".join(f"{np.nansum(list(t.values())):.1f}" for t in tables) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CARDIOLINK_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--records", type=int, default=20)
    ap.add_argument("--records12", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", action="store_true", help="also time each step of the cloud analysis")
    ap.add_argument("--batch", type=int, nargs="*", default=[4, 8],
                    help="batch sizes k of the one-lead 'per record in batches of k' figure (none: skip)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # neurokit2's own warnings
        res = run(args)
    if args.data is None or not args.data.is_dir():
        print(f"note: {args.data} not found, the committed fixtures were used")
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
