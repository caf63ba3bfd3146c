"""Internals of :mod:`ecg.delineate` (P/QRS/T delineation), split by responsibility.

- ``filters``: band-limited signal and scale-space slopes of one lead.
- ``qrs``: beat locations, lead polarity, QRS onset/offset.
- ``pt``: P and T waves within windows set by the QRS complexes.
- ``lead``: every beat of one lead, with plausibility checks and reasons.
- ``summary``: intervals, QTc, pacing-spike detection.
- ``multilead``: global boundaries across leads, QRS morphology, frontal axis.

Use the public functions of :mod:`ecg.delineate`; these modules may change.
"""
