"""Reading and writing ECG records: WFDB (``wfdb`` package) and CSV.

Every reader returns a :class:`Record` whose signals are in millivolts, shape
``(n_samples, n_leads)``, with the sample rate explicit.

CSV format (as the CardioLearn web page takes it: a CSV file or pasted text plus the
sample rate, ADC gain and baseline given separately):

- UTF-8 text, fields separated by commas (``,``); a semicolon or tab is accepted too if
  the whole text uses it consistently. Blank lines and lines starting with ``#`` are
  ignored. Leading/trailing spaces around fields are ignored.
- **One column without a header**: one integer ADC count per line (single lead, named
  ``"ECG"``).
- **Several columns with a header**: the first non-comment line names the leads, e.g.
  ``I,II,V1``. A first column named ``time``, ``time_s``, ``t``, ``sample`` or
  ``index`` (any case) is dropped (it may hold decimals). A single column may have a
  header too.
- Values are converted with ``mv = (value - baseline) / adc_gain``. With
  ``adc_gain=None`` the values are taken as millivolts already (decimals allowed, no
  baseline subtracted). With an ``adc_gain`` the values must be integers (ADC counts).
- Every data line must have as many fields as the header. Errors name the line number.
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ecg.errors import InputFormatError, SignalError

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

#: Highest sample rate accepted anywhere in the package (Hz).
MAX_FS_HZ = 10_000.0
#: Largest input file :func:`read_record` reads by default (bytes): 64 MiB holds 600 s of
#: 12 leads at 2 kHz as CSV; larger files are refused before they are read.
MAX_INPUT_BYTES = 64 * 1024 * 1024
#: Largest magnitude accepted as an ECG value (mV): no body surface potential comes near
#: 10 V; larger values mean a wrong ADC gain or garbage, and would overflow the filters.
MAX_ABS_MV = 10_000.0

_TIME_COLUMNS = frozenset({"time", "time_s", "t", "sample", "index", "time_ms"})
_SEPARATORS = (",", ";", "\t")
_WFDB_SUFFIXES = (".hea", ".dat", ".mat")
_INT_RE = re.compile(r"^[+-]?\d+$")


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


def _check_gain(adc_gain: float | None, source: str) -> float | None:
    if adc_gain is None:
        return None
    gain = float(adc_gain)
    if not math.isfinite(gain) or gain <= 0:
        raise InputFormatError(f"ADC gain must be a positive number, got {adc_gain!r}", source=source)
    return gain


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
    return _read_wfdb(p, fs_hz=fs_hz, max_bytes=max_bytes)


def _read_wfdb(p: Path, *, fs_hz: float | None, max_bytes: int | None = None) -> Record:
    base = p.with_suffix("") if p.suffix.lower() in _WFDB_SUFFIXES else p
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
    _check_amplitude(sig, str(base))
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


def _check_amplitude(sig_mv: np.ndarray, source: str) -> None:
    """Refuse values no ECG has (NaN is left to the quality checks, which report it)."""
    finite = sig_mv[~np.isnan(sig_mv)]
    peak = float(np.max(np.abs(finite))) if finite.size else 0.0
    if not math.isfinite(peak) or peak > MAX_ABS_MV:
        raise InputFormatError(f"values reach {peak:.3g} mV, beyond the {MAX_ABS_MV:g} mV of any ECG "
                               "(wrong ADC gain?)", source=source)


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


def _read_text_file(path: str | os.PathLike[str], max_bytes: int | None) -> str:
    """The UTF-8 text of a CSV file (a local path chosen by the operator, never network input)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"read_csv takes a path (str or os.PathLike), got {type(path).__name__}; "
                        "use parse_csv for text or bytes")
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputFormatError(f"cannot read file: {exc.strerror or exc}", source=str(p)) from exc
    if max_bytes is not None and len(raw) > max_bytes:
        raise InputFormatError(f"file is larger than the {max_bytes:,} byte limit", source=str(p))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"not UTF-8 text: {exc.reason} at byte {exc.start}", source=str(p)) from exc


def _pick_separator(lines: list[tuple[int, str]]) -> str:
    first = lines[0][1]
    for sep in _SEPARATORS:
        if sep in first:
            return sep
    return ","


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def read_csv(
    path: str | os.PathLike[str],
    *,
    fs_hz: float,
    adc_gain: float | None,
    baseline: int = 0,
    max_bytes: int | None = None,
) -> Record:
    """Read ECG from a CSV **file**; the argument is always a path, never CSV text.

    For text that arrived over a network (or any text in memory) use :func:`parse_csv`,
    which never touches the file system. The accepted format is described in the
    module docstring.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    fs_hz : float
        Sample rate in Hz.
    adc_gain : float or None
        ADC counts per millivolt; None if the values are already millivolts.
    baseline : int
        ADC count corresponding to 0 mV (ignored when ``adc_gain`` is None).
    max_bytes : int, optional
        Refuse files larger than this (read at most ``max_bytes + 1`` bytes).

    Returns
    -------
    Record

    Raises
    ------
    InputFormatError
        Unreadable or too large file, empty input, wrong field count, non-numeric value.
    SignalError
        Impossible sample rate.
    TypeError
        *path* is bytes or another non-path type.
    """
    fs = validate_fs(fs_hz)
    text = _read_text_file(path, max_bytes)
    return _parse_text(text, fs, adc_gain, baseline, source=str(path), name=Path(path).stem)


def parse_csv(
    text: str | bytes,
    *,
    fs_hz: float,
    adc_gain: float | None,
    baseline: int = 0,
    name: str = "csv",
) -> Record:
    """Parse CSV **text** (str, or UTF-8 bytes); never opens a file, whatever the text says.

    This is the parser for network input: ``"/etc/passwd"`` is one malformed line of
    CSV, not a path.

    Parameters
    ----------
    text : str or bytes
        The CSV content (a UTF-8 byte-order mark is dropped).
    fs_hz : float
        Sample rate in Hz.
    adc_gain : float or None
        ADC counts per millivolt; None if the values are already millivolts.
    baseline : int
        ADC count corresponding to 0 mV (ignored when ``adc_gain`` is None).
    name : str
        Record name to give the result.

    Returns
    -------
    Record

    Raises
    ------
    InputFormatError
        Not UTF-8, empty input, wrong field count, non-numeric value (with line).
    SignalError
        Impossible sample rate.
    TypeError
        *text* is a path object or another non-text type.

    Examples
    --------
    >>> rec = parse_csv("512\\n530\\n1500\\n", fs_hz=300, adc_gain=1000, baseline=512)
    >>> rec.signals_mv[:, 0].round(3).tolist()
    [0.0, 0.018, 0.988]
    """
    fs = validate_fs(fs_hz)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputFormatError(f"not UTF-8 text: {exc.reason} at byte {exc.start}", source="<text>") from None
    elif not isinstance(text, str):
        raise TypeError(f"parse_csv takes text (str or bytes), got {type(text).__name__}; use read_csv for a path")
    return _parse_text(text.lstrip("\ufeff"), fs, adc_gain, baseline, source="<text>", name=name)


def _parse_text(text: str, fs: float, adc_gain: float | None, baseline: int, *, source: str, name: str) -> Record:
    gain = _check_gain(adc_gain, source)
    lines = [
        (no, ln.strip())
        for no, ln in enumerate(text.splitlines(), start=1)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not lines:
        raise InputFormatError("no data (empty CSV)", source=source)
    sep = _pick_separator(lines)
    header_fields = [f.strip() for f in lines[0][1].split(sep)]
    if all(_is_number(f) for f in header_fields if f):
        names = ["ECG"] if len(header_fields) == 1 else [f"lead{i}" for i in range(len(header_fields))]
        data_lines = lines
    else:
        names = header_fields
        data_lines = lines[1:]
        if any(not n for n in names):
            raise InputFormatError("empty column name in header", source=source, line=lines[0][0])
    drop_first = len(names) > 1 and names[0].lower() in _TIME_COLUMNS
    if not data_lines:
        raise InputFormatError("header but no data lines", source=source, line=lines[0][0])
    values = _parse_rows(
        data_lines, sep, len(names), integers=gain is not None, source=source, first_col_free=drop_first
    )
    if drop_first:
        values = values[:, 1:]
        names = names[1:]
    if gain is None:
        sig = values
        base: int | None = None
    else:
        sig = (values - float(baseline)) / gain
        base = int(baseline)
    _check_amplitude(sig, source)
    return Record(name=name, signals_mv=sig, fs_hz=fs, lead_names=tuple(names), adc_gain=gain, baseline=base)


def _parse_rows(
    rows: list[tuple[int, str]],
    sep: str,
    n_cols: int,
    *,
    integers: bool,
    source: str,
    first_col_free: bool = False,
) -> np.ndarray:
    out = np.empty((len(rows), n_cols), dtype=np.float64)
    for i, (line_no, line) in enumerate(rows):
        fields = line.split(sep)
        if len(fields) != n_cols:
            raise InputFormatError(
                f"expected {n_cols} field(s), found {len(fields)}", source=source, line=line_no
            )
        for j, field in enumerate(fields):
            f = field.strip()
            if integers and not (first_col_free and j == 0) and not _INT_RE.fullmatch(f):
                raise InputFormatError(
                    f"{f!r} is not an integer ADC count (give adc_gain=None for mV values)",
                    source=source,
                    line=line_no,
                )
            try:
                v = float(f)
            except ValueError:
                raise InputFormatError(f"{f!r} is not a number", source=source, line=line_no) from None
            if not math.isfinite(v):
                raise InputFormatError(f"{f!r} is not a finite number", source=source, line=line_no)
            out[i, j] = v
    return out


def write_csv(
    record: Record,
    path: str | os.PathLike[str],
    *,
    adc_gain: float | None = None,
    baseline: int = 0,
    header: bool = True,
) -> Path:
    """Write a record as CSV that :func:`read_csv` reads back: the project's one CSV writer.

    With ``adc_gain`` the values are integer ADC counts
    (``round(mv * adc_gain) + baseline``), otherwise millivolts with 5 decimals. With
    ``header`` (default) a first line names the leads; without it the file is the bare
    one-column-per-lead form the CardioLearn page takes (one ADC count per line for a
    single lead).

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> rec = Record("x", np.array([[0.0], [0.5]]), 300.0, ("I",))
    >>> p = write_csv(rec, tempfile.mkdtemp() + "/x.csv", adc_gain=200, baseline=1000, header=False)
    >>> p.read_text()
    '1000\\n1100\\n'
    """
    p = Path(path)
    sig = np.asarray(record.signals_mv, dtype=np.float64)
    if adc_gain is None:
        body = np.char.mod("%.5f", sig)
    else:
        gain = _check_gain(adc_gain, str(p))
        assert gain is not None
        body = np.char.mod("%d", _counts(sig, gain, baseline))
    lines = ([",".join(record.lead_names)] if header else []) + [",".join(row) for row in body]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _counts(sig_mv: np.ndarray, adc_gain: float, baseline: int) -> np.ndarray:
    """Millivolts back to integer ADC counts (exact for values that came from counts)."""
    return np.rint(sig_mv * adc_gain).astype(np.int64) + int(baseline)


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
    import wfdb  # only here and in _read_wfdb

    d = Path(directory)
    sig = np.asarray(record.signals_mv, dtype=np.float64)
    if not np.all(np.isfinite(sig)):
        raise SignalError("cannot write non-finite samples to WFDB", reason="non_finite")
    n_leads = sig.shape[1]
    digital = _counts(sig, adc_gain, baseline)
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
