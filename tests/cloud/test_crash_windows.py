"""Other windows between two writes of one job, each closed deterministically (both backend
pairs: SQLite + memory queue, PostgreSQL + Redis; see test_reservation_gap.py for the
reserve → enqueue window and the ``deployment`` fixture).

- a worker stores the answer and dies before acknowledging the job;
- the answer is stored but its completion event is lost (events are best effort);
- the queue loses a job it had accepted (a Redis failover without the write; an embedded
  restart) while its reservation stays.

Covered elsewhere: a worker that dies mid-analysis (``test_scaled_out.py::
test_killed_worker_job_is_reclaimed_and_answered_once``, ``test_queue_contract.py::
test_abandoned_job_is_reclaimed_unless_touched``); a job delivered too often
(``test_job_delivered_too_often_is_given_up_and_released``); Redis restarting with AOF
(``test_redis_restart_loses_nothing_acknowledged``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import redis

from cloud.jobs import Job
from cloud.pipeline import PipelineSettings
from cloud.stores.base import StoredResult
from tests.cloud.conftest import Deployment
from tests.cloud.test_engine import quick_analyse
from tests.cloud.test_reservation_gap import PROMPT_S, _request


class DropEvents:
    """Wraps a queue: completion events are never delivered (a lost pub/sub message)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def publish(self, event: dict[str, Any]) -> None:
        return None


async def _until_empty(service: Any, what: str) -> None:
    deadline = time.monotonic() + PROMPT_S
    while (await service.queue.stats()).jobs:
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


class TestStoredThenDiedBeforeAck:
    async def test_the_job_is_acknowledged_without_a_second_analysis(self, deployment: Deployment) -> None:
        service = await deployment.service(claim_idle_s=0.5)
        await deployment.stop_worker(service)  # nobody but the dying worker claims it
        request = _request("stored-not-acked")
        job = Job.of("client", request)
        assert (await service.store.reserve(*job.key, job.digest, 60.0)).kind == "new"
        assert await service.queue.enqueue_once(job.encode(), job.queue_key) is not None
        assert await service.queue.claim("dying-worker", 1.0) is not None
        answer = quick_analyse(request, PipelineSettings())
        await service.store.put_result(*job.key, "completed", StoredResult(200, answer, job.digest))  # ... no ack
        assert (await service.queue.stats()).jobs == 1
        await deployment.restart_worker(service, claim_idle_s=0.5)
        await _until_empty(service, "the stored job was never acknowledged")  # re-claimed after 0.5 s, acked
        assert deployment.recorder.calls == []
        result = await asyncio.wait_for(service.submit("client", request), PROMPT_S)
        assert result.body == answer and deployment.recorder.calls == []


class TestLostEvent:
    async def test_the_waiting_request_reads_the_store(self, deployment: Deployment) -> None:
        service = await deployment.service(poll_s=0.2)
        worker = service.worker if deployment.embedded else deployment.worker
        worker.queue = DropEvents(worker.queue)
        started = time.monotonic()
        result = await asyncio.wait_for(service.submit("client", _request("no-event")), PROMPT_S)
        assert result.http_status == 200 and time.monotonic() - started < PROMPT_S
        assert deployment.recorder.calls == ["no-event"]


class TestQueueLostTheJob:
    async def test_a_retry_enqueues_it_again(self, deployment: Deployment) -> None:
        service = await deployment.service()
        await deployment.stop_worker(service)
        request = _request("lost")
        job = Job.of("client", request)
        waiting = asyncio.create_task(service.submit("client", request))
        deadline = time.monotonic() + PROMPT_S
        while not await service.queue.holds(job.queue_key):
            assert time.monotonic() < deadline, "never enqueued"
            await asyncio.sleep(0.01)
        waiting.cancel()  # the client gave up
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        if deployment.embedded:  # restart: the memory queue is gone, SQLite keeps the reservation
            deployment.services.remove(service)
            await service.stop(drain_timeout_s=0.1)
            service = await deployment.service()
        else:  # a Redis failover that lost the write: the entry and its key are gone
            _forget_jobs(deployment.config.queue_url)
            await deployment.restart_worker(service)
        assert await service.store.is_pending(*job.key) and not await service.queue.holds(job.queue_key)
        result = await asyncio.wait_for(service.submit("client", request), PROMPT_S)
        assert result.http_status == 200 and deployment.recorder.calls == ["lost"]


def _forget_jobs(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        ids = [entry_id for entry_id, _ in client.xrange("cardio:jobs")]
        if ids:
            client.xdel("cardio:jobs", *ids)
        client.delete("cardio:keys", "cardio:bytes")
    finally:
        client.close()
