"""Value types returned by :class:`companion.store.Store`, and the store's encodings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import zlib
from typing import Any

import numpy as np

from companion import store_schema as schema
from companion.recording import Recording

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_text(when: dt.datetime | None = None) -> str:
    """Format a timezone-aware time (default: now) as the store's UTC text."""
    when = dt.datetime.now(dt.UTC) if when is None else when
    if when.tzinfo is None:
        raise ValueError("time must be timezone aware")
    return when.astimezone(dt.UTC).strftime(_TIME_FORMAT)


def parse_utc(text: str) -> dt.datetime:
    """Parse the store's UTC text back into an aware datetime."""
    return dt.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=dt.UTC)


def encode_samples(samples: np.ndarray, sample_format: str = schema.DEFAULT_SAMPLE_FORMAT) -> bytes:
    """Compress ADC counts for storage."""
    return zlib.compress(np.asarray(samples).astype(schema.SAMPLE_FORMATS[sample_format]).tobytes(), 6)


def decode_samples(blob: bytes, sample_format: str) -> np.ndarray:
    """Inverse of :func:`encode_samples`; returns native int32."""
    if sample_format not in schema.SAMPLE_FORMATS:
        raise ValueError(f"unknown sample format {sample_format!r}")
    raw = np.frombuffer(zlib.decompress(blob), dtype=schema.SAMPLE_FORMATS[sample_format])
    return raw.astype(np.int32)


def _summary_of(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if not result:
        return None
    keys = ("label", "category", "heart_rate_bpm", "model_version", "flags", "partial", "rhythm")
    return {k: result.get(k) for k in keys if k in result}


@dataclasses.dataclass(frozen=True, slots=True)
class StoredRecording:
    """A recording as held in the history, with its results.

    Attributes
    ----------
    id : int
        Local id (what ``cardio show ID`` takes).
    uuid : str
        Globally unique id (the cloud's ``recordId``, for idempotent uploads).
    state : str
        ``'recording'`` (under way or cut short by a crash), ``'complete'``, ``'incomplete'``.
    recording : Recording
    local_result, measurements, cloud_result : dict or None
    sync_state : str or None
        Outbox state, None when never queued.
    """

    id: int
    uuid: str
    state: str
    recording: Recording
    created_at: dt.datetime
    updated_at: dt.datetime
    local_result: dict[str, Any] | None = None
    measurements: dict[str, Any] | None = None
    cloud_result: dict[str, Any] | None = None
    sync_state: str | None = None
    annotation: dict[str, Any] = dataclasses.field(default_factory=lambda: {"symptoms": [], "note": ""})

    @property
    def symptoms(self) -> list[str]:
        """Symptom ids (see :data:`companion.notes.SYMPTOMS`)."""
        return list(self.annotation.get("symptoms") or [])

    @property
    def note(self) -> str:
        """The person's note ('' when none)."""
        return str(self.annotation.get("note") or "")

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form (without the samples themselves)."""
        rec = self.recording
        return {
            "id": self.id,
            "uuid": self.uuid,
            "state": self.state,
            "recorded_at": utc_text(rec.started_at),
            "samples": rec.n_samples,
            "expected_samples": rec.expected_samples,
            "sample_rate_hz": rec.sample_rate_hz,
            "adc_gain_counts_per_mv": rec.adc_gain_counts_per_mv,
            "baseline_counts": rec.baseline_counts,
            "duration_s": round(rec.duration_s, 6),
            "complete": rec.complete,
            "verified": rec.verified,
            "frames_resent": rec.frames_resent,
            "reconnects": rec.reconnects,
            "frames_malformed": rec.frames_malformed,
            "gaps": [list(g) for g in rec.gaps],
            "contact_events": [e.to_dict() for e in rec.contact_events],
            "device": rec.device,
            "session_id": rec.session_id,
            "sync_state": self.sync_state,
            "symptoms": self.symptoms,
            "note": self.note,
            "results": {
                "local": self.local_result,
                "measurements": self.measurements,
                "cloud": self.cloud_result,
            },
        }


@dataclasses.dataclass(frozen=True, slots=True)
class RecordingSummary:
    """One line of the history (no samples)."""

    id: int
    uuid: str
    recorded_at: dt.datetime
    state: str
    n_samples: int
    sample_rate_hz: float
    complete: bool
    verified: bool
    local: dict[str, Any] | None
    cloud: dict[str, Any] | None
    sync_state: str | None
    symptoms: tuple[str, ...] = ()
    heart_rate_bpm: float | None = None

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate_hz

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RecordingSummary:
        return cls(
            id=row["id"], uuid=row["uuid"], recorded_at=parse_utc(row["recorded_at"]), state=row["state"],
            n_samples=row["n_samples"], sample_rate_hz=row["sample_rate_hz"], complete=bool(row["complete"]),
            verified=bool(row["verified"]),
            local=_summary_of(json.loads(row["local_json"]) if row["local_json"] else None),
            cloud=_summary_of(json.loads(row["cloud_json"]) if row["cloud_json"] else None),
            sync_state=row["sync_state"],
            symptoms=tuple(json.loads(row["symptoms_json"])) if row["symptoms_json"] else (),
            heart_rate_bpm=_heart_rate(row["local_json"], row["measurements_json"]),
        )

    @classmethod
    def damaged(cls, recording_id: int, uuid: str) -> RecordingSummary:
        """The history line of a row that cannot be decoded (state ``'damaged'``, no samples)."""
        return cls(id=recording_id, uuid=uuid, recorded_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC), state="damaged",
                   n_samples=0, sample_rate_hz=1.0, complete=False, verified=False, local=None, cloud=None,
                   sync_state=None)

    def to_dict(self) -> dict[str, Any]:
        """The ``history --json`` form."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "recorded_at": utc_text(self.recorded_at),
            "duration_s": round(self.duration_s, 6),
            "state": self.state,
            "complete": self.complete,
            "verified": self.verified,
            "result": self.local,
            "cloud_result": self.cloud,
            "sync_state": self.sync_state,
            "symptoms": list(self.symptoms),
        }


def _heart_rate(*documents: str | None) -> float | None:
    """The first finite ``heart_rate_bpm`` among the JSON documents (local result, measurements)."""
    for text in documents:
        value = json.loads(text).get("heart_rate_bpm") if text else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            return float(value)
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxItem:
    """One recording waiting for (or done with) upload to the cloud."""

    recording_id: int
    state: str
    attempts: int
    next_try_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxItem:
        return cls(
            recording_id=row["recording_id"], state=row["state"], attempts=row["attempts"],
            next_try_at=parse_utc(row["next_try_at"]), last_error=row["last_error"],
            created_at=parse_utc(row["created_at"]), updated_at=parse_utc(row["updated_at"]),
        )
