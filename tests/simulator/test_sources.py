"""Synthetic and replayed ECG sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sp_signal

from simulator.errors import SourceDataError, SourceSpecError
from simulator.sources import ReplaySource, SyntheticSource, parse_source
from simulator.sources.base import parse_periods

FS_HZ = 250.0


def _r_peaks(sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    # simple and independent of the generator: prominent peaks at least 250 ms apart
    peaks, _ = sp_signal.find_peaks(sig_mv, prominence=0.6, distance=int(0.25 * fs_hz))
    return peaks


class TestSynthetic:
    def test_same_seed_same_signal_other_seed_differs(self) -> None:
        a = parse_source("synthetic:normal?seed=4").render(10, FS_HZ)
        b = parse_source("synthetic:normal?seed=4").render(10, FS_HZ)
        c = parse_source("synthetic:normal?seed=5").render(10, FS_HZ)
        assert np.array_equal(a.signal_mv, b.signal_mv)
        assert not np.array_equal(a.signal_mv, c.signal_mv)

    @pytest.mark.parametrize("hr_bpm", [50, 72, 120])
    def test_sinus_rate_is_the_requested_one(self, hr_bpm: int) -> None:
        sig = parse_source(f"synthetic:normal?hr={hr_bpm}&seed=1").render(30, FS_HZ)
        peaks = _r_peaks(sig.signal_mv, FS_HZ)
        measured_bpm = 60.0 / np.median(np.diff(peaks) / FS_HZ)
        assert measured_bpm == pytest.approx(hr_bpm, rel=0.05)
        assert sig.signal_mv.max() == pytest.approx(1.0, abs=0.25)  # about 1 mV R waves

    def test_sinus_has_mild_variability_af_is_irregular(self) -> None:
        def rr_cv(spec: str) -> float:
            peaks = _r_peaks(parse_source(spec).render(30, FS_HZ).signal_mv, FS_HZ)
            rr = np.diff(peaks) / FS_HZ
            return float(np.std(rr) / np.mean(rr))

        sinus_cv = rr_cv("synthetic:normal?seed=2")
        af_cv = rr_cv("synthetic:af?seed=2")
        assert 0.005 < sinus_cv < 0.08
        assert af_cv > 0.15

    def test_af_has_no_p_waves_but_f_waves(self) -> None:
        sinus = parse_source("synthetic:normal?seed=3&emg=0&wander=0").render(30, FS_HZ).signal_mv
        af = parse_source("synthetic:af?seed=3&emg=0&wander=0&hr=72").render(30, FS_HZ).signal_mv

        def band_power(x: np.ndarray, lo_hz: float, hi_hz: float) -> float:
            f, p = sp_signal.welch(x, fs=FS_HZ, nperseg=1024)
            return float(p[(f >= lo_hz) & (f <= hi_hz)].sum())

        # f-waves put energy in 5-7 Hz relative to the QRS band
        assert band_power(af, 5, 7) / band_power(af, 10, 30) > 2 * band_power(sinus, 5, 7) / band_power(sinus, 10, 30)

    def test_pvc_source_has_wide_premature_beats(self) -> None:
        src = parse_source("synthetic:pvc?seed=1")
        assert isinstance(src, SyntheticSource)
        times_s = src.beat_times_s(30)
        rr_s = np.diff(times_s)
        # PVCs come early (60 % of RR) and are followed by a compensatory pause
        assert np.sum(rr_s < 0.7 * np.median(rr_s)) >= 2
        assert np.sum(rr_s > 1.25 * np.median(rr_s)) >= 2

    def test_noisy_has_mains_hum_at_the_chosen_frequency(self) -> None:
        for hum_hz in (50, 60):
            sig = parse_source(f"synthetic:noisy?hum_hz={hum_hz}").render(20, 500.0).signal_mv
            f, p = sp_signal.welch(sig, fs=500.0, nperseg=2000)
            band = (f > 40) & (f < 70)
            assert f[band][np.argmax(p[band])] == pytest.approx(hum_hz, abs=0.5)

    def test_leadoff_periods(self) -> None:
        sig = parse_source("synthetic:leadoff").render(30, FS_HZ)
        off = sig.lead_off
        assert off[: int(3 * FS_HZ)].all() and not off[int(3 * FS_HZ) + 1 : int(14 * FS_HZ) - 1].any()
        assert off[int(14 * FS_HZ) : int(16 * FS_HZ)].all() and not off[int(16 * FS_HZ) + 1 :].any()
        custom = parse_source("synthetic:normal?off=1:2").render(5, FS_HZ).lead_off
        assert custom.sum() == int(FS_HZ)


class TestSpecErrors:
    @pytest.mark.parametrize(
        ("spec", "fragment"),
        [
            ("synthetic:vfib", "unknown synthetic kind"),
            ("synthetic:normal?bpm=60", "unknown parameter"),
            ("synthetic:normal?hr=fast", "not a number"),
            ("synthetic:normal?hr=400", "hr must be"),
            ("synthetic:normal?off=5", "START:END"),
            ("synthetic:normal?off=7:3", "START < END"),
            ("synthetic:normal?hr=60&hr=70", "twice"),
            ("", "empty"),
        ],
    )
    def test_bad_specs_say_what_is_wrong(self, spec: str, fragment: str) -> None:
        with pytest.raises(SourceSpecError, match=fragment) as info:
            parse_source(spec)
        assert info.value.spec == spec

    def test_missing_record_is_a_data_error(self, tmp_path: Path) -> None:
        with pytest.raises(SourceDataError, match="no record") as info:
            parse_source(str(tmp_path / "nothing_here"))
        assert "nothing_here" in info.value.path

    def test_parse_periods(self) -> None:
        assert parse_periods("3:4, 1:2", spec="x") == ((1.0, 2.0), (3.0, 4.0))
        assert parse_periods("", spec="x") == ()


class TestReplay:
    def test_wfdb_fixture_resampled_to_device_rate(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        from ecg.io import read_record

        path, _label = cinc2017_fixture["A00001"]
        src = parse_source(f"{path}.hea")
        sig = src.render(10, 250.0)
        original = read_record(f"{path}.hea")
        assert original.fs_hz == 300.0 and sig.fs_hz == 250.0
        assert len(sig.signal_mv) == 2500
        # same waveform: compare against a plain decimation of the original by 6/5
        expected = sp_signal.resample_poly(original.signals_mv[:, 0], 5, 6)[:2500]
        assert np.corrcoef(sig.signal_mv[50:-50], expected[50:-50])[0, 1] > 0.999
        assert not sig.lead_off.any()

    def test_short_record_is_looped(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path, _ = cinc2017_fixture["A00001"]
        src = ReplaySource(path)
        sig = src.render(200, 300.0)  # A00001 lasts 30 s
        assert len(sig.signal_mv) == 60000
        assert np.array_equal(sig.signal_mv[:9000], sig.signal_mv[9000:18000])
        assert "looped" in sig.description

    def test_csv_counts_with_gain_and_start(self, tmp_path: Path) -> None:
        counts = (1000 + 500 * np.sin(np.arange(3000) / 20)).astype(int)
        path = tmp_path / "rec.csv"
        path.write_text("\n".join(map(str, counts)) + "\n")
        sig = parse_source(f"{path}?fs=250&gain=500&baseline=1000&start=2").render(4, 250.0)
        assert np.allclose(sig.signal_mv, (counts[500:1500] - 1000) / 500)

    def test_unknown_replay_parameter(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path, _ = cinc2017_fixture["A00001"]
        with pytest.raises(SourceSpecError, match="unknown parameter"):
            parse_source(f"{path}?speed=3")

    def test_start_past_the_end(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path, _ = cinc2017_fixture["A00001"]
        with pytest.raises(SourceDataError, match="past the end"):
            parse_source(f"{path}?start=999").render(5, 250.0)

    def test_record_name_looked_up_in_the_data_folder(self, shared_data_dir: Path) -> None:
        sig = parse_source("mitdb/100?start=10&lead=MLII").render(5, 250.0)
        assert len(sig.signal_mv) == 1250 and np.isfinite(sig.signal_mv).all()
