"""The history against a faulty environment (issue 13 #11, #14, #18, #20).

Each test is named after what it protects. The read-only and full-disk tests mount a
small tmpfs (they need root; skipped otherwise).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cloud_client.errors import RequestRejected
from companion.config import CompanionConfig
from companion.errors import CorruptRecordError, StoreError, StoreFullError, StoreReadOnlyError
from companion.recording import Recording
from companion.store import Store
from companion.sync import sync_pending

REPO = Path(__file__).resolve().parents[2]


def _recording(n: int = 3000, seed: int = 0) -> Recording:
    rng = np.random.default_rng(seed)
    return Recording(rng.integers(-500, 500, n).astype(np.int32), 300.0, 1000.0, 0, complete=True)


class TestHealthDataIsPrivate:
    """#14: the database, its WAL files and folders are the user's only, whatever the umask."""

    def test_database_0600_and_folder_0700_under_a_permissive_umask(self, tmp_path: Path) -> None:
        old = os.umask(0o022)
        try:
            config = CompanionConfig.resolve(data_dir=tmp_path / "home" / "cardiolink", env={})
            config.ensure_dirs()
            with Store.open(config) as store:
                store.add_recording(_recording())
                files = [config.db_path, *(config.db_path.with_name(config.db_path.name + s) for s in ("-wal", "-shm"))]
                for path in files:
                    if path.exists():
                        assert path.stat().st_mode & 0o777 == 0o600, path
            assert config.data_dir.stat().st_mode & 0o777 == 0o700
        finally:
            os.umask(old)

    def test_existing_world_readable_database_is_tightened(self, tmp_path: Path) -> None:
        path = tmp_path / "h.sqlite3"
        Store(path).close()
        os.chmod(path, 0o644)
        Store(path).close()
        assert path.stat().st_mode & 0o777 == 0o600


def _damage(path: Path, rid: int, column: str, value: Any) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"UPDATE recordings SET {column} = ? WHERE id = ?", (value, rid))
    conn.close()


class TestOneDamagedRowStaysOneProblem:
    """#11: a corrupt history row is a StoreError for that item; listing and sync go on."""

    @pytest.mark.parametrize(("column", "value"), [
        ("samples", b"not zlib"), ("device_json", "{broken"), ("recorded_at", "yesterday"),
        ("gaps_json", "[[1]]"), ("sample_format", "f8"),
    ])
    def test_damaged_row_raises_corrupt_record_error(self, tmp_path: Path, column: str, value: Any) -> None:
        path = tmp_path / "h.sqlite3"
        with Store(path) as store:
            good, bad = store.add_recording(_recording()), store.add_recording(_recording(seed=1))
        _damage(path, bad, column, value)
        with Store(path) as store:
            with pytest.raises(CorruptRecordError) as info:
                store.get_recording(bad)
            assert info.value.recording_id == bad and isinstance(info.value, StoreError)
            assert store.get_recording(good).recording.n_samples == 3000
            listed = {s.id: s.state for s in store.list_recordings()}
            assert listed[good] == "complete"
            assert listed[bad] in ("damaged", "complete")  # listing decodes fewer columns than loading

    def test_damaged_result_json(self, tmp_path: Path) -> None:
        path = tmp_path / "h.sqlite3"
        with Store(path) as store:
            rid = store.add_recording(_recording())
            store.set_local_result(rid, {"label": "N"})
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE local_results SET result_json = '{oops' WHERE recording_id = ?", (rid,))
        conn.close()
        with Store(path) as store:
            with pytest.raises(CorruptRecordError):
                store.get_recording(rid)
            assert [s.state for s in store.list_recordings()] == ["damaged"]

    async def test_sync_skips_a_damaged_recording_and_sends_the_next(self, tmp_path: Path) -> None:
        path = tmp_path / "h.sqlite3"
        with Store(path) as store:
            bad, good = store.add_recording(_recording()), store.add_recording(_recording(seed=1))
            good_uuid = store.get_recording(good).uuid
        _damage(path, bad, "samples", b"garbage")

        class Client:
            seen: list[str] = []

            async def analyse(self, request: Any) -> Any:
                self.seen.append(request.record_id)
                raise RequestRejected(422, {"detail": "test: refused"})

        client = Client()
        with Store(path) as store:
            report = await sync_pending(store, client)  # type: ignore[arg-type]
            assert report.rejected == [bad, good]
            assert client.seen == [good_uuid]
            item = store.outbox_item(bad)
            assert item is not None and item.state == "failed" and "damaged" in (item.last_error or "")
            assert store.due_outbox() == []  # the damaged item never blocks the outbox again


class TestConcurrentFirstRuns:
    """#18: several processes creating the same new history all succeed."""

    def test_three_processes_create_one_history(self, tmp_path: Path) -> None:
        path = tmp_path / "fresh" / "h.sqlite3"
        code = ("import sys, numpy as np; from companion.store import Store; from companion.recording import Recording;"
                "s = Store(sys.argv[1], busy_timeout_s=20);"
                "s.add_recording(Recording(np.zeros(300, np.int32), 300.0, 1000.0, complete=True)); s.close()")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], env=env, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors
        with Store(path) as store:
            assert len(store.recording_ids()) == 3 and store.schema_version >= 1


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


class TestReadOnlyAndFullDisks:
    """#20: a read-only data folder still shows the history; a full disk says so."""

    def test_read_only_folder_still_reads_the_history(self, tmp_path: Path) -> None:
        with _tmpfs(tmp_path / "mnt", "4m") as mnt:
            config = CompanionConfig.resolve(data_dir=mnt / "data", env={})
            with Store.open(config) as store:
                rid = store.add_recording(_recording())
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
            with Store.open(config) as store:
                assert store.read_only
                assert [s.id for s in store.list_recordings()] == [rid]
                assert store.get_recording(rid).recording.n_samples == 3000
                with pytest.raises(StoreReadOnlyError, match="read-only"):
                    store.add_recording(_recording())

    def test_full_disk_at_start_says_disk_full(self, tmp_path: Path) -> None:
        with _tmpfs(tmp_path / "mnt", "256k") as mnt:
            with contextlib.suppress(OSError), open(mnt / "filler", "wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
            with pytest.raises(StoreError, match="full") as info:
                Store(mnt / "data" / "h.sqlite3").close()
            assert "disk I/O error" not in str(info.value).split("(")[0]

    def test_full_disk_while_storing_is_store_full_error(self, tmp_path: Path) -> None:
        with _tmpfs(tmp_path / "mnt", "512k") as mnt:
            with Store(mnt / "h.sqlite3") as store:
                rng = np.random.default_rng(3)
                big = Recording(rng.integers(-2**30, 2**30, 400_000).astype(np.int32), 300.0, 1000.0, complete=True)
                with pytest.raises(StoreFullError, match="full"):
                    store.add_recording(big)
