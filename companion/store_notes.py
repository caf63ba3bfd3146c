"""The history's annotations (symptoms, note), profile and recording-number counter.

A mixin of :class:`companion.store.Store` (schema migration 2 in
:mod:`companion.store_schema`): kept apart so the store's core stays readable.

- :meth:`NotesMixin.set_annotation` / :meth:`NotesMixin.annotation`: symptoms from the
  fixed list of :mod:`companion.notes` and a free-text note per recording.
- :meth:`NotesMixin.profile` / :meth:`NotesMixin.set_profile`: the one local profile.
- :meth:`NotesMixin._claim_recording_id`: recording numbers only grow, so a deleted
  recording's number never points to another ECG later.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from companion.errors import RecordingNotFoundError
from companion.notes import Profile, clean_note, parse_symptoms
from companion.store_models import utc_text

_LAST_ID = "last_recording_id"
_PROFILE = "profile"


class NotesMixin:
    """Annotation, profile and id-counter methods of the store (needs ``_tx`` and ``_query``)."""

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:  # provided by Store
        raise NotImplementedError

    # -- recording numbers ------------------------------------------------------------

    @staticmethod
    def _claim_recording_id(conn: sqlite3.Connection) -> int:
        """The next recording number, above every number ever given (inside a write transaction)."""
        row = conn.execute("SELECT value_json FROM settings WHERE key = ?", (_LAST_ID,)).fetchone()
        last = int(json.loads(row[0])) if row else 0
        highest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM recordings").fetchone()[0]
        rid = max(last, int(highest)) + 1
        conn.execute(
            "INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
            (_LAST_ID, json.dumps(rid), utc_text()),
        )
        return rid

    # -- annotations ------------------------------------------------------------------

    def set_annotation(self, recording_id: int, *, symptoms: Iterable[str] | None = None,
                       note: str | None = None) -> dict[str, Any]:
        """Set the symptoms and/or the note of a recording (None leaves that part as it was).

        Returns
        -------
        dict
            ``{"symptoms": [...ids], "note": str}`` as now stored.

        Raises
        ------
        RecordingNotFoundError
        ConfigError
            Unknown symptom, ``none`` with a symptom, or a note too long.
        """
        new_symptoms = None if symptoms is None else list(parse_symptoms(symptoms))
        new_note = None if note is None else clean_note(note)
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM recordings WHERE id = ?", (recording_id,)).fetchone() is None:
                raise RecordingNotFoundError(recording_id)
            old = _annotation_row(conn, recording_id)
            merged = {
                "symptoms": old["symptoms"] if new_symptoms is None else new_symptoms,
                "note": old["note"] if new_note is None else new_note,
            }
            conn.execute(
                "INSERT OR REPLACE INTO annotations (recording_id, symptoms_json, note, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (recording_id, json.dumps(merged["symptoms"]), merged["note"], utc_text()),
            )
        return merged

    def annotation(self, recording_id: int) -> dict[str, Any]:
        """``{"symptoms": [...], "note": str}`` of a recording (empty when never annotated)."""
        rows = self._query("SELECT symptoms_json, note FROM annotations WHERE recording_id = ?", (recording_id,))
        if not rows:
            return {"symptoms": [], "note": ""}
        return {"symptoms": list(json.loads(rows[0][0])), "note": str(rows[0][1])}

    # -- profile ----------------------------------------------------------------------

    def profile(self) -> Profile:
        """The stored profile (empty fields when never set)."""
        rows = self._query("SELECT value_json FROM settings WHERE key = ?", (_PROFILE,))
        return Profile.from_dict(json.loads(rows[0][0])) if rows else Profile()

    def set_profile(self, profile: Profile) -> None:
        """Replace the stored profile."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
                (_PROFILE, json.dumps(profile.to_dict()), utc_text()),
            )


def _annotation_row(conn: sqlite3.Connection, rid: int) -> dict[str, Any]:
    row = conn.execute("SELECT symptoms_json, note FROM annotations WHERE recording_id = ?", (rid,)).fetchone()
    return {"symptoms": [], "note": ""} if row is None else {"symptoms": list(json.loads(row[0])), "note": str(row[1])}

