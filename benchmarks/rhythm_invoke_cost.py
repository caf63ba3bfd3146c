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

``--resolvers`` instead compares LiteRT's op resolvers on this tree's model in one process: the int8
window outputs of the ``--records`` records under each resolver against the shipped one (``AUTO``:
built-in kernels + the XNNPACK delegate), and the bare ``invoke`` of one 2-window record, fastest of
200, resolvers interleaved for ``--rounds`` rounds. ``--switch`` measures what a change of batch size
costs (the interpreter's tensors re-allocated): a 2-window record then a 1-window one on one model,
against the same two calls on two models that keep their sizes, 300 pairs interleaved per round.
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


def resolvers(data: Path, n: int, rounds: int) -> None:
    """Print, per LiteRT op resolver, how many window outputs differ from ``AUTO``'s and its invoke time."""
    from ai_edge_litert.interpreter import OpResolverType

    from ecg.litert import interpreter_class, without_runtime_banner
    from ecg.model import DEFAULT_MODEL_PATH, load_model

    model = load_model()
    wins, feats = _records(data, n)
    q_w = [model._q_sig.quantise(w.astype(np.float32)[..., None]) for w in wins]  # noqa: SLF001
    q_r = [np.repeat(model._q_rr.quantise(model.standardise_rr(f)[None, :]), len(w), axis=0)  # noqa: SLF001
           for f, w in zip(feats, wins)]
    kinds = ("AUTO", "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "BUILTIN_REF")
    its = {}
    for kind in kinds:
        with without_runtime_banner():
            its[kind] = interpreter_class()(model_path=str(DEFAULT_MODEL_PATH), num_threads=1,
                                            experimental_op_resolver_type=getattr(OpResolverType, kind))

    def run(it, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
        ins = sorted(it.get_input_details(), key=lambda d: len(d["shape"]))  # RR (rank 2), then signal
        for d, v in zip(ins, (b, a)):
            it.resize_tensor_input(d["index"], list(v.shape))
        it.allocate_tensors()
        for d, v in zip(ins, (b, a)):
            it.set_tensor(d["index"], v)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"]).astype(int)

    outs = {k: np.concatenate([run(it, a, b) for a, b in zip(q_w, q_r)]) for k, it in its.items()}
    ends = np.cumsum([len(w) for w in wins])[:-1]
    for kind in kinds:
        diff = np.abs(outs[kind] - outs["AUTO"])
        probs = [np.array([r.mean(axis=0) for r in np.split(model._q_out.dequantise(outs[k]), ends)])  # noqa: SLF001
                 for k in (kind, "AUTO")]
        top = int((probs[0].argmax(axis=1) != probs[1].argmax(axis=1)).sum())
        print(f"{kind}: {int((diff > 0).any(axis=1).sum())} of {len(diff)} windows' int8 outputs differ from AUTO's, "
              f"by up to {int(diff.max())} steps; record probabilities (window mean) by up to "
              f"{float(np.abs(probs[0] - probs[1]).max()):.4f}, top class changed in {top} of {len(wins)} records", flush=True)
    two = next(i for i, w in enumerate(wins) if len(w) == 2)
    for kind, it in its.items():
        run(it, q_w[two], q_r[two])
    for rnd in range(rounds):
        print(f"round {rnd}: bare invoke of 2 windows, fastest of 200: " + ", ".join(
            f"{k} {_fastest_ms(it.invoke, 200):.3f} ms" for k, it in its.items()), flush=True)


def switch(data: Path, rounds: int) -> None:
    """Print the cost of alternating batch sizes on one interpreter against two that keep their sizes."""
    from ecg.model import DEFAULT_MODEL_PATH, RhythmModel, load_model

    one, other = load_model(), RhythmModel(DEFAULT_MODEL_PATH)
    wins, feats = _records(data, 1)
    q_w = one._q_sig.quantise(wins[0].astype(np.float32)[..., None])  # noqa: SLF001
    q_r = np.repeat(one._q_rr.quantise(one.standardise_rr(feats[0])[None, :]), len(q_w), axis=0)  # noqa: SLF001
    two_w, one_w = (q_w[:2], q_r[:2]), (q_w[:1], q_r[:1])
    for rnd in range(rounds):
        same, kept = [], []
        for _ in range(300):  # interleaved pair by pair: both see the same load and clock
            same.append(_fastest_ms(lambda: (one._invoke(*two_w), one._invoke(*one_w)), 1))  # noqa: SLF001
            kept.append(_fastest_ms(lambda: (one._invoke(*two_w), other._invoke(*one_w)), 1))  # noqa: SLF001
        print(f"round {rnd}: 2 windows then 1 window, median of 300 pairs interleaved: one interpreter (re-allocated "
              f"twice) {np.median(same):.3f} ms, two interpreters {np.median(kept):.3f} ms, paired difference "
              f"{_median_ci(list(np.subtract(same, kept)))}", flush=True)


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
    p.add_argument("--resolvers", action="store_true", help="compare LiteRT's op resolvers (outputs, invoke)")
    p.add_argument("--switch", action="store_true", help="cost of a batch-size change (tensors re-allocated)")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.switch:
        switch(args.data, args.rounds)
        return 0
    if args.resolvers:
        resolvers(args.data, args.records, args.rounds)
        return 0
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
