"""The FIFO queue, the rate limiter and the token/result store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cloud.errors import QueueFull
from cloud.queue import Job, JobQueue, MemoryQueue
from cloud.ratelimit import RateLimiter
from cloud.storage import DB_NAME, ResultStore, StoredResult, TokenError, TokenStore, open_db
from cloud.validation import parse_request


def _job(record_id: str) -> Job:
    return Job("c", parse_request({"sampleRate": 100, "adcGain": 1, "dataI": [0] * 500, "recordId": record_id}))


class TestMemoryQueue:
    async def test_is_a_job_queue(self) -> None:
        assert isinstance(MemoryQueue(1), JobQueue)

    async def test_fifo(self) -> None:
        q = MemoryQueue(10)
        for i in range(5):
            q.put(_job(f"r{i}"))
        assert [(await q.get()).request.record_id for _ in range(5)] == [f"r{i}" for i in range(5)]

    async def test_full_refuses_new_but_not_retries(self) -> None:
        q = MemoryQueue(1)
        q.put(_job("a"))
        with pytest.raises(QueueFull):
            q.put(_job("b"))
        q.put(_job("c"), retry=True)
        assert q.depth() == 2

    async def test_get_waits_for_put(self) -> None:
        q = MemoryQueue(2)
        getter = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        assert not getter.done()
        q.put(_job("x"))
        assert (await asyncio.wait_for(getter, 1)).request.record_id == "x"

    async def test_join_waits_for_task_done(self) -> None:
        q = MemoryQueue(2)
        q.put(_job("x"))
        await q.get()
        joiner = asyncio.create_task(q.join())
        await asyncio.sleep(0.01)
        assert not joiner.done()
        q.task_done()
        await asyncio.wait_for(joiner, 1)

    async def test_cancelled_getter_does_not_lose_job(self) -> None:
        q = MemoryQueue(2)
        first = asyncio.create_task(q.get())
        second = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        q.put(_job("x"))  # wakes the first getter...
        first.cancel()  # ...which is cancelled before it runs: the second must get the job
        job = await asyncio.wait_for(second, 1)
        assert job.request.record_id == "x"
        assert first.cancelled()


class TestRateLimiter:
    def test_burst_then_refill(self) -> None:
        now = [0.0]
        limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=lambda: now[0])
        assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert limiter.acquire("a") == pytest.approx(0.5)
        assert limiter.acquire("b") == 0.0  # buckets are per client
        now[0] = 0.5
        assert limiter.acquire("a") == 0.0

    def test_retry_after_header_whole_seconds(self) -> None:
        assert RateLimiter.retry_after_header(0.01) == "1"
        assert RateLimiter.retry_after_header(2.2) == "3"


class TestStorage:
    def test_tokens_hashed_verified_revoked(self, tmp_path: Path) -> None:
        conn = open_db(tmp_path)
        store = TokenStore(conn)
        token = store.create("alice")
        assert store.verify(token) == "alice"
        assert store.verify(token + "x") is None
        assert store.verify("") is None
        with pytest.raises(TokenError):
            store.create("alice")
        store.revoke("alice")
        assert store.verify(token) is None
        with pytest.raises(TokenError):
            store.revoke("alice")
        assert [(t.name, t.revoked_at is not None) for t in store.list()] == [("alice", True)]
        new = store.create("alice")
        assert store.verify(new) == "alice" and store.verify(token) is None
        conn.close()
        assert token.encode() not in (tmp_path / DB_NAME).read_bytes()

    @pytest.mark.parametrize("name", ["", "a b", "x" * 65, "é"])
    def test_bad_token_names(self, tmp_path: Path, name: str) -> None:
        conn = open_db(tmp_path)
        with pytest.raises(TokenError):
            TokenStore(conn).create(name)
        conn.close()

    def test_results_first_write_wins_and_persist(self, tmp_path: Path) -> None:
        results = ResultStore(open_db(tmp_path))
        results.put("c", "r1", "completed", StoredResult(200, {"n": 1}))
        results.put("c", "r1", "completed", StoredResult(200, {"n": 2}))
        again = ResultStore(open_db(tmp_path))
        assert again.get("c", "r1") == StoredResult(200, {"n": 1})
        assert again.get("other", "r1") is None
        assert again.count() == 1
