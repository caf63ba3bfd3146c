"""Premature beats (PVC / PAC) from beat timing and QRS morphology.

Per beat, the evidence (:func:`_evidence`):

- *premature*: its RR is shorter than ``PREMATURE_RATIO`` times the larger of the
  recording's median RR and the RR that follows it (the compensatory pause, so bigeminy
  does not hide its premature beats), and shorter than ``SUDDEN_RATIO`` times the RR
  before it (sudden, not a gradual sinus acceleration);
- its QRS against the dominant beat (sample-wise median of the non-premature beats):
  correlation (best shift, mean over leads), amplitude, and width of its 5–20 Hz energy;
- its neighbours' QRS correlation (a beat amid a noise burst is not judged).

A finding only when its evidence holds (:class:`EctopyRule` has the tuned limits):

- **PVC**: a run (one beat, a couplet, …) of QRS unlike the dominant one (correlation <
  ``pvc_max_corr``) that are also wide (energy ≥ ``PVC_MIN_WIDTH`` × the dominant beats')
  or of another shape altogether (correlation < ``PVC_ANY_CORR``); the run's first beat
  premature, the beats around the run like the dominant one (not a noise burst), and a
  pause after it (next RR ≥ ``PVC_MIN_PAUSE`` × median RR) or none at all (interpolated:
  the beats around it one usual RR apart). A not premature beat counts when its QRS is
  much wider (≥ ``pvc_late_min_width`` ×: late-coupled);
- **PAC**: premature with the dominant QRS (correlation ≥ ``PAC_MIN_CORR``, amplitude
  ≤ ``PAC_MAX_AMPLITUDE`` × — a same-shaped but taller beat with a pause is ventricular),
  an RR under ``pac_max_ratio`` × the usual RR, its neighbours like the dominant beat,
  while at most ``pac_max_premature_share`` of the beats are premature (a gate against
  irregular rhythms, ``absent_reason`` ``irregular_rhythm``; the shipped rule has none:
  atrial fibrillation is excluded by the rhythm decision instead);
- each code needs ``min_pvc_beats`` / ``min_pac_beats`` such beats per 30 s (scaled to
  the recording, at least one; the shipped rule: one PVC, two PACs); one PAC suffices
  when it comes under ``pac_single_max_ratio`` × the usual RR.

Beats closer than ``MIN_COUPLING_S`` to the previous one (detector errors), with an
amplitude far from the dominant beat's, next to a beat unlike the dominant one
(correlation < ``NEIGHBOUR_MIN_CORR``: noise), or in or next to an unreadable stretch of
the rhythm lead (:func:`ecg.unreadable.unreadable_spans`), are not classified. Nothing is reported
(``absent_reason`` ``noisy``) when the dominant beats disagree among themselves (median
correlation < ``clean_min_corr``), or (``too_few_beats``) with fewer than ``MIN_BEATS``.
In atrial fibrillation :meth:`Ectopy.findings` keeps the PVCs only. The limits of
:class:`EctopyRule` are chosen by leave-one-record-out on MIT-BIH 30-s windows
(``benchmarks/ectopy_mitdb.py``). These are screening statements for a clinician to
confirm.

:func:`find_ectopy_in` takes the analysis contexts of a recording (:mod:`ecg.context`):
the leads' 0.5–40 Hz views and the rhythm lead's R peaks, computed once, are reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ecg.context import LeadContext
from ecg.delineation.vec import median1d, row_median
from ecg.findings import Finding
from ecg.qrs_shape import (
    adjacent_correlation,
    best_shift_correlation,
    centred,
    energy_width,
    append,
    mean,
    prepend,
    ptp,
    qrs_centres,
    qrs_windows,
)
from ecg.unreadable import beats_in, unreadable_spans

PREMATURE_RATIO = 0.85
PVC_MAX_CORR = 0.80
PVC_ANY_CORR = 0.50
PVC_MIN_WIDTH = 1.3
PVC_MIN_PAUSE = 0.90
PAC_MIN_CORR = 0.90
PAC_MAX_AMPLITUDE = 1.35
PAC_RATIO = 0.80
WIDE_QRS_MS = 120.0
MIN_BEATS = 6
SUDDEN_RATIO = 0.90
MIN_COUPLING_S = 0.24
CLEAN_MIN_CORR = 0.90
NEIGHBOUR_MIN_CORR = 0.85
INTERPOLATED_TOLERANCE = 0.15
PER_S = 30.0  # the least counts of EctopyRule are per this many seconds
_WINDOW_S = (0.08, 0.12)  # QRS window around the QRS energy peak: before, after
_ALIGN_S = 0.03  # beats are aligned on the template within this shift


@dataclass(frozen=True)
class EctopyRule:
    """The tunable limits of the premature-beat rule (chosen by record-level CV on MIT-BIH
    windows: ``benchmarks/ectopy_mitdb.py``).

    Attributes
    ----------
    min_pvc_beats, min_pac_beats : int
        Fewest classified beats of that kind per 30 s before a finding is reported (scaled
        to the recording's length, at least one).
    pac_max_ratio : float
        A PAC's RR must be under this fraction of its reference RR.
    pvc_max_corr : float
        A premature beat whose QRS correlates less than this with the dominant beat is a PVC.
    clean_min_corr : float
        Nothing is judged when the dominant beats' median correlation is lower (noise).
    pac_max_premature_share : float
        PACs are judged only when at most this share of the beats is premature (an
        irregular rhythm makes every other beat "premature").
    pvc_late_min_width : float
        A beat unlike the dominant one that is not premature is a (late-coupled) PVC when
        its QRS energy lasts this many times the dominant beats' (10: never).
    pac_single_max_ratio : float
        One PAC is enough for a finding when its RR is under this fraction of the usual
        RR (0.01: never).
    """

    min_pvc_beats: int = 1
    min_pac_beats: int = 2
    pac_max_ratio: float = PAC_RATIO
    pvc_max_corr: float = PVC_MAX_CORR
    clean_min_corr: float = CLEAN_MIN_CORR
    pac_max_premature_share: float = 1.0
    pvc_late_min_width: float = 10.0
    pac_single_max_ratio: float = 0.65

    def __post_init__(self) -> None:
        for name in ("min_pvc_beats", "min_pac_beats"):
            if not (isinstance(getattr(self, name), int) and 1 <= getattr(self, name) <= 50):
                raise ValueError(f"EctopyRule.{name} must be an int in [1, 50], got {getattr(self, name)!r}")
        for name in ("pac_max_ratio", "pvc_max_corr", "clean_min_corr", "pac_max_premature_share", "pac_single_max_ratio"):
            if not 0.0 < float(getattr(self, name)) <= 1.0:
                raise ValueError(f"EctopyRule.{name} must be in (0, 1], got {getattr(self, name)!r}")
        if not 1.0 <= float(self.pvc_late_min_width) <= 10.0:
            raise ValueError(f"EctopyRule.pvc_late_min_width must be in [1, 10], got {self.pvc_late_min_width!r}")


#: The shipped limits: those chosen on all MIT-BIH records by ``benchmarks/ectopy_mitdb.py``
#: (run of 2026-12-01 22:57 UTC, on the 22:55 R peaks and the 22:10 rhythm model, beats
#: in unreadable stretches not judged: one PVC, no late-coupled PVCs; two PACs per 30 s or
#: one under 0.65 x the usual RR, no premature-share gate).
DEFAULT_RULE = EctopyRule()


@dataclass(frozen=True)
class Ectopy:
    """Premature beats found: sample indices of their QRS energy peaks.

    ``absent_reason`` says why some or all beats were not judged: ``too_few_beats``,
    ``noisy`` (nothing judged) or ``irregular_rhythm`` (no PAC judged).
    """

    n_beats: int
    pvc: tuple[int, ...]
    pac: tuple[int, ...]
    rule: EctopyRule = field(default=DEFAULT_RULE, compare=False)
    absent_reason: str | None = None
    strong_pac: int = 0  # PACs early enough (rule.pac_single_max_ratio) to count alone
    duration_s: float = PER_S  # the least counts of the rule are per PER_S seconds of recording

    def findings(self, *, atrial_fibrillation: bool = False) -> list[Finding]:
        """The premature beats as :class:`ecg.findings.Finding` (codes ``pvc``, ``pac``).

        With ``atrial_fibrillation`` (the rhythm decided for the recording) only PVCs are
        reported: a premature atrial beat means nothing without a regular sinus rhythm.
        """
        out = []
        for code, name, beats, least in (
            ("pvc", "Premature ventricular complexes", self.pvc, self._least(self.rule.min_pvc_beats)),
            ("pac", "Premature atrial complexes", () if atrial_fibrillation else self.pac,
             1 if self.strong_pac else self._least(self.rule.min_pac_beats)),
        ):
            if beats and len(beats) >= least:
                out.append(Finding(
                    code=code,
                    label=f"{name}: {len(beats)} of {self.n_beats} beats",
                    value=float(len(beats)),
                    unit="beats",
                    threshold=PREMATURE_RATIO,
                    source=f"RR < {PREMATURE_RATIO} x usual RR; QRS against the dominant beat; {least} or more such beats",
                ))
        return out

    def _least(self, per_30_s: int) -> int:
        """The least count for this recording's length (at least one beat)."""
        return max(1, int(round(per_30_s * self.duration_s / PER_S)))


def find_ectopy(
    signals_mv: np.ndarray, fs_hz: float, r_peaks: np.ndarray, qrs_ms: list[float | None] | None = None,
    *, rule: EctopyRule = DEFAULT_RULE, unreadable: np.ndarray | None = None,
) -> Ectopy:
    """Classify premature beats.

    Parameters
    ----------
    signals_mv : np.ndarray
        Shape ``(n_samples, n_leads)`` (or 1-D), band-passed, millivolts.
    fs_hz : float
        Sample rate.
    r_peaks : np.ndarray
        R-peak sample indices, sorted (from any detector: each beat is re-centred on
        its QRS energy peak, and reported there).
    qrs_ms : list, optional
        QRS width per beat (None when unknown), aligned with *r_peaks*.
    rule : EctopyRule, optional
        The limits (benchmarks vary them; callers keep the default).
    unreadable : numpy.ndarray, optional
        ``(k, 2)`` unreadable ``[start, end)`` sample ranges
        (:func:`ecg.unreadable.unreadable_spans`): beats in or next to them are not judged.

    Returns
    -------
    Ectopy
        With ``absent_reason`` set (``too_few_beats``, ``noisy``) when no beat was judged.

    Examples
    --------
    >>> fs = 300.0
    >>> x = np.zeros(int(20 * fs))
    >>> peaks = np.arange(150, x.size - 150, 300)
    >>> for p in peaks: x[p - 5:p + 6] += np.hanning(11)
    >>> find_ectopy(x, fs, peaks).pvc
    ()
    """
    return classify(beat_evidence(signals_mv, fs_hz, r_peaks, qrs_ms, unreadable=unreadable), rule)


@dataclass(frozen=True)
class BeatEvidence:
    """What :func:`classify` judges: per beat (arrays aligned with ``r``) and per recording.

    Computed once by :func:`beat_evidence`; independent of the :class:`EctopyRule`.
    """

    r: np.ndarray  # QRS energy peaks of the beats judged (samples)
    rr_in: np.ndarray  # RR ending at the beat (samples; inf for the first)
    reference: np.ndarray  # the usual RR: max(median RR, the RR after the beat)
    premature: np.ndarray
    plausible: np.ndarray  # coupling interval long enough to be a beat at all
    pause: np.ndarray  # RR after the beat / median RR (0 for the last)
    corr: np.ndarray  # QRS correlation with the dominant beat (best shift, mean over leads)
    neighbour_corr: np.ndarray  # the lower QRS correlation of the two neighbours
    amplitude: np.ndarray  # peak-to-peak / the dominant beat's
    width: np.ndarray  # QRS energy duration / the dominant beats' median
    wide: np.ndarray  # QRS width measured by the caller ≥ WIDE_QRS_MS
    dominant_corr: float  # median correlation of the non-premature beats
    premature_share: float  # share of the beats that are premature
    duration_s: float = PER_S  # length of the recording
    unreadable: np.ndarray | None = None  # the beat or a neighbour in an unreadable stretch


def beat_evidence(signals_mv: np.ndarray, fs_hz: float, r_peaks: np.ndarray,
                  qrs_ms: list[float | None] | None = None, *, unreadable: np.ndarray | None = None) -> BeatEvidence:
    """The evidence of every beat (see :func:`find_ectopy` for the parameters)."""
    x = np.asarray(signals_mv, dtype=np.float64)
    rows = x[None, :] if x.ndim == 1 else np.ascontiguousarray(x.T)
    return _beat_evidence(rows, fs_hz, r_peaks, qrs_ms, unreadable)


def _beat_evidence(rows: np.ndarray, fs_hz: float, r_peaks: np.ndarray,
                   qrs_ms: list[float | None] | None = None, unreadable: np.ndarray | None = None) -> BeatEvidence:
    """:func:`beat_evidence` of the leads as the rows of a C-contiguous ``(leads, samples)``
    float64 array (the layout the filters work in: no transposed copies)."""
    x = rows.T  # (samples, leads) view: windows are gathered from it
    r, energy = qrs_centres(rows, fs_hz, np.asarray(r_peaks, dtype=np.int64))
    before, after = int(_WINDOW_S[0] * fs_hz), int(_WINDOW_S[1] * fs_hz)
    shift = max(1, int(_ALIGN_S * fs_hz))
    keep = (r - before - shift >= 0) & (r + after + shift < x.shape[0])
    wide = np.zeros(r.size, dtype=bool)
    if qrs_ms is not None:  # aligned with r_peaks
        measured = [w is not None and float(w) >= WIDE_QRS_MS for w in qrs_ms][: r.size]
        wide[: len(measured)] = measured
    r, wide = r[keep], wide[keep]
    if r.size < MIN_BEATS:
        none = np.zeros(r.size)
        return BeatEvidence(r, none, none, none.astype(bool), none.astype(bool), none, none, none, none, none,
                            wide, float("nan"), float("nan"), x.shape[0] / fs_hz)
    near = None
    if unreadable is not None:
        inside = beats_in(r, unreadable)
        near = inside.copy()  # the beat or a neighbour inside
        near[1:] |= inside[:-1]
        near[:-1] |= inside[1:]
    return _evidence(x, fs_hz, r, energy, (before, after, shift), wide, near)


def classify(ev: BeatEvidence, rule: EctopyRule = DEFAULT_RULE) -> Ectopy:
    """Premature beats of :func:`beat_evidence` under ``rule`` (cheap: arrays only)."""
    if ev.r.size < MIN_BEATS:
        return Ectopy(int(ev.r.size), (), (), rule, "too_few_beats", duration_s=ev.duration_s)
    if ev.dominant_corr < rule.clean_min_corr:  # the dominant beats disagree among themselves: noise
        return Ectopy(int(ev.r.size), (), (), rule, "noisy", duration_s=ev.duration_s)
    sized = ev.plausible & (ev.amplitude >= 0.5) & (ev.amplitude <= 4.0)  # a coupling and a size of a beat
    if ev.unreadable is not None:
        sized &= ~ev.unreadable  # no judgement in or next to an unreadable stretch
    judged = sized & (ev.neighbour_corr >= NEIGHBOUR_MIN_CORR)  # and clean neighbours (not a noise burst)
    different = sized & (ev.corr < rule.pvc_max_corr) & ((ev.width >= PVC_MIN_WIDTH) | (ev.corr < PVC_ANY_CORR) | ev.wide)
    is_pvc = _ventricular_runs(ev, different) | (judged & different & (ev.width >= rule.pvc_late_min_width))
    regular = ev.premature_share <= rule.pac_max_premature_share
    is_pac = (judged & ~is_pvc & ev.premature & (ev.corr >= PAC_MIN_CORR) & (ev.amplitude <= PAC_MAX_AMPLITUDE)
              & (ev.rr_in < rule.pac_max_ratio * ev.reference) & regular)
    strong = int(np.count_nonzero(is_pac & (ev.rr_in < rule.pac_single_max_ratio * ev.reference)))
    reason = None if regular else "irregular_rhythm"
    return Ectopy(int(ev.r.size), tuple(ev.r[is_pvc].tolist()), tuple(ev.r[is_pac].tolist()), rule,
                  reason, strong, ev.duration_s)


def _ventricular_runs(ev: BeatEvidence, different: np.ndarray) -> np.ndarray:
    """Beats of runs (one beat, a couplet, …) of QRS unlike the dominant one whose first beat
    is premature, framed by two beats like the dominant one (not a noise burst), and
    followed by a pause (next RR ≥ ``PVC_MIN_PAUSE`` × median) or interpolated (the beats
    around the run one usual RR apart)."""
    n = different.size
    if not different.any():  # no beat unlike the dominant one: no run
        return np.zeros(n, dtype=bool)
    prev_d = np.concatenate([[False], different[:-1]])
    next_d = np.concatenate([different[1:], [False]])
    starts = np.flatnonzero(different & ~prev_d)
    ends = np.flatnonzero(different & ~next_d)
    cum = np.concatenate([[0.0], np.cumsum(ev.pause)])
    span = cum[ends + 1] - cum[np.maximum(starts - 1, 0)]  # from the beat before the run to the one after, in RRs
    after = np.minimum(ends + 1, n - 1)
    ok = (ev.premature[starts] & (starts >= 1) & (ends + 1 < n)
          & (ev.corr[np.maximum(starts - 1, 0)] >= NEIGHBOUR_MIN_CORR) & (ev.corr[after] >= NEIGHBOUR_MIN_CORR)
          & ((ev.pause[ends] >= PVC_MIN_PAUSE) | (np.abs(span - 1.0) <= INTERPOLATED_TOLERANCE)))
    run_of_beat = np.cumsum(different & ~prev_d) - 1
    return different & ok[np.maximum(run_of_beat, 0)]


def _evidence(x: np.ndarray, fs_hz: float, r: np.ndarray, energy: np.ndarray, spans: tuple[int, int, int],
              wide: np.ndarray, near: np.ndarray | None) -> BeatEvidence:
    """The evidence of the beats ``r`` of ``x`` ``(samples, leads)``; ``near``: beats in or
    next to an unreadable stretch (None: not known)."""
    before, after, shift = spans
    rr = (r[1:] - r[:-1]).astype(np.float64)  # np.diff
    median_rr = median1d(rr)
    reference = np.fmax(median_rr, append(rr, median_rr))  # usual RR or the pause after
    premature = _premature(rr, reference)
    dominant = ~premature
    raw = qrs_windows(x, r, before + shift, after + shift, centre=False)  # one gather for both
    windows = centred(raw[:, shift : raw.shape[1] - shift])
    typical = windows[dominant] if np.count_nonzero(dominant) >= 3 else windows
    template = row_median(typical.reshape(typical.shape[0], -1).T).reshape(typical.shape[1:])  # median over beats
    padded = centred(raw)  # then shifted views of it
    corr = best_shift_correlation(padded, template, before + after + 1)
    # a neighbour is clean when it looks like the dominant beat or like this beat (a couplet)
    pair = np.fmax(adjacent_correlation(windows), 0.0)
    prev_ok = prepend(np.inf, np.fmax(corr[:-1], pair))
    next_ok = append(np.fmax(corr[1:], pair), np.inf)
    neighbours = np.fmin(prev_ok, next_ok)
    amplitude = mean(ptp(windows, 1), 1) / max(float(mean(ptp(template, 0), 0)), 1e-9)
    width = energy_width(energy, r, fs_hz)
    width = width / max(median1d(width[dominant] if dominant.any() else width), 1.0)
    return BeatEvidence(
        r=r, rr_in=prepend(np.inf, rr), reference=reference, premature=premature,
        plausible=prepend(False, rr >= MIN_COUPLING_S * fs_hz),
        pause=append(rr, 0.0) / median_rr, corr=corr,
        neighbour_corr=np.where(np.isfinite(neighbours), neighbours, 1.0), amplitude=amplitude, width=width,
        wide=wide, dominant_corr=median1d(corr[dominant]) if dominant.any() else 0.0,
        premature_share=np.count_nonzero(premature) / premature.size,  # = premature.mean(), fewer calls
        duration_s=x.shape[0] / fs_hz, unreadable=near,
    )


def find_ectopy_in(contexts: Sequence[LeadContext], rhythm_lead: int = 0, *, rule: EctopyRule = DEFAULT_RULE) -> Ectopy:
    """:func:`find_ectopy` on the analysis contexts of one recording (one per lead, same rate).

    Uses each lead's 0.5–40 Hz view and the R peaks of ``contexts[rhythm_lead]``, all
    computed once per lead and shared with screening and measurement.
    """
    if not contexts:
        raise ValueError("find_ectopy_in needs at least one lead context")
    fs = contexts[0].fs_hz
    if any(c.fs_hz != fs or c.n_samples != contexts[0].n_samples for c in contexts):
        raise ValueError("the lead contexts of one recording must share rate and length")
    # (leads, samples), no transposed copy; one lead: its view as the one row
    rows = contexts[0].wide_mv[None, :] if len(contexts) == 1 else np.stack([c.wide_mv for c in contexts])
    lead = contexts[rhythm_lead]
    spans = unreadable_spans(lead.qrs_envelope, lead.r_peaks, fs)
    return classify(_beat_evidence(rows, fs, lead.r_peaks, unreadable=spans), rule)


def _premature(rr: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per beat: its RR is short against *reference* (the usual RR or the following
    pause) and shorter than the RR before it (a sudden, not gradual, shortening)."""
    rr_prev = prepend(np.inf, rr)
    rr_before = np.empty(rr.size + 1)  # [inf, inf, rr[:-1]]
    rr_before[:2] = np.inf
    rr_before[2:] = rr[:-1]
    return (rr_prev < PREMATURE_RATIO * reference) & (rr_prev < SUDDEN_RATIO * rr_before)

