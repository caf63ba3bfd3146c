"""One analysis context per lead: every step once, the same answers as without it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ecg import beats
from ecg.context import LeadContext, context_for, contexts_of, share_r_peaks, share_wide
from ecg.delineate import measure, measure_leads
from ecg.delineation.lead import LeadWaves, delineate_context
from ecg.ectopy import find_ectopy_in
from ecg.filters import butter_sos, zero_phase
from ecg.io import read_record
from ecg.quality import assess
from ecg.screening import screen

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def count_detections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the one R-peak seam, ``ecg.beats.detect_r_peaks``."""
    calls: list[int] = []
    real = beats.detect_r_peaks

    def counting(sig_mv: np.ndarray, fs_hz: float, **kwargs: Any) -> np.ndarray:
        calls.append(1)
        return real(sig_mv, fs_hz, **kwargs)

    monkeypatch.setattr(beats, "detect_r_peaks", counting)
    return calls


def _cinc(cinc2017_fixture: dict[str, tuple[Path, str]], name: str = "A00001") -> tuple[np.ndarray, float]:
    rec = read_record(cinc2017_fixture[name][0])
    return rec.signals_mv[:, 0], rec.fs_hz


class TestOnce:
    def test_screen_measure_ectopy_share_one_detection(
        self, cinc2017_fixture: dict[str, tuple[Path, str]], count_detections: list[int]
    ) -> None:
        x, fs = _cinc(cinc2017_fixture)
        ctx = LeadContext.of(x, fs)
        screen(x, fs, context=ctx)
        measure(x, fs, context=ctx)
        find_ectopy_in([ctx])
        assert len(count_detections) == 1
        assert ctx.computed["r_peaks"] == ctx.computed["wide_mv"] == ctx.computed["views"] == 1

    def test_without_context_each_call_detects_again(
        self, cinc2017_fixture: dict[str, tuple[Path, str]], count_detections: list[int]
    ) -> None:
        x, fs = _cinc(cinc2017_fixture)
        screen(x, fs)
        measure(x, fs)
        assert len(count_detections) == 2  # the counter sees the seam: it is the only detector used

    def test_twelve_leads_three_detections(self, fixtures_dir: Path, count_detections: list[int]) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2")
        ctxs = contexts_of(rec.signals_mv, rec.fs_hz, rec.lead_names)
        for j in (0, 1, 6):
            screen(ctxs[j].signal_mv, rec.fs_hz, context=ctxs[j])
        measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names, contexts=ctxs)
        find_ectopy_in(ctxs, rhythm_lead=1)
        assert len(count_detections) == 3  # the screened leads; the others start from lead II's beats
        assert all(c.beat_marks is ctxs[1].r_peaks for j, c in enumerate(ctxs) if j not in (0, 1, 6))
        assert ctxs[6].beat_marks is ctxs[6].r_peaks  # a lead with its own R peaks keeps them


class TestBeatMarks:
    def test_measure_leads_detects_in_the_reference_lead_only(self, fixtures_dir: Path,
                                                                count_detections: list[int]) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2")
        m = measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names)
        assert len(count_detections) == 1 and m.qrs_ms is not None
        assert all(lead.beats for lead in m.leads)

    def test_an_unreadable_reference_is_passed_over(self, fixtures_dir: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2")
        x = rec.signals_mv.copy()
        x[:, rec.lead_index("ii")] = 0.0  # lead II off: lead I serves
        ctxs = contexts_of(x, rec.fs_hz, rec.lead_names)
        m = measure_leads(x, rec.fs_hz, rec.lead_names, contexts=ctxs)
        ref = ctxs[rec.lead_index("i")]
        assert m.qrs_ms is not None and ctxs[rec.lead_index("v5")].beat_marks is ref.r_peaks
        x[:, [rec.lead_index(n) for n in ("i", "ii", "v1")]] = 0.0  # no readable reference: each lead detects
        ctxs = contexts_of(x, rec.fs_hz, rec.lead_names)
        m = measure_leads(x, rec.fs_hz, rec.lead_names, contexts=ctxs)
        assert m.qrs_ms is not None and all("beat_marks" not in c._cache for c in ctxs)


class TestSameAnswers:
    def test_screen_and_measure_unchanged_by_the_context(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        for name in ("A00001", "A00004", "A00022"):
            x, fs = _cinc(cinc2017_fixture, name)
            ctx = LeadContext.of(x, fs)
            assert screen(x, fs, context=ctx) == screen(x, fs)
            assert measure(x, fs, context=ctx).to_dict() == measure(x, fs).to_dict()
            assert ctx.quality == assess(x, fs)

    def test_measure_leads_unchanged_by_contexts(self, fixtures_dir: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "34")
        ctxs = contexts_of(rec.signals_mv, rec.fs_hz, rec.lead_names)
        with_ctx = measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names, contexts=ctxs).to_dict()
        assert with_ctx == measure_leads(rec.signals_mv, rec.fs_hz, rec.lead_names).to_dict()

    def test_a_context_of_another_signal_is_refused(self) -> None:
        ctx = LeadContext.of(np.zeros(3000), 300.0)
        with pytest.raises(ValueError, match="3000 samples at 300 Hz"):
            context_for(np.zeros(2999), 300.0, ctx)
        with pytest.raises(ValueError):
            measure(np.zeros(3000), 250.0, context=ctx)

    def test_results_are_read_only(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        ctx = LeadContext.of(*_cinc(cinc2017_fixture))
        with pytest.raises(ValueError):
            ctx.r_peaks[0] = 1
        with pytest.raises(ValueError):
            ctx.signal_mv[0] = 1.0


class TestSharedWide:
    def test_one_pass_gives_each_lead_its_own_view(self, fixtures_dir: Path) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2")
        ctxs = contexts_of(rec.signals_mv, rec.fs_hz, rec.lead_names)
        share_wide(ctxs)
        for j, c in enumerate(ctxs):
            assert c.computed["wide_mv"] == 1
            assert np.array_equal(c.wide_mv, beats.detector_band(rec.signals_mv[:, j], rec.fs_hz))
        share_wide(ctxs)  # nothing left to do
        assert all(c.computed["wide_mv"] == 1 for c in ctxs)

    def test_too_short_is_left_to_each_lead(self) -> None:
        ctxs = contexts_of(np.ones((100, 3)), 300.0)  # 0.33 s: below the detector's minimum
        share_wide(ctxs)
        assert all("wide_mv" not in c._cache for c in ctxs)


class TestSharedRPeaks:
    def test_one_call_gives_each_row_its_own_peaks(self, fixtures_dir: Path,
                                                    cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        rec = read_record(fixtures_dir / "ludb" / "2")
        cinc = [read_record(cinc2017_fixture[n][0]).signals_mv[:3000, 0] for n in sorted(cinc2017_fixture)]
        for rows, fs in ((rec.signals_mv, rec.fs_hz), (np.column_stack([*cinc, np.zeros(3000)]), 300.0)):
            ctxs = contexts_of(rows, fs)
            share_r_peaks(ctxs)  # the leads of one recording, or same-shaped recordings (one flat)
            for j, c in enumerate(ctxs):
                assert c.computed["r_peaks"] == 1 and c.computed["qrs_envelope"] == 1
                assert np.array_equal(c.r_peaks, beats.detect_r_peaks(rows[:, j], fs))
                assert np.array_equal(c.qrs_envelope, beats.qrs_envelope(rows[:, j], fs))
                assert not c.r_peaks.flags.writeable
            share_r_peaks(ctxs)  # nothing left to do
            assert all(c.computed["r_peaks"] == 1 for c in ctxs)

    def test_too_short_is_left_to_each_lead(self) -> None:
        ctxs = contexts_of(np.ones((100, 3)), 300.0)
        share_r_peaks(ctxs)
        assert all("r_peaks" not in c._cache for c in ctxs)


class TestPluggableDelineator:
    def test_measure_uses_the_given_delineator(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        x, fs = _cinc(cinc2017_fixture)
        seen: list[LeadContext] = []

        def spy(ctx: LeadContext) -> LeadWaves:
            seen.append(ctx)
            lw = delineate_context(ctx)
            lw.waves["t_off"][:] = -1  # a delineator that never finds a T end
            return lw

        m = measure(x, fs, delineator=spy)
        assert len(seen) == 1 and m.qt_ms is None and "qt_ms" in m.reasons
        assert measure(x, fs).qt_ms is not None


class TestCost:
    def test_measure_cost_is_linear_in_duration(self) -> None:
        fs = 300.0
        t = np.arange(int(600 * fs)) / fs
        rng = np.random.default_rng(0)
        x = np.sin(2 * np.pi * 1.1 * t) ** 31 + 0.15 * np.sin(2 * np.pi * 1.1 * t - 1.2) ** 6
        x += 0.01 * rng.standard_normal(x.size)

        def cpu_ms(seconds: int) -> float:
            best = float("inf")
            for _ in range(3):
                start = time.process_time()
                measure(x[: int(seconds * fs)], fs)
                best = min(best, time.process_time() - start)
            return best * 1000.0

        short, long = cpu_ms(30), cpu_ms(600)
        assert long < 18.0 * short, (short, long)  # 20x the samples; a per-beat O(n) step gave ~28x


class TestFilterDesigns:
    def test_designs_are_built_once(self) -> None:
        assert butter_sos(2, (0.5, 40.0), "bandpass", 300.0) is butter_sos(2, (0.5, 40.0), "bandpass", 300.0)

    def test_zero_phase_is_sosfiltfilt(self) -> None:
        from scipy import signal as sps

        x = np.random.default_rng(3).standard_normal(5000)
        ref = sps.sosfiltfilt(sps.butter(4, 40.0, btype="lowpass", fs=500.0, output="sos"), x)
        assert np.array_equal(zero_phase(x, 4, 40.0, "lowpass", 500.0), ref)

    @pytest.mark.parametrize("axis", [0, 1])
    def test_zero_phase_of_several_leads_is_sosfiltfilt(self, axis: int) -> None:
        from scipy import signal as sps

        x = np.random.default_rng(4).standard_normal((3000, 4) if axis == 0 else (4, 3000))
        ref = sps.sosfiltfilt(sps.butter(2, (5.0, 20.0), btype="bandpass", fs=300.0, output="sos"), x, axis=axis)
        assert np.array_equal(zero_phase(x, 2, (5.0, 20.0), "bandpass", 300.0, axis=axis), ref)

    @pytest.mark.parametrize(("fs", "target"), [(300.0, 150.0), (500.0, 150.0), (360.0, 250.0), (128.0, 300.0)])
    @pytest.mark.parametrize("n", [9000, 3001, 37])
    def test_resample_is_resample_poly(self, fs: float, target: float, n: int) -> None:
        from fractions import Fraction

        from scipy import signal as sps

        from ecg.preprocess import resample

        x = np.random.default_rng(n).standard_normal((n, 2))
        r = Fraction(target / fs).limit_denominator(1000)
        y, fs_out = resample(x, fs, target)
        assert fs_out == target and np.array_equal(y, sps.resample_poly(x, r.numerator, r.denominator, axis=0))

    @pytest.mark.parametrize("fs", [250.0, 300.0, 500.0])
    def test_delineator_views_are_gaussian_filters(self, fs: float) -> None:
        from scipy.ndimage import gaussian_filter1d

        from ecg.delineation.filters import band_limit, stack_views, wave_slope_step

        x = np.random.default_rng(int(fs)).standard_normal((int(10 * fs), 2)).cumsum(axis=0)
        sv, clean = stack_views(x, fs), band_limit(np.ascontiguousarray(x.T), fs)
        assert np.array_equal(sv.smooth_mv, gaussian_filter1d(clean, 0.012 * fs, axis=-1))
        ref = gaussian_filter1d(clean, max(0.004 * fs, 0.8), axis=-1, order=1) * fs
        assert np.array_equal(sv.slope_qrs, ref)
        step = wave_slope_step(fs)
        assert step == (2 if fs == 500.0 else 1)
        grid = np.arange(0, clean.shape[1], step)
        for name, sigma_s in (("slope_wave", 0.012), ("slope_t", 0.020)):
            # the P/T slopes: Gaussian derivatives on every step-th sample, linear in between
            coarse = gaussian_filter1d(clean[:, ::step], sigma_s * fs / step, axis=-1, order=1) * (fs / step)
            want = np.array([np.interp(np.arange(clean.shape[1]), grid, row) for row in coarse])
            assert np.allclose(getattr(sv, name), want, rtol=0, atol=1e-12 * np.abs(want).max()), name
            full = gaussian_filter1d(clean, sigma_s * fs, axis=-1, order=1) * fs
            inner = slice(int(0.1 * fs), -int(0.1 * fs))  # the reflected ends differ more
            assert np.abs(getattr(sv, name) - full)[:, inner].max() <= 0.03 * np.abs(full).max(), name

    @pytest.mark.parametrize("step", [2, 3, 4])
    def test_linear_upsampling_is_numpys_interp(self, step: int) -> None:
        from ecg.delineation.filters import _upsample_linear

        rng = np.random.default_rng(step)
        for n in range(1, 40):
            fine = rng.standard_normal((2, n))
            grid = np.arange(0, n, step)
            coarse = fine[:, ::step]
            want = np.array([np.interp(np.arange(n), grid, row) for row in coarse])
            assert np.allclose(_upsample_linear(coarse, step, n), want, rtol=0, atol=1e-12), n

    def test_steady_start_rows_are_scipys_sosfilt(self) -> None:
        from scipy import signal as sps

        from ecg.filters import butter_sos_zi, zero_phase_steady

        x = np.random.default_rng(5).standard_normal((3, 2000))
        sos, zi = butter_sos(3, (0.5, 40.0), "bandpass", 300.0), butter_sos_zi(3, (0.5, 40.0), "bandpass", 300.0)
        for row, got in zip(x, zero_phase_steady(x, 3, (0.5, 40.0), "bandpass", 300.0)):
            y, _ = sps.sosfilt(sos, row, zi=zi * row[0])
            y, _ = sps.sosfilt(sos, y[::-1], zi=zi * y[-1])
            assert np.array_equal(got, y[::-1])


def test_import_screening_pulls_no_pandas_or_wfdb() -> None:
    code = ("import sys, ecg.screening, ecg.delineate, ecg.ectopy, ecg.context; "
            "print(sorted(m for m in ('pandas', 'wfdb', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize(("n", "fs", "nperseg"), [(9000, 300.0, 600), (5000, 500.0, 1000), (599, 300.0, 599)])
def test_welch_psd_is_scipys(n: int, fs: float, nperseg: int) -> None:
    from scipy import signal as sps

    from ecg.spectrum import welch_psd

    x = np.random.default_rng(n).standard_normal(n)
    f, p = welch_psd(x, fs, nperseg)
    f_ref, p_ref = sps.welch(x, fs=fs, nperseg=nperseg)
    assert np.allclose(f, f_ref) and np.allclose(p, p_ref, rtol=1e-9, atol=0)
