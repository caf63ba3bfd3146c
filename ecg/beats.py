"""R-peak detection, RR intervals and heart rate.

The detector works on the whole recording at once (it is not a real-time detector):

1. a QRS-band filter (zero-phase Butterworth 5–20 Hz) and its derivative;
2. an energy envelope: squared slope integrated over a centred 100 ms window;
3. candidate QRS complexes: envelope maxima at least 200 ms apart;
4. a decision pass over the candidates with adaptive signal/noise levels
   (Pan–Tompkins rules: threshold between noise and signal level, search back for
   missed beats after 1.66 × the mean RR, T-wave rejection by slope within 360 ms);
5. each accepted complex is located on the 0.5–40 Hz signal at the largest deflection
   of the recording's dominant QRS polarity, so inverted (finger) ECG works the same.

All steps are vectorised numpy/scipy except the decision pass, a loop over candidates
(a few per beat).
"""

from __future__ import annotations

import numpy as np
from scipy import signal as _sps

from ecg.errors import SignalError
from ecg.preprocess import check_signal

__all__ = ["detect_r_peaks", "rr_intervals_ms", "heart_rate_bpm", "MIN_DURATION_S"]

#: Shortest signal :func:`detect_r_peaks` accepts (s).
MIN_DURATION_S = 1.0

_REFRACTORY_S = 0.2
_T_WAVE_WINDOW_S = 0.36
_SEARCHBACK_FACTOR = 1.66
_MWI_S = 0.10
_LOCATE_HALF_WINDOW_S = 0.08

_sos_cache: dict[tuple[float, float, float], np.ndarray] = {}


def _sos(low_hz: float, high_hz: float, fs_hz: float) -> np.ndarray:
    key = (low_hz, high_hz, fs_hz)
    sos = _sos_cache.get(key)
    if sos is None:
        sos = _sps.butter(2, [low_hz, min(high_hz, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")
        _sos_cache[key] = sos
    return sos


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of odd ``width`` (same length as ``x``)."""
    half = width // 2
    c = np.cumsum(np.concatenate((np.zeros(half + 1), x, np.zeros(half))))
    return (c[width:] - c[:-width]) / width


def _as_1d(sig_mv: np.ndarray) -> np.ndarray:
    x = np.asarray(sig_mv, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise SignalError(f"expected one lead (1-D), got shape {x.shape}", reason="bad_shape")
    return x


def detect_r_peaks(sig_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Detect R peaks in a single-lead ECG.

    Parameters
    ----------
    sig_mv : numpy.ndarray
        One lead, shape ``(n_samples,)`` or ``(n_samples, 1)``, in mV (any scale works;
        the detector is amplitude-adaptive). Polarity does not matter.
    fs_hz : float
        Sample rate in Hz (tested 100–1000 Hz).

    Returns
    -------
    numpy.ndarray
        Sorted sample indices (int64) of the R peaks.

    Raises
    ------
    SignalError
        NaN/inf samples, impossible ``fs_hz``, not one lead, or shorter than
        :data:`MIN_DURATION_S`.

    Examples
    --------
    >>> import numpy as np
    >>> fs = 250.0
    >>> x = np.zeros(2500); x[125::250] = 1.0   # one spike per second
    >>> x = np.convolve(x, np.hanning(15), "same")
    >>> detect_r_peaks(x, fs).tolist()[:3]
    [125, 375, 625]
    """
    x, fs = check_signal(_as_1d(sig_mv), fs_hz, min_duration_s=MIN_DURATION_S)
    if np.ptp(x) == 0:
        return np.zeros(0, dtype=np.int64)
    qrs = _sps.sosfiltfilt(_sos(5.0, 20.0, fs), x)
    slope = np.diff(qrs, prepend=qrs[0]) * fs
    mwi = _moving_average(slope * slope, _odd(_MWI_S * fs))
    refractory = max(1, int(_REFRACTORY_S * fs))
    cand, _ = _sps.find_peaks(mwi, distance=refractory)
    if cand.size == 0:
        return np.zeros(0, dtype=np.int64)
    abs_slope = np.abs(slope)
    beats = _decide(cand, mwi[cand], abs_slope, fs)
    if beats.size == 0:
        return beats
    wide = _sps.sosfiltfilt(_sos(0.5, 40.0, fs), x)
    return _locate(wide, beats, fs)


def _odd(n: float) -> int:
    k = max(1, int(round(n)))
    return k if k % 2 else k + 1


def _max_slope(abs_slope: np.ndarray, idx: int, half: int) -> float:
    lo = max(0, idx - half)
    return float(abs_slope[lo : idx + half + 1].max())


def _decide(cand: np.ndarray, height: np.ndarray, abs_slope: np.ndarray, fs: float) -> np.ndarray:
    """Pan–Tompkins style decision over envelope maxima (offline initialisation)."""
    n_init = int(2.0 * fs)
    first = height[cand < n_init]
    spk = float(np.max(first) if first.size else np.max(height)) * 0.5
    npk = float(np.median(height)) * 0.5
    half = int(0.06 * fs)
    t_win = int(_T_WAVE_WINDOW_S * fs)
    refractory = int(_REFRACTORY_S * fs)
    beats: list[int] = []
    slopes: list[float] = []
    rr: list[int] = []
    last_i = -1  # index into cand of the last beat
    i = 0
    n = cand.size
    while i < n:
        c = int(cand[i])
        h = float(height[i])
        thr = npk + 0.25 * (spk - npk)
        # search back for a missed beat when the gap grows too long
        if beats and rr:
            rr_mean = float(np.mean(rr[-8:]))
            if c - beats[-1] > _SEARCHBACK_FACTOR * rr_mean:
                j = _searchback(cand, height, last_i + 1, i, beats[-1] + refractory, c - refractory, thr * 0.5)
                if j >= 0:
                    cj = int(cand[j])
                    spk = 0.25 * float(height[j]) + 0.75 * spk
                    rr.append(cj - beats[-1])
                    beats.append(cj)
                    slopes.append(_max_slope(abs_slope, cj, half))
                    last_i = j
                    continue
        if h > thr:
            s = _max_slope(abs_slope, c, half)
            if beats and c - beats[-1] < t_win and s < 0.5 * slopes[-1]:
                npk = 0.125 * h + 0.875 * npk  # T wave
            else:
                if beats:
                    rr.append(c - beats[-1])
                beats.append(c)
                slopes.append(s)
                spk = 0.125 * h + 0.875 * spk
                last_i = i
        else:
            npk = 0.125 * h + 0.875 * npk
        i += 1
    return np.asarray(beats, dtype=np.int64)


def _searchback(
    cand: np.ndarray, height: np.ndarray, start: int, stop: int, lo: int, hi: int, thr: float
) -> int:
    if stop <= start:
        return -1
    idx = np.arange(start, stop)
    pos = cand[idx]
    ok = (pos >= lo) & (pos <= hi) & (height[idx] > thr)
    if not ok.any():
        return -1
    sel = idx[ok]
    return int(sel[np.argmax(height[sel])])


def _locate(wide: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """Move each envelope peak onto the R wave of the dominant polarity."""
    half = max(1, int(_LOCATE_HALF_WINDOW_S * fs))
    n = wide.size
    offsets = np.arange(-half, half + 1)
    win = np.clip(beats[:, None] + offsets[None, :], 0, n - 1)
    seg = wide[win]
    seg = seg - np.median(seg, axis=1, keepdims=True)
    up = seg.max(axis=1)
    down = -seg.min(axis=1)
    polarity = 1.0 if np.median(up) >= np.median(down) else -1.0
    peaks = win[np.arange(win.shape[0]), np.argmax(polarity * seg, axis=1)]
    return np.unique(peaks).astype(np.int64)


def rr_intervals_ms(r_peaks: np.ndarray, fs_hz: float) -> np.ndarray:
    """RR intervals in milliseconds from R-peak sample indices.

    Examples
    --------
    >>> rr_intervals_ms(np.array([0, 300, 570]), 300.0).tolist()
    [1000.0, 900.0]
    """
    from ecg.io import validate_fs

    fs = validate_fs(fs_hz)
    r = np.asarray(r_peaks, dtype=np.float64)
    if r.ndim != 1:
        raise SignalError("r_peaks must be 1-D", reason="bad_shape")
    return np.diff(r) * 1000.0 / fs


def heart_rate_bpm(r_peaks: np.ndarray, fs_hz: float) -> float | None:
    """Mean heart rate in beats per minute, or None with fewer than 2 beats.

    Uses 60000 / median RR (ms), robust to a single missed or extra beat.

    Examples
    --------
    >>> heart_rate_bpm(np.array([0, 300, 600, 900]), 300.0)
    60.0
    """
    rr = rr_intervals_ms(r_peaks, fs_hz)
    if rr.size == 0:
        return None
    med = float(np.median(rr))
    if med <= 0:
        return None
    return 60000.0 / med
