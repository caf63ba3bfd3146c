"""Inference cost of a rhythm architecture before training it (random weights, full int8).

Usage (training venv, from the repository root)::

    .venv-train/bin/python -m training.cost --arch r3 s1 [--members 3 1]

For each architecture: the Keras graph the export would build (``--members`` copies
averaged, as the shipped ensemble did), its parameters and multiply-accumulates per 20 s
window (:func:`training.model.count_macs`), and a full-int8 conversion calibrated on
random windows. The int8 file is then run by LiteRT with one thread as at screening time:
CPU time (``time.process_time``) of invoking the two windows of a 30 s record, the
fastest of ``--repeats`` rounds (the least disturbed by other processes) and the median.
Weights do not change the cost of an int8 graph, so this is the trained model's cost.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ecg.model import WINDOW_SAMPLES
from ecg.rr_features import FEATURE_NAMES

__all__ = ["invoke_cpu_ms", "main"]


def invoke_cpu_ms(tflite_bytes: bytes, n_windows: int = 2, repeats: int = 200) -> np.ndarray:
    """CPU ms of ``n_windows`` invokes (signal and RR inputs set), one per round, ``repeats`` rounds."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_bytes, num_threads=1)
    interp.allocate_tensors()
    rng = np.random.default_rng(0)
    details = interp.get_input_details()
    for d in details:
        interp.set_tensor(d["index"], rng.integers(-20, 20, size=d["shape"]).astype(d["dtype"]))
    sig = next(d for d in details if len(d["shape"]) == 3)
    win = rng.integers(-40, 40, size=sig["shape"]).astype(sig["dtype"])
    out = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n_windows):
            interp.set_tensor(sig["index"], win)
            interp.invoke()
        out.append((time.process_time() - t0) * 1000.0)
    return np.array(out)


def _random_int8(arch_name: str, members: int) -> tuple[bytes, int, int]:
    from training.export import _input_order, convert, strip_names
    from training.model import ARCHS, build_ensemble, build_model, count_macs

    ms = [build_model(f"m{i}", arch=ARCHS[arch_name]) for i in range(members)]
    ens = build_ensemble(ms, 1.0)
    rng = np.random.default_rng(1)
    order = _input_order(convert(ens))

    def rep():  # type: ignore[no-untyped-def]
        for _ in range(20):
            feeds = {"signal": rng.normal(size=(1, WINDOW_SAMPLES, 1)).astype(np.float32),
                     "rr": rng.normal(size=(1, len(FEATURE_NAMES))).astype(np.float32)}
            yield [feeds[k] for k in order]

    params = int(sum(m.count_params() for m in ms))
    macs = int(sum(count_macs(m) for m in ms))
    return strip_names(convert(ens, rep)), params, macs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", nargs="+", default=["r3", "s1"])
    p.add_argument("--members", nargs="+", type=int, default=None, help="members per architecture (default 1 each)")
    p.add_argument("--repeats", type=int, default=300)
    args = p.parse_args(argv)
    members = args.members or [1] * len(args.arch)
    if len(members) != len(args.arch):
        p.error("--members needs one count per --arch")
    built = [(a, m, *_random_int8(a, m)) for a, m in zip(args.arch, members)]
    for rnd in range(3):  # interleaved rounds: every architecture sees the same machine load
        for a, m, tfl, params, macs in built:
            t = invoke_cpu_ms(tfl, 2, args.repeats)
            print(f"round {rnd} {a} x{m}: {params} params, {macs / 1e6:.2f} M MACs/window, {len(tfl)} bytes int8; "
                  f"2 windows: min {t.min():.3f} ms, median {np.median(t):.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
