"""Export a stored recording: WFDB or CSV as the CardioLearn page takes it.

Both go through the project's one writer per format, :func:`ecg.io.write_wfdb` and
:func:`ecg.io.write_csv`.

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

from companion.errors import CompanionError
from companion.recording import Recording
from companion.store_models import StoredRecording, utc_text
from ecg.io import Record, write_csv, write_wfdb

FORMATS = ("wfdb", "csv")


class ExportError(CompanionError):
    """The recording could not be exported."""

    def __init__(self, recording_id: int, message: str) -> None:
        self.recording_id = recording_id
        super().__init__(f"cannot export recording {recording_id}: {message}")


def record_name(stored: StoredRecording) -> str:
    """File stem used for an exported recording, e.g. ``cardiolink_0007``."""
    return f"cardiolink_{stored.id:04d}"


def _as_record(rec: Recording, name: str, lead: str) -> Record:
    """The recording as an ``ecg.io.Record`` in millivolts (its counts come back exactly)."""
    gain = float(rec.adc_gain_counts_per_mv)
    mv = (rec.samples.astype(np.float64) - int(rec.baseline_counts)) / gain
    return Record(name=name, signals_mv=mv.reshape(-1, 1), fs_hz=float(rec.sample_rate_hz), lead_names=(lead,),
                  adc_gain=gain, baseline=int(rec.baseline_counts))


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
    comments = [
        f"cardiolink recording {stored.id} uuid {stored.uuid}",
        f"recorded_at {utc_text(rec.started_at)}",
        f"complete {rec.complete} verified {rec.verified}",
    ]
    write_wfdb(_as_record(rec, name, "ECG"), out_dir, adc_gain=float(rec.adc_gain_counts_per_mv),
               baseline=int(rec.baseline_counts), fmt=None, comments=comments, started_at=rec.started_at)
    return [out_dir / f"{name}.hea", out_dir / f"{name}.dat"]


def export_csv(stored: StoredRecording, out_dir: Path) -> list[Path]:
    """Write ``<name>.csv`` (ADC counts) and ``<name>.json`` (its parameters) into ``out_dir``.

    Returns
    -------
    list of Path
        The files written.
    """
    rec, name = _prepare(stored, out_dir)
    csv_path = write_csv(_as_record(rec, name, "I"), out_dir / f"{name}.csv",
                         adc_gain=float(rec.adc_gain_counts_per_mv), baseline=int(rec.baseline_counts), header=False)
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
