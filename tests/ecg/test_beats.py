"""Tests of ecg.beats: R peaks, RR intervals, heart rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecg.beats import detect_r_peaks, heart_rate_bpm, rr_intervals_ms
from ecg.errors import SignalError
from ecg.io import read_record
from ecg.preprocess import Resample

#: PhysioNet beat annotation symbols (non-beat marks such as + ~ | x are excluded).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")


def _reference(path: Path) -> np.ndarray:
    ann = wfdb.rdann(str(path), "atr")
    return np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS], dtype=np.int64)


def _match(ref: np.ndarray, det: np.ndarray, tol: float) -> tuple[int, int, int]:
    """Greedy one-to-one matching; returns TP, FN, FP."""
    used = np.zeros(det.size, dtype=bool)
    tp = 0
    for r in ref:
        d = np.abs(det - r).astype(float)
        d[used] = np.inf
        if d.size and d.min() <= tol:
            used[int(np.argmin(d))] = True
            tp += 1
    return tp, int(ref.size) - tp, int(det.size) - tp


class TestOnRealRecords:
    @pytest.mark.parametrize("name", ["100_2min", "208_1min"])
    def test_mitdb_excerpts_all_beats(self, mitdb_fixture: dict[str, Path], name: str) -> None:
        rec = read_record(mitdb_fixture[name])
        ref = _reference(mitdb_fixture[name])
        peaks = detect_r_peaks(rec.lead(0), rec.fs_hz)
        tp, fn, fp = _match(ref, peaks, 0.15 * rec.fs_hz)
        assert (fn, fp) == (0, 0)
        # located on the R wave, not just near it: median error below 10 ms
        err = np.abs(peaks[:, None] - ref[None, :]).min(axis=1)
        assert np.median(err) / rec.fs_hz < 0.010

    def test_inverted_polarity_gives_same_peaks(self, mitdb_fixture: dict[str, Path]) -> None:
        rec = read_record(mitdb_fixture["208_1min"])
        x = rec.lead(0)
        np.testing.assert_array_equal(detect_r_peaks(x, rec.fs_hz), detect_r_peaks(-x, rec.fs_hz))

    def test_inverted_finger_record(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        # A00013 is recorded upside down (negative QRS): peaks must sit on the minima
        rec = read_record(cinc2017_fixture["A00013"][0])
        x = rec.lead(0)
        peaks = detect_r_peaks(x, rec.fs_hz)
        assert 40 <= peaks.size <= 52
        assert np.median(x[peaks]) < np.percentile(x, 2)

    @pytest.mark.parametrize("fs_hz", [128.0, 250.0, 500.0, 1000.0])
    def test_other_sample_rates(self, mitdb_fixture: dict[str, Path], fs_hz: float) -> None:
        rec = read_record(mitdb_fixture["208_1min"])
        y, fs = Resample(fs_hz).apply(rec.lead(0), rec.fs_hz)
        ref = np.round(_reference(mitdb_fixture["208_1min"]) * fs / rec.fs_hz)
        tp, fn, fp = _match(ref, detect_r_peaks(y, fs), 0.15 * fs)
        assert (fn, fp) == (0, 0)

    @pytest.mark.parametrize("speed", [2, 3])
    def test_fast_regular_rhythm_not_halved(
        self, cinc2017_fixture: dict[str, tuple[Path, str]], speed: int
    ) -> None:
        # a sinus record played 2x / 3x faster: about 158 / 237 bpm, every beat kept
        x = read_record(cinc2017_fixture["A00001"][0]).lead(0)
        slow = heart_rate_bpm(detect_r_peaks(x, 300), 300)
        fast = heart_rate_bpm(detect_r_peaks(x[::speed], 300), 300)
        assert slow is not None and fast is not None
        assert fast == pytest.approx(speed * slow, rel=0.03)

    def test_amplitude_scale_invariant(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        x = read_record(cinc2017_fixture["A00001"][0]).lead(0)
        np.testing.assert_array_equal(detect_r_peaks(x, 300), detect_r_peaks(x * 0.05, 300))

    @pytest.mark.parametrize("name", ["A00001", "A00004"])  # A00002 has motion artefact bursts
    def test_cinc_heart_rate_matches_peak_count(self, cinc2017_fixture: dict[str, tuple[Path, str]], name: str) -> None:
        rec = read_record(cinc2017_fixture[name][0])
        peaks = detect_r_peaks(rec.lead(0), rec.fs_hz)
        hr = heart_rate_bpm(peaks, rec.fs_hz)
        assert hr is not None
        # 30 s: beat count and rate agree within a few beats (AF is irregular)
        assert abs(peaks.size - hr / 2) <= 4
        assert 40 < hr < 150

    def test_accepts_column_vector(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        rec = read_record(cinc2017_fixture["A00002"][0])
        np.testing.assert_array_equal(detect_r_peaks(rec.signals_mv, 300), detect_r_peaks(rec.lead(0), 300))


class TestSharedMitdb:
    """Scored on the full 16 MIT-BIH records when ../shared/data is present."""

    def test_summed_sensitivity_and_ppv(self, shared_data_dir: Path) -> None:
        folder = shared_data_dir / "mitdb"
        if not folder.is_dir():
            pytest.skip("mitdb not in shared data")
        tot = np.zeros(3, dtype=np.int64)
        for hea in sorted(folder.glob("*.hea")):
            rec = wfdb.rdrecord(str(hea.with_suffix("")), channels=[0])
            ref = _reference(hea.with_suffix(""))
            peaks = detect_r_peaks(rec.p_signal[:, 0], rec.fs)
            # vectorised matching (records are long)
            pos = np.searchsorted(peaks, ref)
            near = np.minimum(
                np.abs(ref - peaks[np.clip(pos - 1, 0, peaks.size - 1)]),
                np.abs(peaks[np.clip(pos, 0, peaks.size - 1)] - ref),
            )
            tp = int(np.count_nonzero(near <= 54))
            tot += (tp, ref.size - tp, peaks.size - tp)
        tp, fn, fp = tot
        # every beat kept (Se 99.88 % with the shipped rule) at the price of noise
        # artefacts kept in records 105 and 203 (PPV 99.52 %): see docs/performance.md
        assert tp / (tp + fn) >= 0.998
        assert tp / (tp + fp) >= 0.994


class TestRrAndRate:
    def test_rr_and_rate(self) -> None:
        np.testing.assert_allclose(rr_intervals_ms(np.array([0, 300, 570, 900]), 300.0), [1000, 900, 1100])
        assert heart_rate_bpm(np.array([0, 300, 600, 900]), 300.0) == pytest.approx(60.0)
        assert heart_rate_bpm(np.array([10]), 300.0) is None
        assert heart_rate_bpm(np.array([], dtype=np.int64), 300.0) is None

    def test_rate_robust_to_one_missed_beat(self) -> None:
        peaks = np.array([0, 250, 500, 1000, 1250, 1500, 1750])
        assert heart_rate_bpm(peaks, 250.0) == pytest.approx(60.0)

    def test_rr_bad_fs(self) -> None:
        with pytest.raises(SignalError):
            rr_intervals_ms(np.array([0, 100]), 0)


class TestBadInput:
    @pytest.mark.parametrize(
        ("sig", "fs", "reason"),
        [
            (np.r_[np.zeros(1000), np.nan, np.zeros(1000)], 300.0, "non_finite"),
            (np.zeros(3000), -1.0, "bad_fs"),
            (np.zeros(3000), 50_000.0, "bad_fs"),
            (np.zeros(100), 300.0, "too_short"),
            (np.zeros((3000, 2)), 300.0, "bad_shape"),
        ],
    )
    def test_errors(self, sig: np.ndarray, fs: float, reason: str) -> None:
        with pytest.raises(SignalError) as info:
            detect_r_peaks(sig, fs)
        assert info.value.reason == reason

    def test_flat_gives_no_beats(self) -> None:
        assert detect_r_peaks(np.full(3000, 0.7), 300.0).size == 0
        assert heart_rate_bpm(detect_r_peaks(np.full(3000, 0.7), 300.0), 300.0) is None

    def test_synthetic_spikes(self) -> None:
        fs = 250.0
        x = np.zeros(int(20 * fs))
        x[100::200] = 1.0
        x = np.convolve(x, np.hanning(15), "same")
        peaks = detect_r_peaks(x, fs)
        np.testing.assert_array_equal(peaks, np.arange(100, x.size, 200))
        assert heart_rate_bpm(peaks, fs) == pytest.approx(75.0)


class TestSharedWideView:
    """The context hands its 0.5–40 Hz view in (``wide_mv=``): the same peaks, bit for bit."""

    def test_handing_the_band_in_changes_nothing(self) -> None:
        from ecg.beats import detector_band

        rng = np.random.default_rng(7)
        fs = 300.0
        x = np.zeros(int(30 * fs))
        x[150 :: int(0.8 * fs)] = 1.0
        x = np.convolve(x, np.hanning(15), "same") + 0.05 * rng.standard_normal(x.size) + 0.2
        alone = detect_r_peaks(x, fs)
        assert alone.size > 30
        assert np.array_equal(detect_r_peaks(x, fs, wide_mv=detector_band(x, fs)), alone)

    def test_a_band_of_another_length_is_refused(self) -> None:
        x = np.convolve(np.tile(np.r_[1.0, np.zeros(299)], 30), np.hanning(15), "same")
        with pytest.raises(SignalError):
            detect_r_peaks(x, 300.0, wide_mv=np.zeros(x.size - 1))

    def test_handing_the_envelope_in_changes_nothing(self) -> None:
        """The context's QRS envelope (``envelope=``) is the detector's own: same peaks,
        and one envelope per lead when R peaks and quality both need it."""
        from ecg.beats import band_envelope, detector_band
        from ecg.context import LeadContext

        rng = np.random.default_rng(8)
        fs = 250.0
        x = np.zeros(int(30 * fs))
        x[100 :: int(0.9 * fs)] = 1.0
        x = np.convolve(x, np.hanning(13), "same") + 0.05 * rng.standard_normal(x.size)
        wide = detector_band(x, fs)
        alone = detect_r_peaks(x, fs)
        assert alone.size > 30
        assert np.array_equal(detect_r_peaks(x, fs, wide_mv=wide, envelope=band_envelope(wide, fs)), alone)
        ctx = LeadContext.of(x, fs)
        assert np.array_equal(ctx.r_peaks, alone)
        ctx.qrs_envelope  # noqa: B018 - reading it must not compute it again
        assert ctx.computed["qrs_envelope"] == 1

    def test_an_envelope_of_another_length_is_refused(self) -> None:
        x = np.convolve(np.tile(np.r_[1.0, np.zeros(299)], 30), np.hanning(15), "same")
        with pytest.raises(SignalError):
            detect_r_peaks(x, 300.0, envelope=np.zeros(x.size - 1))


class TestCostOnlyHelpers:
    """The cost-only rewrites give the values of the numpy/scipy calls they replace."""

    @pytest.mark.parametrize("n", [5, 10, 11, 12, 40, 301])
    def test_background_is_the_mirrored_running_median_read_at_the_candidates(self, n: int) -> None:
        from scipy.ndimage import median_filter

        from ecg.beats import _background

        rng = np.random.default_rng(n)
        fs = 100.0
        env = rng.random(n * 10) ** 3
        cand = np.sort(rng.choice(env.size, size=min(env.size, 25), replace=False))
        expected = median_filter(env[::10], size=21, mode="mirror")[np.minimum(cand // 10, n - 1)]
        assert np.array_equal(_background(env, cand, fs), expected)

    @pytest.mark.parametrize("n", [5, 10, 11, 12, 40, 301])
    def test_noise_background_on_its_grid_is_the_mirrored_running_median(self, n: int) -> None:
        from scipy.ndimage import median_filter

        from ecg.beat_signal import background_step, noise_background

        rng = np.random.default_rng(n)
        env = rng.random(n * 30) ** 3
        assert background_step(300.0) == 30
        expected = median_filter(env[::30], size=21, mode="mirror")
        assert np.array_equal(noise_background(env, 300.0), expected)
        at = np.array([0, 29, 30, env.size - 1])
        assert np.array_equal(noise_background(env, 300.0, at), expected[np.minimum(at // 30, n - 1)])

    def test_running_median_is_ndimage_nearest(self) -> None:
        from scipy.ndimage import median_filter

        from ecg.beat_morphology import running_median

        rng = np.random.default_rng(1)
        for n in (1, 2, 5, 9, 30):
            x = rng.random(n)
            assert np.array_equal(running_median(x, 9), median_filter(x, size=9, mode="nearest"))

    def test_conflicts_fixed_point_is_the_walk(self) -> None:
        from ecg.beats import _TYPICAL_FRACTION, _resolve_conflicts, _resolve_conflicts_walk

        rng = np.random.default_rng(2)
        for _ in range(200):
            cand = np.cumsum(rng.integers(60, 200, size=40))  # ≥ 60 apart, near = 108
            score = rng.random(40) ** 4
            got = _resolve_conflicts(cand, score, 108)
            want = _resolve_conflicts_walk(cand, score, 108, _TYPICAL_FRACTION * float(np.median(score)))
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])

    def test_split_beats_read_the_qrs_marks_only_of_flagged_beats(self) -> None:
        """Marks given as a function are asked only for flagged beats (and edge beats that are
        weak), and give what the mask gives."""
        from ecg.beat_split import remove_split_beats_rows, weak_edges

        rng = np.random.default_rng(4)
        for _ in range(150):
            n = int(rng.integers(4, 40))
            beats = np.cumsum(rng.integers(40, 300, size=n))
            score = rng.random(n) ** 2
            marks = rng.random(n) < 0.5
            noisy = rng.random(n) < 0.2
            asked: list[np.ndarray] = []

            def lazy(at: np.ndarray, marks: np.ndarray = marks, asked: list[np.ndarray] = asked) -> np.ndarray:
                asked.append(np.asarray(at))
                return marks[at]

            want = remove_split_beats_rows(beats, score, marks, noisy, 1.5)
            got = remove_split_beats_rows(beats, score, lazy, noisy, 1.5)
            assert all(np.array_equal(a, b) for a, b in zip(want[:2], got[:2]))
            kept_marks = got[2](np.arange(got[0].size))
            assert np.array_equal(kept_marks, want[2])
            asked.clear()
            assert np.array_equal(weak_edges(got[1], got[2]), weak_edges(want[1], want[2]))
            level = 0.5 * np.median(got[1])
            if got[1].size >= 8 and not (got[1][0] < level or got[1][-1] < level):
                assert not asked  # no weak edge: no mark read

    def test_no_split_reference_when_no_span_can_be_flagged(self) -> None:
        """``_reference_rr_one`` gives up (None) only when the full reference RR flags no beat."""
        from ecg.beat_split import _reference_rr_one, _split_flags, running_median

        rng = np.random.default_rng(5)
        gave_up = 0
        for trial in range(600):
            n = int(rng.integers(4, 40))
            rr = rng.integers(150, 300, size=n - 1) if trial % 2 else 250 + rng.integers(-5, 6, size=n - 1)
            beats = np.concatenate(([100], 100 + np.cumsum(rr)))
            score = rng.random(n) ** (3 if trial % 3 else 0.2)
            strong = score >= 0.3 * np.median(score)
            noisy = rng.random(n) < 0.1
            limit = 1.5 if noisy[1:-1].any() else 1.2
            if _reference_rr_one(beats, strong, limit) is not None:
                continue
            gave_up += 1
            pair = strong[:-1] & strong[1:]
            if np.count_nonzero(pair) >= 3:
                rr_s, mid = np.diff(beats)[pair], ((beats[1:] + beats[:-1]) / 2)[pair]
            else:
                s = beats[strong]
                if s.size < 3:
                    continue
                rr_s, mid = np.diff(s), (s[1:] + s[:-1]) / 2
            rr_ref = np.interp(beats[1:-1], mid, running_median(rr_s, 9))
            inner = np.arange(1, n - 1)
            assert not _split_flags(beats, score, strong, inner, rr_ref, noisy, 1.5, None).any()
        assert gave_up > 150


def _two_kinds_with_t_waves(fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Narrow beats (small T wave 300 ms later) and every 4th a wide ectopic beat (tall T
    wave 250 ms later); three of the ectopic beats' T waves are candidates too. Returns
    the signal, the candidates, their envelope heights and the T-wave candidates' indices."""
    t = np.arange(int(40 * 0.8 * fs)) / fs

    def bump(at: float, width: float, amp: float) -> np.ndarray:
        return amp * np.exp(-0.5 * ((t - at) / width) ** 2)

    x = np.zeros_like(t)
    beats, heights = [], []
    for b in range(40):
        at = 0.4 + 0.8 * b
        if b % 4 == 3:  # ectopic: wide, its tall T wave
            x += bump(at, 0.025, -1.0) + bump(at + 0.25, 0.05, 0.8)
            beats.append(at)
            heights.append(0.8)
            if b in (11, 23, 35):
                beats.append(at + 0.25)
                heights.append(0.6)  # 0.75 x as steep: not "half as steep"
        else:
            x += bump(at, 0.008, 1.0) + bump(at + 0.3, 0.05, 0.2)
            beats.append(at)
            heights.append(1.0)
    pos = np.round(np.array(beats) * fs).astype(np.int64)
    t_waves = np.flatnonzero(np.diff(pos, prepend=-10**6) < int(0.3 * fs))
    return x, pos, np.array(heights), t_waves


def test_repeated_waves_by_the_predecessors_own_kind_finds_t_waves_after_ectopic_beats() -> None:
    """The lever declared on 2 December (``own_wave_gate``, not adopted): the references are
    beats shaped like the predecessor, so an ectopic beat's tall T wave is compared with what
    follows the other ectopic beats; the shipped test (references by steepness, only beats
    < 0.5 x as steep) does not judge it. No true beat is flagged."""
    from ecg.beat_morphology import DEFAULT_QRS_LIKE, _unit_slopes, repeated_waves

    fs = 250.0
    x, beats, heights, t_waves = _two_kinds_with_t_waves(fs)
    wide = x[None, :]
    shipped = repeated_waves(wide, beats, heights, fs)
    assert not shipped.any()
    by_steepness = repeated_waves(wide, beats, heights, fs, gate=1.0)  # steepness references, wider gate
    assert not by_steepness[t_waves].any()  # the narrow beats' small T waves are not these
    shape = _unit_slopes(wide, beats, fs, None, None)
    own = repeated_waves(wide, beats, heights, fs, gate=1.0, shape=shape)
    assert own.nonzero()[0].tolist() == t_waves.tolist()
    assert not repeated_waves(wide, beats, heights, fs, gate=0.5, shape=shape).any()  # 0.75 x: over that gate
    assert DEFAULT_QRS_LIKE.own_wave_gate == 0.0  # not adopted: the shipped detector has it off
