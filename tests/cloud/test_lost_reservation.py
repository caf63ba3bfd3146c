"""A reservation without a job, seen by a client that only polls ``GET``.

A crash between the store's reservation and the enqueue (see test_reservation_gap.py), or a
queue that lost a job it had accepted, leaves a reservation no worker will answer. A client
retrying its ``POST`` is answered at once (test_reservation_gap.py); one that only polls
``GET /v1/analyses/{recordId}`` used to read ``202 pending`` for ever. Now, once the
reservation is older than ``stale_after_s`` and the queue holds no job for it, ``GET``
answers ``404 analysis-lost`` (send it again), and the client's ``get`` raises
``AnalysisLost``. A job that is really queued, however long it waits, stays ``pending``.

Both backend pairs (SQLite + memory queue, PostgreSQL + Redis: real servers) through
:meth:`AnalysisService.lookup`; the HTTP answer and the client on the embedded service.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from cloud.analysis import SERVICE_KEY
from cloud.errors import AnalysisTimeout
from cloud.jobs import Job, request_digest
from cloud.pipeline import PipelineSettings
from cloud.stores.base import StoredResult
from cloud_client import AnalysisLost, CloudClient
from tests.cloud.conftest import Deployment
from tests.cloud.test_engine import quick_analyse
from tests.cloud.test_reservation_gap import PROMPT_S, _request, crash_between_reserve_and_enqueue

#: timeout_s 0.5, claim_idle_s 0.5, max_attempts 1 → stale_after_s = 0.5 × 2 = 1 s
STALE = {"timeout_s": 0.5, "claim_idle_s": 0.5, "max_attempts": 1}


async def _lookup_until(service: Any, record_id: str, wanted: Any, timeout_s: float = PROMPT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await service.lookup("client", record_id)
        if found == wanted or (wanted is StoredResult and isinstance(found, StoredResult)):
            return found
        assert time.monotonic() < deadline, f"lookup of {record_id} stayed {found!r}, never {wanted!r}"
        await asyncio.sleep(0.05)


class TestJoblessReservation:
    async def test_get_says_lost_after_the_stale_limit_and_a_resend_is_answered(self, deployment: Deployment) -> None:
        request = _request("jobless")

        async def young_reads_pending(doomed: Any) -> None:  # its enqueuer may still be on its way
            assert await doomed.lookup("client", "jobless") == "pending"

        await crash_between_reserve_and_enqueue(deployment, request, young_reads_pending)
        poller = await deployment.service(**STALE)
        assert poller.config.stale_after_s == 1.0
        started = time.monotonic()
        await _lookup_until(poller, "jobless", "lost")
        assert time.monotonic() - started < 1.0 + PROMPT_S
        assert await poller.lookup("client", "jobless") == "lost"  # said again, nothing changed
        assert poller.metrics.counts["lost"] >= 2 and deployment.recorder.calls == []
        survivor = await deployment.service()  # the client sends it again (normal timeouts)
        result = await asyncio.wait_for(survivor.submit("client", request), PROMPT_S)
        assert result.http_status == 200 and result.body == quick_analyse(request, PipelineSettings())
        assert await poller.lookup("client", "jobless") == result
        assert deployment.recorder.calls == ["jobless"]

    async def test_a_job_queued_longer_than_the_stale_limit_stays_pending(self, deployment: Deployment) -> None:
        service = await deployment.service(**STALE)
        await deployment.stop_worker(service)  # the job waits in the queue
        request = _request("slow-queue")
        waiting = asyncio.create_task(service.submit("client", request))
        job = Job.of("client", request)
        deadline = time.monotonic() + PROMPT_S
        while not await service.queue.holds(job.queue_key):
            assert time.monotonic() < deadline, "never enqueued"
            await asyncio.sleep(0.01)
        with contextlib.suppress(AnalysisTimeout):
            await waiting  # 504 after 0.5 s; the job stays queued
        await asyncio.sleep(service.config.stale_after_s + 0.2)
        assert (await service.store.pending(*job.key)).age_s > service.config.stale_after_s  # type: ignore[union-attr]
        assert await service.lookup("client", "slow-queue") == "pending"
        await deployment.restart_worker(service)
        found = await _lookup_until(service, "slow-queue", StoredResult)
        assert found.body == quick_analyse(request, PipelineSettings()) and deployment.recorder.calls == ["slow-queue"]

    async def test_an_answer_stored_while_the_queue_is_asked_is_not_called_lost(self, deployment: Deployment) -> None:
        service = await deployment.service(**STALE)
        await deployment.stop_worker(service)
        request = _request("acked-meanwhile")
        job = Job.of("client", request)
        await service.store.reserve(*job.key, job.digest, service.config.stale_after_s)
        await asyncio.sleep(service.config.stale_after_s + 0.1)
        holds = service.queue.holds
        answer = StoredResult(200, quick_analyse(request, PipelineSettings()), job.digest)

        async def worker_stores_and_acks_first(key: str) -> bool:  # the job left the queue: answered
            await service.store.put_result(*job.key, "completed", answer)
            return await holds(key)

        service.queue.holds = worker_stores_and_acks_first  # type: ignore[method-assign]
        try:
            assert await service.lookup("client", "acked-meanwhile") == answer
        finally:
            del service.queue.holds


class TestOverHttp:
    async def test_get_answers_404_analysis_lost_and_the_client_raises(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse, workers=1, timeout_s=1.0, claim_idle_s=0.5, max_attempts=1)  # stale after 2 s
        service = cloud.app[SERVICE_KEY]
        client_id = (await service.store.verify_token(cloud.token)).id
        payload = {"sampleRate": 100, "adcGain": 100, "dataI": list(range(600)), "recordId": "lost-1"}
        request = _request("lost-1", 600)
        await service.store.reserve(client_id, "lost-1", request_digest(request), 1e9)  # its enqueuer died here
        base = str(cloud.http.make_url("")).rstrip("/")
        async with CloudClient(base, cloud.token, max_attempts=1) as client:
            response = await cloud.http.get("/v1/analyses/lost-1", headers=cloud.headers())
            assert response.status == 202
            assert await client.get("lost-1") is None
            await asyncio.sleep(service.config.stale_after_s + 0.1)
            response = await cloud.http.get("/v1/analyses/lost-1", headers=cloud.headers())
            body = await response.json(content_type=None)
            assert response.status == 404 and response.content_type == "application/problem+json"
            assert body["type"].endswith("/analysis-lost") and body["recordId"] == "lost-1"
            assert "send the same recording again" in body["detail"]
            with pytest.raises(AnalysisLost) as lost:
                await client.get("lost-1")
            assert lost.value.status == 404
            status, result = await cloud.post(payload)  # sent again: answered like a first request
            assert status == 200 and result["recordId"] == "lost-1" and cloud.analyser.calls == 1
            assert (await client.get("lost-1")) is not None
            unknown = await cloud.http.get("/v1/analyses/never-sent", headers=cloud.headers())
            assert unknown.status == 404 and (await unknown.json(content_type=None))["type"].endswith("/not-found")
