"""Report layouts, header and errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ecg.errors import EcgError, SignalError
from ecg.report import ReportError, ReportHeader, make_figure, render_report
from ecg.report.header import header_lines
from ecg.report.layout import normalise_lead_name, plan_page

LUDB_NAMES = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")


class TestLayout:
    def test_single_lead_30_s_is_three_10_s_rows(self) -> None:
        page = plan_page(9000, 300.0, ("I",))
        assert page.kind == "single"
        assert [(s.segments[0].t0_s, s.segments[0].t1_s) for s in page.strips] == [
            (0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
        assert all(s.width_mm == 260.0 for s in page.strips)
        tops = [s.y_mm for s in page.strips]
        assert tops == sorted(tops, reverse=True)
        assert page.shown_s == 30.0

    def test_long_single_lead_is_cut_at_60_s(self) -> None:
        page = plan_page(300 * 61, 300.0, ("I",))
        assert len(page.strips) == 6
        assert page.shown_s == 60.0
        assert page.strips[-1].y_mm >= 0.0

    def test_twelve_leads_are_3_by_4_plus_rhythm_strip(self) -> None:
        page = plan_page(5000, 500.0, LUDB_NAMES)
        assert page.kind == "twelve"
        assert len(page.strips) == 4
        labels = [[seg.label for seg in s.segments] for s in page.strips]
        assert labels == [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"], ["II"]]
        v4 = page.strips[0].segments[3]
        assert (v4.lead_index, v4.t0_s, v4.t1_s, v4.x0_s) == (9, 7.5, 10.0, 7.5)
        assert page.strips[3].segments[0].t1_s == 10.0
        assert (page.width_mm, page.height_mm) == (297.0, 210.0)

    def test_other_multi_lead_input_is_one_row_per_lead(self) -> None:
        page = plan_page(2000, 200.0, ("ch1", "ch2"))
        assert page.kind == "multi"
        assert [s.segments[0].lead_index for s in page.strips] == [0, 1]

    @pytest.mark.parametrize(("raw", "norm"), [("avr", "aVR"), ("AVL", "aVL"), ("v1", "V1"), ("ii", "II"),
                                               ("Lead I", "I")])
    def test_lead_names_are_normalised(self, raw: str, norm: str) -> None:
        assert normalise_lead_name(raw) == norm


class TestHeader:
    def test_unknown_field_is_refused_with_its_name(self) -> None:
        with pytest.raises(ReportError) as info:
            ReportHeader.from_mapping({"result": "N", "hr": 60})
        assert info.value.reason == "unknown_field"
        assert info.value.field_name == "hr"
        assert isinstance(info.value, EcgError)

    @pytest.mark.parametrize("value", [float("nan"), "72", True, float("inf")])
    def test_numbers_must_be_finite_numbers(self, value: object) -> None:
        with pytest.raises(ReportError) as info:
            ReportHeader.from_mapping({"heart_rate_bpm": value})
        assert info.value.field_name == "heart_rate_bpm"

    def test_lines_show_values_units_and_dashes_for_missing(self) -> None:
        when = dt.datetime(2026, 11, 22, 1, 30, tzinfo=dt.timezone.utc)
        header = ReportHeader(recorded_at=when, heart_rate_bpm=71.6, pr_ms=152.0, qtc_ms=None, duration_s=30)
        _, left, right = header_lines(header)
        assert dict(left)["Date"] == "2026-11-22 01:30 UTC"
        assert dict(left)["Duration"] == "30.0 s"
        assert dict(right)["Heart rate"] == "72 bpm"
        assert dict(right)["PR"] == "152 ms"
        assert dict(right)["QTc (Fridericia)"] == "—"  # one QTc, its formula named

    def test_qtc_formula_is_named_and_checked(self) -> None:
        _, _, right = header_lines(ReportHeader(qtc_ms=471.2, qtc_formula="Bazett"))
        assert dict(right)["QTc (Bazett)"] == "471 ms"
        with pytest.raises(ReportError) as info:
            ReportHeader.from_mapping({"qtc_formula": "Hodges"})
        assert info.value.field_name == "qtc_formula"

    def test_duration_is_filled_from_the_signal(self) -> None:
        fig, _ = make_figure(np.zeros(4500), 300.0, ("I",), {"result": "x"})
        texts = [t.get_text() for t in fig.texts]
        assert "15.0 s" in texts


class TestErrors:
    def test_unsupported_suffix(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(ReportError) as info:
            render_report(np.zeros(3000), 300.0, ("I",), None, tmp_path / "r.jpg")
        assert info.value.reason == "format"
        assert not list(tmp_path.iterdir())

    def test_lead_count_must_match(self) -> None:
        with pytest.raises(ReportError):
            make_figure(np.zeros((3000, 2)), 300.0, ("I",))

    @pytest.mark.parametrize("fs_hz", [0.0, -1.0, float("nan"), 1e6])
    def test_impossible_rate(self, fs_hz: float) -> None:
        with pytest.raises(SignalError) as info:
            make_figure(np.zeros(3000), fs_hz, ("I",))
        assert info.value.reason == "bad_fs"

    def test_all_nan_is_refused_but_gaps_are_drawn(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(SignalError):
            make_figure(np.full(3000, np.nan), 300.0, ("I",))
        sig = np.sin(np.arange(3000) / 30.0)
        sig[1000:1300] = np.nan
        out = render_report(sig, 300.0, ("I",), None, tmp_path / "gap.png", dpi=50)
        assert out.stat().st_size > 1000

    def test_bad_shape(self) -> None:
        with pytest.raises(SignalError) as info:
            make_figure(np.zeros((10, 10, 2)), 300.0, ("I",))
        assert info.value.reason == "bad_shape"


class TestMarkers:
    @staticmethod
    def _marker_texts(fig) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        return [(t.get_text(), t.get_horizontalalignment()) for ax in fig.axes for t in ax.texts
                if t.get_text().startswith("contact")]

    def test_contact_lost_at_the_end_of_the_trace_is_drawn(self) -> None:
        sig = np.sin(np.arange(9000) / 30.0)
        header = {"markers": ((12.0, "contact lost"), (12.0, "contact regained"), (30.0, "contact lost"))}
        texts = self._marker_texts(make_figure(sig, 300.0, ("I",), header)[0])
        assert texts.count(("contact lost", "left")) == 1
        assert ("contact regained", "left") in texts
        # the session ended without contact: marked once, at the right end of the last row
        assert texts.count(("contact lost", "right")) == 1

    def test_marker_on_a_row_boundary_is_drawn_once(self) -> None:
        sig = np.sin(np.arange(9000) / 30.0)
        texts = self._marker_texts(make_figure(sig, 300.0, ("I",), {"markers": ((10.0, "contact lost"),)})[0])
        assert texts == [("contact lost", "left")]
