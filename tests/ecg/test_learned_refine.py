"""Rule refinement of the learned delineator's P onsets and T ends (ecg.delineation.learned_refine)."""

from __future__ import annotations

import numpy as np
import pytest

from ecg.delineation.filters import StackedViews, stack_views
from ecg.delineation.learned_refine import refine_p_on, refine_t_off
from ecg.delineation.lead import MISSING
from ecg.delineation.vec import Rows

FS = 500.0


def _bump(n: int, start: int, stop: int, amp_mv: float) -> np.ndarray:
    """A raised-cosine wave from ``start`` to ``stop`` (zero outside)."""
    x = np.zeros(n)
    k = np.arange(stop - start)
    x[start:stop] = amp_mv * 0.5 * (1 - np.cos(2 * np.pi * k / (stop - start)))
    return x


def _one_beat(amp_mv: float) -> tuple[StackedViews, Rows]:
    """P wave 1000–1050, QRS onset 1100, T wave 1300–1450 (samples at 500 Hz), flat elsewhere."""
    n = 3000
    x = _bump(n, 1000, 1050, 0.15 * np.sign(amp_mv)) + _bump(n, 1300, 1450, amp_mv)
    x[1100:1140] += np.concatenate([np.linspace(0, 1.0, 20), np.linspace(1.0, 0, 20)])
    return stack_views(x[:, None], FS), Rows(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), 1)


def _beat(**kw: int) -> dict[str, np.ndarray]:
    w = {"qrs_on": 1100, "p_on": 1000, "p_peak": 1025, "t_peak": 1375, "t_off": 1450}
    w.update(kw)
    return {k: np.array([v], dtype=np.int64) for k, v in w.items()}


class TestTEnd:
    @pytest.mark.parametrize("amp", [0.4, -0.4])
    def test_tangent_lies_between_peak_and_end_and_mean_halves_the_move(self, amp: float) -> None:
        sv, rows = _one_beat(amp)
        w = _beat(t_off=1470)
        refine_t_off(sv, rows, w, "tangent")
        # the tangent at the steepest fall (1412) meets the baseline before the wave's last sample
        assert 1400 < int(w["t_off"][0]) < 1450
        m = _beat(t_off=1470)
        refine_t_off(sv, rows, m, "mean_tangent")
        assert int(m["t_off"][0]) == pytest.approx((int(w["t_off"][0]) + 1470) / 2, abs=1)

    def test_threshold_ends_after_the_steepest_fall(self) -> None:
        sv, rows = _one_beat(0.4)
        w = _beat(t_off=1470)
        refine_t_off(sv, rows, w, "threshold")
        assert 1415 < int(w["t_off"][0]) < 1460  # 45 % of the steepest fall: ≈ 1439

    def test_net_mode_and_missing_waves_unchanged(self) -> None:
        sv, rows = _one_beat(0.4)
        w = _beat(t_off=1470)
        refine_t_off(sv, rows, w, "net")
        assert int(w["t_off"][0]) == 1470
        w = _beat(t_off=MISSING)
        refine_t_off(sv, rows, w, "tangent")
        assert int(w["t_off"][0]) == MISSING

    def test_a_boundary_far_from_the_network_keeps_the_network(self) -> None:
        sv, rows = _one_beat(0.4)
        w = _beat(t_off=1600)  # 150+ samples (> 80 ms) after where the tangent lands
        refine_t_off(sv, rows, w, "tangent")
        assert int(w["t_off"][0]) == 1600

    def test_unknown_mode_is_an_error(self) -> None:
        sv, rows = _one_beat(0.4)
        with pytest.raises(ValueError):
            refine_t_off(sv, rows, _beat(), "wavelet")


class TestPOnset:
    @pytest.mark.parametrize("amp", [0.4, -0.4])
    def test_criteria_move_a_late_onset_back_towards_the_wave_start(self, amp: float) -> None:
        sv, rows = _one_beat(amp)
        for mode in ("tangent", "threshold"):
            w = _beat(p_on=1015)  # the network 15 samples (30 ms) late
            refine_p_on(sv, rows, w, mode)
            assert 995 <= int(w["p_on"][0]) < 1015, mode

    def test_mean_threshold_is_halfway(self) -> None:
        sv, rows = _one_beat(0.4)
        a, b = _beat(p_on=1015), _beat(p_on=1015)
        refine_p_on(sv, rows, a, "threshold")
        refine_p_on(sv, rows, b, "mean_threshold")
        assert int(b["p_on"][0]) == pytest.approx((int(a["p_on"][0]) + 1015) / 2, abs=1)

    def test_flat_stretch_gives_no_limb_and_keeps_the_network(self) -> None:
        sv, rows = _one_beat(0.4)
        w = _beat(p_on=1500, p_peak=1520, qrs_on=1700)  # a flat stretch, no wave
        before = int(w["p_on"][0])
        refine_p_on(sv, rows, w, "tangent")
        refine_p_on(sv, rows, w, "threshold")
        assert int(w["p_on"][0]) == before
