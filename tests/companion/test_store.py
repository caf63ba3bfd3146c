"""History store: round trips, lifecycle, outbox, schema and failure translation."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from companion.errors import RecordingNotFoundError, StoreFullError, StoreLockedError, StoreSchemaError
from companion.recording import ContactEvent, Recording
from companion.store import Store
from companion.store_schema import MIGRATIONS


def _rec(n: int = 9000, *, complete: bool = True, seed: int = 1) -> Recording:
    rng = np.random.default_rng(seed)
    return Recording(
        samples=rng.integers(-(2**23), 2**23, n, dtype=np.int32),
        sample_rate_hz=300.0,
        adc_gain_counts_per_mv=1000.0,
        baseline_counts=12,
        started_at=dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC),
        device={"name": "CardioLink-1", "firmware": "0.1"},
        session_id=77,
        expected_samples=n,
        contact_events=[ContactEvent(0, "contact"), ContactEvent(100, "lost")],
        gaps=[] if complete else [(10, 20)],
        complete=complete,
        verified=complete,
        frames_resent=3,
        reconnects=2,
        frames_malformed=1,
    )


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "h.sqlite3", busy_timeout_s=0.2) as s:
        yield s


class TestRecordings:
    def test_round_trip_is_bit_exact(self, store: Store) -> None:
        rec = _rec()
        rid = store.add_recording(rec)
        got = store.get_recording(rid)
        assert got.state == "complete"
        np.testing.assert_array_equal(got.recording.samples, rec.samples)
        assert got.recording.samples.dtype == np.int32
        for field in ("sample_rate_hz", "adc_gain_counts_per_mv", "baseline_counts", "started_at", "device",
                      "session_id", "expected_samples", "contact_events", "gaps", "complete", "verified",
                      "frames_resent", "reconnects", "frames_malformed"):
            assert getattr(got.recording, field) == getattr(rec, field), field
        d = got.to_dict()
        assert d["samples"] == 9000 and d["duration_s"] == 30.0 and d["complete"] is True

    def test_lifecycle_keeps_partial_then_final(self, tmp_path: Path) -> None:
        path = tmp_path / "h.sqlite3"
        rec = _rec(3000, complete=False)
        with Store(path) as store:
            rid = store.begin_recording(Recording(np.zeros(0, np.int32), 300.0, 1000.0))
            store.checkpoint_recording(rid, rec)
        # a new process sees the checkpoint: state 'recording', partial samples
        with Store(path) as store:
            got = store.get_recording(rid)
            assert got.state == "recording" and got.recording.n_samples == 3000
            assert store.outbox_item(rid) is None
            full = _rec()
            store.finish_recording(rid, full)
            got = store.get_recording(rid)
            assert got.state == "complete" and got.sync_state == "pending"
            np.testing.assert_array_equal(got.recording.samples, full.samples)

    def test_abandoned_session_is_closed_as_incomplete(self, tmp_path: Path) -> None:
        from companion.config import CompanionConfig

        config = CompanionConfig.resolve(data_dir=str(tmp_path), db=None)
        with Store.open(config) as store:
            dead = store.begin_recording(Recording(np.zeros(0, np.int32), 300.0, 1000.0))
            store.checkpoint_recording(dead, _rec(3000, complete=False))
            live = store.begin_recording(Recording(np.zeros(0, np.int32), 300.0, 1000.0))
            # a fresh row belongs to a live session and is left alone
            assert store.close_abandoned() == []
            assert store.close_abandoned(stale_after_s=-1.0) == [dead, live]
            got = store.get_recording(dead)
            assert got.state == "incomplete" and got.recording.n_samples == 3000
            assert store.outbox_item(dead) is None
            store.finish_recording(live, _rec())
        # Store.open applies the policy: nothing stale is left in state 'recording'
        with Store.open(config) as store:
            assert [r.state for r in store.list_recordings()] == ["complete", "incomplete"]

    def test_incomplete_is_not_queued(self, store: Store) -> None:
        rid = store.add_recording(_rec(complete=False))
        assert store.get_recording(rid).state == "incomplete"
        assert store.outbox_item(rid) is None

    def test_list_newest_first_with_result_summary(self, store: Store) -> None:
        a = store.add_recording(_rec(300))
        later = _rec(600)
        later.started_at = later.started_at + dt.timedelta(hours=1)
        b = store.add_recording(later)
        store.set_local_result(a, {"label": "A", "category": "AF", "heart_rate_bpm": 99.5, "probabilities": {}})
        rows = store.list_recordings()
        assert [r.id for r in rows] == [b, a]
        assert rows[1].local == {"label": "A", "category": "AF", "heart_rate_bpm": 99.5}
        assert rows[0].to_dict()["duration_s"] == 2.0
        assert [r.id for r in store.list_recordings(limit=1, offset=1)] == [a]

    def test_results_and_delete_cascade(self, store: Store) -> None:
        rid = store.add_recording(_rec(300))
        store.set_local_result(rid, {"label": "N"})
        store.set_measurements(rid, {"qrs_ms": 92.0})
        store.set_cloud_result(rid, {"label": "N", "source": "cloud"})
        got = store.get_recording(rid)
        assert got.local_result == {"label": "N"} and got.measurements == {"qrs_ms": 92.0}
        assert got.cloud_result == {"label": "N", "source": "cloud"}
        store.delete_recording(rid)
        with pytest.raises(RecordingNotFoundError):
            store.get_recording(rid)
        for table in ("local_results", "measurements", "cloud_results", "outbox"):
            assert store._query(f"SELECT count(*) FROM {table}")[0][0] == 0
        with pytest.raises(RecordingNotFoundError):
            store.delete_recording(rid)
        with pytest.raises(RecordingNotFoundError):
            store.set_local_result(rid, {"label": "N"})

    def test_non_finite_result_is_refused(self, store: Store) -> None:
        rid = store.add_recording(_rec(300))
        with pytest.raises(ValueError):
            store.set_local_result(rid, {"heart_rate_bpm": float("nan")})
        assert store.get_recording(rid).local_result is None


class TestOutbox:
    def test_retry_cycle(self, store: Store) -> None:
        rid = store.add_recording(_rec(300))
        t0 = dt.datetime.now(dt.UTC)
        assert [i.recording_id for i in store.due_outbox(now=t0 + dt.timedelta(seconds=1))] == [rid]
        store.mark_outbox_sending(rid)
        store.mark_outbox_failed(rid, "HTTP 503", next_try_at=t0 + dt.timedelta(minutes=5))
        assert store.due_outbox(now=t0 + dt.timedelta(minutes=1)) == []
        item = store.due_outbox(now=t0 + dt.timedelta(minutes=6))[0]
        assert (item.state, item.attempts, item.last_error) == ("pending", 1, "HTTP 503")
        store.mark_outbox_sending(rid)
        store.mark_outbox_done(rid)
        assert store.due_outbox(now=t0 + dt.timedelta(days=1)) == []
        assert store.outbox_item(rid).state == "done"  # type: ignore[union-attr]
        store.enqueue(rid)
        assert store.outbox_item(rid).state == "pending"  # type: ignore[union-attr]

    def test_give_up(self, store: Store) -> None:
        rid = store.add_recording(_rec(300))
        store.mark_outbox_failed(rid, "401 bad token", next_try_at=None)
        assert store.outbox_item(rid).state == "failed"  # type: ignore[union-attr]
        assert store.due_outbox(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=9)) == []


class TestSchemaAndFailures:
    def test_fresh_database_is_at_latest_version_in_wal(self, store: Store, tmp_path: Path) -> None:
        assert store.schema_version == len(MIGRATIONS)
        assert store._query("PRAGMA journal_mode")[0][0] == "wal"
        assert store.integrity_check() == "ok"

    def test_newer_schema_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "h.sqlite3"
        Store(path).close()
        with sqlite3.connect(path) as conn:
            conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        with pytest.raises(StoreSchemaError, match="newer"):
            Store(path)

    def test_not_a_database(self, tmp_path: Path) -> None:
        path = tmp_path / "h.sqlite3"
        path.write_bytes(b"this is not sqlite" * 100)
        with pytest.raises(StoreSchemaError):
            Store(path)

    def test_locked_database(self, tmp_path: Path) -> None:
        path = tmp_path / "h.sqlite3"
        with Store(path, busy_timeout_s=0.05) as store:
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")
            try:
                with pytest.raises(StoreLockedError, match="locked"):
                    store.add_recording(_rec(300))
            finally:
                other.execute("ROLLBACK")
                other.close()
            assert store.recording_ids() == []  # the failed transaction left nothing
            store.add_recording(_rec(300))  # and the store keeps working

    def test_full_disk(self, store: Store) -> None:
        pages = store._query("PRAGMA page_count")[0][0]
        store._query(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(StoreFullError, match="full"):
            store.add_recording(_rec(200_000))
        assert store.integrity_check() == "ok"
