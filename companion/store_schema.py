"""Schema of the history database: an append-only list of migrations.

``PRAGMA user_version`` holds how many migrations have been applied. Never edit a
migration that has shipped; append a new one. Times are ISO-8601 UTC strings
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (sortable as text).
"""

from __future__ import annotations

#: sample blob encodings (format tag -> numpy dtype before zlib)
SAMPLE_FORMATS = {"i4le+zlib": "<i4"}
DEFAULT_SAMPLE_FORMAT = "i4le+zlib"

#: recording states
STATE_RECORDING = "recording"  # session under way (checkpointed); a crash leaves it so
STATE_COMPLETE = "complete"
STATE_INCOMPLETE = "incomplete"
RECORDING_STATES = (STATE_RECORDING, STATE_COMPLETE, STATE_INCOMPLETE)

#: outbox states
OUTBOX_PENDING = "pending"
OUTBOX_SENDING = "sending"
OUTBOX_DONE = "done"
OUTBOX_FAILED = "failed"  # gave up; a manual retry re-queues it
OUTBOX_STATES = (OUTBOX_PENDING, OUTBOX_SENDING, OUTBOX_DONE, OUTBOX_FAILED)

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE recordings (
        id                INTEGER PRIMARY KEY,
        uuid              TEXT NOT NULL UNIQUE,
        recorded_at       TEXT NOT NULL,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL,
        state             TEXT NOT NULL CHECK (state IN ('recording', 'complete', 'incomplete')),
        sample_rate_hz    REAL NOT NULL CHECK (sample_rate_hz > 0),
        adc_gain          REAL NOT NULL CHECK (adc_gain > 0),
        baseline          INTEGER NOT NULL,
        n_samples         INTEGER NOT NULL,
        expected_samples  INTEGER,
        sample_format     TEXT NOT NULL,
        samples           BLOB NOT NULL,
        session_id        INTEGER,
        device_json       TEXT NOT NULL DEFAULT '{}',
        contact_json      TEXT NOT NULL DEFAULT '[]',
        gaps_json         TEXT NOT NULL DEFAULT '[]',
        complete          INTEGER NOT NULL DEFAULT 0,
        verified          INTEGER NOT NULL DEFAULT 0,
        frames_resent     INTEGER NOT NULL DEFAULT 0,
        reconnects        INTEGER NOT NULL DEFAULT 0,
        frames_malformed  INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX recordings_recorded_at ON recordings (recorded_at);
    CREATE TABLE local_results (
        recording_id  INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
        result_json   TEXT NOT NULL,
        created_at    TEXT NOT NULL
    );
    CREATE TABLE measurements (
        recording_id  INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
        result_json   TEXT NOT NULL,
        created_at    TEXT NOT NULL
    );
    CREATE TABLE cloud_results (
        recording_id  INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
        result_json   TEXT NOT NULL,
        created_at    TEXT NOT NULL
    );
    CREATE TABLE outbox (
        recording_id  INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'done', 'failed')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_try_at   TEXT NOT NULL,
        last_error    TEXT,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE INDEX outbox_due ON outbox (state, next_try_at);
    """,
    # 2: symptoms and notes per recording; settings (the profile, the id high-water mark so that a
    #    deleted recording's number is never given to another one)
    """
    CREATE TABLE annotations (
        recording_id   INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
        symptoms_json  TEXT NOT NULL DEFAULT '[]',
        note           TEXT NOT NULL DEFAULT '',
        updated_at     TEXT NOT NULL
    );
    CREATE TABLE settings (
        key         TEXT PRIMARY KEY,
        value_json  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    INSERT INTO settings (key, value_json, updated_at)
        SELECT 'last_recording_id', CAST(COALESCE(MAX(id), 0) AS TEXT), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        FROM recordings;
    """,
)
