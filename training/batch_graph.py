"""Give an exported rhythm graph a dynamic batch dimension (same weights, same quantisation).

Usage (training venv; from the repository root)::

    .venv-train/bin/python -m training.batch_graph IN.tflite OUT.tflite

The converter writes the Keras graph with a fixed batch of 1: its inputs and output have the
shape ``(1, ...)`` and its two RESHAPE operators carry constant target shapes starting with 1
(``(1, 1, 3000, 1)`` before the 2-D convolutions, ``(1, 24, 64)`` after them), so LiteRT
cannot resize the inputs to several windows. This edit sets the batch entry of the inputs'
and output's shape signatures and of those RESHAPE targets to -1; nothing else in the file
changes (operators, weights, quantisation parameters), so every window's output is that of
the batch-1 graph — checked by :func:`check_same_outputs` and, on real recordings, by the
window probabilities of the validation split (``docs/training.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

__all__ = ["dynamic_batch", "check_same_outputs", "main"]

_RESHAPE = 22  # tflite BuiltinOperator.RESHAPE


def dynamic_batch(tflite_bytes: bytes) -> bytes:
    """The graph of ``tflite_bytes`` with its batch dimension made dynamic (-1).

    Raises
    ------
    ValueError
        A RESHAPE target or an input/output shape does not start with a batch of 1 (the
        graph is not the converter's batch-1 form this edit knows).
    """
    from tensorflow.lite.tools import flatbuffer_utils as fu

    model = fu.read_model_from_bytearray(bytearray(tflite_bytes))
    for graph in model.subgraphs:
        for i in [*graph.inputs, *graph.outputs]:
            t = graph.tensors[i]
            if int(t.shape[0]) != 1:
                raise ValueError(f"tensor {i} has shape {list(t.shape)}: expected a batch of 1")
            t.shapeSignature = np.array([-1, *t.shape[1:]], dtype=np.int32)
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) != _RESHAPE:
                continue
            buf = model.buffers[graph.tensors[op.inputs[1]].buffer]
            target = np.frombuffer(bytes(buf.data), dtype=np.int32).copy()
            if target[0] != 1:
                raise ValueError(f"RESHAPE target {target.tolist()}: expected a batch of 1")
            target[0] = -1
            buf.data = target.view(np.uint8)
    return bytes(fu.convert_object_to_bytearray(model))


def check_same_outputs(fixed: bytes, dynamic: bytes, n_windows: int = 8, seed: int = 0) -> None:
    """Raise ``AssertionError`` unless ``dynamic`` on a batch of random int8 windows gives, row
    by row, the outputs of ``fixed`` invoked one window at a time."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(seed)
    one, many = Interpreter(model_content=fixed, num_threads=1), Interpreter(model_content=dynamic, num_threads=1)
    one.allocate_tensors()
    ins = one.get_input_details()
    feeds = [rng.integers(-128, 128, size=(n_windows, *d["shape"][1:])).astype(d["dtype"]) for d in ins]
    rows = []
    for k in range(n_windows):
        for d, x in zip(ins, feeds):
            one.set_tensor(d["index"], x[k : k + 1])
        one.invoke()
        rows.append(one.get_tensor(one.get_output_details()[0]["index"])[0].copy())
    for d, x in zip(many.get_input_details(), feeds):
        many.resize_tensor_input(d["index"], list(x.shape))
    many.allocate_tensors()
    for d, x in zip(many.get_input_details(), feeds):
        many.set_tensor(d["index"], x)
    many.invoke()
    got = many.get_tensor(many.get_output_details()[0]["index"])
    if not np.array_equal(got, np.array(rows)):
        raise AssertionError("the dynamic-batch graph's outputs differ from the batch-1 graph's")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="batch-1 .tflite (as the converter wrote it)")
    p.add_argument("dst", type=Path, help="where the dynamic-batch .tflite goes")
    args = p.parse_args(argv)
    fixed = args.src.read_bytes()
    out = dynamic_batch(fixed)
    check_same_outputs(fixed, out)
    args.dst.write_bytes(out)
    print(f"wrote {args.dst} ({len(out)} bytes; {len(fixed)} before); random-window outputs equal row by row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
