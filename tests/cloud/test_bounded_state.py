"""Per-request state goes away with its request: a stranger sending many distinct
``recordId``\\ s grows nothing in the queue or in the reservations without bound.

What each request leaves behind, by backend, and when it goes:

- Redis: the stream entry (``<p>:jobs``), its delivery count (``<p>:deliveries``), its key
  mapping (``<p>:keys``) and its bytes (``<p>:bytes``): all removed when the job is
  acknowledged (answer stored) or dead-lettered; dead letters are capped
  (``DEAD_LETTERS_KEPT``).
- memory queue: ``_entries``, ``_keys``, ``_ready``: the same.
- store: the ``pending`` row, removed with the answer or the release of a job given up.
- the API process: ``_waiters`` (one entry per record waited on).

What stays by design: the answers (``results``; the idempotency promise), and a
reservation whose request died between the store and the queue (a crash, not a
stranger's input: test_lost_reservation.py).

Every way a request ends is exercised (answered, unanalysable, failing until
dead-lettered, joined by a duplicate), then every structure is counted on both backend
pairs; and one race of the Redis queue (a re-claim crossing an acknowledgement) that
left a delivery count behind for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import redis

from cloud.errors import AnalysisFailed
from cloud.pipeline import PipelineSettings
from cloud.queues.redis import RedisQueue
from cloud.stores.sqlite import open_db
from cloud.validation import AnalysisRequest, parse_request
from tests.cloud.conftest import Deployment
from tests.cloud.test_engine import quick_analyse
from tests.cloud.test_reservation_gap import PROMPT_S

N_DISTINCT = 120


def _analyse_or_fail(request: AnalysisRequest, settings: PipelineSettings) -> dict[str, Any]:
    if request.record_id.startswith("fail-"):
        raise RuntimeError("injected analysis failure")
    return quick_analyse(request, settings)


def _request(record_id: str, flat: bool = False) -> AnalysisRequest:
    samples = [7] * 500 if flat else [(i * 37 + len(record_id)) % 200 for i in range(500)]
    return parse_request({"sampleRate": 100, "adcGain": 100, "dataI": samples, "recordId": record_id})


async def _pending_rows(deployment: Deployment) -> int:
    if deployment.embedded:
        conn = open_db(deployment.config.data_dir)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
        finally:
            conn.close()
    conn = await asyncpg.connect(deployment.config.store_url)
    try:
        return int(await conn.fetchval("SELECT COUNT(*) FROM pending"))
    finally:
        await conn.close()


def _redis_sizes(url: str) -> dict[str, int]:
    client = redis.Redis.from_url(url)
    try:
        return {
            "jobs": int(client.xlen("cardio:jobs")),
            "keys": int(client.hlen("cardio:keys")),
            "deliveries": int(client.hlen("cardio:deliveries")),
            "bytes": int(client.get("cardio:bytes") or 0),
            "pel": int(client.xpending("cardio:jobs", "workers")["pending"]),
        }
    finally:
        client.close()


class TestManyDistinctRecordIds:
    async def test_nothing_per_request_is_left_once_answered(self, deployment: Deployment) -> None:
        deployment.recorder.inner = _analyse_or_fail
        service = await deployment.service(max_attempts=2)
        kinds = ["ok", "ok", "ok", "flat", "fail"]
        requests = [
            _request(f"{kind}-{i}", flat=kind == "flat") for i, kind in zip(range(N_DISTINCT), kinds * N_DISTINCT)
        ]
        requests += requests[:10]  # duplicates: joined or answered from the store

        async def send(request: AnalysisRequest) -> int:
            try:
                return (await service.submit("stranger", request)).http_status
            except AnalysisFailed:
                return 500

        statuses: list[int] = []
        for start in range(0, len(requests), 20):
            statuses += await asyncio.wait_for(
                asyncio.gather(*(send(r) for r in requests[start:start + 20])), PROMPT_S * 3
            )
        assert statuses.count(200) == 72 + 6 and statuses.count(422) == 24 + 2 and statuses.count(500) == 24 + 2
        deadline = time.monotonic() + PROMPT_S
        while (await service.queue.stats()).jobs:
            assert time.monotonic() < deadline, "jobs left in the queue"
            await asyncio.sleep(0.05)
        stats = await service.queue.stats()
        assert (stats.jobs, stats.bytes, stats.dead_letters) == (0, 0, 24 + 2)  # a failed one sent again fails again
        assert await _pending_rows(deployment) == 0
        assert service._waiters == {}
        if deployment.embedded:
            queue: Any = service.queue
            assert (len(queue._entries), len(queue._keys), len(queue._ready)) == (0, 0, 0)
        else:
            assert _redis_sizes(deployment.config.queue_url) == {
                "jobs": 0, "keys": 0, "deliveries": 0, "bytes": 0, "pel": 0
            }


class TestRedisReclaimCrossingAnAck:
    async def test_a_reclaimed_entry_acked_meanwhile_leaves_no_delivery_count(self, redis_url: str) -> None:
        queue = RedisQueue(redis_url, max_jobs=10, max_bytes=1 << 20, claim_idle_s=0.05)
        await queue.connect()
        try:
            await queue.enqueue_once(b"job", "k1")
            first = await queue.claim("worker-a", 1.0)
            assert first is not None
            await asyncio.sleep(0.1)  # worker-a looks dead
            reclaimed = await queue._reclaim("worker-b", 1)  # worker-b takes it over ...
            assert [entry_id for entry_id, _ in reclaimed] == [first.id]
            await queue.ack(first)  # ... while worker-a, alive after all, stores and acknowledges it
            handed = await queue._deliveries(reclaimed)  # worker-b counts its delivery
            assert handed == []  # acknowledged meanwhile: nothing to hand out
            assert _redis_sizes(redis_url) == {"jobs": 0, "keys": 0, "deliveries": 0, "bytes": 0, "pel": 0}
        finally:
            with contextlib.suppress(Exception):
                await queue.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestRateLimiterBuckets:
    """The web page's limiter is keyed by the sender's address (no token): one bucket kept
    per address ever seen grew without bound (200,000 after 200,000 addresses)."""

    def test_buckets_of_addresses_gone_quiet_are_not_kept(self) -> None:
        from cloud.webpage import WEB_BURST, WEB_RATE_PER_S
        from cloud.ratelimit import RateLimiter

        clock = _Clock()
        limiter = RateLimiter(WEB_RATE_PER_S, WEB_BURST, clock=clock)
        refill_s = WEB_BURST / WEB_RATE_PER_S
        most = 0
        for wave in range(40):  # 40 waves of 5,000 new addresses, each wave after the others refilled
            clock.now = wave * (refill_s + 1.0)
            for i in range(5_000):
                assert limiter.acquire(f"web:2001:db8::{wave}:{i}") == 0.0
            most = max(most, len(limiter._buckets))
        assert most <= 2 * 5_000 + 5_000  # was 200,000

    def test_dropping_full_buckets_changes_no_answer(self) -> None:
        import random

        from cloud.ratelimit import RateLimiter

        rng = random.Random(7)
        clock = _Clock()
        pruned = RateLimiter(2.0, 5, clock=clock, prune_at=4)
        kept = RateLimiter(2.0, 5, clock=clock, prune_at=10**9)
        for _ in range(20_000):
            clock.now += rng.choice([0.0, 0.01, 0.3, 3.0])
            client, cost = f"c{rng.randrange(40)}", rng.choice([1.0, 2.0, 7.0])
            op = rng.randrange(3)
            if op == 0:
                assert pruned.acquire(client, cost) == kept.acquire(client, cost)
            elif op == 1:
                pruned.refund(client, cost)
                kept.refund(client, cost)
            else:
                assert pruned.wait_s(client, cost) == kept.wait_s(client, cost)
        assert len(pruned) < len(kept)


class TestMetricsCost:
    """``GET /metrics`` needs no token; each one counted every stored answer (O(n) in SQLite
    and PostgreSQL; on SQLite on the store's only thread), so a stranger polling it kept
    the store busy for every client. Now one count per ``STORED_COUNT_TTL_S``."""

    async def test_many_metrics_requests_count_the_answers_once(self, make_cloud: Any) -> None:
        from cloud.analysis import SERVICE_KEY

        cloud = await make_cloud(inner=quick_analyse)
        store = cloud.app[SERVICE_KEY].store
        count_results = store.count_results
        calls: list[float] = []

        async def counting() -> int:
            calls.append(time.monotonic())
            await asyncio.sleep(0.02)  # a count over a large table takes a while
            return await count_results()

        store.count_results = counting
        responses = await asyncio.gather(*(cloud.http.get("/metrics") for _ in range(30)))
        responses += [await cloud.http.get("/metrics") for _ in range(30)]
        bodies = [await r.json() for r in responses]
        assert {r.status for r in responses} == {200} and {b["storedResults"] for b in bodies} == {0}
        assert len(calls) == 1  # was 60


class TestBodyBudget:
    """Bodies being received were held without bound: one token could open many uploads
    at once (each up to ``max_body_bytes``, 32 MiB), or many senders together. Now the
    bytes held are bounded per client and in total (``cloud.edge.BodyBudget``)."""

    async def _slow_upload(self, cloud: Any, token: str, length: int) -> asyncio.StreamWriter:
        """A POST whose headers declare *length* bytes, of which one arrives (then nothing)."""
        host, port = cloud.http.host, cloud.http.port
        _, writer = await asyncio.open_connection(host, port)
        writer.write((f"POST /v1/analyses HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{").encode())
        await writer.drain()
        return writer

    async def test_bodies_held_at_once_are_bounded_per_client_and_in_total(self, make_cloud: Any) -> None:
        from cloud.edge import BODY_BUDGET_KEY

        cloud = await make_cloud(inner=quick_analyse, max_body_bytes=100_000, client_body_budget_bytes=200_000,
                                 body_budget_bytes=300_000)
        budget = cloud.app[BODY_BUDGET_KEY]
        other = cloud.new_token("other")
        small = {"sampleRate": 100, "adcGain": 100, "dataI": [(i * 7) % 50 for i in range(600)]}

        async def held(n: int) -> None:
            deadline = time.monotonic() + PROMPT_S
            while budget.used != n:
                assert time.monotonic() < deadline, f"budget holds {budget.used}, not {n}"
                await asyncio.sleep(0.01)

        uploads = [await self._slow_upload(cloud, cloud.token, 100_000) for _ in range(2)]
        await held(200_000)  # this client's share is taken
        status, body = await cloud.post(small)
        assert status == 503 and body["type"].endswith("/capacity-unavailable"), body  # was 200
        assert "this client's" in body["detail"]
        status, _ = await cloud.post(small, token=other)
        assert status == 200  # another client is served
        uploads.append(await self._slow_upload(cloud, other, 100_000))
        await held(300_000)  # the total is taken
        status, body = await cloud.post(small, token=other)
        assert status == 503 and body["type"].endswith("/capacity-unavailable"), body
        response = await cloud.http.post("/v1/analyses", json=small, headers=cloud.headers(other))
        assert response.headers["Retry-After"] == "1"
        for writer in uploads:  # the slow senders give up
            writer.close()
        await held(0)
        status, _ = await cloud.post(small)
        assert status == 200


class TestWaitingRequestsHoldNoSamples:
    """A request waiting for its answer kept its parsed samples (8 bytes a sample) and its
    job's payload (4 more) for up to ``timeout_s``; a retry that joins a queued job is
    free of the cost budget, so one token repeating a 10-minute 12-lead recording could
    pile up ~170 MB per waiting copy. Now the queue holds the recording and a waiting
    request only its key."""

    async def test_parsed_samples_are_freed_while_waiting(self, make_cloud: Any, monkeypatch: Any) -> None:
        import gc
        import threading
        import weakref

        import cloud.app
        from cloud.analysis import SERVICE_KEY

        parsed: list[weakref.ref[Any]] = []
        parse_body = cloud.app.parse_body

        def recording_parse(body: bytes) -> AnalysisRequest:
            request = parse_body(body)
            parsed.append(weakref.ref(request.samples_counts))
            return request

        monkeypatch.setattr(cloud.app, "parse_body", recording_parse)
        gate = threading.Event()
        app_cloud = await make_cloud(inner=quick_analyse, gate=gate, workers=1)
        service = app_cloud.app[SERVICE_KEY]
        payload = {"sampleRate": 100, "adcGain": 100, "dataI": [(i * 7) % 50 for i in range(600)], "recordId": "held"}
        posts = [asyncio.create_task(app_cloud.post(payload)) for _ in range(3)]  # one job, two joins
        deadline = time.monotonic() + PROMPT_S
        while app_cloud.analyser.calls < 1 or service.metrics.counts["deduplicated"] < 2:
            assert time.monotonic() < deadline, "the requests never got to wait"
            await asyncio.sleep(0.01)
        try:
            gc.collect()
            assert len(parsed) == 3 and [ref() is None for ref in parsed] == [True] * 3  # was [False] * 3
        finally:
            gate.set()
        answers = await asyncio.gather(*posts)
        assert [status for status, _ in answers] == [200] * 3 and app_cloud.analyser.calls == 1


class TestLargeJobsDecodedOffTheLoop:
    """The worker decoded every job on the event loop: a 10-minute 12-lead recording
    (14.4 M samples) took 0.13-0.76 s (load 9), stalling every request of the embedded
    service. Now payloads of 64 KiB or more are decoded in a thread."""

    async def test_a_large_payload_is_decoded_in_a_thread(self, deployment: Deployment, monkeypatch: Any) -> None:
        import threading

        import cloud.worker
        from cloud.jobs import Job

        threads: dict[str, str] = {}
        decode = Job.decode

        def recording_decode(payload: bytes) -> Job:
            job = decode(payload)
            threads[job.request.record_id] = threading.current_thread().name
            return job

        monkeypatch.setattr(cloud.worker.Job, "decode", staticmethod(recording_decode))
        service = await deployment.service()
        small = _request("small")
        large = parse_request({"sampleRate": 100, "adcGain": 100, "recordId": "large",
                               "dataI": [(i * 13) % 300 for i in range(30_000)]})  # 120 kB payload
        for request in (small, large):
            result = await asyncio.wait_for(service.submit("client", request), PROMPT_S)
            assert result.http_status == 200
        assert threads["small"] == threading.main_thread().name
        assert threads["large"] != threading.main_thread().name  # was the loop's thread


def test_loop_error_messages_remembered_are_bounded() -> None:
    """The loop's error throttle remembered every distinct message for good; messages can
    name objects by address (``Exception in callback <... at 0x...>``)."""
    from cloud import edge

    loop = asyncio.new_event_loop()
    try:
        edge.quiet_loop_errors(loop)
        handler = loop.get_exception_handler()
        assert handler is not None
        for i in range(5_000):
            handler(loop, {"message": f"Exception in callback <object at 0x{i:x}>"})
        cells = [c.cell_contents for c in handler.__closure__ or () if isinstance(c.cell_contents, dict)]
        assert cells and max(len(d) for d in cells) <= edge.LOOP_ERROR_KEYS  # was 5,000
    finally:
        loop.close()
