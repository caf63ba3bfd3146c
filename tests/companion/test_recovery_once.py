"""Disk-full recovery (issue 13 #25): the session is stored once, and the imported copy is screened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from companion import recovery
from companion.errors import StoreFullError
from companion.recorder import store_final
from companion.recording import Recording
from companion.store import Store


def _rec(n: int, *, complete: bool) -> Recording:
    return Recording(np.arange(n, dtype=np.int32) % 700 - 350, 300.0, 1000.0, 0, complete=complete)


class TestDiskFullRecoveryStoredOnce:
    def test_checkpointed_session_is_finished_in_its_own_row_and_screened(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        screened: list[int] = []

        def screen(rec: Recording) -> tuple[dict[str, Any], dict[str, Any], None]:
            screened.append(rec.n_samples)
            return {"label": "N", "category": "sinus_rhythm"}, {"heart_rate_bpm": 70.0}, None

        with Store(tmp_path / "h.sqlite3") as store:
            partial = _rec(3000, complete=False)
            rid = store.begin_recording(partial)
            store.checkpoint_recording(rid, partial)
            final = Recording(np.arange(9000, dtype=np.int32) % 700 - 350, 300.0, 1000.0, 0, complete=True,
                              started_at=partial.started_at)

            def full(*args: Any, **kwargs: Any) -> None:
                raise StoreFullError(store.path, "the disk is full")

            monkeypatch.setattr(store, "finish_recording", full)
            outcome = store_final(store, final, rid, tmp_path / "recovery")
            monkeypatch.undo()
            assert outcome.recording_id is None and outcome.recovery_path is not None

            store.close_abandoned(stale_after_s=0)  # the next run marks the cut-short row incomplete first
            assert recovery.import_pending(store, tmp_path / "recovery", screen=screen) == [rid]
            assert store.recording_ids() == [rid]  # not a second copy
            stored = store.get_recording(rid)
            assert stored.state == "complete" and stored.recording.n_samples == 9000
            assert stored.local_result == {"label": "N", "category": "sinus_rhythm"}
            assert stored.measurements == {"heart_rate_bpm": 70.0}
            assert screened == [9000]
            assert stored.sync_state == "pending"

    def test_recording_without_a_row_is_added_and_screened(self, tmp_path: Path) -> None:
        with Store(tmp_path / "h.sqlite3") as store:
            recovery.write_recovery(_rec(9000, complete=True), tmp_path / "recovery")
            calls: list[int] = []

            def screen(rec: Recording) -> tuple[None, None, str]:
                calls.append(rec.n_samples)
                return None, None, "test: no model"

            (rid,) = recovery.import_pending(store, tmp_path / "recovery", screen=screen)
            assert store.recording_ids() == [rid] and calls == [9000]

    def test_row_of_another_session_is_never_overwritten(self, tmp_path: Path) -> None:
        with Store(tmp_path / "h.sqlite3") as store:
            other = store.add_recording(_rec(600, complete=True))
            recovery.write_recovery(_rec(9000, complete=True), tmp_path / "recovery", recording_id=other)
            (rid,) = recovery.import_pending(store, tmp_path / "recovery", screen=lambda r: (None, None, None))
            assert rid != other and store.get_recording(other).recording.n_samples == 600
