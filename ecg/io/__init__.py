"""Reading and writing ECG records: WFDB (``wfdb`` package) and CSV.

Every reader returns a :class:`Record` whose signals are in millivolts, shape
``(n_samples, n_leads)``, with the sample rate explicit. The CSV format is described in
:mod:`ecg.io.csv_text`; WFDB in :mod:`ecg.io.wfdb_files`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ecg.errors import InputFormatError
from ecg.io.csv_text import parse_csv, read_csv, write_csv
from ecg.io.record import MAX_ABS_MV, MAX_FS_HZ, MAX_INPUT_BYTES, Record, validate_fs
from ecg.io.wfdb_files import read_wfdb, write_wfdb

__all__ = [
    "Record",
    "read_record",
    "read_csv",
    "parse_csv",
    "write_wfdb",
    "write_csv",
    "validate_fs",
    "MAX_INPUT_BYTES",
    "MAX_ABS_MV",
    "MAX_FS_HZ",
]


def read_record(
    path: str | os.PathLike[str],
    *,
    fs_hz: float | None = None,
    adc_gain: float | None = None,
    baseline: int = 0,
    max_bytes: int | None = MAX_INPUT_BYTES,
) -> Record:
    """Read a WFDB record or a CSV file.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` file, or a WFDB record: ``.hea`` path, ``.dat``/``.mat`` path, or the
        record name without extension (``data/mitdb/100``).
    fs_hz : float, optional
        Required for CSV; ignored (checked against the header if given) for WFDB.
    adc_gain : float, optional
        CSV only: ADC counts per mV; None means the CSV holds millivolts.
    baseline : int
        CSV only: ADC count of 0 mV.
    max_bytes : int or None
        Refuse inputs larger than this before reading them (CSV file, or the WFDB
        record's files together); None: no limit.

    Returns
    -------
    Record

    Raises
    ------
    InputFormatError
        Missing, unreadable or too large file; values beyond :data:`MAX_ABS_MV`.

    Examples
    --------
    >>> rec = read_record("../shared/data/cinc2017/A00001.hea")  # doctest: +SKIP
    >>> rec.fs_hz, rec.signals_mv.shape  # doctest: +SKIP
    (300.0, (9000, 1))
    """
    p = Path(path)
    if p.suffix.lower() in (".csv", ".txt"):
        if fs_hz is None:
            raise InputFormatError("CSV input needs a sample rate (fs_hz)", source=str(p))
        return read_csv(p, fs_hz=fs_hz, adc_gain=adc_gain, baseline=baseline, max_bytes=max_bytes)
    return read_wfdb(p, fs_hz=fs_hz, max_bytes=max_bytes)
