"""The record type every reader returns, and the checks every reader shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecg.errors import InputFormatError, SignalError

__all__ = ["Record", "validate_fs", "check_gain", "check_amplitude", "counts",
           "MAX_INPUT_BYTES", "MAX_ABS_MV", "MAX_FS_HZ"]

#: Highest sample rate accepted anywhere in the package (Hz).
MAX_FS_HZ = 10_000.0
#: Largest input file :func:`read_record` reads by default (bytes): 64 MiB holds 600 s of
#: 12 leads at 2 kHz as CSV; larger files are refused before they are read.
MAX_INPUT_BYTES = 64 * 1024 * 1024
#: Largest magnitude accepted as an ECG value (mV): no body surface potential comes near
#: 10 V; larger values mean a wrong ADC gain or garbage, and would overflow the filters.
MAX_ABS_MV = 10_000.0


@dataclass(frozen=True)
class Record:
    """One ECG record in physical units.

    Attributes
    ----------
    name : str
        Record name (file stem for files, ``"csv"`` for pasted text).
    signals_mv : numpy.ndarray
        Shape ``(n_samples, n_leads)``, float64, millivolts.
    fs_hz : float
        Sample rate in Hz.
    lead_names : tuple of str
        One name per column of ``signals_mv``.
    adc_gain : float or None
        ADC counts per millivolt of the source (first lead for WFDB), if known.
    baseline : int or None
        ADC count corresponding to 0 mV, if known.
    """

    name: str
    signals_mv: np.ndarray
    fs_hz: float
    lead_names: tuple[str, ...]
    adc_gain: float | None = None
    baseline: int | None = None

    @property
    def n_samples(self) -> int:
        """Number of samples per lead."""
        return int(self.signals_mv.shape[0])

    @property
    def duration_s(self) -> float:
        """Length of the record in seconds."""
        return self.n_samples / self.fs_hz

    def lead_index(self, name: str | None) -> int:
        """Column of the lead called ``name`` (case-insensitive); the first lead for None.

        Raises
        ------
        LookupError
            If the record has no lead of that name.
        """
        if name is None:
            return 0
        names = [n.lower() for n in self.lead_names]
        if name.lower() not in names:
            raise LookupError(f"lead {name!r} not in record (has {', '.join(self.lead_names)})")
        return names.index(name.lower())

    def lead(self, index_or_name: int | str = 0) -> np.ndarray:
        """Return one lead as a 1-D float64 array in mV (by index or name)."""
        if isinstance(index_or_name, str):
            try:
                idx = self.lead_names.index(index_or_name)
            except ValueError:
                raise KeyError(f"no lead {index_or_name!r} in {self.lead_names}") from None
        else:
            idx = index_or_name
        return self.signals_mv[:, idx]


def validate_fs(fs_hz: float) -> float:
    """Check a sample rate and return it as float.

    Raises
    ------
    SignalError
        If ``fs_hz`` is not finite, ≤ 0 or above :data:`MAX_FS_HZ`.
    """
    try:
        fs = float(fs_hz)
    except (TypeError, ValueError):
        raise SignalError(f"sample rate {fs_hz!r} is not a number", reason="bad_fs") from None
    if not math.isfinite(fs) or fs <= 0 or fs > MAX_FS_HZ:
        raise SignalError(
            f"impossible sample rate {fs_hz!r} Hz (must be in (0, {MAX_FS_HZ:g}])",
            reason="bad_fs",
            fs_hz=fs if math.isfinite(fs) else None,
        )
    return fs


def check_gain(adc_gain: float | None, source: str) -> float | None:
    """``adc_gain`` as a positive float, or None; :class:`InputFormatError` otherwise."""
    if adc_gain is None:
        return None
    gain = float(adc_gain)
    if not math.isfinite(gain) or gain <= 0:
        raise InputFormatError(f"ADC gain must be a positive number, got {adc_gain!r}", source=source)
    return gain


def check_amplitude(sig_mv: np.ndarray, source: str) -> None:
    """Refuse values no ECG has (NaN is left to the quality checks, which report it)."""
    finite = sig_mv[~np.isnan(sig_mv)]
    peak = float(np.max(np.abs(finite))) if finite.size else 0.0
    if not math.isfinite(peak) or peak > MAX_ABS_MV:
        raise InputFormatError(f"values reach {peak:.3g} mV, beyond the {MAX_ABS_MV:g} mV of any ECG "
                               "(wrong ADC gain?)", source=source)


def counts(sig_mv: np.ndarray, adc_gain: float, baseline: int) -> np.ndarray:
    """Millivolts back to integer ADC counts (exact for values that came from counts)."""
    return np.rint(sig_mv * adc_gain).astype(np.int64) + int(baseline)
