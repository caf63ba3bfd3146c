"""Signal preprocessing steps with one contract: ``apply(sig, fs_hz) -> (sig, fs_hz)``.

Each step is a small frozen dataclass; :class:`Pipeline` chains them. Signals are 1-D
``(n_samples,)`` or 2-D ``(n_samples, n_leads)`` float arrays; filtering runs along axis 0.

Examples
--------
>>> import numpy as np
>>> pipe = Pipeline([BandPass(), Resample(150.0), Normalise()])
>>> x = np.sin(2 * np.pi * 1.2 * np.arange(3000) / 300.0)
>>> y, fs = pipe.apply(x, 300.0)
>>> fs, y.shape
(150.0, (1500,))
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
from scipy import signal as _sps
from scipy.ndimage import median_filter

from ecg.errors import SignalError
from ecg.filters import zero_phase
from ecg.io import validate_fs

try:  # the prepared filter behind scipy.signal.upfirdn (see _polyphase_filter)
    from scipy.signal._upfirdn import _UpFIRDn as _UPFIRDN
except ImportError:  # pragma: no cover - another scipy layout
    _UPFIRDN = None

__all__ = [
    "Step",
    "Pipeline",
    "Resample",
    "BandPass",
    "BaselineRemoval",
    "Notch",
    "Normalise",
    "check_signal",
    "default_pipeline",
    "resample",
]


@runtime_checkable
class Step(Protocol):
    """A preprocessing step."""

    def apply(self, sig: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
        """Return the processed signal and its (possibly new) sample rate."""
        ...


def check_signal(sig: np.ndarray, fs_hz: float, *, min_duration_s: float = 0.0) -> tuple[np.ndarray, float]:
    """Validate a signal and return it as float64 with a float sample rate.

    Raises
    ------
    SignalError
        Bad shape, non-finite samples, impossible ``fs_hz`` or shorter than
        ``min_duration_s``.
    """
    fs = validate_fs(fs_hz)
    x = np.asarray(sig, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise SignalError(f"expected a non-empty 1-D or 2-D signal, got shape {x.shape}", reason="bad_shape")
    if not np.all(np.isfinite(x)):
        n_bad = int(np.count_nonzero(~np.isfinite(x)))
        raise SignalError(f"{n_bad} sample(s) are NaN or infinite", reason="non_finite", n_samples=x.shape[0])
    if x.shape[0] < min_duration_s * fs:
        raise SignalError(
            f"signal is {x.shape[0] / fs:.2f} s long, at least {min_duration_s:g} s needed",
            reason="too_short",
            fs_hz=fs,
            n_samples=x.shape[0],
        )
    return x, fs


def _pad_len(n: int, fs_hz: float, seconds: float) -> int:
    return int(min(n - 1, round(seconds * fs_hz)))


def resample(sig: np.ndarray, fs_hz: float, target_fs_hz: float) -> tuple[np.ndarray, float]:
    """Polyphase anti-aliased resampling along axis 0: the project's one resampler.

    The ratio is the closest fraction with a denominator ≤ 1000, so the rate reached is
    ``fs_hz * p / q`` (returned; equal to the target for every usual pair of rates).

    Parameters
    ----------
    sig : numpy.ndarray
        ``(n_samples,)`` or ``(n_samples, n_leads)``, finite.
    fs_hz, target_fs_hz : float
        Rates before and after (Hz).

    Returns
    -------
    (numpy.ndarray, float)
        The resampled signal (float64) and its rate.

    Examples
    --------
    >>> y, fs = resample(np.zeros(300), 300.0, 250.0)
    >>> y.shape, fs
    ((250,), 250.0)
    """
    x = np.asarray(sig, dtype=np.float64)
    fs, target = float(fs_hz), float(target_fs_hz)
    if abs(target - fs) < 1e-9:
        return x, fs
    up, down = _ratio(target / fs)
    y = _resample_poly(x, up, down)
    return y, fs * up / down


@lru_cache(maxsize=64)
def _ratio(r: float) -> tuple[int, int]:
    """``(up, down)``: the closest fraction to ``r`` with a denominator ≤ 1000 (once per ratio)."""
    ratio = Fraction(r).limit_denominator(1000)
    return ratio.numerator, ratio.denominator


@lru_cache(maxsize=32)
def _polyphase_design(up: int, down: int) -> tuple[np.ndarray, int, int]:
    """``scipy.signal.resample_poly``'s default anti-aliasing filter for ``up``/``down``
    (Kaiser window, β = 5, ``10 * max(up, down)`` taps each side, times ``up``), zero-padded
    in front to centre the output, and the output samples to drop in front. Built once."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    kaiser: Any = ("kaiser", 5.0)  # resample_poly's default window (scipy's stubs type it as str only)
    h = np.asarray(_sps.firwin(2 * half_len + 1, 1.0 / max_rate, window=kaiser), dtype=np.float64)
    h *= up
    n_pre_pad = down - half_len % down
    h = np.concatenate((np.zeros(n_pre_pad), h))
    h.setflags(write=False)
    return h, n_pre_pad, (half_len + n_pre_pad) // down


def _resample_poly(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, down, axis=0)`` (float64, default window and
    padding) with the filter design cached: the same arithmetic, without designing the
    filter on every call."""
    if up == down:
        return x.copy()
    n_in = x.shape[0]
    n_out = -(-n_in * up // down)
    n_pre_remove, apply = _polyphase_filter(up, down, n_in)
    return apply(x)[n_pre_remove : n_pre_remove + n_out]  # type: ignore[no-any-return]


@lru_cache(maxsize=64)
def _polyphase_filter(up: int, down: int, n_in: int) -> tuple[int, Any]:
    """The output samples to drop in front and ``x -> upfirdn(h, x, up, down, axis=0)`` for
    ``n_in`` input samples, with ``h`` padded by resample_poly's rule; scipy's prepared
    filter object (the polyphase split of ``h``) is built once per length, not per call."""
    h, _, n_pre_remove = _polyphase_design(up, down)
    n_out = -(-n_in * up // down)
    n_post_pad = 0  # resample_poly's rule: enough zeros that the kept outputs exist
    while ((n_in - 1) * up + h.size + n_post_pad - 1) // down + 1 < n_out + n_pre_remove:
        n_post_pad += 1
    if n_post_pad:
        h = np.concatenate((h, np.zeros(n_post_pad)))
    if _UPFIRDN is None:  # pragma: no cover - another scipy layout
        return n_pre_remove, lambda x: _sps.upfirdn(h, x, up, down, axis=0)
    prepared = _UPFIRDN(h, np.float64, up, down)  # what upfirdn builds on every call
    return n_pre_remove, lambda x: prepared.apply_filter(x, axis=0)


@dataclass(frozen=True)
class Resample:
    """Polyphase resampling to ``target_fs_hz`` (anti-aliased; :func:`resample`)."""

    target_fs_hz: float

    def apply(self, sig: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
        x, fs = check_signal(sig, fs_hz)
        return resample(x, fs, validate_fs(self.target_fs_hz))


@dataclass(frozen=True)
class BandPass:
    """Zero-phase Butterworth band-pass (default 0.5–40 Hz, order 2 applied twice).

    The high edge is lowered to 45 % of ``fs_hz`` when the rate is too low for it.
    """

    low_hz: float = 0.5
    high_hz: float = 40.0
    order: int = 2

    def apply(self, sig: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
        x, fs = check_signal(sig, fs_hz)
        high = min(self.high_hz, 0.45 * fs)
        if not 0 < self.low_hz < high:
            raise SignalError(
                f"band {self.low_hz}-{self.high_hz} Hz impossible at {fs:g} Hz", reason="bad_fs", fs_hz=fs
            )
        if x.shape[0] < 16:
            raise SignalError("signal too short to filter", reason="too_short", fs_hz=fs, n_samples=x.shape[0])
        return zero_phase(x, self.order, (self.low_hz, high), "bandpass", fs, padlen=_pad_len(x.shape[0], fs, 1.0)), fs


@dataclass(frozen=True)
class BaselineRemoval:
    """Remove baseline wander with two median filters (200 ms then 600 ms windows).

    The classic de Chazal method: the cascade of medians estimates the baseline
    without following QRS complexes or T waves; the estimate is subtracted.
    """

    first_window_s: float = 0.2
    second_window_s: float = 0.6

    def apply(self, sig: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
        x, fs = check_signal(sig, fs_hz)
        # Median filters at ≤ 100 Hz are enough for a baseline estimate and much faster.
        step = max(1, int(fs // 100))
        coarse = x[::step]
        w1 = _odd(self.first_window_s * fs / step)
        w2 = _odd(self.second_window_s * fs / step)
        size = (w1,) if x.ndim == 1 else (w1, 1)
        base = median_filter(coarse, size=size, mode="nearest")
        base = median_filter(base, size=(w2,) if x.ndim == 1 else (w2, 1), mode="nearest")
        if step > 1:
            t_full = np.arange(x.shape[0])
            t_coarse = np.arange(coarse.shape[0]) * step
            if x.ndim == 1:
                base = np.interp(t_full, t_coarse, base)
            else:
                base = np.column_stack([np.interp(t_full, t_coarse, base[:, k]) for k in range(x.shape[1])])
        return x - base, fs


def _odd(n: float) -> int:
    k = max(3, int(round(n)))
    return k if k % 2 else k + 1


@dataclass(frozen=True)
class Notch:
    """Zero-phase IIR notch at mains frequency (50 or 60 Hz)."""

    freq_hz: float = 50.0
    quality: float = 30.0

    def apply(self, sig: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
        x, fs = check_signal(sig, fs_hz)
        if self.freq_hz >= fs / 2:
            return x, fs  # nothing at that frequency can be in the signal
        b, a = _sps.iirnotch(self.freq_hz, self.quality, fs=fs)
        return _sps.filtfilt(b, a, x, axis=0, padlen=_pad_len(x.shape[0], fs, 0.5)), fs


@dataclass(frozen=True)
class Normalise:
    """Scale each lead: ``"zscore"`` (mean 0, SD 1) or ``"robust"`` (median/IQR-based).

    A flat lead (zero spread) is returned centred but unscaled.
    """

    method: str = "zscore"

    def apply(self, sig: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
        x, fs = check_signal(sig, fs_hz)
        if self.method == "zscore":
            centre = x.mean(axis=0)
            spread = x.std(axis=0)
        elif self.method == "robust":
            centre = np.median(x, axis=0)
            q75, q25 = np.percentile(x, [75, 25], axis=0)
            spread = (q75 - q25) / 1.349
        else:
            raise ValueError(f"unknown normalisation {self.method!r} (zscore or robust)")
        spread = np.where(spread > 0, spread, 1.0)
        return (x - centre) / spread, fs


@dataclass(frozen=True)
class Pipeline:
    """Chain of steps applied in order; itself a step."""

    steps: tuple[Step, ...]

    def __init__(self, steps: Sequence[Step]) -> None:
        object.__setattr__(self, "steps", tuple(steps))

    def apply(self, sig: np.ndarray, fs_hz: float) -> tuple[np.ndarray, float]:
        x, fs = check_signal(sig, fs_hz)
        for step in self.steps:
            x, fs = step.apply(x, fs)
        return x, fs


def default_pipeline(target_fs_hz: float | None = None, *, notch_hz: float | None = None) -> Pipeline:
    """The standard chain: optional notch, 0.5–40 Hz band-pass, optional resample.

    Parameters
    ----------
    target_fs_hz : float, optional
        Resample to this rate at the end.
    notch_hz : float, optional
        Mains frequency to notch out (50 or 60) before band-passing.
    """
    steps: list[Step] = []
    if notch_hz is not None:
        steps.append(Notch(notch_hz))
    steps.append(BandPass())
    if target_fs_hz is not None:
        steps.append(Resample(target_fs_hz))
    return Pipeline(steps)
