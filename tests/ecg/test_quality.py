"""Tests of ecg.quality.assess on real records made bad in known ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg.errors import SignalError
from ecg.io import read_record
from ecg.quality import Quality, assess

FS = 300.0


@pytest.fixture(scope="module")
def clean(cinc2017_fixture: dict[str, tuple[Path, str]]) -> np.ndarray:
    return read_record(cinc2017_fixture["A00001"][0]).lead(0)


class TestReadable:
    @pytest.mark.parametrize("name", ["A00001", "A00004", "A00013"])
    def test_real_records_readable(self, cinc2017_fixture: dict[str, tuple[Path, str]], name: str) -> None:
        q = assess(read_record(cinc2017_fixture[name][0]).lead(0), FS)
        assert q.readable, q.reasons
        assert q.reasons == []
        assert q.n_beats > 20
        assert q.heart_rate_bpm is not None and 40 < q.heart_rate_bpm < 150
        assert q.template_corr is not None and q.template_corr > 0.9

    def test_to_dict_is_json_ready(self, clean: np.ndarray) -> None:
        import json

        d = assess(clean, FS).to_dict()
        assert json.loads(json.dumps(d))["readable"] is True
        assert set(d) >= {"readable", "reasons", "heart_rate_bpm", "n_beats"}

    def test_to_dict_equals_asdict_rounded(self, clean: np.ndarray) -> None:
        from dataclasses import asdict

        for q in (assess(clean, FS), Quality(False, ["flat"], 10.0, 0, None, 0.123456789, 1.0, None, None, None)):
            d = q.to_dict()
            want = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(q).items()}
            assert d == want and list(d) == list(want)
            assert d["reasons"] is not q.reasons  # a copy, as asdict's

    def test_precomputed_peaks_are_used(self, clean: np.ndarray) -> None:
        q = assess(clean, FS, r_peaks=np.array([0, 300]))
        assert q.n_beats == 2


class TestUnreadable:
    def _check(self, q: Quality, reason: str) -> None:
        assert not q.readable
        assert reason in q.reasons

    def test_flat(self) -> None:
        self._check(assess(np.full(9000, 0.3), FS), "flat")

    def test_nan(self, clean: np.ndarray) -> None:
        x = clean.copy()
        x[100] = np.nan
        q = assess(x, FS)
        assert q.reasons == ["non_finite"] and not q.readable

    def test_noisy_small_square_wave_is_a_step_not_a_beat(self) -> None:
        # 0.44 mV square wave at 45/min with 0.04 mV noise (found by the phone/cloud property test): noise lifts
        # the median beat's slope balance to 0.083, above its 0.08 limit, but each "beat" jumps and stays
        from ecg.beats import detect_r_peaks
        from ecg.quality import _MAX_STEP_SHARE, _MIN_SLOPE_BALANCE, _step_shape

        t = np.arange(int(10.5 * FS)) / FS
        x = 0.4375 * np.sign(np.sin(2 * np.pi * 0.75 * t)) + np.random.default_rng(0).normal(0, 0.0375, t.size)
        x = np.rint(x * 200.0) / 200.0
        shape = _step_shape(x, detect_r_peaks(x, FS), FS)
        assert shape is not None and shape[0] > _MIN_SLOPE_BALANCE and shape[1] > _MAX_STEP_SHARE
        q = assess(x, FS)
        assert q.reasons == ["implausible_morphology"] and q.heart_rate_bpm is not None  # the gate, not the model

    def test_real_beats_come_back(self, clean: np.ndarray) -> None:
        from ecg.beats import detect_r_peaks
        from ecg.quality import _step_shape

        shape = _step_shape(clean, detect_r_peaks(clean, FS), FS)
        assert shape is not None and shape[1] < 0.5

    def test_too_short(self, clean: np.ndarray) -> None:
        self._check(assess(clean[: int(4.5 * FS)], FS), "too_short")

    def test_clipped(self, clean: np.ndarray) -> None:
        self._check(assess(np.clip(clean, -0.3, 0.3), FS), "clipped")

    def test_lead_off_half_way(self, clean: np.ndarray) -> None:
        x = np.concatenate([clean[:4500], np.full(4500, 0.2)])
        self._check(assess(x, FS), "lead_off")

    def test_railed_electrode(self, clean: np.ndarray) -> None:
        x = np.concatenate([clean[:6000], np.full(3000, 5.0)])
        q = assess(x, FS)
        self._check(q, "lead_off")
        assert q.lead_off_fraction > 0.2

    def test_mains_interference(self, clean: np.ndarray) -> None:
        x = clean + 0.6 * np.sin(2 * np.pi * 60 * np.arange(clean.size) / FS)
        self._check(assess(x, FS), "high_frequency_noise")

    def test_white_noise_only(self) -> None:
        q = assess(np.random.default_rng(0).normal(0, 1, 9000), FS)
        assert not q.readable

    def test_smooth_noise_only(self) -> None:
        rng = np.random.default_rng(1)
        x = np.convolve(rng.normal(0, 1, 9000), np.ones(15) / 15, "same")
        assert not assess(x, FS).readable

    def test_implausible_amplitude(self, clean: np.ndarray) -> None:
        self._check(assess(clean * 30, FS), "implausible_amplitude")

    def test_smooth_wave_has_no_qrs(self) -> None:
        x = 0.5 * np.sin(2 * np.pi * 1.0 * np.arange(9000) / FS)
        q = assess(x, FS)
        assert not q.readable
        assert {"no_distinct_qrs", "implausible_heart_rate"} & set(q.reasons)
        # with beats forced on the wave's steepest points, the QRS check still refuses it
        forced = assess(x, FS, r_peaks=np.arange(0, 9000, 150))
        self._check(forced, "no_distinct_qrs")

    def test_heart_rate_out_of_range(self, clean: np.ndarray) -> None:
        # the clean record played 3x too fast: about 237 bpm
        q = assess(clean[::3], FS)
        self._check(q, "implausible_heart_rate")
        assert q.heart_rate_bpm is not None and q.heart_rate_bpm > 220


class TestCallerErrors:
    @pytest.mark.parametrize("fs", [0.0, -1.0, 1e7])
    def test_bad_fs(self, clean: np.ndarray, fs: float) -> None:
        with pytest.raises(SignalError):
            assess(clean, fs)

    def test_multi_lead(self, clean: np.ndarray) -> None:
        with pytest.raises(SignalError):
            assess(np.column_stack([clean, clean]), FS)


class TestAllLeadsAtOnce:
    """``assess_many`` (one pass over the leads of a recording) gives each lead what
    ``assess`` gives it alone, also with a flat, a lead-off and a clipped lead."""

    def test_each_lead_as_alone(self, fixtures_dir: Path) -> None:
        from ecg.context import LeadContext, contexts_of, share_quality
        from ecg.quality import assess_many

        rec = read_record(fixtures_dir / "ludb" / "2")
        x = rec.signals_mv.copy()
        x[:, 3] = 0.0  # flat
        x[:2000, 4] = 0.37  # lead off for 4 s
        x[:, 5] = np.clip(x[:, 5], -0.05, 0.05)  # clipped
        together = assess_many(contexts_of(x, rec.fs_hz, rec.lead_names))
        alone = [assess(x[:, j], rec.fs_hz) for j in range(x.shape[1])]
        assert together == alone
        assert {"flat", "lead_off", "clipped"} <= {r for q in together for r in q.reasons}
        ctxs = contexts_of(x, rec.fs_hz, rec.lead_names)
        share_quality(ctxs[:3])
        assert [c.computed["quality"] for c in ctxs[:4]] == [1, 1, 1, 0]
        assert [c.quality for c in ctxs[:3]] == alone[:3]
        one = LeadContext.of(x[:, 0], rec.fs_hz)
        share_quality([one])  # one lead: nothing shared, computed when asked
        assert one.computed["quality"] == 0 and one.quality == alone[0]
