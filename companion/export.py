"""Export a stored recording: WFDB (``wfdb.wrsamp``) or CSV as the CardioLearn page takes it.

WFDB keeps the raw ADC counts bit for bit (format 16, 24 or 32 as the values need) with
the recording's ADC gain and baseline, so ``wfdb.rdrecord(..., physical=False)`` gives the
stored samples back and ``physical=True`` gives millivolts.

CSV is the CardioLearn web page's input: the file holds one integer ADC count per line
(no header), and the parameters the page asks for separately — sample rate, ADC gain and
baseline — are written beside it in ``<name>.json``
(``{"sampleRate": ..., "adcGain": ..., "baseline": ...}``). ``ecg.io.read_csv(path,
fs_hz=..., adc_gain=..., baseline=...)`` reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import wfdb

from companion.errors import CompanionError
from companion.recording import Recording
from companion.store_models import StoredRecording, utc_text

FORMATS = ("wfdb", "csv")
#: WFDB storage formats and the integer range each holds
_WFDB_RANGES = (("16", -(2**15), 2**15 - 1), ("24", -(2**23), 2**23 - 1), ("32", -(2**31), 2**31 - 1))


class ExportError(CompanionError):
    """The recording could not be exported."""

    def __init__(self, recording_id: int, message: str) -> None:
        self.recording_id = recording_id
        super().__init__(f"cannot export recording {recording_id}: {message}")


def record_name(stored: StoredRecording) -> str:
    """File stem used for an exported recording, e.g. ``cardiolink_0007``."""
    return f"cardiolink_{stored.id:04d}"


def _wfdb_format(samples: np.ndarray) -> str:
    lo, hi = (int(samples.min()), int(samples.max())) if samples.size else (0, 0)
    for fmt, fmt_lo, fmt_hi in _WFDB_RANGES:
        # the lowest value of each format is WFDB's "no sample" marker: keep clear of it
        if fmt_lo < lo and hi <= fmt_hi:
            return fmt
    return "32"


def _prepare(stored: StoredRecording, out_dir: Path) -> tuple[Recording, str]:
    """Refuse an empty recording, create ``out_dir``; return the recording and file stem."""
    rec = stored.recording
    if rec.n_samples == 0:
        raise ExportError(stored.id, "it holds no samples")
    out_dir.mkdir(parents=True, exist_ok=True)
    return rec, record_name(stored)


def export_wfdb(stored: StoredRecording, out_dir: Path) -> list[Path]:
    """Write ``<name>.hea`` and ``<name>.dat`` into ``out_dir`` (created if missing).

    Returns
    -------
    list of Path
        The files written.
    """
    rec, name = _prepare(stored, out_dir)
    fmt = _wfdb_format(rec.samples)
    comments = [
        f"cardiolink recording {stored.id} uuid {stored.uuid}",
        f"recorded_at {utc_text(rec.started_at)}",
        f"complete {rec.complete} verified {rec.verified}",
    ]
    wfdb.wrsamp(
        name,
        fs=rec.sample_rate_hz,
        units=["mV"],
        sig_name=["ECG"],
        d_signal=rec.samples.astype(np.int64).reshape(-1, 1),
        fmt=[fmt],
        adc_gain=[float(rec.adc_gain_counts_per_mv)],
        baseline=[int(rec.baseline_counts)],
        comments=comments,
        base_date=rec.started_at.date(),
        base_time=rec.started_at.time().replace(tzinfo=None),
        write_dir=str(out_dir),
    )
    return [out_dir / f"{name}.hea", out_dir / f"{name}.dat"]


def export_csv(stored: StoredRecording, out_dir: Path) -> list[Path]:
    """Write ``<name>.csv`` (ADC counts) and ``<name>.json`` (its parameters) into ``out_dir``.

    Returns
    -------
    list of Path
        The files written.
    """
    rec, name = _prepare(stored, out_dir)
    csv_path = out_dir / f"{name}.csv"
    csv_path.write_text("\n".join(map(str, rec.samples.tolist())) + "\n", encoding="utf-8")
    params = {
        "sampleRate": rec.sample_rate_hz,
        "adcGain": rec.adc_gain_counts_per_mv,
        "baseline": rec.baseline_counts,
        "lead": "I",
        "recordedAt": utc_text(rec.started_at),
        "complete": rec.complete,
        "recordId": stored.uuid,
    }
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
    return [csv_path, json_path]


def export(stored: StoredRecording, fmt: str, out_dir: Path) -> list[Path]:
    """Export in ``fmt`` (``"wfdb"`` or ``"csv"``); returns the files written."""
    if fmt == "wfdb":
        return export_wfdb(stored, out_dir)
    if fmt == "csv":
        return export_csv(stored, out_dir)
    raise ExportError(stored.id, f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
