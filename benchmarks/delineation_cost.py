"""CPU cost of the learned delineator beside the rule delineator, in one run.

Usage::

    nice -n 10 .venv/bin/python benchmarks/delineation_cost.py [--data ../shared/data] [--records 10]
        [--records12 5] [--repeats 5] [--cloud] [--segmenter MODEL.tflite]

Everything is CPU time of this process (``time.process_time``), the median over records of
the median over ``--repeats`` runs, both delineators interleaved record by record:

1. The delineator alone, on contexts whose R peaks and filtered views are already computed
   (the part that differs): one LUDB lead I (10 s, 500 Hz), one CinC lead (30 s, 300 Hz),
   twelve LUDB leads (10 s) at once — ``ecg.delineation.batch.delineate_many`` (rules)
   against ``ecg.delineation.learned.delineate_learned_many`` (also without its rule
   refinements, ``P_ON_REFINE``/``T_OFF_REFINE`` = "net", ``P_ON_ALIGN`` = "none"), with the learned path's parts:
   segmenter input (``prepare_many``), invoke (``WaveSegmenter.run_prepared``) and per-beat
   boundaries (``beat_boundaries_many``).
2. With ``--cloud``: the whole cloud analysis in process (``cloud.pipeline.analyse``) with
   either delineator as the default (``ecg.delineation.learned.LEARNED_IS_DEFAULT``).

``--segmenter`` replaces the shipped model everywhere in the run (e.g. a candidate such as an
exported ensemble), so a candidate's cost is measured on the same path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.analysis_cost import cpu_ms, first_records  # noqa: E402
from ecg.context import LeadContext, contexts_of, share_beat_marks, share_views  # noqa: E402
from ecg.delineation import batch, learned  # noqa: E402
from ecg.delineation.filters import StackedViews  # noqa: E402
from ecg.delineation.qrs import locate_many  # noqa: E402
from ecg.delineation.segmenter import beat_boundaries_many, load_segmenter  # noqa: E402
from ecg.delineation.segmenter_input import prepare_many  # noqa: E402
from ecg.io import Record  # noqa: E402


def _records(folder: Path, pattern: str, keep: Callable[[Record], bool], n: int) -> list[Record]:
    return first_records(sorted(folder.glob(pattern)), keep, n)


def _ready(contexts: list[LeadContext]) -> list[LeadContext]:
    """R peaks, shared beat marks and views computed, as the analysis has them before delineating."""
    if len(contexts) > 1:
        share_beat_marks(contexts)
        share_views(contexts)
    for c in contexts:
        c.beat_marks, c.views  # noqa: B018 - computed on access
    return contexts


def delineator_rows(groups: list[list[LeadContext]], repeats: int) -> dict[str, float]:
    """Per-recording CPU ms of both delineators and of the learned path's parts."""
    seg = load_segmenter()
    res: dict[str, list[float]] = {k: [] for k in ("rules", "learned", "unrefined", "input", "invoke", "boundaries")}
    for ctxs in groups:
        _ready(ctxs)
        res["rules"].append(cpu_ms(lambda: batch.delineate_many(ctxs), repeats))
        res["learned"].append(cpu_ms(lambda: learned.delineate_learned_many(ctxs, seg), repeats))
        res["unrefined"].append(cpu_ms(lambda: _unrefined(ctxs, seg), repeats))
        sv, row = StackedViews.of([c.views for c in ctxs])
        x = prepare_many(sv.clean_mv[row], sv.fs_hz)
        res["input"].append(cpu_ms(lambda: prepare_many(sv.clean_mv[row], sv.fs_hz), repeats))
        res["invoke"].append(cpu_ms(lambda: seg.run_prepared(x), repeats))
        probs = seg.run_prepared(x)
        peaks = [p for p, _ in locate_many([c.beat_marks for c in ctxs], sv, row)]
        res["boundaries"].append(cpu_ms(lambda: beat_boundaries_many(probs, peaks, sv.fs_hz, sv.n_samples), repeats))
    return {k: round(statistics.median(v), 2) for k, v in res.items()}


def _unrefined(ctxs: list[LeadContext], seg: object) -> object:
    """The learned delineator without its rule refinements (P onset, T end: the network's; no
    P-onset alignment)."""
    saved = learned.P_ON_REFINE, learned.T_OFF_REFINE, learned.P_ON_ALIGN
    learned.P_ON_REFINE = learned.T_OFF_REFINE = "net"
    learned.P_ON_ALIGN = "none"
    try:
        return learned.delineate_learned_many(ctxs, seg)  # type: ignore[arg-type]
    finally:
        learned.P_ON_REFINE, learned.T_OFF_REFINE, learned.P_ON_ALIGN = saved


def cloud_rows(records: list[Record], repeats: int) -> dict[str, float]:
    """Median CPU ms of ``cloud.pipeline.analyse`` with the rule and the learned default."""
    from benchmarks.analysis_cost import _payload
    from cloud.pipeline import PipelineSettings, analyse
    from cloud.validation import parse_request

    settings = PipelineSettings()
    res: dict[bool, list[float]] = {False: [], True: []}
    saved = learned.LEARNED_IS_DEFAULT
    try:
        for rec in records:
            request = parse_request(_payload(rec))
            for flag in (False, True):
                learned.LEARNED_IS_DEFAULT = flag
                res[flag].append(cpu_ms(lambda: analyse(request, settings), repeats))
    finally:
        learned.LEARNED_IS_DEFAULT = saved
    return {"rules": round(statistics.median(res[False]), 1), "learned": round(statistics.median(res[True]), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--records", type=int, default=10)
    ap.add_argument("--records12", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cloud", action="store_true", help="also the whole cloud analysis with either default")
    ap.add_argument("--segmenter", type=Path, default=None, help="a segmenter .tflite (+ .json) instead of the shipped")
    args = ap.parse_args(argv)
    if args.segmenter is not None:
        from ecg.delineation import segmenter

        segmenter.DEFAULT_SEGMENTER_PATH = args.segmenter.resolve()
        print(f"segmenter: {args.segmenter} ({load_segmenter().version})")
    if not (args.data / "ludb" / "data").is_dir() or not (args.data / "cinc2017").is_dir():
        print(f"LUDB or CinC 2017 not found under {args.data}", file=sys.stderr)
        return 2
    n_ludb = max(args.records, args.records12)
    ludb = _records(args.data / "ludb" / "data", "*.hea", lambda r: r.signals_mv.shape[1] == 12, n_ludb)
    cinc = _records(args.data / "cinc2017", "A*.hea", lambda r: r.n_samples == int(30 * r.fs_hz), args.records)
    rows = {
        "one lead 10 s 500 Hz (LUDB I)": [[LeadContext.of(r.lead(r.lead_index("i")), r.fs_hz)]
                                          for r in ludb[: args.records]],
        "one lead 30 s 300 Hz (CinC)": [[LeadContext.of(r.signals_mv[:, 0], r.fs_hz)] for r in cinc],
        "12 leads 10 s 500 Hz (LUDB)": [contexts_of(r.signals_mv, r.fs_hz, r.lead_names) for r in ludb[: args.records12]],
    }
    print("| per recording (CPU ms) | rules | learned | learned without refinements | learned: input / invoke / "
          "boundaries |")
    print("|---|---|---|---|---|")
    for label, groups in rows.items():
        r = delineator_rows(groups, args.repeats)
        print(f"| {label} | {r['rules']} | {r['learned']} | {r['unrefined']} | {r['input']} / {r['invoke']} / "
              f"{r['boundaries']} |", flush=True)
    if args.cloud:
        for label, recs in (("cloud analysis, one lead 30 s", cinc), ("cloud analysis, 12 leads 10 s",
                                                                     ludb[: args.records12])):
            r = cloud_rows(recs, max(1, args.repeats // 2))
            print(f"| {label} | {r['rules']} | {r['learned']} | | |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
