"""Findings: thresholds at their edges, sex-specific QTc, suppression rules, BBB patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecg.findings import (
    QTC_FORMULA,
    THRESHOLDS,
    QrsMorphology,
    axis_findings,
    bundle_branch_findings,
    interval_findings,
    qtc_limits,
    reported_qtc_ms,
)


def codes(**kw: object) -> list[str]:
    base: dict[str, object] = {"pr_ms": 160.0, "qrs_ms": 90.0, "qtc_ms": 420.0, "heart_rate_bpm": 70.0, "p_waves": True}
    base.update(kw)
    return [f.code for f in interval_findings(**base)]  # type: ignore[arg-type]


class TestIntervalFindings:
    def test_normal_gives_nothing(self) -> None:
        assert codes() == []

    # 200 ms limit + 10 ms measurement margin (chosen by CV on LUDB, benchmarks/findings_ludb.py)
    @pytest.mark.parametrize(("pr", "expected"), [(200.5, []), (210.0, []), (210.5, ["first_degree_av_block"]),
                                                  (120.0, []), (119.0, ["short_pr"])])
    def test_pr_limits(self, pr: float, expected: list[str]) -> None:
        assert codes(pr_ms=pr) == expected

    def test_pr_needs_p_waves(self) -> None:
        assert "first_degree_av_block" not in codes(pr_ms=260.0, p_waves=False)

    @pytest.mark.parametrize(("qrs", "wide"), [(119.9, False), (120.0, True)])
    def test_wide_qrs_at_120(self, qrs: float, wide: bool) -> None:
        assert ("wide_qrs" in codes(qrs_ms=qrs)) is wide

    @pytest.mark.parametrize(("sex", "qtc", "long"), [("M", 450.0, True), ("M", 449.0, False),
                                                      ("F", 455.0, False), ("F", 460.0, True),
                                                      (None, 455.0, False), (None, 460.0, True)])
    def test_long_qtc_by_sex(self, sex: str | None, qtc: float, long: bool) -> None:
        assert ("long_qtc" in codes(qtc_ms=qtc, sex=sex)) is long

    def test_one_formula_judged_at_every_rate(self) -> None:
        # the reported QTc is Fridericia's at any heart rate; its limits do not change with the rate
        assert QTC_FORMULA == "Fridericia"
        assert reported_qtc_ms(bazett_ms=500.0, fridericia_ms=440.0) == 440.0
        for hr in (45.0, 80.0, 130.0):
            assert "long_qtc" not in codes(qtc_ms=455.0, heart_rate_bpm=hr, sex="F")
            assert "long_qtc" in codes(qtc_ms=455.0, heart_rate_bpm=hr, sex="M")

    @pytest.mark.parametrize(("sex", "long_ms", "words"), [("M", 450.0, "men's limit"), ("F", 460.0, "women's limit"),
                                                           (None, 460.0, "sex not given")])
    def test_limits_name_formula_sex_and_basis(self, sex: str | None, long_ms: float, words: str) -> None:
        lim = qtc_limits(sex)  # type: ignore[arg-type]
        assert (lim.formula, lim.sex, lim.long_ms, lim.short_ms) == ("Fridericia", sex, long_ms, 390.0)
        assert words in lim.basis and "Circulation 2009" in lim.source
        (f,) = interval_findings(pr_ms=None, qrs_ms=None, qtc_ms=long_ms, heart_rate_bpm=None, p_waves=False,
                                 sex=sex)  # type: ignore[arg-type]
        assert f.code == "long_qtc" and f.threshold == long_ms and "Fridericia" in f.label and words in f.label

    def test_bad_sex_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="sex"):
            qtc_limits("male")  # type: ignore[arg-type]

    def test_short_qtc(self) -> None:
        assert codes(qtc_ms=385.0) == ["short_qtc"]
        assert codes(qtc_ms=390.0) == ["short_qtc"] and codes(qtc_ms=391.0) == []

    def test_rate_findings_name_sinus_only_with_p(self) -> None:
        assert codes(heart_rate_bpm=50.0) == ["sinus_bradycardia"]
        assert codes(heart_rate_bpm=120.0) == ["sinus_tachycardia"]
        assert codes(heart_rate_bpm=50.0, p_waves=False) == ["bradycardia"]
        assert codes(heart_rate_bpm=60.0) == [] and codes(heart_rate_bpm=100.0) == []

    def test_paced_suppresses_conduction_findings(self) -> None:
        assert codes(pr_ms=260.0, qrs_ms=160.0, qtc_ms=500.0, paced=True) == []
        assert codes(heart_rate_bpm=45.0, paced=True) == ["bradycardia"]

    def test_nulls_give_no_findings(self) -> None:
        assert codes(pr_ms=None, qrs_ms=None, qtc_ms=None, heart_rate_bpm=None) == []

    def test_finding_carries_value_threshold_and_source(self) -> None:
        (f,) = interval_findings(pr_ms=230.04, qrs_ms=None, qtc_ms=None, heart_rate_bpm=None, p_waves=True)
        d = f.to_dict()
        assert d["value"] == 230.0 and d["unit"] == "ms"
        assert d["threshold"] == THRESHOLDS.pr_long_ms + THRESHOLDS.pr_margin_ms
        assert "Chou" in d["source"]


class TestAxis:
    @pytest.mark.parametrize(("axis", "expected"), [(0.0, []), (-30.0, []), (90.0, []), (-45.0, ["left_axis_deviation"]),
                                                    (120.0, ["right_axis_deviation"]), (-150.0, ["right_axis_deviation"])])
    def test_limits(self, axis: float, expected: list[str]) -> None:
        assert [f.code for f in axis_findings(axis)] == expected

    def test_none(self) -> None:
        assert axis_findings(None) == []


RSR_V1 = QrsMorphology(pos_mv=0.6, neg_mv=-0.3, pos_last=True)
QS_V1 = QrsMorphology(pos_mv=0.05, neg_mv=-0.8, pos_last=True)
QRS_V6 = QrsMorphology(pos_mv=0.8, neg_mv=-0.4, pos_last=False)
R_V6 = QrsMorphology(pos_mv=0.9, neg_mv=-0.05, pos_last=True)


class TestBundleBranch:
    def test_rbbb(self) -> None:
        assert [f.code for f in bundle_branch_findings(qrs_ms=140, v1=RSR_V1, v6=QRS_V6)] == ["rbbb_pattern"]

    def test_lbbb(self) -> None:
        assert [f.code for f in bundle_branch_findings(qrs_ms=150, v1=QS_V1, v6=R_V6)] == ["lbbb_pattern"]

    @pytest.mark.parametrize(("qrs", "sex", "lbbb"), [(139.0, None, False), (140.0, None, True), (139.0, "M", False),
                                                     (130.0, "F", True), (129.0, "F", False)])
    def test_lbbb_width_by_sex(self, qrs: float, sex: str | None, lbbb: bool) -> None:
        got = [f.code for f in bundle_branch_findings(qrs_ms=qrs, v1=QS_V1, v6=R_V6, sex=sex)]  # type: ignore[arg-type]
        assert ("lbbb_pattern" in got) is lbbb
        if not lbbb:
            assert got == ["ivcd"]  # wide, but not wide enough for a complete LBBB

    def test_narrow_is_no_block(self) -> None:
        assert bundle_branch_findings(qrs_ms=100, v1=RSR_V1, v6=QRS_V6) == []

    def test_wide_without_pattern_is_ivcd(self) -> None:
        deep_s_v6 = QrsMorphology(pos_mv=0.8, neg_mv=-0.7, pos_last=False)
        assert [f.code for f in bundle_branch_findings(qrs_ms=130, v1=QS_V1, v6=deep_s_v6)] == ["ivcd"]
        assert [f.code for f in bundle_branch_findings(qrs_ms=115, v1=QS_V1, v6=R_V6)] == ["ivcd"]

    def test_needs_v1_and_v6_and_no_pacing(self) -> None:
        assert bundle_branch_findings(qrs_ms=140, v1=None, v6=QRS_V6) == []
        assert bundle_branch_findings(qrs_ms=140, v1=RSR_V1, v6=QRS_V6, paced=True) == []


class TestMultiLeadQt:
    """A 12-lead QT (and so long/short QTc) only when the leads agree on the T end."""

    def test_leads_within_physiological_dispersion_agree(self) -> None:
        from ecg.delineation.summary import qt_leads_disagree

        assert qt_leads_disagree([380.0, 395.0, 400.0, 410.0, 420.0, 440.0, 450.0, None]) is None
        assert qt_leads_disagree([380.0, 650.0, 660.0]) is None  # under 4 leads: not judged

    def test_a_quarter_of_leads_on_another_wave_disagree(self) -> None:
        from ecg.delineation.summary import MAX_QT_IQR_MS, qt_leads_disagree

        # LUDB 107 (rules): six leads took a later wave; the annotated QTs span 370-450 ms
        lead_qt = [650.0, 420.0, 372.0, 662.0, 638.0, 398.0, 382.0, 382.0, 376.0, 392.0, 662.0, 672.0]
        why = qt_leads_disagree(lead_qt)
        assert why is not None and "disagree" in why and f"{MAX_QT_IQR_MS:.0f}" in why

    def test_measure_leads_reports_no_qt_or_qtc_then(self, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import ecg.delineate as delineate
        from ecg.io import read_record

        rec = read_record(fixtures_dir / "ludb" / "2.hea")
        names = tuple(rec.lead_names)
        kept = delineate.measure_leads(rec.signals_mv, rec.fs_hz, names)
        assert kept.qt_ms is not None and kept.qtc_ms is not None  # a real sinus record: the leads agree
        monkeypatch.setattr(delineate, "qt_leads_disagree", lambda qts: "leads disagree on the T end: test")
        m = delineate.measure_leads(rec.signals_mv, rec.fs_hz, names, sex="M")
        assert m.qt_ms is None and m.qtc_ms is None and m.reasons["qt_ms"].startswith("leads disagree")
        assert m.reasons["qtc_ms"] == m.reasons["qt_ms"]
        assert not {"long_qtc", "short_qtc"} & {f.code for f in m.findings}
        assert m.qrs_ms == kept.qrs_ms and m.heart_rate_bpm == kept.heart_rate_bpm  # nothing else changes
