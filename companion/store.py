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
import errno
import json
import logging
import os
import shutil
import sqlite3
import threading
import urllib.parse
import uuid as uuid_mod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from companion import store_schema as schema
from companion.errors import (
    CorruptRecordError,
    RecordingNotFoundError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreReadOnlyError,
    StoreSchemaError,
)
from companion.recording import ContactEvent, Recording
from companion.store_notes import NotesMixin
from companion.store_models import (
    OutboxItem,
    RecordingSummary,
    StoredRecording,
    decode_samples,
    encode_samples,
    parse_utc,
    utc_text,
)

log = logging.getLogger(__name__)

__all__ = ["Store", "OutboxItem", "RecordingSummary", "StoredRecording", "utc_text", "parse_utc"]

# sqlite3 primary result codes (https://sqlite.org/rescode.html)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 5, 6, 11, 13, 26
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN = 8, 10, 14
#: below this much free space an I/O error is reported as a full disk, bytes
_FULL_BELOW_BYTES = 1024 * 1024


def _disk_full(path: Path) -> bool:
    """True when the filesystem of *path* has (almost) no space left."""
    try:
        return shutil.disk_usage(path.parent if not path.is_dir() else path).free < _FULL_BELOW_BYTES
    except OSError:
        return False


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the folder is read-only"
    return exc.strerror or str(exc)


def _create_private(path: Path) -> None:
    """Create an empty database file readable by the user only (0600) if missing; SQLite
    gives its -wal and -shm files the same mode. An existing file is made 0600 too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return
    os.close(fd)


#: a row in state 'recording' untouched for this long belongs to a dead session, seconds
ABANDONED_AFTER_S = 60.0


class Store(NotesMixin):
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

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0, read_only: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self.read_only = read_only
        if not read_only:
            try:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                _create_private(self.path)
            except OSError as exc:
                if not self.path.is_file():
                    raise StoreError(self.path, f"cannot create the history database: {_os_reason(exc)}") from exc
                self.read_only = True  # an existing history in a folder we cannot write: read it
        try:
            self._conn = self._connect(busy_timeout_s)
        except (StoreLockedError, StoreSchemaError):
            raise
        except StoreError:
            if self.read_only or not self.path.is_file():
                raise
            self.read_only = True  # e.g. WAL needs a -shm file the folder does not let us create
            self._conn = self._connect(busy_timeout_s)

    def _connect(self, busy_timeout_s: float) -> sqlite3.Connection:
        """Open, configure and migrate (read-write), or open for reading only (``self.read_only``)."""
        with self._translate():
            if self.read_only:
                return self._connect_read_only(busy_timeout_s)
            else:
                conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                       check_same_thread=False)
        self._conn = conn
        try:
            with self._translate():
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(self.path, f"cannot switch to WAL journal (got {mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_read_only(self, busy_timeout_s: float) -> sqlite3.Connection:
        """Open for reading: ``mode=ro`` when SQLite can still share the WAL index, else
        ``immutable=1`` (a folder nobody can write: no -shm file can exist or be created)."""
        base = f"file:{urllib.parse.quote(str(self.path.resolve()))}"
        last: sqlite3.Error | None = None
        for query in ("mode=ro", "mode=ro&immutable=1"):
            conn = sqlite3.connect(f"{base}?{query}", uri=True, timeout=busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                self._conn = conn
                self._check_readable_version()
                return conn
            except sqlite3.Error as exc:
                conn.close()
                last = exc
        assert last is not None
        raise last

    def _check_readable_version(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version != len(schema.MIGRATIONS):
            raise StoreReadOnlyError(
                self.path, f"the history (schema {version}) needs an upgrade to schema {len(schema.MIGRATIONS)}, "
                "but its folder cannot be written")

    @classmethod
    def open(cls, config: Any) -> Store:
        """Open the store named by a :class:`~companion.config.CompanionConfig`.

        Sessions that a crashed process left in state ``'recording'`` are closed as
        ``'incomplete'`` on the way (see :meth:`close_abandoned`).
        """
        store = cls(config.db_path, busy_timeout_s=config.busy_timeout_s)
        if store.read_only:
            log.warning("%s cannot be written: the history is open read-only", store.path)
            return store
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
            if code == _SQLITE_FULL or "full" in text or (code == _SQLITE_IOERR and _disk_full(self.path)):
                raise StoreFullError(self.path, "the disk is full: free some space, then retry "
                                                f"(nothing was lost; sqlite: {text})") from exc
            if code == _SQLITE_READONLY or "readonly" in text:
                raise StoreReadOnlyError(self.path, "the history cannot be written (read-only folder or disk); "
                                                    f"it can still be read (sqlite: {text})") from exc
            if code == _SQLITE_CANTOPEN:
                raise StoreError(self.path, "cannot open the history database (missing or unwritable folder?): "
                                            f"{text}") from exc
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
        """Apply missing migrations; the version is read again inside the write transaction,
        so concurrent first runs apply each migration exactly once."""
        if int(self._conn.execute("PRAGMA user_version").fetchone()[0]) == len(schema.MIGRATIONS):
            return
        with self._tx() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(schema.MIGRATIONS):
                raise StoreSchemaError(
                    self.path,
                    f"database schema version {version} is newer than this cardiolink "
                    f"(knows {len(schema.MIGRATIONS)}); upgrade cardiolink",
                )
            for number, sql in enumerate(schema.MIGRATIONS[version:], start=version + 1):
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
            rid = self._claim_recording_id(conn)  # numbers only grow: never reused after a delete
            conn.execute(
                "INSERT INTO recordings (id, uuid, recorded_at, created_at, updated_at, state, sample_rate_hz,"
                " adc_gain, baseline, n_samples, sample_format, samples)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (rid, uuid_mod.uuid4().hex, utc_text(rec.started_at), now, now, schema.STATE_RECORDING,
                 rec.sample_rate_hz, rec.adc_gain_counts_per_mv, rec.baseline_counts,
                 schema.DEFAULT_SAMPLE_FORMAT, encode_samples(np.zeros(0, np.int32))),
            )
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

    def store_recovered(self, rec: Recording, recording_id: int | None) -> int:
        """Store a recording read back from a recovery file; returns its id.

        When the session's own row still exists (checkpointed, then cut short or marked
        incomplete: same start time, no more samples than *rec*) that row is finished
        with *rec*, in one transaction, so the session is never stored twice; otherwise a
        new row is added.
        """
        if recording_id is not None:
            with self._tx() as conn:
                row = conn.execute("SELECT recorded_at, state, n_samples FROM recordings WHERE id = ?",
                                   (recording_id,)).fetchone()
                same = (row is not None and row[0] == utc_text(rec.started_at) and int(row[2]) <= rec.n_samples
                        and row[1] in (schema.STATE_RECORDING, schema.STATE_INCOMPLETE))
                if same:
                    state = schema.STATE_COMPLETE if rec.complete else schema.STATE_INCOMPLETE
                    self._write(conn, recording_id, rec, state)
                    if rec.complete:
                        self._enqueue(conn, recording_id, utc_text())
                    return recording_id
        return self.add_recording(rec)

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
        with self._decoding(recording_id):
            return self._stored_recording(recording_id, rows[0])

    @contextlib.contextmanager
    def _decoding(self, recording_id: int) -> Iterator[None]:
        """Turn a decoding failure of one stored row into :class:`CorruptRecordError`."""
        try:
            yield
        except (StoreError, RecordingNotFoundError):
            raise
        except Exception as exc:  # zlib, JSON, dates, values Recording refuses: all mean a damaged row
            raise CorruptRecordError(self.path, recording_id, f"{type(exc).__name__}: {str(exc)[:200]}") from exc

    def _stored_recording(self, recording_id: int, row: sqlite3.Row) -> StoredRecording:
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
            annotation=self.annotation(recording_id),
        )

    def list_recordings(self, *, limit: int | None = None, offset: int = 0) -> list[RecordingSummary]:
        """Recordings without samples, newest first."""
        rows = self._query(
            "SELECT r.id, r.uuid, r.recorded_at, r.state, r.n_samples, r.sample_rate_hz, r.complete,"
            " r.verified, l.result_json AS local_json, c.result_json AS cloud_json, o.state AS sync_state,"
            " a.symptoms_json AS symptoms_json, m.result_json AS measurements_json"
            " FROM recordings r LEFT JOIN local_results l ON l.recording_id = r.id"
            " LEFT JOIN annotations a ON a.recording_id = r.id LEFT JOIN measurements m ON m.recording_id = r.id"
            " LEFT JOIN cloud_results c ON c.recording_id = r.id LEFT JOIN outbox o ON o.recording_id = r.id"
            " ORDER BY r.recorded_at DESC, r.id DESC LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset),
        )
        summaries = []
        for row in rows:
            try:
                summaries.append(RecordingSummary.from_row(row))
            except Exception as exc:  # one damaged row: listed as such, the others unaffected
                log.warning("recording %s is damaged: %s", row["id"], exc)
                summaries.append(RecordingSummary.damaged(int(row["id"]), str(row["uuid"])))
        return summaries

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
        if not rows:
            return None
        with self._decoding(rid):
            value = json.loads(rows[0][0])
            if not isinstance(value, dict):
                raise ValueError(f"{table} holds {type(value).__name__}, not an object")
            return value

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
        return self._outbox_items(rows)

    def _outbox_items(self, rows: list[sqlite3.Row]) -> list[OutboxItem]:
        """Outbox rows that decode; a damaged one is given up (state 'failed') so it never blocks the rest."""
        items = []
        for row in rows:
            try:
                items.append(OutboxItem.from_row(row))
            except Exception as exc:
                rid = int(row["recording_id"])
                log.warning("outbox row of recording %d is damaged (%s); giving it up", rid, exc)
                with contextlib.suppress(StoreError):
                    self._update_outbox(rid, "state = 'failed', last_error = ?, next_try_at = ?",
                                        (f"damaged outbox row: {exc}"[:2000], utc_text()))
        return items

    def outbox(self) -> list[OutboxItem]:
        """Every outbox row, oldest first."""
        return self._outbox_items(self._query("SELECT * FROM outbox ORDER BY created_at, recording_id"))

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
