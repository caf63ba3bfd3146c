"""SQLite history of recordings, their results, and the outbox for cloud sync.

One :class:`Store` wraps one database file (WAL journal, foreign keys on, explicit
transactions, schema versioned by ``PRAGMA user_version`` — see
:mod:`companion.store_schema`). Samples are stored as zlib-compressed little-endian
int32 ADC counts.

Lifecycle of a recording made by ``cardio record``::

    rid = store.begin_recording(rec)        # row in state 'recording'
    store.checkpoint_recording(rid, rec)    # every second or so: what arrived so far
    store.finish_recording(rid, rec)        # 'complete' (+ outbox row) or 'incomplete'

A crash between these leaves the row in state ``'recording'`` with the samples of the
last checkpoint: the partial recording is kept, and :meth:`Store.open` later marks it
``'incomplete'`` once it is clearly abandoned (:meth:`Store.close_abandoned`). Results are attached with
:meth:`Store.set_local_result`, :meth:`Store.set_measurements` and
:meth:`Store.set_cloud_result`. The outbox (one row per recording to upload) is driven
by the sync code through :meth:`Store.due_outbox`, :meth:`Store.mark_outbox_sending`,
:meth:`Store.mark_outbox_done` and :meth:`Store.mark_outbox_failed`.

Example
-------
>>> import numpy as np, tempfile, pathlib
>>> from companion.recording import Recording
>>> with Store(pathlib.Path(tempfile.mkdtemp()) / "h.sqlite3") as store:
...     rid = store.add_recording(Recording(np.zeros(300, np.int32), 300.0, 1000.0, complete=True))
...     store.get_recording(rid).recording.duration_s
1.0
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
import uuid as uuid_mod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from companion import store_schema as schema
from companion.errors import (
    RecordingNotFoundError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreSchemaError,
)
from companion.recording import ContactEvent, Recording
from companion.store_models import (
    OutboxItem,
    RecordingSummary,
    StoredRecording,
    decode_samples,
    encode_samples,
    parse_utc,
    utc_text,
)

__all__ = ["Store", "OutboxItem", "RecordingSummary", "StoredRecording", "utc_text", "parse_utc"]

# sqlite3 primary result codes (https://sqlite.org/rescode.html)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 5, 6, 11, 13, 26


#: a row in state 'recording' untouched for this long belongs to a dead session, seconds
ABANDONED_AFTER_S = 60.0


class Store:
    """The companion's history database.

    Parameters
    ----------
    path : path
        Database file; its folder is created if missing.
    busy_timeout_s : float
        How long to wait for another process's write lock before
        :class:`~companion.errors.StoreLockedError`, seconds.

    Raises
    ------
    StoreSchemaError
        The file is not a cardiolink database or is newer than this code.
    StoreLockedError, StoreFullError, StoreError
        The database cannot be opened or migrated.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(self.path, f"cannot create the database folder: {exc}") from exc
        with self._translate():
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        try:
            with self._translate():
                self._conn.execute("PRAGMA foreign_keys = ON")
                self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(self.path, f"cannot switch to WAL journal (got {mode})")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def open(cls, config: Any) -> Store:
        """Open the store named by a :class:`~companion.config.CompanionConfig`.

        Sessions that a crashed process left in state ``'recording'`` are closed as
        ``'incomplete'`` on the way (see :meth:`close_abandoned`).
        """
        store = cls(config.db_path, busy_timeout_s=config.busy_timeout_s)
        try:
            store.close_abandoned()
        except BaseException:
            store.close()
            raise
        return store

    def close_abandoned(self, *, stale_after_s: float = ABANDONED_AFTER_S) -> list[int]:
        """Mark recordings whose session died as ``'incomplete'``; returns their ids.

        A live recorder checkpoints its row about twice a second, so a row still in
        state ``'recording'`` that has not been written for ``stale_after_s`` seconds
        belongs to a process that was killed: its checkpointed samples are kept and the
        recording is marked incomplete, as a session cut short is.
        """
        cutoff = utc_text(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=stale_after_s))
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id FROM recordings WHERE state = ? AND updated_at < ?",
                (schema.STATE_RECORDING, cutoff),
            ).fetchall()
            ids = [int(r[0]) for r in rows]
            for rid in ids:
                conn.execute(
                    "UPDATE recordings SET state = ?, complete = 0 WHERE id = ?",
                    (schema.STATE_INCOMPLETE, rid),
                )
        return ids

    # -- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
            text = str(exc)
            if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in text:
                raise StoreLockedError(self.path, f"the history database is locked by another process: {text}") from exc
            if code == _SQLITE_FULL or "full" in text:
                raise StoreFullError(self.path, f"the disk is full, the history database cannot grow: {text}") from exc
            if code in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
                raise StoreSchemaError(self.path, f"not a usable cardiolink database: {text}") from exc
            raise StoreError(self.path, f"history database error: {text}") from exc

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on error)."""
        with self._lock, self._translate():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, self._translate():
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(schema.MIGRATIONS):
            raise StoreSchemaError(
                self.path,
                f"database schema version {version} is newer than this cardiolink "
                f"(knows {len(schema.MIGRATIONS)}); upgrade cardiolink",
            )
        for number, sql in enumerate(schema.MIGRATIONS[version:], start=version + 1):
            with self._tx() as conn:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        """Number of migrations applied."""
        return int(self._query("PRAGMA user_version")[0][0])

    def integrity_check(self) -> str:
        """Run ``PRAGMA integrity_check``; returns ``"ok"`` when the file is sound."""
        return "; ".join(str(r[0]) for r in self._query("PRAGMA integrity_check"))

    # -- recordings -------------------------------------------------------------------

    def begin_recording(self, rec: Recording) -> int:
        """Create the row of a recording under way (state ``'recording'``); returns its id."""
        now = utc_text()
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO recordings (uuid, recorded_at, created_at, updated_at, state, sample_rate_hz,"
                " adc_gain, baseline, n_samples, sample_format, samples)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (uuid_mod.uuid4().hex, utc_text(rec.started_at), now, now, schema.STATE_RECORDING,
                 rec.sample_rate_hz, rec.adc_gain_counts_per_mv, rec.baseline_counts,
                 schema.DEFAULT_SAMPLE_FORMAT, encode_samples(np.zeros(0, np.int32))),
            )
            rid = int(cur.lastrowid or 0)
            self._write(conn, rid, rec, schema.STATE_RECORDING)
        return rid

    def checkpoint_recording(self, recording_id: int, rec: Recording) -> None:
        """Save what has arrived so far of a recording under way."""
        with self._tx() as conn:
            self._write(conn, recording_id, rec, schema.STATE_RECORDING)

    def finish_recording(self, recording_id: int, rec: Recording, *, enqueue: bool = True) -> None:
        """Store the final samples; state ``'complete'`` or ``'incomplete'`` from ``rec.complete``.

        With ``enqueue`` a complete recording also gets its outbox row in the same
        transaction, so it cannot be stored without being scheduled for sync.
        """
        state = schema.STATE_COMPLETE if rec.complete else schema.STATE_INCOMPLETE
        with self._tx() as conn:
            self._write(conn, recording_id, rec, state)
            if enqueue and rec.complete:
                self._enqueue(conn, recording_id, utc_text())

    def add_recording(self, rec: Recording, *, enqueue: bool = True) -> int:
        """Store a finished recording in one transaction; returns its id."""
        rid = self.begin_recording(rec)
        self.finish_recording(rid, rec, enqueue=enqueue)
        return rid

    def _write(self, conn: sqlite3.Connection, rid: int, rec: Recording, state: str) -> None:
        cur = conn.execute(
            "UPDATE recordings SET updated_at = ?, state = ?, n_samples = ?, expected_samples = ?,"
            " samples = ?, session_id = ?, device_json = ?, contact_json = ?, gaps_json = ?,"
            " complete = ?, verified = ?, frames_resent = ?, reconnects = ?, frames_malformed = ?,"
            " sample_rate_hz = ?, adc_gain = ?, baseline = ? WHERE id = ?",
            (utc_text(), state, rec.n_samples, rec.expected_samples, encode_samples(rec.samples),
             rec.session_id, json.dumps(rec.device, sort_keys=True),
             json.dumps([e.to_dict() for e in rec.contact_events]),
             json.dumps([list(g) for g in rec.gaps]), int(rec.complete), int(rec.verified),
             rec.frames_resent, rec.reconnects, rec.frames_malformed, rec.sample_rate_hz,
             rec.adc_gain_counts_per_mv, rec.baseline_counts, rid),
        )
        if cur.rowcount != 1:
            raise RecordingNotFoundError(rid)

    def get_recording(self, recording_id: int) -> StoredRecording:
        """Load one recording with its samples and results.

        Raises
        ------
        RecordingNotFoundError
        """
        rows = self._query("SELECT * FROM recordings WHERE id = ?", (recording_id,))
        if not rows:
            raise RecordingNotFoundError(recording_id)
        row = rows[0]
        rec = Recording(
            samples=decode_samples(row["samples"], row["sample_format"]),
            sample_rate_hz=row["sample_rate_hz"],
            adc_gain_counts_per_mv=row["adc_gain"],
            baseline_counts=row["baseline"],
            started_at=parse_utc(row["recorded_at"]),
            device=json.loads(row["device_json"]),
            session_id=row["session_id"],
            expected_samples=row["expected_samples"],
            contact_events=[ContactEvent.from_dict(d) for d in json.loads(row["contact_json"])],
            gaps=[(int(a), int(b)) for a, b in json.loads(row["gaps_json"])],
            complete=bool(row["complete"]),
            verified=bool(row["verified"]),
            frames_resent=row["frames_resent"],
            reconnects=row["reconnects"],
            frames_malformed=row["frames_malformed"],
        )
        outbox = self.outbox_item(recording_id)
        return StoredRecording(
            id=row["id"], uuid=row["uuid"], state=row["state"], recording=rec,
            created_at=parse_utc(row["created_at"]), updated_at=parse_utc(row["updated_at"]),
            local_result=self._result("local_results", recording_id),
            measurements=self._result("measurements", recording_id),
            cloud_result=self._result("cloud_results", recording_id),
            sync_state=outbox.state if outbox else None,
        )

    def list_recordings(self, *, limit: int | None = None, offset: int = 0) -> list[RecordingSummary]:
        """Recordings without samples, newest first."""
        rows = self._query(
            "SELECT r.id, r.uuid, r.recorded_at, r.state, r.n_samples, r.sample_rate_hz, r.complete,"
            " r.verified, l.result_json AS local_json, c.result_json AS cloud_json, o.state AS sync_state"
            " FROM recordings r LEFT JOIN local_results l ON l.recording_id = r.id"
            " LEFT JOIN cloud_results c ON c.recording_id = r.id LEFT JOIN outbox o ON o.recording_id = r.id"
            " ORDER BY r.recorded_at DESC, r.id DESC LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset),
        )
        return [RecordingSummary.from_row(r) for r in rows]

    def recording_ids(self) -> list[int]:
        """All recording ids, oldest first."""
        return [int(r[0]) for r in self._query("SELECT id FROM recordings ORDER BY id")]

    def delete_recording(self, recording_id: int) -> None:
        """Delete a recording with its results and outbox row.

        Raises
        ------
        RecordingNotFoundError
        """
        with self._tx() as conn:
            if conn.execute("DELETE FROM recordings WHERE id = ?", (recording_id,)).rowcount != 1:
                raise RecordingNotFoundError(recording_id)

    # -- results ----------------------------------------------------------------------

    def set_local_result(self, recording_id: int, result: dict[str, Any]) -> None:
        """Attach (or replace) the on-device screening result (``ScreeningResult.to_dict()``)."""
        self._set_result("local_results", recording_id, result)

    def set_measurements(self, recording_id: int, measurements: dict[str, Any]) -> None:
        """Attach (or replace) interval measurements (``Measurements.to_dict()``)."""
        self._set_result("measurements", recording_id, measurements)

    def set_cloud_result(self, recording_id: int, result: dict[str, Any]) -> None:
        """Attach (or replace) the cloud analysis result (JSON-able dict)."""
        self._set_result("cloud_results", recording_id, result)

    def _set_result(self, table: str, rid: int, result: dict[str, Any]) -> None:
        text = json.dumps(result, sort_keys=True, allow_nan=False)
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM recordings WHERE id = ?", (rid,)).fetchone() is None:
                raise RecordingNotFoundError(rid)
            conn.execute(
                f"INSERT OR REPLACE INTO {table} (recording_id, result_json, created_at) VALUES (?, ?, ?)",
                (rid, text, utc_text()),
            )

    def _result(self, table: str, rid: int) -> dict[str, Any] | None:
        rows = self._query(f"SELECT result_json FROM {table} WHERE recording_id = ?", (rid,))
        return json.loads(rows[0][0]) if rows else None

    # -- outbox -----------------------------------------------------------------------

    def enqueue(self, recording_id: int, *, now: dt.datetime | None = None) -> None:
        """Schedule a recording for upload now (re-queues a done or failed one)."""
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM recordings WHERE id = ?", (recording_id,)).fetchone() is None:
                raise RecordingNotFoundError(recording_id)
            self._enqueue(conn, recording_id, utc_text(now))

    @staticmethod
    def _enqueue(conn: sqlite3.Connection, rid: int, now: str) -> None:
        conn.execute(
            "INSERT INTO outbox (recording_id, state, attempts, next_try_at, created_at, updated_at)"
            " VALUES (?, 'pending', 0, ?, ?, ?) ON CONFLICT (recording_id) DO UPDATE SET"
            " state = 'pending', next_try_at = excluded.next_try_at, updated_at = excluded.updated_at",
            (rid, now, now, now),
        )

    def outbox_item(self, recording_id: int) -> OutboxItem | None:
        """The outbox row of a recording, or None."""
        rows = self._query("SELECT * FROM outbox WHERE recording_id = ?", (recording_id,))
        return OutboxItem.from_row(rows[0]) if rows else None

    def due_outbox(self, *, now: dt.datetime | None = None, limit: int = 50) -> list[OutboxItem]:
        """Pending items whose ``next_try_at`` has come, oldest first.

        Items left in ``'sending'`` by a crashed process are also returned (they are
        retried; the cloud deduplicates by the recording's ``uuid``).
        """
        rows = self._query(
            "SELECT * FROM outbox WHERE state IN ('pending', 'sending') AND next_try_at <= ?"
            " ORDER BY next_try_at, recording_id LIMIT ?",
            (utc_text(now), limit),
        )
        return [OutboxItem.from_row(r) for r in rows]

    def outbox(self) -> list[OutboxItem]:
        """Every outbox row, oldest first."""
        return [OutboxItem.from_row(r) for r in self._query("SELECT * FROM outbox ORDER BY created_at, recording_id")]

    def mark_outbox_sending(self, recording_id: int) -> None:
        """Mark an upload attempt as started (counts the attempt)."""
        self._update_outbox(recording_id, "state = 'sending', attempts = attempts + 1", ())

    def mark_outbox_done(self, recording_id: int) -> None:
        """Mark the upload finished (the cloud result should be stored first)."""
        self._update_outbox(recording_id, "state = 'done', last_error = NULL", ())

    def mark_outbox_failed(
        self, recording_id: int, error: str, *, next_try_at: dt.datetime | None, give_up: bool = False
    ) -> None:
        """Record a failed attempt: retry at ``next_try_at``, or give up (state ``'failed'``)."""
        state = schema.OUTBOX_FAILED if give_up or next_try_at is None else schema.OUTBOX_PENDING
        when = utc_text(next_try_at) if next_try_at is not None else utc_text()
        self._update_outbox(recording_id, "state = ?, last_error = ?, next_try_at = ?", (state, error[:2000], when))

    def _update_outbox(self, rid: int, assignments: str, params: tuple[Any, ...]) -> None:
        with self._tx() as conn:
            cur = conn.execute(
                f"UPDATE outbox SET {assignments}, updated_at = ? WHERE recording_id = ?",
                (*params, utc_text(), rid),
            )
            if cur.rowcount != 1:
                raise RecordingNotFoundError(rid)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (our migrations hold no ';' in literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
