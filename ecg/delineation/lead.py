"""Delineate every beat of one lead: QRS, then T, then P, then sanity checks.

The result type, the rules' constants and the per-lead entry points; the steps themselves
run in :mod:`ecg.delineation.batch` (one lead or all leads of a recording at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .filters import LeadViews
from .vec import median1d

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.context import LeadContext

__all__ = ["LeadWaves", "delineate_lead", "delineate_context", "WAVE_KEYS", "MISSING"]

#: per-beat keys, in order
WAVE_KEYS = ("p_on", "p_peak", "p_off", "qrs_on", "r_peak", "qrs_off", "t_peak", "t_off")
#: marker of an absent boundary inside the integer arrays
MISSING = -1

#: a P wave must exceed this many noise SDs and this fraction of the QRS amplitude
_P_MIN_SNR = 2.0
_P_MIN_QRS_FRACTION = 0.015
#: P waves are reported only if at least this fraction of beats has one...
_P_MIN_BEAT_FRACTION = 0.6
#: ...and at least this fraction of them lies within ±_P_STEADY_BAND_S of the median
#: P-peak-to-QRS distance (the others are dropped)
_P_MIN_STEADY_FRACTION = 0.5
_P_STEADY_BAND_S = 0.03
#: T search window: from this long after the QRS offset and after the R peak (s) to
#: this fraction of the RR interval after the R peak (kept within 0.25–0.65 s)
_T_START_AFTER_QRS_S = 0.04
_T_START_AFTER_R_S = 0.15
_T_STOP_RR_FRACTION = 0.7
#: a T wave whose QT differs from the record's median QT by more than this is dropped, s
_T_MAX_QT_DEVIATION_S = 0.06
#: T–P stretch: judged when at least this long (s); P waves rejected if its
#: peak-to-peak range exceeds this multiple of the P amplitude (median over beats)
_TP_MIN_S = 0.08
_TP_MAX_RATIO = 1.0
#: QRS peak-to-peak amplitude below which nothing is measured, mV
MIN_QRS_MV = 0.05
#: QRS amplitude over noise SD below which nothing is measured
MIN_QRS_SNR = 12.0
#: median correlation of QRS complexes with their median below which beats are taken
#: for noise (real beats of one rhythm look alike, ectopics are a minority)
MIN_QRS_CORR = 0.7


@dataclass
class LeadWaves:
    """Per-beat sample indices of one lead (``MISSING`` where absent) and notes.

    Attributes
    ----------
    waves : dict
        ``WAVE_KEYS`` → int64 array, one entry per beat.
    fs_hz : float
    polarity : float
        +1 if the QRS is mainly positive, else -1.
    qrs_amplitude_mv : float
        Median QRS peak-to-peak amplitude.
    noise_mv : float
        Robust SD of the high-frequency residual outside QRS complexes.
    reasons : dict
        Keys ``"p"``, ``"qrs"``, ``"t"`` or ``"all"`` → why that wave is missing in
        every beat.
    views : LeadViews
    """

    waves: dict[str, np.ndarray]
    fs_hz: float
    polarity: float
    qrs_amplitude_mv: float
    noise_mv: float
    reasons: dict[str, str] = field(default_factory=dict)
    views: LeadViews | None = None

    @property
    def n_beats(self) -> int:
        return int(self.waves["r_peak"].size)


def _empty(n: int) -> dict[str, np.ndarray]:
    """Per key of :data:`WAVE_KEYS`, ``n`` missing boundaries (the rows of one block)."""
    return dict(zip(WAVE_KEYS, np.full((len(WAVE_KEYS), n), MISSING, dtype=np.int64)))


def _qrs_similarity(views: LeadViews, r_peaks: np.ndarray) -> float:
    """Median correlation of ±60 ms windows around the beats with their median."""
    half = int(0.06 * views.fs_hz)
    inner = r_peaks[(r_peaks - half >= 0) & (r_peaks + half < views.clean_mv.size)]
    if inner.size < 3:
        return 1.0
    m = views.clean_mv[inner[:, None] + np.arange(-half, half + 1)[None, :]]
    tpl = np.median(m, axis=0)
    mc = m - m.mean(axis=1, keepdims=True)
    tc = tpl - tpl.mean()
    den = np.sqrt((mc * mc).sum(axis=1) * float(tc @ tc))
    ok = (m.std(axis=1) > 0) & (np.std(tpl) > 0) & (den > 0)
    corr = np.where(ok, (mc @ tc) / np.where(ok, den, 1.0), 0.0)
    return median1d(corr)


def _drop_odd_t(w: dict[str, np.ndarray], fs: float) -> None:
    """One lead's T waves far from its median QT dropped (:func:`ecg.delineation.batch.drop_odd_t`)."""
    from .batch import drop_odd_t

    drop_odd_t(w, fs)


def _check_p_consistency(w: dict[str, np.ndarray], fs: float) -> str | None:
    """Why one lead's P waves are not reported, or None (unsteady ones dropped from ``w``;
    :func:`ecg.delineation.batch.check_p_consistency`)."""
    from .batch import check_p_consistency

    return check_p_consistency(w, fs)[0]


def _tp_activity(views: LeadViews, w: dict[str, np.ndarray], p_amps: np.ndarray) -> str | None:
    """Reject one lead's P waves when the T–P stretch holds waves as large
    (:func:`ecg.delineation.batch.tp_activity`)."""
    from .batch import single_lead_rows, tp_activity

    sv, rows = single_lead_rows(views, w)
    return tp_activity(sv, w, p_amps, rows)[0]


def delineate_lead(x_mv: np.ndarray, fs_hz: float) -> LeadWaves:
    """Delineate every beat of one lead (builds a fresh analysis context).

    Parameters
    ----------
    x_mv : numpy.ndarray
        One lead, shape ``(n_samples,)``, millivolts, finite.
    fs_hz : float
        Sample rate, Hz.

    Returns
    -------
    LeadWaves
    """
    from ecg.context import LeadContext

    return delineate_context(LeadContext.of(x_mv, fs_hz))


def delineate_context(ctx: LeadContext) -> LeadWaves:
    """The rule-based delineator (the default :data:`ecg.context.Delineator`): every beat
    of the context's lead, from its R peaks and filtered views (the steps are in
    :mod:`ecg.delineation.batch`, which also runs them on all leads of a recording at once)."""
    from .batch import delineate_many

    return delineate_many([ctx])[0]
