"""The rhythm model's batched invoke: the windows of one or many recordings in one graph call
give, window by window, what the batch-1 graph gives (issue 10: one invoke per record, many
records per invoke for the cloud's batches)."""

from __future__ import annotations

import numpy as np
import pytest

from ecg.litert import interpreter_class, quant_of
from ecg.model import CLASSES, DEFAULT_MODEL_PATH, MAX_BATCH_WINDOWS, load_model, signal_windows
from ecg.rr_features import FEATURE_NAMES

FS_HZ = 300.0


def _recording(seed: int, seconds: float) -> np.ndarray:
    """A synthetic lead: spiky beats at an irregular rate over wander and noise (millivolts)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS_HZ)
    x = 0.1 * np.sin(2 * np.pi * 0.3 * np.arange(n) / FS_HZ) + rng.normal(0, 0.03, n)
    t = 0.3
    while t < seconds - 0.3:
        i = int(t * FS_HZ)
        x[i - 3 : i + 4] += np.array([0.1, 0.4, 0.9, 1.2, 0.9, 0.4, 0.1])
        t += rng.uniform(0.5, 1.1)
    return x


def _rr(seed: int) -> np.ndarray:
    rng = np.random.default_rng(100 + seed)
    return load_model().rr_mean + rng.normal(0, 1, len(FEATURE_NAMES)) * load_model().rr_std


def _batch_one_rows(windows: np.ndarray, rr: np.ndarray) -> np.ndarray:
    """Dequantised outputs of the shipped file run as stored (batch 1), one window per invoke."""
    model = load_model()
    interp = interpreter_class()(model_path=str(DEFAULT_MODEL_PATH), num_threads=1)
    interp.allocate_tensors()
    ins = interp.get_input_details()
    sig_in = next(d for d in ins if len(d["shape"]) == 3)
    rr_in = next(d for d in ins if len(d["shape"]) == 2)
    out = interp.get_output_details()[0]
    assert list(sig_in["shape"][:1]) == [1]
    interp.set_tensor(rr_in["index"], quant_of(rr_in).quantise(model.standardise_rr(rr).reshape(1, -1)))
    rows = []
    for w in windows:
        interp.set_tensor(sig_in["index"], quant_of(sig_in).quantise(w.astype(np.float32).reshape(1, -1, 1)))
        interp.invoke()
        rows.append(quant_of(out).dequantise(interp.get_tensor(out["index"])[0]))
    return np.array(rows)


class TestBatchedInvoke:
    def test_shipped_graph_takes_a_batch_of_windows(self) -> None:
        assert load_model().dynamic_batch

    def test_one_recording_equals_its_windows_one_by_one(self) -> None:
        model = load_model()
        x, rr = _recording(1, 30.0), _rr(1)
        wins = model.windows(x, FS_HZ)
        assert len(wins) == 2
        rows = _batch_one_rows(wins, rr)
        want = np.clip(rows.sum(axis=0) / len(rows), 0.0, None)
        got = model.predict_windows(wins, rr)
        np.testing.assert_allclose(got, want / want.sum(), rtol=0, atol=1e-12)

    def test_many_recordings_equal_each_alone(self) -> None:
        model = load_model()
        secs = [30.0, 9.0, 61.0, 20.0, 45.0, 30.0, 12.5, 30.0]
        wins = [model.windows(_recording(i, s), FS_HZ) for i, s in enumerate(secs)]
        rrs = [_rr(i) for i in range(len(secs))]
        alone = [model.predict_windows(w, r) for w, r in zip(wins, rrs)]
        together = model.predict_windows_many(wins, rrs)
        assert len(together) == len(secs)
        for a, b in zip(alone, together):
            assert np.array_equal(a, b)
        assert len({tuple(p) for p in together}) > 1  # the recordings do get different answers

    def test_more_windows_than_one_invoke_takes(self) -> None:
        model = load_model()
        wins = [signal_windows(np.random.default_rng(7).normal(size=3000 + 1500 * MAX_BATCH_WINDOWS).astype(np.float32))]
        assert len(wins[0]) > MAX_BATCH_WINDOWS
        rows = _batch_one_rows(wins[0], _rr(3))
        want = np.clip(rows.sum(axis=0) / len(rows), 0.0, None)
        got = model.predict_windows_many(wins, [_rr(3)])[0]
        np.testing.assert_allclose(got, want / want.sum(), rtol=0, atol=1e-12)

    def test_predict_many_equals_predict(self) -> None:
        model = load_model()
        sigs = [_recording(20 + i, 30.0) for i in range(3)]
        rrs = [_rr(20 + i) for i in range(3)]
        many = model.predict_many(sigs, [FS_HZ] * 3, rrs)
        for x, r, p in zip(sigs, rrs, many):
            assert np.array_equal(model.predict(x, FS_HZ, r), p)
            assert p.shape == (len(CLASSES),) and abs(p.sum() - 1.0) < 1e-9

    def test_recording_without_windows_gets_zeros_and_others_are_unchanged(self) -> None:
        model = load_model()
        wins = model.windows(_recording(5, 30.0), FS_HZ)
        empty = np.zeros((0, wins.shape[1]), dtype=np.float32)
        got = model.predict_windows_many([empty, wins], [_rr(5), _rr(5)])
        assert not got[0].any()
        assert np.array_equal(got[1], model.predict_windows(wins, _rr(5)))

    def test_mismatched_lengths_are_refused(self) -> None:
        model = load_model()
        with pytest.raises(ValueError, match="RR feature rows"):
            model.predict_windows_many([np.zeros((1, 3000))], [])
        with pytest.raises(ValueError, match="rates"):
            model.predict_many([np.zeros(9000)], [FS_HZ, FS_HZ], [_rr(0)])

    def test_operation_count_does_not_follow_the_batch(self) -> None:
        model = load_model()
        before = model.macs_per_window()
        model.predict_windows_many([model.windows(_recording(9, 60.0), FS_HZ)], [_rr(9)])
        assert model.macs_per_window() == before
