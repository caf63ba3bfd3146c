"""The dynamic-batch edit of an exported rhythm graph (training venv only: needs TensorFlow,
skipped elsewhere; the shipped file's batched outputs are tested in tests/ecg/test_model_batch.py)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from ecg.model import DEFAULT_MODEL_PATH, WINDOW_SAMPLES  # noqa: E402
from ecg.rr_features import FEATURE_NAMES  # noqa: E402
from training.arch import ARCHS  # noqa: E402
from training.batch_graph import check_same_outputs, dynamic_batch  # noqa: E402


def _small_int8_graph() -> bytes:
    """A random-weight s1 graph converted as the export does (full int8, batch 1)."""
    from training.export import _input_order, convert, strip_names
    from training.model import build_ensemble, build_model

    ens = build_ensemble([build_model("m", arch=ARCHS["s1"])], 1.0)
    order = _input_order(convert(ens))
    rng = np.random.default_rng(0)

    def rep():  # type: ignore[no-untyped-def]
        for _ in range(8):
            feeds = {"signal": rng.normal(size=(1, WINDOW_SAMPLES, 1)).astype(np.float32),
                     "rr": rng.normal(size=(1, len(FEATURE_NAMES))).astype(np.float32)}
            yield [feeds[k] for k in order]

    return strip_names(convert(ens, rep))


class TestDynamicBatch:
    def test_converted_graph_gives_the_same_rows_in_a_batch(self) -> None:
        fixed = _small_int8_graph()
        out = dynamic_batch(fixed)
        assert abs(len(out) - len(fixed)) < 200
        check_same_outputs(fixed, out, n_windows=5)  # raises on any differing byte

    def test_an_already_dynamic_graph_is_refused(self) -> None:
        with pytest.raises(ValueError, match="batch of 1"):
            dynamic_batch(DEFAULT_MODEL_PATH.read_bytes())
