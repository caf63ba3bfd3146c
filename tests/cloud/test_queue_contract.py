"""The queue contract (cloud.queues.base): every queue passes the same tests.

Memory always; Redis Streams from the Debian package, started by the fixtures. Then the
worker's handling of what a queue can deliver (malformed payloads, repeated deliveries)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cloud.config import CloudConfig
from cloud.errors import OverCapacity, QueueFull
from cloud.jobs import Job
from cloud.queues import JobQueue, open_queue
from cloud.stores import open_store
from cloud.validation import parse_request
from cloud.worker import Worker


@pytest.fixture(params=["memory", "redis"])
async def make_queue(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    opened: list[JobQueue] = []

    async def make(max_jobs: int = 100, max_bytes: int = 10_000, claim_idle_s: float = 30.0) -> JobQueue:
        queue = await open_queue(url, max_jobs=max_jobs, max_bytes=max_bytes, claim_idle_s=claim_idle_s)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        await queue.close()


class TestQueueContract:
    async def test_fifo_claim_ack(self, make_queue: Any) -> None:
        q = await make_queue()
        assert isinstance(q, JobQueue)
        for i in range(3):
            await q.enqueue(f"job{i}".encode())
        got = [await q.claim("w", 1.0) for _ in range(3)]
        assert [d.payload for d in got] == [b"job0", b"job1", b"job2"] and {d.attempts for d in got} == {1}
        assert await q.claim("w", 0.05) is None
        for d in got:
            await q.ack(d)
        stats = await q.stats()
        assert (stats.jobs, stats.bytes) == (0, 0)

    async def test_bounds_in_jobs_and_bytes(self, make_queue: Any) -> None:
        q = await make_queue(max_jobs=2, max_bytes=10)
        await q.enqueue(b"12345")
        with pytest.raises(OverCapacity):
            await q.enqueue(b"123456")  # 11 bytes would be queued
        await q.enqueue(b"1234")
        with pytest.raises(QueueFull):
            await q.enqueue(b"1")
        await q.ack(await q.claim("w", 1.0))  # acknowledged jobs free both bounds
        await q.enqueue(b"1")

    async def test_retry_goes_to_the_end_keeping_attempts(self, make_queue: Any) -> None:
        q = await make_queue()
        await q.enqueue(b"a")
        await q.enqueue(b"b")
        first = await q.claim("w", 1.0)
        await q.retry(first)
        assert (await q.claim("w", 1.0)).payload == b"b"
        again = await q.claim("w", 1.0)
        assert again.payload == b"a" and again.attempts == 2
        assert (await q.stats()).jobs == 2

    async def test_abandoned_job_is_reclaimed_unless_touched(self, make_queue: Any) -> None:
        q = await make_queue(claim_idle_s=0.3)
        await q.enqueue(b"long")
        held = await q.claim("alive", 1.0)
        for _ in range(3):  # a live worker touches its job: nobody else gets it
            await asyncio.sleep(0.15)
            await q.touch(held, "alive")
        assert await q.claim("other", 0.05) is None
        await asyncio.sleep(0.4)  # ... a dead one does not
        taken = await q.claim("other", 1.0)
        assert taken is not None and taken.payload == b"long" and taken.attempts == 2

    async def test_claim_many_takes_what_is_there_without_waiting(self, make_queue: Any) -> None:
        q = await make_queue()
        started = time.monotonic()
        assert await q.claim_many("w", 8) == []  # empty: answers at once (no blocking read)
        assert time.monotonic() - started < 0.5
        for i in range(5):
            await q.enqueue(f"job{i}".encode())
        assert await q.claim_many("w", 0) == []
        first = await q.claim_many("w", 3)
        rest = await q.claim_many("w", 8)
        assert [d.payload for d in first + rest] == [f"job{i}".encode() for i in range(5)]
        assert {d.attempts for d in first + rest} == {1} and len({d.id for d in first + rest}) == 5
        assert await q.claim_many("w", 8) == [] and await q.claim("w", 0.05) is None

    async def test_claimed_together_each_keeps_its_own_fate(self, make_queue: Any) -> None:
        q = await make_queue()
        for name in (b"ok", b"again", b"bad"):
            await q.enqueue(name)
        ok, again, bad = await q.claim_many("w", 3)
        await q.ack(ok)
        await q.retry(again)
        await q.dead_letter(bad, "broken")
        [back] = await q.claim_many("w", 3)
        assert (back.payload, back.attempts) == (b"again", 2)
        stats = await q.stats()
        assert (stats.jobs, stats.bytes, stats.dead_letters) == (1, len(b"again"), 1)

    async def test_claimed_together_each_has_its_own_lease(self, make_queue: Any) -> None:
        q = await make_queue(claim_idle_s=0.3)
        await q.enqueue(b"touched")
        await q.enqueue(b"forgotten")
        touched, _ = await q.claim_many("alive", 2)
        for _ in range(4):
            await asyncio.sleep(0.15)
            await q.touch(touched, "alive")
        taken = await q.claim_many("other", 5)  # only the untouched one was abandoned
        assert [(d.payload, d.attempts) for d in taken] == [(b"forgotten", 2)]
        assert await q.claim_many("other", 5) == []

    async def test_dead_letter_keeps_reason_and_frees_the_queue(self, make_queue: Any) -> None:
        q = await make_queue()
        await q.enqueue(b"bad")
        d = await q.claim("w", 1.0)
        await q.dead_letter(d, "malformed job: no header line")
        stats = await q.stats()
        assert (stats.jobs, stats.bytes, stats.dead_letters) == (0, 0, 1)
        [letter] = await q.dead_letters()
        assert (letter.reason, letter.payload, letter.attempts) == ("malformed job: no header line", b"bad", 1)

    async def test_dead_letters_keep_at_most_dead_max_bytes_of_payloads(self, make_queue: Any) -> None:
        q = await make_queue(max_bytes=100_000)
        q.dead_max_bytes = 3_500  # 64 MiB by default
        for i in range(10):
            await q.enqueue(bytes([i]) * 1_000)
            d = await q.claim("w", 1.0)
            await q.dead_letter(d, f"broken {i}")
        letters = await q.dead_letters()
        assert [letter.reason for letter in letters] == ["broken 7", "broken 8", "broken 9"]  # was all 10
        assert (await q.stats()).dead_letters == 3 and letters[-1].payload == bytes([9]) * 1_000
        q.dead_max_bytes = 10  # smaller than one payload: the newest is still kept
        await q.enqueue(b"x" * 100)
        await q.dead_letter(await q.claim("w", 1.0), "big")
        assert [letter.reason for letter in await q.dead_letters()] == ["big"]

    async def test_enqueue_once_holds_one_job_per_key_until_ack_or_dead_letter(self, make_queue: Any) -> None:
        q = await make_queue()
        assert not await q.holds("k") and await q.enqueue_once(b"first", "k") is not None
        assert await q.enqueue_once(b"again", "k") is None and await q.holds("k")
        assert await q.enqueue_once(b"other", "k2") is not None  # another key: another job
        held = await q.claim("w", 1.0)
        assert held.payload == b"first" and await q.enqueue_once(b"again", "k") is None  # in flight: still held
        await q.retry(held)  # a retry keeps the key
        assert await q.holds("k") and await q.enqueue_once(b"again", "k") is None
        assert [(await q.claim("w", 1.0)).payload for _ in range(2)] == [b"other", b"first"]
        back = await q.claim("w", 0.05)
        assert back is None
        stats = await q.stats()
        assert (stats.jobs, stats.bytes) == (2, len(b"first") + len(b"other"))

    async def test_enqueue_once_key_is_freed_by_ack_and_dead_letter(self, make_queue: Any) -> None:
        q = await make_queue()
        await q.enqueue_once(b"a", "ka")
        await q.enqueue_once(b"b", "kb")
        a, b = await q.claim("w", 1.0), await q.claim("w", 1.0)
        await q.ack(a)
        await q.dead_letter(b, "given up")
        assert not await q.holds("ka") and not await q.holds("kb")
        assert await q.enqueue_once(b"a", "ka") is not None and await q.enqueue_once(b"b", "kb") is not None
        assert (await q.stats()).jobs == 2

    async def test_enqueue_once_respects_the_bounds(self, make_queue: Any) -> None:
        q = await make_queue(max_jobs=1, max_bytes=10)
        with pytest.raises(OverCapacity):
            await q.enqueue_once(b"x" * 11, "big")
        assert not await q.holds("big")
        await q.enqueue_once(b"x", "one")
        with pytest.raises(QueueFull):
            await q.enqueue_once(b"y", "two")
        assert await q.enqueue_once(b"x", "one") is None  # held: no bound is hit, nothing appended

    async def test_events_reach_subscribers(self, make_queue: Any) -> None:
        q = await make_queue()
        events = q.events()
        first = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.2)  # subscribed
        await q.publish({"clientId": "c", "recordId": "r", "outcome": "stored"})
        assert (await asyncio.wait_for(first, 5))["outcome"] == "stored"
        await events.aclose()


def _job(record_id: str) -> Job:
    return Job.of("client", parse_request({"sampleRate": 100, "adcGain": 1, "dataI": list(range(500)), "recordId": record_id}))


def _fake_analysis(request: Any, settings: Any) -> dict[str, Any]:
    return {"status": "completed", "recordId": request.record_id, "processingMs": 0.1}


class TestWorkerOverAnyQueue:
    async def test_malformed_job_is_dead_lettered_and_never_blocks(self, make_queue: Any, tmp_path: Path) -> None:
        q = await make_queue(max_bytes=1_000_000)
        store = await open_store(None, tmp_path)
        await q.enqueue(b"not a job")
        await q.enqueue(b'{"v": 1, "leads": ["I"], "nSamples": 5}\n\x00')  # header without its samples
        good = _job("good")
        await store.reserve(*good.key, good.digest, 60)
        await q.enqueue(good.encode())
        config = CloudConfig(data_dir=tmp_path, executor="thread")
        worker = Worker(config, q, store, concurrency=1, analyser=_fake_analysis)
        await worker.start()
        try:
            for _ in range(100):
                if await store.get_result(*good.key) is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()
        assert (await store.get_result(*good.key)) is not None
        reasons = [d.reason for d in await q.dead_letters()]
        assert len(reasons) == 2 and all(r.startswith("malformed job:") for r in reasons)
        assert (await q.stats()).jobs == 0
        await store.close()

    async def test_job_delivered_too_often_is_given_up_and_released(self, make_queue: Any, tmp_path: Path) -> None:
        q = await make_queue(claim_idle_s=0.1, max_bytes=1_000_000)
        store = await open_store(None, tmp_path)
        job = _job("cursed")
        await store.reserve(*job.key, job.digest, 60)
        await q.enqueue(job.encode())
        for _ in range(3):  # three workers claim it and die
            assert await q.claim("dying", 1.0) is not None
            await asyncio.sleep(0.15)
        worker = Worker(CloudConfig(data_dir=tmp_path, executor="thread", max_attempts=3), q, store,
                        concurrency=1, analyser=_fake_analysis)
        await worker.start()
        try:
            for _ in range(100):
                if (await q.stats()).dead_letters:
                    break
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()
        [letter] = await q.dead_letters()
        assert "delivered 4 times" in letter.reason
        assert not await store.is_pending(*job.key) and await store.get_result(*job.key) is None
        await store.close()


class TestRedisKeys:
    async def test_a_key_whose_entry_left_the_stream_is_not_held(self, redis_url: str) -> None:
        """The key map heals itself: an entry deleted behind the queue's back (an operator's
        XDEL, a trimmed stream) does not block the key for ever."""
        import redis

        q = await open_queue(redis_url, max_jobs=10, max_bytes=1000, claim_idle_s=30.0)
        try:
            entry = await q.enqueue_once(b"job", "k")
            client = redis.Redis.from_url(redis_url)
            client.xdel("cardio:jobs", entry)
            client.close()
            assert not await q.holds("k")
            assert await q.enqueue_once(b"job", "k") not in (None, entry)
        finally:
            await q.close()
