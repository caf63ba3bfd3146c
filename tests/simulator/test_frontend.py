"""Simulated front end (ADC scaling, lead-off runs, delivered log) and clock."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from simulator.frontend import SimClock, SimulatedFrontEnd, mv_to_counts
from simulator.sources import EcgSignal, parse_source


class _Ramp:
    """A source whose samples are easy to predict: k/1000 mV, off between 1 and 2 s."""

    description = "ramp"

    def render(self, duration_s: float, fs_hz: float) -> EcgSignal:
        n = int(round(duration_s * fs_hz))
        t_s = np.arange(n) / fs_hz
        return EcgSignal(np.arange(n) / 1000.0, fs_hz, (t_s >= 1) & (t_s < 2), "ramp")


class TestScaling:
    def test_rounding_and_clipping(self) -> None:
        counts = mv_to_counts(np.array([-5.0, -0.0004, 0.0006, 1.0, 5.0]), 1000.0, 2048, 12)
        assert counts.tolist() == [0, 2048, 2049, 3048, 4095]


class TestFrontEnd:
    def test_runs_split_at_contact_changes_and_log_is_exact(self) -> None:
        fe = SimulatedFrontEnd(_Ramp(), gain_counts_per_mv=1000.0, baseline=100, adc_bits=12)
        fe.set_rate(10.0)
        runs = fe.read(15) + fe.read(10)
        assert [(len(c), off) for c, off in runs] == [(10, False), (5, True), (5, True), (5, False)]
        assert runs[0][0] == list(range(100, 110))
        assert runs[1][0] == [4095] * 5  # output at the rail while the fingers are off
        assert fe.delivered_counts == [c for counts, _ in runs for c in counts]
        assert fe.delivered_lead_off == [False] * 10 + [True] * 10 + [False] * 5

    def test_read_before_rate_is_an_error(self) -> None:
        fe = SimulatedFrontEnd(_Ramp(), gain_counts_per_mv=1000.0, baseline=0, adc_bits=12)
        with pytest.raises(RuntimeError):
            fe.read(1)

    def test_synthetic_counts_match_an_independent_render(self) -> None:
        src = parse_source("synthetic:normal?seed=9")
        fe = SimulatedFrontEnd(src, gain_counts_per_mv=1365.33, baseline=2048, adc_bits=12)
        fe.set_rate(300.0)
        got = [c for counts, _ in fe.read(900) for c in counts]
        expected = np.rint(src.render(120.0, 300.0).signal_mv[:900] * 1365.33 + 2048).astype(int)
        assert got == expected.tolist()


class TestClock:
    async def test_speed_factor(self) -> None:
        clock = SimClock(speed=50)
        assert clock.now_s() == 0.0
        clock.start()
        await asyncio.sleep(0.1)
        assert 4.0 <= clock.now_s() < 15.0

    def test_bad_speed(self) -> None:
        with pytest.raises(ValueError):
            SimClock(0)
