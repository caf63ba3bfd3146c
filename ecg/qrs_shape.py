"""QRS windows, energy and shape comparisons for :mod:`ecg.ectopy` (array helpers).

Each beat is re-centred on the peak of its 5–20 Hz QRS energy summed over the leads
(:func:`qrs_centres`), its QRS window compared with the dominant beat's at the best shift
within ±30 ms (:func:`best_shift_correlation`), and its QRS energy's width measured
(:func:`energy_width`). Means and ranges without numpy's per-call wrappers; the median
over beats is ``ecg.delineation.vec.row_median``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import uniform_filter1d

try:  # the compiled kernel behind scipy.ndimage.uniform_filter1d (see _box_mean)
    from scipy.ndimage._nd_image import uniform_filter1d as _UNIFORM_1D
except ImportError:  # pragma: no cover - another scipy layout
    _UNIFORM_1D = None

from ecg.delineation.vec import clip_index
from ecg.filters import zero_phase

__all__ = ["qrs_centres", "qrs_windows", "centred", "mean", "ptp", "best_shift_correlation",
           "adjacent_correlation", "energy_width", "prepend", "append"]

_WIDTH_LEVEL = 0.1  # QRS width: energy above this share of the beat's peak
_SEARCH_S = (0.15, 0.05)  # QRS energy peak searched this far before/after the detector's mark


def adjacent_correlation(windows: np.ndarray) -> np.ndarray:
    """Correlation of each beat's QRS window with the next one's (mean over leads)."""
    a, b = windows[:-1], windows[1:]
    num = (a * b).sum(axis=1)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return mean(np.where(den > 0, num / np.maximum(den, 1e-12), 0.0), 1)


def energy_width(energy: np.ndarray, r: np.ndarray, fs_hz: float) -> np.ndarray:
    """Per beat, how many samples within ±150 ms its QRS energy stays above 10 % of its peak."""
    half = int(0.15 * fs_hz)
    seg = energy[clip_index(r[:, None] + (_arange(2 * half + 1) - half)[None, :], energy.size)]
    above = seg >= _WIDTH_LEVEL * np.maximum.reduce(seg, axis=1, keepdims=True)
    return np.add.reduce(above, axis=1).astype(np.float64)  # = np.count_nonzero(above, axis=1), fewer calls


def qrs_centres(rows: np.ndarray, fs_hz: float, r_peaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move each beat's fiducial to the peak of its QRS energy (5-20 Hz, all leads: the
    rows of ``(leads, samples)``) found from ``_SEARCH_S[0]`` before to ``_SEARCH_S[1]``
    after the detector's mark (detectors tend to mark wide beats late), so beats are timed
    and compared alike. Returns the centres and the smoothed energy."""
    n = rows.shape[1]
    if r_peaks.size == 0 or n < 64:
        return r_peaks, np.zeros(n)
    band = zero_phase(rows, 2, (5.0, min(20.0, 0.45 * fs_hz)), "bandpass", float(fs_hz), axis=-1)
    squares = band * band
    # summed lead by lead, in order; one lead: its squares (a sum of one term, and no square is -0.0)
    energy = squares[0] if squares.shape[0] == 1 else np.add.reduce(squares, axis=0)
    width = max(1, int(0.04 * fs_hz))
    energy = _box_mean(energy, width)  # = np.convolve(.., box, "same"), by running sums
    search_before, search_after = int(_SEARCH_S[0] * fs_hz), int(_SEARCH_S[1] * fs_hz)
    lo = np.maximum(r_peaks - search_before, 0)
    hi = np.minimum(r_peaks + search_after + 1, n)
    k = _arange(search_before + search_after + 1)[None, :]
    values = np.where(k < (hi - lo)[:, None], energy[np.minimum(lo[:, None] + k, n - 1)], -np.inf)
    centres = lo + values.argmax(axis=1)
    return (centres if _all(centres[1:] > centres[:-1]) else np.unique(centres)), energy


_all = np.logical_and.reduce  # ``np.all`` of a 1-D mask (True when empty) without its wrapper


@lru_cache(maxsize=16)
def _arange(n: int) -> np.ndarray:
    """``np.arange(n)`` (cached, read-only)."""
    out = np.arange(n)
    out.setflags(write=False)
    return out


def _box_mean(x: np.ndarray, width: int) -> np.ndarray:
    """``scipy.ndimage.uniform_filter1d(x, width, mode="constant")`` of a 1-D float64 array:
    its compiled kernel, without the wrapper's argument handling (same values)."""
    if _UNIFORM_1D is None:  # pragma: no cover - another scipy layout
        return np.asarray(uniform_filter1d(x, width, mode="constant"))
    out = np.zeros(x.shape)
    _UNIFORM_1D(x, width, 0, out, 4, 0.0, 0)  # mode 4: "constant" (ndimage's _extend_mode_to_code)
    return out


def qrs_windows(x: np.ndarray, r: np.ndarray, before: int, after: int, *, centre: bool = True) -> np.ndarray:
    """QRS windows of ``x`` ``(samples, leads)``, mean removed unless ``centre`` is False:
    shape (beats, samples, leads)."""
    windows = x[r[:, None] + (_arange(before + after + 1) - before)[None, :]]
    return centred(windows) if centre else windows


def centred(windows: np.ndarray) -> np.ndarray:
    """The windows minus their mean over samples (axis 1)."""
    return windows - mean(windows, 1, keepdims=True)


def mean(a: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """``a.mean(axis)`` (the same sum and division) without its per-call overhead."""
    return np.add.reduce(a, axis=axis, keepdims=keepdims) / a.shape[axis]


def ptp(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.ptp(a, axis)`` without its per-call overhead."""
    return a.max(axis=axis) - a.min(axis=axis)


def best_shift_correlation(padded: np.ndarray, template: np.ndarray, span: int) -> np.ndarray:
    """Per beat, the best over shifts of the correlation (mean over leads) of its
    ``span``-sample window with the template.

    ``padded`` is ``(beats, span + shifts - 1, leads)``. Each shifted window's sum, sum of
    squares and dot product with the template come from three batched matrix products
    (a band of ones and the template's Toeplitz matrix): the window's mean is removed
    algebraically (Σ(w - w̄)·t = Σw·t - w̄·Σt, Σ(w - w̄)² = Σw² - (Σw)²/span) instead of
    materialising every centred window.
    """
    _, samples, leads = padded.shape
    shifts = samples - span + 1
    # row k of the Toeplitz matrix holds the template at samples k … k + span - 1, zeros elsewhere
    zeros_around = np.zeros((leads, 2 * (shifts - 1) + span))
    zeros_around[:, shifts - 1 : shifts - 1 + span] = template.T
    step = zeros_around.strides[1]  # row k, sample j: zeros_around[:, shifts - 1 - k + j] (a strided view)
    toeplitz = np.ndarray((leads, shifts, samples), np.float64, zeros_around, (shifts - 1) * step,
                          (zeros_around.strides[0], -step, step))
    band = _band(samples, shifts, span)  # (shifts, samples): the window of shift k
    p = np.ascontiguousarray(padded.transpose(2, 1, 0))  # (leads, samples, beats)
    sums = band @ p
    centred_dot = toeplitz @ p - sums * (template.sum(axis=0) / span)[:, None, None]
    variance = np.maximum(band @ (p * p) - sums * sums / span, 0.0)
    den = np.sqrt(variance * np.einsum("tl,tl->l", template, template)[:, None, None])
    positive = den > 0
    corr = np.where(positive, centred_dot / np.where(positive, den, 1.0), 0.0)  # (leads, shifts, beats)
    return (mean(corr, 0)).max(axis=0)


@lru_cache(maxsize=16)
def _band(samples: int, shifts: int, span: int) -> np.ndarray:
    """``(shifts, samples)``: ones where shift k's ``span``-sample window lies (cached, read-only)."""
    lag = np.arange(samples)[None, :] - np.arange(shifts)[:, None]
    band = ((lag >= 0) & (lag < span)).astype(np.float64)
    band.setflags(write=False)
    return band


def prepend(value: float | bool, a: np.ndarray) -> np.ndarray:
    """``np.concatenate([[value], a])`` of a 1-D float or bool array, with fewer calls."""
    out = np.empty(a.size + 1, dtype=a.dtype)
    out[0] = value
    out[1:] = a
    return out


def append(a: np.ndarray, value: float) -> np.ndarray:
    """``np.concatenate([a, [value]])`` of a 1-D float array, with fewer calls."""
    out = np.empty(a.size + 1, dtype=a.dtype)
    out[:-1] = a
    out[-1] = value
    return out
