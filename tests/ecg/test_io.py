"""Tests of ecg.io: WFDB and CSV reading/writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ecg.errors import EcgError, InputFormatError, SignalError
from ecg.io import Record, parse_csv, read_csv, read_record, write_csv, write_wfdb


class TestReadWfdb:
    def test_cinc_mat_record_matches_raw_values(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path, _ = cinc2017_fixture["A00001"]
        rec = read_record(path.with_suffix(".hea"))
        raw = scipy.io.loadmat(str(path.with_suffix(".mat")))["val"][0]
        assert rec.name == "A00001"
        assert rec.fs_hz == 300.0
        assert rec.signals_mv.shape == (9000, 1)
        assert rec.signals_mv.dtype == np.float64
        assert rec.adc_gain == 1000.0 and rec.baseline == 0
        np.testing.assert_allclose(rec.signals_mv[:, 0], raw / 1000.0)
        assert rec.duration_s == pytest.approx(30.0)

    @pytest.mark.parametrize("suffix", ["", ".hea", ".mat"])
    def test_accepts_name_header_or_signal_path(self, cinc2017_fixture: dict[str, tuple[Path, str]], suffix: str) -> None:
        path, _ = cinc2017_fixture["A00004"]
        rec = read_record(str(path) + suffix)
        assert rec.signals_mv.shape == (9000, 1)

    def test_mitdb_excerpt(self, mitdb_fixture: dict[str, Path]) -> None:
        rec = read_record(mitdb_fixture["100_2min"])
        assert rec.fs_hz == 360.0
        assert rec.lead_names == ("MLII",)
        assert rec.signals_mv.shape == (43200, 1)
        assert rec.adc_gain == 200.0 and rec.baseline == 1024
        np.testing.assert_array_equal(rec.lead("MLII"), rec.lead(0))

    def test_missing_record(self, tmp_path: Path) -> None:
        with pytest.raises(InputFormatError) as info:
            read_record(tmp_path / "nope.hea")
        assert "nope.hea" in info.value.source
        assert isinstance(info.value, EcgError)

    def test_sample_rate_mismatch(self, cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        path, _ = cinc2017_fixture["A00001"]
        with pytest.raises(InputFormatError, match="300"):
            read_record(path, fs_hz=250)

    def test_garbage_header(self, tmp_path: Path) -> None:
        (tmp_path / "bad.hea").write_text("this is not a header\n")
        with pytest.raises(InputFormatError):
            read_record(tmp_path / "bad")

    @pytest.mark.parametrize("rate", ["-300", "0", "abc", "nan", "-300/1(0)"])
    def test_header_with_impossible_rate_refused(self, tmp_path: Path, rate: str) -> None:
        """Issue 13 #13: wfdb falls back to 250 Hz on a rate it cannot read; we refuse instead."""
        rec = Record(name="r", signals_mv=np.zeros((600, 1)), fs_hz=300.0, lead_names=("I",))
        hea = write_wfdb(rec, tmp_path)
        lines = hea.read_text().splitlines()
        fields = lines[0].split()
        fields[2] = rate
        hea.write_text("\n".join([" ".join(fields), *lines[1:]]) + "\n")
        with pytest.raises(InputFormatError, match="sample rate"):
            read_record(hea)


class TestReadCsv:
    def test_single_column_adc_counts(self) -> None:
        rec = parse_csv("512\n530\n1500\n", fs_hz=300, adc_gain=1000, baseline=512)
        np.testing.assert_allclose(rec.signals_mv[:, 0], [0.0, 0.018, 0.988])
        assert rec.lead_names == ("ECG",)
        assert rec.adc_gain == 1000.0 and rec.baseline == 512

    def test_header_multi_lead_and_time_column_dropped(self) -> None:
        text = "# exported\ntime_s,I,II\n0.000,10,20\n0.004,-10,40\n\n0.008,0,0\n"
        rec = parse_csv(text, fs_hz=250, adc_gain=100)
        assert rec.lead_names == ("I", "II")
        np.testing.assert_allclose(rec.signals_mv, [[0.1, 0.2], [-0.1, 0.4], [0.0, 0.0]])

    def test_lead_columns_must_be_integers_with_adc_gain(self) -> None:
        with pytest.raises(InputFormatError, match="integer") as info:
            parse_csv("time_s,I\n0.000,10\n0.004,10.5\n", fs_hz=250, adc_gain=100)
        assert info.value.line == 3

    def test_semicolon_and_bom(self) -> None:
        rec = parse_csv("\ufeffI;II\n1;2\n3;4\n", fs_hz=500, adc_gain=None)
        np.testing.assert_allclose(rec.signals_mv, [[1, 2], [3, 4]])

    def test_millivolts_when_no_gain(self) -> None:
        rec = parse_csv("0.125\n-1.5\n", fs_hz=300, adc_gain=None)
        np.testing.assert_allclose(rec.signals_mv[:, 0], [0.125, -1.5])
        assert rec.adc_gain is None and rec.baseline is None

    def test_file_path(self, tmp_path: Path) -> None:
        p = tmp_path / "rec.csv"
        p.write_text("ECG\n1000\n2000\n")
        for arg in (p, str(p)):
            rec = read_csv(arg, fs_hz=300, adc_gain=1000)
            assert rec.name == "rec"
            np.testing.assert_allclose(rec.signals_mv[:, 0], [1.0, 2.0])
        rec2 = read_record(p, fs_hz=300, adc_gain=1000)
        np.testing.assert_allclose(rec2.signals_mv, rec.signals_mv)

    @pytest.mark.parametrize(
        ("text", "line", "match"),
        [
            ("I,II\n1,2\n3\n", 3, "expected 2"),
            ("10\n12\nabc\n", 3, "abc"),
            ("10\n1.5\n", 2, "integer"),
            ("I,II\n1,2\n1,nan\n", 3, "nan"),
        ],
    )
    def test_malformed_lines_name_the_line(self, text: str, line: int, match: str) -> None:
        with pytest.raises(InputFormatError, match=match) as info:
            parse_csv(text, fs_hz=300, adc_gain=1000)
        assert info.value.line == line
        assert f"line {line}" in str(info.value)

    def test_nan_rejected_without_gain(self) -> None:
        with pytest.raises(InputFormatError, match="finite") as info:
            parse_csv("0.1\ninf\n", fs_hz=300, adc_gain=None)
        assert info.value.line == 2

    @pytest.mark.parametrize("text", ["", "\n\n# only comments\n", "I,II\n"])
    def test_empty(self, text: str) -> None:
        with pytest.raises(InputFormatError):
            parse_csv(text + "\n", fs_hz=300, adc_gain=1000)

    @pytest.mark.parametrize("fs", [0, -1, 20_000, float("nan")])
    def test_impossible_sample_rate(self, fs: float) -> None:
        with pytest.raises(SignalError) as info:
            parse_csv("1\n2\n", fs_hz=fs, adc_gain=1000)
        assert info.value.reason == "bad_fs"

    @pytest.mark.parametrize("gain", [0, -5, float("inf")])
    def test_bad_gain(self, gain: float) -> None:
        with pytest.raises(InputFormatError, match="gain"):
            parse_csv("1\n2\n", fs_hz=300, adc_gain=gain)

    def test_network_text_never_opens_a_file(self, tmp_path: Path) -> None:
        """Issue 13 #1: CSV text that looks like a path is parsed as text, never opened."""
        secret = tmp_path / "secret"
        secret.write_text("1000\n2000\n3000\n")
        for text in (str(secret), "/etc/passwd", "/dev/zero", str(secret).encode()):
            with pytest.raises(InputFormatError) as info:
                parse_csv(text, fs_hz=300, adc_gain=1000)
            assert info.value.source == "<text>"
            assert "2000" not in str(info.value) and "root" not in str(info.value)
        with pytest.raises(TypeError):
            parse_csv(secret, fs_hz=300, adc_gain=1000)  # type: ignore[arg-type]

    def test_read_csv_takes_only_paths(self, tmp_path: Path) -> None:
        with pytest.raises(TypeError):
            read_csv(b"1\n2\n", fs_hz=300, adc_gain=1000)  # type: ignore[arg-type]
        with pytest.raises(InputFormatError, match="cannot read"):
            read_csv("1\n2\n", fs_hz=300, adc_gain=1000)  # a string is a path, whatever its shape

    def test_read_csv_size_limit(self, tmp_path: Path) -> None:
        p = tmp_path / "big.csv"
        p.write_text("1\n" * 1000)
        with pytest.raises(InputFormatError, match="limit"):
            read_csv(p, fs_hz=300, adc_gain=1000, max_bytes=100)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputFormatError, match="cannot read"):
            read_csv(tmp_path / "missing.csv", fs_hz=300, adc_gain=1000)

    def test_csv_record_needs_fs(self, tmp_path: Path) -> None:
        p = tmp_path / "x.csv"
        p.write_text("1\n")
        with pytest.raises(InputFormatError, match="sample rate"):
            read_record(p)


class TestWrite:
    def _record(self) -> Record:
        t = np.arange(600) / 300.0
        sig = np.column_stack([np.sin(2 * np.pi * t), 0.5 * np.cos(2 * np.pi * 3 * t)])
        return Record(name="demo", signals_mv=sig, fs_hz=300.0, lead_names=("I", "II"))

    def test_csv_round_trip_mv(self, tmp_path: Path) -> None:
        rec = self._record()
        back = read_csv(write_csv(rec, tmp_path / "d.csv"), fs_hz=300, adc_gain=None)
        assert back.lead_names == ("I", "II")
        np.testing.assert_allclose(back.signals_mv, rec.signals_mv, atol=1e-5)

    def test_csv_round_trip_adc(self, tmp_path: Path) -> None:
        rec = self._record()
        path = write_csv(rec, tmp_path / "d.csv", adc_gain=1000, baseline=2048)
        back = read_csv(path, fs_hz=300, adc_gain=1000, baseline=2048)
        np.testing.assert_allclose(back.signals_mv, rec.signals_mv, atol=0.5e-3 + 1e-12)

    def test_wfdb_round_trip(self, tmp_path: Path) -> None:
        rec = self._record()
        hea = write_wfdb(rec, tmp_path, adc_gain=1000)
        assert hea == tmp_path / "demo.hea"
        back = read_record(hea)
        assert back.fs_hz == 300.0 and back.lead_names == ("I", "II")
        np.testing.assert_allclose(back.signals_mv, rec.signals_mv, atol=0.5e-3 + 1e-12)

    def test_wfdb_refuses_nan_and_overflow(self, tmp_path: Path) -> None:
        rec = self._record()
        bad = Record(name="bad", signals_mv=rec.signals_mv * np.nan, fs_hz=300.0, lead_names=rec.lead_names)
        with pytest.raises(SignalError):
            write_wfdb(bad, tmp_path)
        big = Record(name="big", signals_mv=rec.signals_mv * 100, fs_hz=300.0, lead_names=rec.lead_names)
        with pytest.raises(SignalError, match="range"):
            write_wfdb(big, tmp_path, adc_gain=1000)


class TestLeadIndex:
    def test_by_name_any_case_first_by_default_and_clear_error(self) -> None:
        rec = Record(name="r", signals_mv=np.zeros((10, 2)), fs_hz=250.0, lead_names=("I", "II"),
                     adc_gain=None, baseline=None)
        assert rec.lead_index(None) == 0
        assert rec.lead_index("ii") == 1 and rec.lead_index("II") == 1
        with pytest.raises(LookupError, match="has I, II"):
            rec.lead_index("V1")


class TestOneWriterPerFormat:
    def test_wfdb_keeps_counts_and_baseline_bit_for_bit(self, tmp_path: Path) -> None:
        import wfdb

        counts = np.array([2048, 2049, 100, 4095, 0, 3000], dtype=np.int64)
        gain, base = 1365.333, 2048
        rec = Record("c", ((counts - base) / gain).reshape(-1, 1), 300.0, ("ECG",))
        hea = write_wfdb(rec, tmp_path, adc_gain=gain, baseline=base, fmt=None, comments=["hello"])
        back = wfdb.rdrecord(str(hea.with_suffix("")), physical=False)
        assert back.d_signal[:, 0].tolist() == counts.tolist()
        assert back.baseline == [base] and back.fmt == ["16"] and back.comments == ["hello"]

    def test_wfdb_format_grows_with_the_values(self, tmp_path: Path) -> None:
        import wfdb

        rec = Record("w", np.array([[0.0], [100.0]]), 250.0, ("I",))
        hea = write_wfdb(rec, tmp_path, adc_gain=1000.0, fmt=None)
        assert wfdb.rdheader(str(hea.with_suffix(""))).fmt == ["24"]

    def test_csv_without_header_is_one_count_per_line(self, tmp_path: Path) -> None:
        rec = Record("c", np.array([[-0.5], [0.0], [0.25]]), 300.0, ("I",))
        path = write_csv(rec, tmp_path / "c.csv", adc_gain=200.0, baseline=1000, header=False)
        assert path.read_text() == "900\n1000\n1050\n"
        back = read_csv(path, fs_hz=300, adc_gain=200.0, baseline=1000)
        assert np.allclose(back.signals_mv[:, 0], [-0.5, 0.0, 0.25])
