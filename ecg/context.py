"""One analysis context per recording lead: every intermediate is computed once.

Like NeuroKit's ``ecg_process``, which cleans once, finds peaks once and hands later
steps one signals table, a :class:`LeadContext` carries one lead (millivolts at its own
rate) through screening, quality, measurement and premature-beat analysis. Each step
asks the context for what it needs; the context computes it on first use and keeps it:

==================  ===========================================================
attribute           what (computed by)
==================  ===========================================================
``signal_mv``       the validated lead, float64, 1-D
``wide_mv``         0.5–40 Hz zero-phase view (``ecg.beats.detector_band``)
``qrs_envelope``    RMS slope of the QRS band (``ecg.beats.qrs_envelope``)
``r_peaks``         R peaks: ``ecg.beats.detect_r_peaks`` — the one R-peak seam
``beat_marks``      where the delineator looks for this lead's beats: its own
                    ``r_peaks``, or the beats of the recording's reference lead
                    (:func:`share_beat_marks`)
``heart_rate_bpm``  ``ecg.beats.heart_rate_bpm`` of ``r_peaks``
``quality``         ``ecg.quality.assess`` on this context
``views``           the delineator's filtered views (``ecg.delineation.filters``)
``lead_waves``      per-beat boundaries from the context's delineator
==================  ===========================================================

The delineator is pluggable: any callable ``(LeadContext) -> LeadWaves``
(:data:`Delineator`); the default is :func:`ecg.delineation.learned.default_delineator`'s.

``computed`` counts how often each step ran (tests use it to prove "once").

Examples
--------
>>> import numpy as np
>>> t = np.arange(3000) / 300.0
>>> ctx = LeadContext.of(np.sin(2 * np.pi * 1.2 * t) ** 15, 300.0)
>>> n = ctx.r_peaks.size; ctx.r_peaks is ctx.r_peaks, ctx.computed["r_peaks"]
(True, 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ecg.errors import SignalError
from ecg.preprocess import check_signal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ecg.delineation.filters import LeadViews
    from ecg.delineation.lead import LeadWaves
    from ecg.quality import Quality

__all__ = ["LeadContext", "Delineator", "contexts_of", "context_for", "share_wide", "share_r_peaks", "share_quality",
           "share_views", "share_lead_waves", "share_beat_marks", "REFERENCE_LEADS"]

Delineator = Callable[["LeadContext"], "LeadWaves"]
_T = TypeVar("_T")


@dataclass(eq=False)
class LeadContext:
    """One lead of one recording and everything computed from it so far.

    Build it with :meth:`of` (validates the signal). Not thread-safe: one context
    belongs to one analysis.

    Attributes
    ----------
    signal_mv : numpy.ndarray
        The lead, 1-D float64, millivolts, finite.
    fs_hz : float
        Its sample rate (Hz).
    lead : str or None
        Lead name, when known.
    delineator : Delineator or None
        Delineator used for :attr:`lead_waves` (None: the default,
        :func:`ecg.delineation.learned.default_delineator`).
    computed : collections.Counter
        How many times each step ran.
    """

    signal_mv: np.ndarray
    fs_hz: float
    lead: str | None = None
    delineator: Delineator | None = None
    computed: Counter[str] = field(default_factory=Counter, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, sig_mv: np.ndarray, fs_hz: float, *, lead: str | None = None,
           delineator: Delineator | None = None) -> LeadContext:
        """Validate one lead and wrap it in a fresh context.

        Raises
        ------
        SignalError
            Not one lead, empty, NaN/inf samples or an impossible ``fs_hz``.
        """
        x, fs = check_signal(sig_mv, fs_hz)
        if x.ndim == 2:
            if x.shape[1] != 1:
                raise SignalError(f"a lead context holds one lead, got shape {x.shape}", reason="bad_shape")
            x = x[:, 0]
        x = np.ascontiguousarray(x)
        x.setflags(write=False)  # shared by every step: nobody may change it
        return cls(signal_mv=x, fs_hz=fs, lead=lead, delineator=delineator)

    @property
    def n_samples(self) -> int:
        return int(self.signal_mv.size)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    def matches(self, sig_mv: np.ndarray, fs_hz: float) -> bool:
        """True when ``sig_mv``/``fs_hz`` describe this context's lead (same rate and length)."""
        return abs(float(fs_hz) - self.fs_hz) < 1e-9 and np.asarray(sig_mv).shape[0] == self.n_samples

    def provide(self, key: str, value: Any) -> None:
        """Hand the context a step's result computed elsewhere (e.g. R peaks a caller has)."""
        if key in self._cache:
            raise ValueError(f"{key} is already computed in this context")
        self._cache[key] = value

    def _once(self, key: str, make: Callable[[], _T]) -> _T:
        if key not in self._cache:
            self.computed[key] += 1
            self._cache[key] = make()
        return self._cache[key]  # type: ignore[no-any-return]

    @property
    def wide_mv(self) -> np.ndarray:
        """0.5–40 Hz zero-phase view (the R-peak detector's band)."""
        from ecg.beats import detector_band

        return self._once("wide_mv", lambda: detector_band(self.signal_mv, self.fs_hz))

    @property
    def qrs_envelope(self) -> np.ndarray:
        """RMS slope of the QRS band, same length as the signal."""
        from ecg.beats import band_envelope

        return self._once("qrs_envelope", lambda: band_envelope(self.wide_mv, self.fs_hz))

    @property
    def r_peaks(self) -> np.ndarray:
        """R-peak sample indices from ``ecg.beats.detect_r_peaks`` (raises ``SignalError``
        below its minimum duration)."""
        from ecg import beats

        def make() -> np.ndarray:
            peaks = np.asarray(beats.detect_r_peaks(self.signal_mv, self.fs_hz, wide_mv=self.wide_mv,
                                                    envelope=self.qrs_envelope), dtype=np.int64)
            peaks.setflags(write=False)
            return peaks

        return self._once("r_peaks", make)

    @property
    def beat_marks(self) -> np.ndarray:
        """Where the delineator starts from: the R peaks of the recording's reference lead
        when :func:`share_beat_marks` handed them in, else this lead's :attr:`r_peaks`."""
        marks = self._cache.get("beat_marks")
        return self.r_peaks if marks is None else marks  # type: ignore[no-any-return]

    @property
    def heart_rate_bpm(self) -> float | None:
        """Heart rate from the median RR of :attr:`r_peaks` (None with < 2 beats)."""
        from ecg.beats import heart_rate_bpm

        return self._once("heart_rate_bpm", lambda: heart_rate_bpm(self.r_peaks, self.fs_hz))

    @property
    def quality(self) -> Quality:
        """Signal quality of this lead (:func:`ecg.quality.assess`)."""
        from ecg.quality import assess_context

        return self._once("quality", lambda: assess_context(self))

    @property
    def views(self) -> LeadViews:
        """The delineator's filtered views (band-limited signal and slopes)."""
        from ecg.delineation.filters import make_views

        return self._once("views", lambda: make_views(self.signal_mv, self.fs_hz))

    @property
    def lead_waves(self) -> LeadWaves:
        """Per-beat P/QRS/T boundaries from this context's delineator."""
        from ecg.delineation.learned import default_delineator

        run = self.delineator or default_delineator()
        return self._once("lead_waves", lambda: run(self))


def contexts_of(signals_mv: np.ndarray, fs_hz: float, lead_names: tuple[str, ...] | list[str] | None = None,
                *, delineator: Delineator | None = None) -> list[LeadContext]:
    """One :class:`LeadContext` per column of ``signals_mv`` (``(n_samples, n_leads)``)."""
    x, fs = check_signal(signals_mv, fs_hz)
    x = x[:, None] if x.ndim == 1 else x
    names: list[str | None] = list(lead_names) if lead_names is not None else [None] * x.shape[1]
    if len(names) != x.shape[1]:
        raise SignalError(f"{len(names)} lead names for {x.shape[1]} leads", reason="bad_shape")
    rows = np.array(x.T, dtype=np.float64, order="C")  # one copy, checked above: row j is lead j
    rows.setflags(write=False)
    return [LeadContext(signal_mv=rows[j], fs_hz=fs, lead=names[j], delineator=delineator) for j in range(x.shape[1])]


def context_for(sig_mv: np.ndarray, fs_hz: float, context: LeadContext | None = None, *,
                lead: str | None = None, delineator: Delineator | None = None) -> LeadContext:
    """``context`` when given (checked to hold ``sig_mv`` at ``fs_hz``), else a new one.

    Raises
    ------
    ValueError
        ``context`` holds another rate or length (a caller's mistake).
    """
    if context is None:
        return LeadContext.of(sig_mv, fs_hz, lead=lead, delineator=delineator)
    if not context.matches(sig_mv, fs_hz):
        raise ValueError(f"the context holds {context.n_samples} samples at {context.fs_hz:g} Hz, "
                         f"not {np.asarray(sig_mv).shape[0]} at {float(fs_hz):g} Hz")
    return context


def _one_recording(contexts: list[LeadContext]) -> bool:
    """Two or more contexts of the same rate and length: the leads of one recording, or
    same-shaped one-lead recordings analysed together (``cloud.pipeline.analyse_many``);
    every shared pass treats rows independently, so either gives each what it gets alone."""
    return len(contexts) >= 2 and all(c.fs_hz == contexts[0].fs_hz and c.n_samples == contexts[0].n_samples
                                      for c in contexts)


def share_wide(contexts: list[LeadContext]) -> None:
    """Compute the 0.5–40 Hz view (:attr:`LeadContext.wide_mv`) of every context of one
    recording that lacks it in one filter pass over all leads (``ecg.beats.detector_bands``:
    each lead gets what it gets alone). Too short a recording is left alone: each context
    then raises when asked, as without sharing."""
    from ecg.beats import detector_bands

    todo = [c for c in contexts if "wide_mv" not in c._cache]
    if not _one_recording(todo):
        return
    try:
        rows = detector_bands(np.stack([c.signal_mv for c in todo]), todo[0].fs_hz)
    except SignalError:
        return
    for c, wide in zip(todo, rows):
        c.computed["wide_mv"] += 1
        c.provide("wide_mv", wide)


def share_r_peaks(contexts: list[LeadContext]) -> None:
    """Detect the R peaks (:attr:`LeadContext.r_peaks`) of every context of the same rate
    and length that lacks them in one call over all rows (``ecg.beats.detect_r_peaks_many``:
    each row gets what ``detect_r_peaks`` gives it alone), their QRS envelopes in one pass
    too; the 0.5–40 Hz views are shared first (:func:`share_wide`). When that fails (e.g. a
    row too short for the detector) nothing is shared: each context then raises or answers
    when asked, as without sharing."""
    from ecg import beats

    todo = [c for c in contexts if "r_peaks" not in c._cache]
    if not _one_recording(todo):
        return
    share_wide(todo)
    try:
        wide = np.stack([c.wide_mv for c in todo])
        need = [j for j, c in enumerate(todo) if "qrs_envelope" not in c._cache]
        envelopes = beats.band_envelope(wide[need], todo[0].fs_hz) if need else None
        for j, env in zip(need, envelopes if envelopes is not None else ()):
            todo[j].computed["qrs_envelope"] += 1
            todo[j].provide("qrs_envelope", env)
        found = beats.detect_r_peaks_many(np.stack([c.signal_mv for c in todo]), todo[0].fs_hz, wide_mv=wide,
                                          envelope=np.stack([c.qrs_envelope for c in todo]))
    except SignalError:
        return
    for c, peaks in zip(todo, found, strict=True):
        peaks = np.asarray(peaks, dtype=np.int64)
        peaks.setflags(write=False)
        c.computed["r_peaks"] += 1
        c.provide("r_peaks", peaks)


def share_quality(contexts: list[LeadContext]) -> None:
    """Assess the quality (:attr:`LeadContext.quality`) of every context of one recording
    that lacks it, the signal-wide measures of all of them in one pass
    (:func:`ecg.quality.assess_many`: each lead gets what it gets alone). When that fails
    (e.g. a lead too short for the R-peak detector) nothing is shared: each context then
    raises or answers when asked, as without sharing."""
    from ecg import quality

    todo = [c for c in contexts if "quality" not in c._cache]
    if not _one_recording(todo):
        return
    try:
        found = quality.assess_many(todo)
    except SignalError:
        return
    for c, q in zip(todo, found):
        c.computed["quality"] += 1
        c.provide("quality", q)


def share_views(contexts: list[LeadContext]) -> None:
    """Compute the delineator's views of every context that lacks them in one pass over
    all leads (one recording: same rate and length); each context keeps its own."""
    from ecg.delineation.filters import make_views_many

    todo = [c for c in contexts if "views" not in c._cache]
    if len(todo) < 2 or any(c.fs_hz != todo[0].fs_hz or c.n_samples != todo[0].n_samples for c in todo):
        return
    leads = np.stack([c.signal_mv for c in todo])  # one row per lead: its transpose is read without a copy
    for c, views in zip(todo, make_views_many(leads.T, todo[0].fs_hz)):
        c.computed["views"] += 1
        c.provide("views", views)


def share_lead_waves(contexts: list[LeadContext]) -> None:
    """Delineate, in one pass over all leads, every context of one recording that lacks its
    boundaries and whose delineator has an all-leads form
    (:func:`ecg.delineation.learned.many_of`: the rule and the learned delineator; each lead
    gets what it would get alone); views are shared first (:func:`share_views`)."""
    from ecg.delineation.learned import many_of

    todo = [c for c in contexts if "lead_waves" not in c._cache]
    if len(todo) < 2 or any(c.fs_hz != todo[0].fs_hz or c.n_samples != todo[0].n_samples for c in todo):
        return
    groups: dict[Any, list[LeadContext]] = {}
    for c in todo:
        many = many_of(c.delineator)
        if many is not None:
            groups.setdefault(many, []).append(c)
    for many, group in groups.items():
        if len(group) < 2:
            continue
        share_views(group)
        for c, waves in zip(group, many(group)):
            c.computed["lead_waves"] += 1
            c.provide("lead_waves", waves)


#: leads whose R peaks may serve every lead of a recording (the rhythm strips, in order)
REFERENCE_LEADS = ("ii", "i", "v1")


def share_beat_marks(contexts: list[LeadContext]) -> LeadContext | None:
    """Let every lead of one recording (same rate and length) start its delineation from
    the beats of one reference lead, instead of detecting R peaks in each lead.

    A heartbeat is one event in every lead; the delineator moves each mark onto the lead's
    own QRS (its extremum within ±60 ms) and bounds it there. The reference is the first
    of :data:`REFERENCE_LEADS` present whose quality is readable (R peaks and quality are
    computed for it if not yet; for the cloud they already are, by screening); leads that
    already have their own R peaks keep them. Without a readable reference nothing is
    shared (each lead detects its own).

    Returns
    -------
    LeadContext or None
        The reference lead's context.
    """
    names = [(c.lead or "").strip().lower() for c in contexts]
    if len(contexts) < 2 or any(c.fs_hz != contexts[0].fs_hz or c.n_samples != contexts[0].n_samples
                                for c in contexts):
        return None
    for want in REFERENCE_LEADS:
        if want not in names:
            continue
        ref = contexts[names.index(want)]
        if not ref.quality.readable:
            continue
        for c in contexts:
            if c is not ref and "r_peaks" not in c._cache and "beat_marks" not in c._cache:
                c.provide("beat_marks", ref.r_peaks)
        return ref
    return None
