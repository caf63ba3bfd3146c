"""Findings drawn from ECG measurements, with their thresholds and sources.

Every finding is a plain rule on a measured value. The thresholds are the conventional
adult limits of the references below; they are screening statements for a clinician to
confirm, not diagnoses.

==========================  =============================  ===========================
code                        rule                           source
==========================  =============================  ===========================
``first_degree_av_block``   PR > 210 ms (200 ms limit      [CHOU]_ (normal PR 120–200)
                            + 10 ms measurement margin),
                            P waves present
``short_pr``                PR < 120 ms, P waves present   [CHOU]_
``wide_qrs``                QRS ≥ 120 ms                   [SURAWICZ]_ (complete BBB
                                                           width)
``long_qtc``                QTc (Fridericia) ≥ 450 ms      [RAUTAHARJU]_, [LUO]_
                            men, ≥ 460 ms women; sex
                            unknown: ≥ 460 ms (fewer
                            false alarms)
``short_qtc``               QTc (Fridericia) ≤ 390 ms      [RAUTAHARJU]_
``sinus_bradycardia``       HR < 60 bpm with steady P      [CHOU]_
``sinus_tachycardia``       HR > 100 bpm with steady P     [CHOU]_
``bradycardia``             HR < 60 bpm, no P wave found   [CHOU]_
``tachycardia``             HR > 100 bpm, no P wave found  [CHOU]_
``rbbb_pattern``            QRS ≥ 120 ms, terminal         [SURAWICZ]_
                            positive deflection in V1
                            (rsR'/R), terminal S in
                            I and V6
``lbbb_pattern``            QRS ≥ 140 ms men, ≥ 130 ms     [STRAUSS]_, [SURAWICZ]_
                            women (sex unknown: 140), V1
                            mainly negative (QS/rS), V6
                            broad positive without
                            terminal S
``ivcd``                    QRS > 110 ms, neither pattern  [SURAWICZ]_
``left_axis_deviation``     frontal QRS axis < −30°        [CHOU]_
``right_axis_deviation``    frontal QRS axis > +90°        [CHOU]_
==========================  =============================  ===========================

.. [CHOU] Surawicz B, Knilans TK. Chou's Electrocardiography in Clinical Practice,
   6th ed. Saunders/Elsevier, 2008 (normal adult limits: PR 120–200 ms, heart rate
   60–100 bpm, frontal axis −30° to +90°).
.. [SURAWICZ] Surawicz B, Childers R, Deal BJ, Gettes LS. AHA/ACCF/HRS recommendations
   for the standardization and interpretation of the electrocardiogram, part III:
   intraventricular conduction disturbances. Circulation 2009;119:e235–e240.
.. [STRAUSS] Strauss DG, Selvester RH, Wagner GS. Defining left bundle branch block in
   the era of cardiac resynchronization therapy. Am J Cardiol 2011;107:927–934 (complete
   LBBB: QRS ≥ 140 ms men, ≥ 130 ms women).
.. [RAUTAHARJU] Rautaharju PM, Surawicz B, Gettes LS. AHA/ACCF/HRS recommendations ...,
   part IV: the ST segment, T and U waves, and the QT interval. Circulation
   2009;119:e241–e250.
.. [LUO] Luo S, Michler K, Johnston P, Macfarlane PW. A comparison of commonly used QT
   correction formulae: the effect of heart rate on the QTc of normal ECGs. J Electrocardiol
   2004;37 Suppl:81–90 (10,303 normal ECGs; upper normal limits, top 2 % excluded: Bazett
   483 ms, Fridericia 460, Framingham 457, Hodges 457).

**One QTc formula.** Every report shows and judges one QTc: Fridericia's, QT / RR^(1/3)
(:data:`QTC_FORMULA`). Bazett's QT / RR^(1/2) over-corrects at fast and under-corrects at
slow rates, so one fixed limit flags many normal fast-rate ECGs ([LUO]_: with Bazett 10 % of
normal ECGs exceed 460 ms, and its upper normal limit is 483 ms); the AHA/ACCF/HRS statement
recommends a rate correction other than Bazett's and gives the limits used here, which match
Fridericia's upper normal limit in [LUO]_. Fridericia's QTc also varies less within a
subject than Bazett's (Sci Rep 2021, doi:10.1038/s41598-021-93774-9). Not for
children or for a known long-QT syndrome, where Bazett's limits remain the reference.
:func:`qtc_limits` returns the limits applied, with the sex they were chosen for.

The two margins over the textbook limits (PR 10 ms; LBBB width by Strauss' limits) were
chosen by 5-fold cross-validation against the LUDB cardiologists' diagnoses
(``benchmarks/findings_ludb.py``): at 200 ms / 120 ms, borderline measurements made one
false first-degree AV block or LBBB pattern in every ~16 records.

A finding is only produced from a value that was measured: a null interval produces no
finding (its reason is reported by the measurement instead). With a paced rhythm no
conduction finding is produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Finding", "QrsMorphology", "QtcLimits", "QTC_FORMULA", "QTC_FORMULAS", "qtc_limits", "reported_qtc_ms", "interval_findings", "axis_findings", "bundle_branch_findings", "Thresholds", "THRESHOLDS"]

Sex = Literal["M", "F"] | None


@dataclass(frozen=True)
class Thresholds:
    """Limits used by the rules (ms, bpm, degrees)."""

    pr_long_ms: float = 200.0
    pr_margin_ms: float = 10.0
    lbbb_qrs_men_ms: float = 140.0
    lbbb_qrs_women_ms: float = 130.0
    pr_short_ms: float = 120.0
    qrs_wide_ms: float = 120.0
    qrs_ivcd_ms: float = 110.0
    qtc_long_men_ms: float = 450.0
    qtc_long_women_ms: float = 460.0
    qtc_short_ms: float = 390.0
    hr_brady_bpm: float = 60.0
    hr_tachy_bpm: float = 100.0
    axis_left_deg: float = -30.0
    axis_right_deg: float = 90.0


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Finding:
    """One statement drawn from a measurement.

    Attributes
    ----------
    code : str
        Machine-readable code (see the module table).
    label : str
        Short human-readable text.
    value : float
        The measured value that triggered it.
    unit : str
        Unit of ``value`` and ``threshold``.
    threshold : float
        The limit that was crossed.
    source : str
        Where the threshold comes from.
    """

    code: str
    label: str
    value: float
    unit: str
    threshold: float
    source: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"code": self.code, "label": self.label, "value": round(float(self.value), 1), "unit": self.unit,
                "threshold": self.threshold, "source": self.source}  # dataclasses.asdict's keys, without its cost


_CHOU = "Chou's Electrocardiography in Clinical Practice, 6th ed. (2008)"
_SURAWICZ = "AHA/ACCF/HRS recommendations part III, Circulation 2009;119:e235"
_STRAUSS = "Strauss et al., Am J Cardiol 2011;107:927 (with AHA/ACCF/HRS part III)"
_RAUTAHARJU = "AHA/ACCF/HRS recommendations part IV, Circulation 2009;119:e241"
_QTC_SOURCE = _RAUTAHARJU + "; Fridericia's upper normal limit: Luo et al., J Electrocardiol 2004;37 Suppl:81"

#: The one QTc formula every report shows and judges (see the module notes).
QTC_FORMULA = "Fridericia"
#: Formulas a QTc value may be labelled with: :data:`QTC_FORMULA`, and Bazett for
#: measurements stored before the formula was named (``qtc_ms`` was Bazett's then).
QTC_FORMULAS = (QTC_FORMULA, "Bazett")


@dataclass(frozen=True)
class QtcLimits:
    """The QTc limits a recording was judged with.

    Attributes
    ----------
    formula : str
        The QTc formula the limits are for (:data:`QTC_FORMULA`).
    sex : "M", "F" or None
        The sex the limits were chosen for; None when it was not given.
    long_ms : float
        QTc at or above this is prolonged.
    short_ms : float
        QTc at or below this is short.
    basis : str
        Which limits were used, in words (says so when the sex was not given).
    source : str
        Where the limits come from.
    """

    formula: str
    sex: Sex
    long_ms: float
    short_ms: float
    basis: str
    source: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (the fields in order, as ``dataclasses.asdict`` gives them)."""
        return {"formula": self.formula, "sex": self.sex, "long_ms": self.long_ms, "short_ms": self.short_ms,
                "basis": self.basis, "source": self.source}


def qtc_limits(sex: Sex, limits: Thresholds = THRESHOLDS) -> QtcLimits:
    """The limits a QTc by :data:`QTC_FORMULA` is judged with, for the patient's sex.

    Parameters
    ----------
    sex : "M", "F" or None
        None (not given) takes the women's, higher long-QTc limit: fewer false alarms.
    limits : Thresholds

    Returns
    -------
    QtcLimits

    Examples
    --------
    >>> qtc_limits("M").long_ms, qtc_limits("F").long_ms, qtc_limits(None).long_ms
    (450.0, 460.0, 460.0)
    """
    if sex not in ("M", "F", None):
        raise ValueError(f"sex must be 'M', 'F' or None, got {sex!r}")
    if sex == "M":
        long_ms, basis = limits.qtc_long_men_ms, "men's limit"
    elif sex == "F":
        long_ms, basis = limits.qtc_long_women_ms, "women's limit"
    else:
        long_ms = limits.qtc_long_women_ms
        basis = "sex not given: women's (higher) limit"
    return QtcLimits(QTC_FORMULA, sex, long_ms, limits.qtc_short_ms, basis, _QTC_SOURCE)


def reported_qtc_ms(*, bazett_ms: float | None, fridericia_ms: float | None) -> float | None:
    """The QTc a report shows and judges: the one by :data:`QTC_FORMULA`.

    Examples
    --------
    >>> reported_qtc_ms(bazett_ms=480.0, fridericia_ms=455.0)
    455.0
    """
    return {"Bazett": bazett_ms, "Fridericia": fridericia_ms}[QTC_FORMULA]


def interval_findings(
    *,
    pr_ms: float | None,
    qrs_ms: float | None,
    qtc_ms: float | None,
    heart_rate_bpm: float | None,
    p_waves: bool,
    paced: bool = False,
    sex: Sex = None,
    limits: Thresholds = THRESHOLDS,
) -> list[Finding]:
    """Findings from the intervals of one recording.

    Parameters
    ----------
    pr_ms, qrs_ms : float or None
        Median intervals; None when not measured.
    qtc_ms : float or None
        The reported QTc, by :data:`QTC_FORMULA` (:func:`reported_qtc_ms`); judged with
        :func:`qtc_limits` for ``sex``.
    heart_rate_bpm : float or None
    p_waves : bool
        True when steady P waves were found (sinus mechanism plausible).
    paced : bool
        Pacing detected: conduction findings (PR, QRS, QTc) are not produced.
    sex : "M", "F" or None
        Selects the long-QTc limit; None uses the women's (higher) limit.
    limits : Thresholds

    Returns
    -------
    list of Finding

    Examples
    --------
    >>> [f.code for f in interval_findings(pr_ms=230, qrs_ms=90, qtc_ms=420,
    ...                                    heart_rate_bpm=72, p_waves=True)]
    ['first_degree_av_block']
    """
    out: list[Finding] = []
    if not paced:
        if pr_ms is not None and p_waves:
            if pr_ms > limits.pr_long_ms + limits.pr_margin_ms:
                out.append(Finding("first_degree_av_block", "PR prolonged (first-degree AV block)", pr_ms, "ms",
                                   limits.pr_long_ms + limits.pr_margin_ms, _CHOU))
            elif pr_ms < limits.pr_short_ms:
                out.append(Finding("short_pr", "short PR interval", pr_ms, "ms", limits.pr_short_ms, _CHOU))
        if qrs_ms is not None and qrs_ms >= limits.qrs_wide_ms:
            out.append(Finding("wide_qrs", "wide QRS complex", qrs_ms, "ms", limits.qrs_wide_ms, _SURAWICZ))
        out += _qtc_findings(qtc_ms, qtc_limits(sex, limits))
    if heart_rate_bpm is not None:
        prefix, what = ("sinus_", "sinus ") if p_waves and not paced else ("", "")
        if heart_rate_bpm < limits.hr_brady_bpm:
            out.append(Finding(f"{prefix}bradycardia", f"{what}bradycardia", heart_rate_bpm, "bpm", limits.hr_brady_bpm, _CHOU))
        elif heart_rate_bpm > limits.hr_tachy_bpm:
            out.append(Finding(f"{prefix}tachycardia", f"{what}tachycardia", heart_rate_bpm, "bpm", limits.hr_tachy_bpm, _CHOU))
    return out


def _qtc_findings(qtc_ms: float | None, lim: QtcLimits) -> list[Finding]:
    if qtc_ms is None:
        return []
    if qtc_ms >= lim.long_ms:
        return [Finding("long_qtc", f"prolonged QTc ({lim.formula}; {lim.basis})", qtc_ms, "ms", lim.long_ms, lim.source)]
    if qtc_ms <= lim.short_ms:
        return [Finding("short_qtc", f"short QTc ({lim.formula})", qtc_ms, "ms", lim.short_ms, lim.source)]
    return []


def axis_findings(axis_deg: float | None, limits: Thresholds = THRESHOLDS) -> list[Finding]:
    """Left/right axis deviation from the frontal QRS axis (degrees, −180..180]."""
    if axis_deg is None:
        return []
    if limits.axis_left_deg > axis_deg >= -90.0:
        return [Finding("left_axis_deviation", "left axis deviation", axis_deg, "deg", limits.axis_left_deg, _CHOU)]
    if axis_deg > limits.axis_right_deg or axis_deg < -90.0:
        return [Finding("right_axis_deviation", "right axis deviation", axis_deg, "deg", limits.axis_right_deg, _CHOU)]
    return []


@dataclass(frozen=True)
class QrsMorphology:
    """Median QRS shape of one lead, relative to the isoelectric level.

    Attributes
    ----------
    pos_mv : float
        Largest positive deflection (R or R'), mV, ≥ 0.
    neg_mv : float
        Largest negative deflection (Q or S), mV, ≤ 0.
    pos_last : bool
        True when the largest positive deflection comes after the largest negative
        one (e.g. rSR' in V1); False when it comes first (e.g. qRS: terminal S).
    """

    pos_mv: float
    neg_mv: float
    pos_last: bool

    @property
    def positive(self) -> bool:
        """Mainly positive complex."""
        return self.pos_mv > -self.neg_mv

    def has_terminal_s(self, fraction: float = 0.1) -> bool:
        """A negative deflection after the R wave, at least ``fraction`` of the R."""
        return (not self.pos_last) and -self.neg_mv > fraction * self.pos_mv


def bundle_branch_findings(
    *,
    qrs_ms: float | None,
    v1: QrsMorphology | None,
    v6: QrsMorphology | None,
    lead_i: QrsMorphology | None = None,
    paced: bool = False,
    sex: Sex = None,
    limits: Thresholds = THRESHOLDS,
) -> list[Finding]:
    """Right/left bundle branch block patterns from QRS width and V1/V6 morphology.

    With QRS ≥ 120 ms: LBBB pattern if the QRS also reaches Strauss' width (140 ms men,
    130 ms women, 140 ms sex unknown), V1 is mainly negative (QS/rS) and V6 mainly
    positive without a deep terminal S (S < R/2); RBBB pattern if V1 has an R' after
    its S (rsR') or is mainly positive, with R at least half the S, and I or V6 has a
    terminal S. Otherwise, with QRS > 110 ms, a
    nonspecific intraventricular conduction delay.

    Parameters
    ----------
    qrs_ms : float or None
        Global QRS duration.
    v1, v6, lead_i : QrsMorphology or None
    paced : bool
        Pacing detected: no pattern is reported.
    sex : "M", "F" or None
        Selects the LBBB width (None: the men's, higher limit).

    Returns
    -------
    list of Finding

    Examples
    --------
    >>> v1 = QrsMorphology(pos_mv=0.6, neg_mv=-0.3, pos_last=True)
    >>> v6 = QrsMorphology(pos_mv=0.8, neg_mv=-0.4, pos_last=False)
    >>> [f.code for f in bundle_branch_findings(qrs_ms=140, v1=v1, v6=v6)]
    ['rbbb_pattern']
    """
    if paced or qrs_ms is None or v1 is None or v6 is None:
        return []
    if qrs_ms >= limits.qrs_wide_ms:
        lbbb_ms = limits.lbbb_qrs_women_ms if sex == "F" else limits.lbbb_qrs_men_ms
        if qrs_ms >= lbbb_ms and not v1.positive and v6.positive and not v6.has_terminal_s(0.5):
            return [Finding("lbbb_pattern", "left bundle branch block pattern", qrs_ms, "ms", lbbb_ms, _STRAUSS)]
        lateral_s = v6.has_terminal_s() or (lead_i is not None and lead_i.has_terminal_s())
        if (v1.pos_last or v1.positive) and v1.pos_mv >= 0.5 * -v1.neg_mv and lateral_s:
            return [Finding("rbbb_pattern", "right bundle branch block pattern", qrs_ms, "ms", limits.qrs_wide_ms, _SURAWICZ)]
    if qrs_ms > limits.qrs_ivcd_ms:
        return [Finding("ivcd", "nonspecific intraventricular conduction delay", qrs_ms, "ms", limits.qrs_ivcd_ms, _SURAWICZ)]
    return []
