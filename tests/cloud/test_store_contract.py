"""The store contract (cloud.stores.base): every store passes the same tests.

SQLite always; PostgreSQL from the Debian package, started by the fixtures."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.errors import RecordConflict, StoreUnavailable
from cloud.stores import DB_NAME, Store, StoredResult, TokenError, open_store
from cloud.stores.base import token_digest
from cloud.stores.sqlite import open_db


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = await open_store(url, tmp_path)
    yield opened
    await opened.close()


class TestTokens:
    async def test_create_verify_revoke_list(self, store: Store) -> None:
        assert isinstance(store, Store)
        token = await store.create_token("alice")
        client = await store.verify_token(token)
        assert client is not None and client.name == "alice"
        assert await store.verify_token(token + "x") is None and await store.verify_token("") is None
        with pytest.raises(TokenError, match="already exists"):
            await store.create_token("alice")
        await store.revoke_token("alice")
        assert await store.verify_token(token) is None
        with pytest.raises(TokenError, match="no active token"):
            await store.revoke_token("alice")
        assert [(t.name, t.revoked_at is not None) for t in await store.list_tokens()] == [("alice", True)]

    @pytest.mark.parametrize("name", ["", "a b", "x" * 65, "é", "abc\n"])
    async def test_bad_token_names(self, store: Store, name: str) -> None:
        with pytest.raises(TokenError):
            await store.create_token(name)

    async def test_recreated_name_is_a_new_client(self, store: Store) -> None:
        old = await store.verify_token(await store.create_token("bob"))
        await store.revoke_token("bob")
        new = await store.verify_token(await store.create_token("bob"))
        assert old is not None and new is not None and old.id != new.id

    async def test_rotation_keeps_the_client(self, store: Store) -> None:
        first = await store.rotate_token("phone")  # creates
        second = await store.rotate_token("phone")
        a, b = await store.verify_token(first), await store.verify_token(second)
        assert a is None and b is not None
        assert [t.client_id for t in await store.list_tokens()] == [b.id, b.id]


class TestResults:
    async def test_first_write_wins(self, store: Store) -> None:
        assert await store.put_result("c", "r1", "completed", StoredResult(200, {"n": 1}, "d1"))
        assert not await store.put_result("c", "r1", "completed", StoredResult(200, {"n": 2}, "d1"))
        assert await store.get_result("c", "r1") == StoredResult(200, {"n": 1}, "d1")
        assert await store.get_result("other", "r1") is None
        assert await store.count_results() == 1

    async def test_reserve_new_pending_stored(self, store: Store) -> None:
        assert (await store.reserve("c", "r", "d", 60)).kind == "new"
        assert await store.is_pending("c", "r")
        assert (await store.reserve("c", "r", "d", 60)).kind == "pending"
        await store.put_result("c", "r", "completed", StoredResult(200, {"ok": True}, "d"))
        assert not await store.is_pending("c", "r")
        stored = await store.reserve("c", "r", "d", 60)
        assert stored.kind == "stored" and stored.result is not None and stored.result.body == {"ok": True}

    async def test_other_digest_is_a_conflict(self, store: Store) -> None:
        await store.reserve("c", "r", "d1", 60)
        with pytest.raises(RecordConflict) as pending:
            await store.reserve("c", "r", "d2", 60)
        assert pending.value.status == 409 and pending.value.problem == "conflict"
        await store.put_result("c", "r", "completed", StoredResult(200, {}, "d1"))
        with pytest.raises(RecordConflict):
            await store.reserve("c", "r", "d2", 60)
        assert (await store.reserve("c2", "r", "d2", 60)).kind == "new"  # per client

    async def test_stale_reservation_is_taken_over_and_release_frees(self, store: Store) -> None:
        await store.reserve("c", "r", "d", 60)
        assert (await store.reserve("c", "r", "d", 0.0)).kind == "new"  # its job was lost
        await store.release("c", "r")
        assert not await store.is_pending("c", "r")
        assert (await store.reserve("c", "r", "d", 60)).kind == "new"

    async def test_pending_tells_digest_and_age(self, store: Store) -> None:
        assert await store.pending("c", "r") is None
        await store.reserve("c", "r", "d1", 60)
        found = await store.pending("c", "r")
        assert found is not None and found.digest == "d1" and 0.0 <= found.age_s < 5.0
        await asyncio.sleep(0.2)
        later = await store.pending("c", "r")
        assert later is not None and later.age_s >= found.age_s + 0.15
        await store.put_result("c", "r", "completed", StoredResult(200, {}, "d1"))
        assert await store.pending("c", "r") is None

    async def test_delete_one_answer_or_a_clients_old_ones(self, store: Store) -> None:
        for record_id in ("a", "b"):
            await store.put_result("web", record_id, "completed", StoredResult(200, {}, "d"))
        await store.put_result("token-client", "a", "completed", StoredResult(200, {}, "d"))
        await store.delete_result("web", "a")
        assert await store.get_result("web", "a") is None and await store.get_result("web", "b") is not None
        assert await store.delete_results("web", older_than_s=60.0) == 0  # b is new
        await asyncio.sleep(0.1)
        assert await store.delete_results("web", older_than_s=0.05) == 1
        assert await store.count_results() == 1 and await store.get_result("token-client", "a") is not None

    async def test_ping(self, store: Store) -> None:
        await store.ping()


class TestSqliteOnly:
    def test_token_never_stored_in_clear_and_files_private(self, tmp_path: Path) -> None:
        conn = open_db(tmp_path / "d")
        from cloud.storage import TokenStore

        token = TokenStore(conn).create("alice")
        conn.close()
        assert token.encode() not in (tmp_path / "d" / DB_NAME).read_bytes()
        assert (tmp_path / "d").stat().st_mode & 0o777 == 0o700
        assert (tmp_path / "d" / DB_NAME).stat().st_mode & 0o777 == 0o600

    async def test_version_1_database_is_migrated(self, tmp_path: Path) -> None:
        conn = sqlite3.connect(tmp_path / DB_NAME)
        conn.executescript(
            "CREATE TABLE tokens (name TEXT PRIMARY KEY, token_sha256 BLOB NOT NULL UNIQUE, created_at REAL NOT NULL,"
            " revoked_at REAL);"
            "CREATE TABLE results (client TEXT NOT NULL, record_id TEXT NOT NULL, status TEXT NOT NULL,"
            " http_status INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (client, record_id));"
        )
        conn.execute("INSERT INTO tokens VALUES ('alice', ?, 1.0, NULL)", (token_digest("clk_old"),))
        conn.execute("INSERT INTO results VALUES ('alice', 'r1', 'completed', 200, '{\"a\": 1}', 1.0)")
        conn.commit()
        conn.close()
        store = await open_store(None, tmp_path)
        client = await store.verify_token("clk_old")
        assert client is not None and client.name == "alice"
        assert await store.get_result(client.id, "r1") == StoredResult(200, {"a": 1}, None)
        assert (await store.reserve(client.id, "r1", "any", 60)).kind == "stored"  # no digest kept: no conflict
        await store.close()

    async def test_unwritable_database_is_store_unavailable(self, tmp_path: Path) -> None:
        store = await open_store(None, tmp_path)
        await store.close()
        conn = sqlite3.connect(tmp_path / DB_NAME)
        conn.execute("DROP TABLE pending")  # a broken database: every reservation fails
        conn.execute("CREATE VIEW pending AS SELECT 'c' AS client_id, 'x' AS record_id, 'd' AS digest, 0.0 AS updated_at")
        conn.commit()
        conn.close()
        broken = await open_store(f"sqlite://{tmp_path}/other", tmp_path)  # URL form works too
        await broken.close()
        store = await open_store(None, tmp_path)
        try:
            with pytest.raises(StoreUnavailable):
                await store.reserve("c", "r", "d", 60)
        finally:
            await store.close()
