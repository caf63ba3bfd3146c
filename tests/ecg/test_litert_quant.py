"""int8 (de)quantisation and the RR standardisation around the rhythm model's invoke: the in-place
formulations (issue 10, cost) give, bit for bit, what the plain NumPy expressions give."""

from __future__ import annotations

import numpy as np
import pytest

from ecg.litert import Quant
from ecg.model import load_model

QUANTS = [Quant(0.0123, -7, np.int8), Quant(0.5, 3, np.int8), Quant(1.0 / 3.0, 0, np.int8), Quant(0.01, 128, np.uint8)]


def _values(seed: int, dtype: type, scale: float = 0.0123) -> np.ndarray:
    """Values on, between and half-way between the quantiser's steps (where rounding is decided by the
    last bit), beyond both saturation ends, and zeros."""
    rng = np.random.default_rng(seed)
    steps = np.arange(-300, 300) + rng.uniform(-1e-6, 1e-6, 600)
    x = np.concatenate([rng.normal(0, 1.5, 4000), rng.uniform(-300, 300, 1000), np.arange(-300, 300) * scale,
                        (steps + 0.5) * scale, (np.arange(-300, 300) + 0.5) * scale, [0.0, -0.0, 1e30, -1e30]])
    return x.astype(dtype).reshape(-1, 1)


@pytest.mark.parametrize("quant", QUANTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantise_is_the_numpy_formulation(quant: Quant, dtype: type) -> None:
    x = _values(1, dtype, quant.scale)
    before = x.copy()
    info = np.iinfo(quant.dtype)
    want = np.clip(np.round(x / quant.scale) + quant.zero_point, info.min, info.max).astype(quant.dtype)
    got = quant.quantise(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    assert np.array_equal(x, before)  # the input is not touched
    assert {int(got.min()), int(got.max())} == {info.min, info.max}  # both ends saturate


@pytest.mark.parametrize("quant", QUANTS)
def test_dequantise_is_the_numpy_formulation(quant: Quant) -> None:
    info = np.iinfo(quant.dtype)
    q = np.arange(info.min, info.max + 1, dtype=quant.dtype).reshape(-1, 4)
    want = (q.astype(np.float64) - quant.zero_point) * quant.scale
    got = quant.dequantise(q)
    assert got.dtype == np.float64 and got.tobytes() == want.tobytes()
    assert not np.signbit(got[q == quant.zero_point]).any()  # a zero is +0.0


def test_float_tensor_is_passed_through() -> None:
    x = _values(2, np.float64)
    q = Quant(0.0, 0, np.float32)
    assert q.quantise(x).tobytes() == x.astype(np.float32).tobytes()
    assert q.dequantise(x.astype(np.float32)).tobytes() == x.astype(np.float32).astype(np.float64).tobytes()


def test_standardise_rr_is_the_numpy_formulation() -> None:
    model = load_model()
    rng = np.random.default_rng(3)
    rows = model.rr_mean + rng.normal(0, 4, (500, len(model.rr_mean))) * model.rr_std  # many beyond +-5 SD
    for f in rows:
        want = np.clip((f - model.rr_mean) / model.rr_std, -5.0, 5.0).astype(np.float32)
        got = model.standardise_rr(f)
        assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
    assert np.abs(np.array([model.standardise_rr(f) for f in rows])).max() == 5.0
