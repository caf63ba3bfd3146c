"""CSV ECG text: :func:`read_csv` (a file), :func:`parse_csv` (text, e.g. from the network), :func:`write_csv`.

Format (as the CardioLearn web page takes it: a CSV file or pasted text plus the
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

import math
import os
import re
from pathlib import Path

import numpy as np

from ecg.errors import InputFormatError
from ecg.io.record import Record, check_amplitude, check_gain, counts, validate_fs

__all__ = ["read_csv", "parse_csv", "write_csv"]

_TIME_COLUMNS = frozenset({"time", "time_s", "t", "sample", "index", "time_ms"})
_SEPARATORS = (",", ";", "\t")
_INT_RE = re.compile(r"^[+-]?\d+$")


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
    gain = check_gain(adc_gain, source)
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
    check_amplitude(sig, source)
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
        gain = check_gain(adc_gain, str(p))
        assert gain is not None
        body = np.char.mod("%d", counts(sig, gain, baseline))
    lines = ([",".join(record.lead_names)] if header else []) + [",".join(row) for row in body]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p
