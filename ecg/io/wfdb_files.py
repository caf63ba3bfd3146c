"""WFDB records (``.hea`` + ``.dat``/``.mat``) read and written through the ``wfdb`` package.

``wfdb`` (and pandas with it) is imported inside the two functions only: importing it costs
about a second, and screening never needs it.
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from ecg.errors import InputFormatError, SignalError
from ecg.io.record import Record, check_amplitude, counts, validate_fs

__all__ = ["read_wfdb", "write_wfdb", "WFDB_SUFFIXES"]

#: File suffixes that name a WFDB record
WFDB_SUFFIXES = (".hea", ".dat", ".mat")

def read_wfdb(p: Path, *, fs_hz: float | None, max_bytes: int | None = None) -> Record:
    """Read the WFDB record at ``p`` (any of its files, or its name without suffix); see ``ecg.io.read_record``."""
    base = p.with_suffix("") if p.suffix.lower() in WFDB_SUFFIXES else p
    hea = base.parent / (base.name + ".hea")
    if not hea.is_file():
        raise InputFormatError("no WFDB header (.hea) found", source=str(hea))
    header_fs_hz = _header_fs_hz(hea)
    if max_bytes is not None:
        size = sum(f.stat().st_size for f in base.parent.glob(glob.escape(base.name) + ".*") if f.is_file())
        if size > max_bytes:
            raise InputFormatError(f"record files hold {size:,} bytes, more than the {max_bytes:,} byte limit",
                                   source=str(base))
    import wfdb  # only here and in write_wfdb: importing it (and pandas) costs ~1 s

    try:
        rec = wfdb.rdrecord(str(base), physical=True)
    except Exception as exc:  # wfdb raises many kinds (ValueError, OSError, struct errors)
        raise InputFormatError(f"cannot read WFDB record: {exc}", source=str(base)) from exc
    if not isinstance(rec, wfdb.Record):
        raise InputFormatError("multi-segment WFDB records are not supported", source=str(base))
    if rec.p_signal is None or rec.fs is None:
        raise InputFormatError("WFDB record has no signal", source=str(base))
    fs = validate_fs(rec.fs)
    if not math.isclose(fs, header_fs_hz, rel_tol=1e-9):  # wfdb falls back to 250 Hz on a field it cannot read
        raise InputFormatError(f"header sample rate {header_fs_hz:g} Hz was read as {fs:g} Hz", source=str(hea))
    if fs_hz is not None and not math.isclose(float(fs_hz), fs, rel_tol=1e-6):
        raise InputFormatError(
            f"header says {fs:g} Hz but fs_hz={fs_hz!r} was given", source=str(hea)
        )
    sig = np.asarray(rec.p_signal, dtype=np.float64)
    if sig.ndim == 1:
        sig = sig[:, None]
    check_amplitude(sig, str(base))
    gain0 = (rec.adc_gain or [None])[0]
    base0 = (rec.baseline or [None])[0]
    return Record(
        name=base.name,
        signals_mv=sig,
        fs_hz=fs,
        lead_names=tuple(str(n) for n in (rec.sig_name or [f"lead{i}" for i in range(sig.shape[1])])),
        adc_gain=float(gain0) if gain0 is not None else None,
        baseline=int(base0) if base0 is not None else None,
    )


def _header_fs_hz(hea: Path) -> float:
    """The sample rate written on a WFDB header's record line, checked (never wfdb's 250 Hz default).

    The record line is ``name[/segments] n_signals [fs[/counter_fs][(base_counter)] [n_samples ...]]``.
    """
    try:
        with hea.open("r", encoding="latin-1") as fh:
            line = next((ln for ln in (raw.strip() for raw in fh) if ln and not ln.startswith("#")), "")
    except OSError as exc:
        raise InputFormatError(f"cannot read WFDB header: {exc.strerror or exc}", source=str(hea)) from exc
    fields = line.split()
    if len(fields) < 3:
        raise InputFormatError("WFDB header gives no sample rate", source=str(hea))
    text = re.split(r"[/(]", fields[2], maxsplit=1)[0]
    try:
        value = float(text)
    except ValueError:
        raise InputFormatError(f"WFDB header sample rate {fields[2]!r} is not a number", source=str(hea)) from None
    if not math.isfinite(value) or value <= 0:
        raise InputFormatError(f"WFDB header sample rate {fields[2]!r} must be a positive number", source=str(hea))
    return validate_fs(value)


#: WFDB storage formats :func:`write_wfdb` chooses from, with the integer range each holds
_WFDB_RANGES = (("16", -(2**15), 2**15 - 1), ("24", -(2**23), 2**23 - 1), ("32", -(2**31), 2**31 - 1))
_WFDB_LIMITS = {"212": (-2048, 2047), **{f: (lo, hi) for f, lo, hi in _WFDB_RANGES}}


def _wfdb_format(digital: np.ndarray) -> str:
    """The smallest format that holds the values (keeping clear of each format's lowest
    value, WFDB's "no sample" marker)."""
    lo, hi = (int(digital.min()), int(digital.max())) if digital.size else (0, 0)
    for fmt, fmt_lo, fmt_hi in _WFDB_RANGES:
        if fmt_lo < lo and hi <= fmt_hi:
            return fmt
    return "32"


def write_wfdb(
    record: Record,
    directory: str | os.PathLike[str],
    *,
    adc_gain: float = 200.0,
    baseline: int = 0,
    fmt: str | None = "16",
    comments: Sequence[str] = (),
    started_at: datetime | None = None,
) -> Path:
    """Write a record as WFDB (``<name>.hea`` + ``<name>.dat``): the project's one WFDB writer.

    Parameters
    ----------
    record : Record
    directory : str or path-like
        Existing folder.
    adc_gain : float
        ADC counts per mV used for every lead (200 as in MIT-BIH; 1000 keeps µV).
    baseline : int
        ADC count of 0 mV. Samples that came from counts with this gain and baseline are
        written back bit for bit.
    fmt : str or None
        WFDB storage format (``"16"``, ``"212"``, ``"24"``, ``"32"``); None picks the
        smallest of 16/24/32 that holds the values.
    comments : sequence of str
        Header comment lines.
    started_at : datetime, optional
        Base date and time of the record.

    Returns
    -------
    pathlib.Path
        Path of the written ``.hea`` file.

    Raises
    ------
    SignalError
        Non-finite samples, or values outside the range of ``fmt``.
    """
    import wfdb  # only here and in read_wfdb

    d = Path(directory)
    sig = np.asarray(record.signals_mv, dtype=np.float64)
    if not np.all(np.isfinite(sig)):
        raise SignalError("cannot write non-finite samples to WFDB", reason="non_finite")
    n_leads = sig.shape[1]
    digital = counts(sig, adc_gain, baseline)
    fmt = _wfdb_format(digital) if fmt is None else fmt
    lo, hi = _WFDB_LIMITS.get(fmt, (-(2**15), 2**15 - 1))
    if digital.size and (int(digital.min()) <= lo or int(digital.max()) > hi):
        raise SignalError(
            f"signal exceeds the range of format {fmt} at gain {adc_gain:g}/mV", reason="clipped"
        )
    when = {} if started_at is None else {"base_date": started_at.date(),
                                          "base_time": started_at.time().replace(tzinfo=None)}
    wfdb.wrsamp(
        record.name,
        fs=record.fs_hz,
        units=["mV"] * n_leads,
        sig_name=list(record.lead_names),
        d_signal=digital,
        fmt=[fmt] * n_leads,
        adc_gain=[float(adc_gain)] * n_leads,
        baseline=[int(baseline)] * n_leads,
        comments=list(comments),
        write_dir=str(d),
        **when,
    )
    return d / f"{record.name}.hea"
