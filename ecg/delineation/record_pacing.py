"""Whether a multi-lead recording is paced: a stimulus is one event that several electrodes see.

A pacemaker stimulus is one electrical event: every electrode on the body sees it at the
same instant (within the sampling period). A spike-like notch from one electrode's contact
or cable is seen only by the leads built from that electrode. So in a recording of several
leads a lead's own pacing judgement (:func:`ecg.delineation.summary.lead_pacing`: spikes
before at least half its beats) is confirmed only when its spikes coincide with spikes of a
lead that uses other electrodes.

Which leads count as "other electrodes": the six limb leads (I, II, III, aVR, aVL, aVF) are
all built from the same three limb electrodes — III, aVR, aVL and aVF are exact linear
combinations of I and II (Einthoven, Goldberger) — so together they are one source of
evidence; every other lead (V1–V6, or a lead of unknown name) is its own electrode, its own
source. With judged leads from fewer than two sources (a one-lead or limb-only recording)
coincidence cannot be tested and the leads' own judgement stands.

Declared before scoring in ``docs/measurements.md`` ("Pacing in a multi-lead recording").
"""

from __future__ import annotations

import numpy as np

from .summary import lead_pacing

__all__ = ["COINCIDENCE_S", "LIMB_LEADS", "lead_source", "record_paced"]

#: two leads' spikes are one event when this close (s): a stimulus lasts under 2 ms; the
#: spike's sample is found to within a sample (2 ms at 500 Hz, 4 ms at 250 Hz)
COINCIDENCE_S = 0.005
#: leads built from the three limb electrodes: one source of evidence together
LIMB_LEADS = frozenset({"i", "ii", "iii", "avr", "avl", "avf"})


def lead_source(name: str) -> str:
    """The electrode group a lead's signal comes from: ``"limb"`` for the six limb leads,
    the lead's own (lower-case) name otherwise.

    >>> lead_source("aVF"), lead_source("V4")
    ('limb', 'v4')
    """
    key = name.strip().lower()
    return "limb" if key in LIMB_LEADS else key


def record_paced(names: tuple[str, ...], qrs_on: list[np.ndarray | None],
                 spikes: list[tuple[np.ndarray, np.ndarray] | None],
                 pacing: list[tuple[bool, np.ndarray | None]], fs_hz: float) -> bool:
    """Whether a recording of several leads is paced.

    Parameters
    ----------
    names : tuple of str
        Lead names, one per entry of the lists.
    qrs_on : list
        Per lead the QRS onsets the spikes were searched at (None: lead not judged).
    spikes : list
        :func:`ecg.delineation.summary.spike_beats_many` per lead (per beat: spike or not,
        spike sample).
    pacing : list
        :func:`ecg.delineation.summary.lead_pacing` per lead (the lead's own judgement).
    fs_hz : float
        Sampling rate.

    Returns
    -------
    bool
        True when some lead judged paced on its own has confirmed spikes — shown within
        :data:`COINCIDENCE_S` by a lead of another source — before at least half of its beats
        with a QRS onset (the lead rule's own fraction); with judged leads from fewer than two
        sources, whether any lead is judged paced.
    """
    if not any(paced for paced, _ in pacing):
        return False
    judged = [j for j, s in enumerate(spikes) if s is not None]
    if len({lead_source(names[j]) for j in judged}) < 2:
        return True
    tol = COINCIDENCE_S * fs_hz
    for j in judged:
        if not pacing[j][0]:
            continue
        beats, at = spikes[j]  # type: ignore[misc]
        seen = [spikes[k][1][spikes[k][0]] for k in judged  # type: ignore[index]
                if lead_source(names[k]) != lead_source(names[j])]
        other = np.concatenate(seen)
        confirmed = beats.copy()  # per beat: a spike, and one another source saw at that instant
        confirmed[beats] = (np.abs(at[beats][:, None] - other[None, :]) <= tol).any(axis=1)
        if lead_pacing((confirmed, at), qrs_on[j])[0]:  # the lead rule, on confirmed spikes only
            return True
    return False
