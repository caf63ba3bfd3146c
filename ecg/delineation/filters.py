"""Signal views used by the delineator: band-limited signal and scale-space slopes.

The delineator works on one lead in millivolts at its own sample rate; every width is
given in seconds and converted here, so the same code serves 300 Hz (CinC) and 500 Hz
(LUDB) records. Slopes are derivatives of Gaussian-smoothed signals, a single-scale
relative of the dyadic wavelet transform used by Martínez et al. (2004): a small scale
for the QRS complex, larger ones for the P and T waves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.ndimage import correlate1d, gaussian_filter1d

from ecg.filters import zero_phase

__all__ = ["LeadViews", "StackedViews", "make_views", "make_views_many", "stack_views", "band_limit", "HIGHPASS_HZ",
           "LOWPASS_HZ"]

#: baseline-wander corner of the zero-phase high-pass filter
HIGHPASS_HZ = 0.5
#: corner of the zero-phase low-pass filter (mains and EMG)
LOWPASS_HZ = 40.0

#: Gaussian scales (standard deviation, seconds) of the slope signals
_SIGMA_QRS_S = 0.004
_SIGMA_WAVE_S = 0.012
_SIGMA_T_S = 0.020
#: the P- and T-wave slopes are computed at the record's rate divided by the largest integer
#: that keeps at least this rate (500 Hz: at 250 Hz), then interpolated back linearly; their
#: Gaussians pass nothing above ≈ 30 Hz, so the coarser grid loses nothing the searches use
_WAVE_SLOPE_MIN_HZ = 250.0


#: the array fields :class:`LeadViews` and :class:`StackedViews` share (one lead / one row per lead),
#: computed with the views
_VIEW_NAMES = ("clean_mv", "smooth_mv", "slope_qrs")
#: the slopes only the rule P/T searches read, computed from ``clean_mv`` on first access
#: (the learned delineator never pays for them)
_LAZY_NAMES = ("slope_wave", "slope_t")


@dataclass(frozen=True)
class LeadViews:
    """Filtered views of one lead (all arrays share the input's length).

    Attributes
    ----------
    clean_mv : band-limited signal (0.5–40 Hz, zero phase), mV.
    smooth_mv : ``clean_mv`` smoothed at the P/T scale, mV.
    slope_qrs : slope at the QRS scale, mV/s.
    slope_wave : slope at the P-wave scale, mV/s (computed on first access).
    slope_t : slope at the T-wave scale, mV/s (computed on first access).
    fs_hz : sample rate, Hz.
    stack : StackedViews
        The views of all leads of the recording computed together (this lead is row
        ``row`` of it), so the delineator can search every lead's beats in one pass; the
        lazy slopes and absolute values are the stack's, computed once for every row.
    row : int
    """

    clean_mv: np.ndarray
    smooth_mv: np.ndarray
    slope_qrs: np.ndarray
    fs_hz: float
    stack: StackedViews = field(repr=False, compare=False)
    row: int

    @property
    def slope_wave(self) -> np.ndarray:
        """Slope at the P-wave scale (mV/s): this lead's row of the stack's, computed once."""
        return self._lazy("slope_wave")

    @property
    def slope_t(self) -> np.ndarray:
        """Slope at the T-wave scale (mV/s): this lead's row of the stack's, computed once."""
        return self._lazy("slope_t")

    def _lazy(self, name: str) -> np.ndarray:
        return getattr(self.stack, name)[self.row]  # type: ignore[no-any-return]

    @property
    def abs_slope_qrs(self) -> np.ndarray:
        """``|slope_qrs|``, computed once per lead."""
        return self._abs("slope_qrs")

    @property
    def abs_slope_wave(self) -> np.ndarray:
        """``|slope_wave|``, computed once per lead."""
        return self._abs("slope_wave")

    @property
    def abs_slope_t(self) -> np.ndarray:
        """``|slope_t|``, computed once per lead."""
        return self._abs("slope_t")

    def _abs(self, name: str) -> np.ndarray:
        return self.stack.absolute(name)[self.row]


@dataclass(frozen=True)
class StackedViews:
    """The views of several leads of one recording as ``(n_leads, n_samples)`` arrays.

    The delineator reads them through flat indices ``row * n_samples + sample``
    (:meth:`flat`), so one numpy call serves the beats of every lead. ``slope_wave`` and
    ``slope_t`` are computed for all rows on first access.
    """

    clean_mv: np.ndarray
    smooth_mv: np.ndarray
    slope_qrs: np.ndarray
    fs_hz: float

    @property
    def n_samples(self) -> int:
        return int(self.clean_mv.shape[1])

    @property
    def slope_wave(self) -> np.ndarray:
        """Slope at the P-wave scale of every lead (mV/s), computed once."""
        return self._lazy("slope_wave")

    @property
    def slope_t(self) -> np.ndarray:
        """Slope at the T-wave scale of every lead (mV/s), computed once."""
        return self._lazy("slope_t")

    def _lazy(self, name: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_lazy_cache", {})
        if name not in cache:
            cache.update(zip(_LAZY_NAMES, _wave_slopes(self.clean_mv, self.fs_hz), strict=True))
        return cache[name]  # type: ignore[no-any-return]

    def absolute(self, name: str) -> np.ndarray:
        """``|view|`` of every lead (``name`` e.g. ``"slope_qrs"``), computed once."""
        cache = self.__dict__.setdefault("_abs_cache", {})
        if name not in cache:
            cache[name] = np.abs(getattr(self, name))
        return cache[name]  # type: ignore[no-any-return]

    def flat(self, name: str) -> np.ndarray:
        """A view (or ``abs_<view>``) of every lead, flattened row after row (looked up once)."""
        cache = self.__dict__.setdefault("_flat_cache", {})
        out = cache.get(name)
        if out is None:
            whole = self.absolute(name[4:]) if name.startswith("abs_") else np.asarray(getattr(self, name))
            out = cache[name] = whole.reshape(-1)
        return out  # type: ignore[no-any-return]

    def lead(self, row: int) -> LeadViews:
        return LeadViews(**{k: getattr(self, k)[row] for k in _VIEW_NAMES}, fs_hz=self.fs_hz, stack=self, row=row)

    @classmethod
    def of(cls, views: list[LeadViews]) -> tuple[StackedViews, np.ndarray]:
        """The stack holding ``views`` and each one's row in it: their own when they share
        one, else a new stack (copies; its lazy slopes computed from the copied
        ``clean_mv`` rows, the same arithmetic row by row)."""
        first = views[0].stack
        if all(v.stack is first for v in views):
            return first, np.array([v.row for v in views], dtype=np.int64)
        arrays = {k: np.stack([getattr(v, k) for v in views]) for k in _VIEW_NAMES}
        return cls(**arrays, fs_hz=views[0].fs_hz), np.arange(len(views), dtype=np.int64)


def band_limit(x_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """The ``clean_mv`` view: 0.5–40 Hz zero phase along the last axis (also the learned
    segmenter's input band, :mod:`ecg.delineation.segmenter_input`)."""
    y = zero_phase(x_mv, 2, HIGHPASS_HZ, "highpass", fs_hz, axis=-1)
    if fs_hz > 2.2 * LOWPASS_HZ:
        y = zero_phase(y, 4, LOWPASS_HZ, "lowpass", fs_hz, axis=-1)
    return np.asarray(y, dtype=np.float64)


def make_views(x_mv: np.ndarray, fs_hz: float) -> LeadViews:
    """Build the filtered views of one lead.

    Parameters
    ----------
    x_mv : numpy.ndarray
        One lead, shape ``(n_samples,)``, millivolts, finite.
    fs_hz : float
        Sample rate in Hz.

    Returns
    -------
    LeadViews
    """
    return make_views_many(np.asarray(x_mv, dtype=np.float64)[:, None], fs_hz)[0]


@lru_cache(maxsize=32)
def _gauss_weights(sigma: float, order: int) -> np.ndarray:
    """The weights ``scipy.ndimage.gaussian_filter1d(..., sigma, order=order)`` correlates
    with (its impulse response: exact), built once per scale and rate."""
    radius = int(4.0 * sigma + 0.5)  # gaussian_filter1d's default truncation
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    w = np.ascontiguousarray(gaussian_filter1d(impulse, sigma, order=order, mode="constant")[::-1])
    w.setflags(write=False)
    return w


def stack_views(x_mv: np.ndarray, fs_hz: float) -> StackedViews:
    """The views of every column of ``(n_samples, n_leads)``: each filter runs once over
    all leads, along the contiguous time axis (the same arithmetic per lead); the P/T
    slopes wait until first read."""
    clean = band_limit(np.ascontiguousarray(np.asarray(x_mv, dtype=np.float64).T), fs_hz)

    def gauss(sigma_s: float, order: int) -> np.ndarray:
        # gaussian_filter1d(clean, sigma, axis=-1, order=order) with its weights cached
        y = correlate1d(clean, _gauss_weights(max(sigma_s * fs_hz, 0.8), order), axis=-1, mode="reflect")
        if order:
            y *= fs_hz
        return y

    return StackedViews(clean_mv=clean, smooth_mv=gauss(_SIGMA_WAVE_S, 0), slope_qrs=gauss(_SIGMA_QRS_S, 1),
                        fs_hz=float(fs_hz))


def _wave_slopes(clean: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """``(slope_wave, slope_t)`` of rows ``clean`` (mV/s): at the rate of
    :func:`wave_slope_step`, interpolated back."""
    step = wave_slope_step(fs_hz)
    coarse = clean if step == 1 else np.ascontiguousarray(clean[:, ::step])

    def wave_slope(sigma_s: float) -> np.ndarray:
        rate = fs_hz / step
        y = correlate1d(coarse, _gauss_weights(max(sigma_s * rate, 0.8), 1), axis=-1, mode="reflect")
        y *= rate
        return y if step == 1 else _upsample_linear(y, step, clean.shape[-1])

    return wave_slope(_SIGMA_WAVE_S), wave_slope(_SIGMA_T_S)


def wave_slope_step(fs_hz: float) -> int:
    """The decimation step of the P- and T-wave slopes at ``fs_hz`` (1: full rate)."""
    return max(1, int(fs_hz // _WAVE_SLOPE_MIN_HZ))


def _upsample_linear(y: np.ndarray, step: int, n: int) -> np.ndarray:
    """Rows of ``y`` (samples ``0, step, 2 step, ...`` of an ``n``-sample grid) linearly
    interpolated onto the whole grid (held flat after the last coarse sample)."""
    m = y.shape[-1]
    out = np.empty(y.shape[:-1] + (n,))
    out[..., ::step] = y
    for r in range(1, step):
        w = r / step
        k = (n - 1 - r) // step + 1  # fine samples j * step + r, j < k
        inner = min(k, m - 1)
        if step == 2:  # the midpoint: (a + b) / 2
            mid = np.add(y[..., :inner], y[..., 1 : inner + 1])
            mid *= 0.5
        else:
            mid = y[..., :inner] * (1.0 - w)
            mid += y[..., 1 : inner + 1] * w
        out[..., r : r + step * inner : step] = mid
        if k > inner:
            out[..., r + step * inner :: step] = y[..., -1:]
    return out


def make_views_many(x_mv: np.ndarray, fs_hz: float) -> list[LeadViews]:
    """:func:`make_views` of every column of ``(n_samples, n_leads)`` at once (one
    :class:`StackedViews`, each lead a row of it)."""
    stack = stack_views(x_mv, fs_hz)
    return [stack.lead(j) for j in range(stack.clean_mv.shape[0])]
