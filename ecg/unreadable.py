"""Unreadable stretches inside a recording: where detected beats are not measurements.

A recording can be readable as a whole (``ecg.quality``) and still hold stretches of
noise — muscle (EMG) bursts, motion, electrode pops — where the R-peak detector's beats
are guesses: it misses beats there and takes spikes for beats. Such a stretch is marked
*unreadable* when the running median (±1 s) of the detector's QRS envelope reaches
:data:`UNREADABLE_LEVEL` of the typical beat's envelope height (the median at the R
peaks): the noise floor is then within four times of a QRS complex, in slope terms. The
±1 s median is the detector's own background (``ecg.beat_signal.noise_background``, the
one definition, on a 10 Hz grid).

The level is the one fixed part, chosen on the MIT-BIH records from a sweep (0.15–0.4)
and checked on the CPSC 2021 sample, which played no part in the choice
(``benchmarks/rpeaks_unreadable.py``; figures in ``docs/performance.md``, "R-peak
detection"). Beats inside or next to an unreadable stretch should not feed a heart rate,
RR intervals or premature-beat findings as if measured: :func:`beats_in` says which
(today only ``ecg.ectopy`` leaves them out).

Examples
--------
>>> import numpy as np
>>> env = np.full(3000, 0.01); peaks = np.arange(150, 3000, 300)
>>> env[peaks] = 1.0
>>> unreadable_spans(env, peaks, 300.0).shape
(0, 2)
>>> env[1200:2100] = 0.5  # three seconds of noise as steep as half a QRS
>>> unreadable_spans(env, peaks, 300.0).tolist()  # on the 10 Hz grid
[[1170, 2130]]
"""

from __future__ import annotations

import numpy as np

from ecg.beat_signal import background_reaches, background_step
from ecg.delineation.vec import clip_index, median1d

__all__ = ["UNREADABLE_LEVEL", "unreadable_spans", "beats_in"]

#: a stretch is unreadable when its ±1 s median QRS envelope reaches this share of the
#: typical beat's envelope height
UNREADABLE_LEVEL = 0.25


def unreadable_spans(envelope: np.ndarray, r_peaks: np.ndarray, fs_hz: float, *,
                     level: float = UNREADABLE_LEVEL) -> np.ndarray:
    """Unreadable stretches of one lead.

    Parameters
    ----------
    envelope : numpy.ndarray
        The lead's QRS envelope (``ecg.beats.band_envelope``, or
        ``ecg.context.LeadContext.qrs_envelope``), 1-D.
    r_peaks : numpy.ndarray
        The lead's R peaks (sample indices); fewer than two: nothing is judged.
    fs_hz : float
        Sample rate (Hz).
    level : float, optional
        The share of the typical beat's envelope that makes a stretch unreadable
        (benchmarks sweep it; callers keep the default).

    Returns
    -------
    numpy.ndarray
        Shape ``(k, 2)``, int64: ``[start, end)`` sample ranges, sorted, disjoint.
    """
    env = np.asarray(envelope, dtype=np.float64)
    peaks = np.asarray(r_peaks, dtype=np.int64)
    if env.ndim != 1 or peaks.size < 2 or env.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    typical = median1d(env[clip_index(peaks, env.size)])
    if not typical > 0:
        return np.zeros((0, 2), dtype=np.int64)
    step = background_step(fs_hz)
    flag = np.zeros(-(-env.size // step) + 2, dtype=bool)  # one per grid point, a False either side
    flag[1:-1] = background_reaches(env, fs_hz, level * typical)  # noise_background(env) >= it
    edges = (flag[1:] != flag[:-1]).nonzero()[0].reshape(-1, 2) * step  # [start, end) pairs
    np.minimum(edges, env.size, out=edges)
    return edges.astype(np.int64, copy=False)


def beats_in(samples: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Which of ``samples`` (sample indices) lie inside one of ``spans``."""
    at = np.asarray(samples, dtype=np.int64)
    s = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    if s.shape[0] == 0:
        return np.zeros(at.shape, dtype=bool)
    k = np.searchsorted(s[:, 0], at, side="right") - 1  # the last span starting at or before
    return (k >= 0) & (at < s[np.maximum(k, 0), 1])
