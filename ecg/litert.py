"""The LiteRT runtime as the shipped models use it: the interpreter class, int8 (de)quantisation
of a tensor, and silencing the runtime's start-up banner. No TensorFlow here.

Used by :mod:`ecg.model` (rhythm) and :mod:`ecg.delineation.segmenter` (wave segmenter).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Quant", "quant_of", "interpreter_class", "without_runtime_banner"]

#: what the LiteRT runtime prints on stderr (from C++) when it creates its CPU delegate
_RUNTIME_BANNER = "INFO: Created TensorFlow Lite XNNPACK delegate"


@contextlib.contextmanager
def without_runtime_banner() -> Iterator[None]:
    """Drop LiteRT's INFO banner, which its C++ code writes straight to file descriptor 2.

    Everything else written to stderr meanwhile (by any thread) is passed on afterwards.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (embedded, closed): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                    if not line.startswith(_RUNTIME_BANNER)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def interpreter_class() -> Any:
    """``ai_edge_litert``'s ``Interpreter`` (fallback ``tflite_runtime``'s).

    Raises
    ------
    ImportError
        Neither runtime is installed.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the install
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError as exc:
            raise ImportError("neither ai-edge-litert nor tflite-runtime is installed") from exc
    return Interpreter


@dataclass(frozen=True)
class Quant:
    """Affine int8 quantisation of one tensor (``scale`` 0: a float tensor, passed through)."""

    scale: float
    zero_point: int
    dtype: Any

    def quantise(self, x: np.ndarray) -> np.ndarray:
        """Real values → the tensor's integers (rounded, saturated)."""
        if self.scale == 0.0:
            return x.astype(self.dtype)
        low, high = self._bounds
        q = np.asarray(x / self.scale)  # a new array: rounded, shifted and saturated in place
        np.rint(q, out=q)  # np.round's values (decimals 0 is rint) without its wrapper
        q += self.zero_point
        np.maximum(q, low, out=q)
        return np.minimum(q, high, out=q).astype(self.dtype)

    @functools.cached_property
    def _bounds(self) -> tuple[int, int]:
        """The integer type's range (looked up once per tensor)."""
        info = np.iinfo(self.dtype)
        return int(info.min), int(info.max)

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        """The tensor's integers → real values (float64)."""
        if self.scale == 0.0:
            return q.astype(np.float64)
        real = q.astype(np.float64)
        real -= self.zero_point
        real *= self.scale
        return real


def quant_of(detail: dict[str, Any]) -> Quant:
    """The :class:`Quant` of an interpreter's input/output detail."""
    scale, zero = detail.get("quantization", (0.0, 0))
    return Quant(float(scale), int(zero), detail["dtype"])
