"""The reserve → enqueue gap: a reservation whose job never reached the queue.

``AnalysisService.submit`` reserves ``(client, recordId)`` in the store and then enqueues
the job. An API replica killed between the two (or an embedded service restarted: SQLite
keeps the reservation, the memory queue is new) left a pending reservation with no job;
a retry joined it and waited for ``timeout_s`` (the lead's diagnosis of the clean-clone CI
failure of ``test_scaled_out.py::test_killed_api_replica_...``). The crash is injected
deterministically here (the queue's enqueue raises ``Crash``, a BaseException like a
process death), on both backends: SQLite + memory queue (embedded restart: a new service on
the same data folder) and PostgreSQL + Redis (real servers; a second API replica and a
worker on the same backends). A retry must be answered promptly, analysed once, and the
cost limit must still be charged per analysis actually queued.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cloud.analysis import AnalysisService
from cloud.errors import OverCapacity
from cloud.jobs import request_digest
from cloud.pipeline import PipelineSettings
from cloud.validation import AnalysisRequest, parse_request
from tests.cloud.conftest import Deployment
from tests.cloud.test_engine import quick_analyse

#: a retry must be answered well within this (the services' timeout_s is 60 s)
PROMPT_S = 10.0


class Crash(BaseException):
    """The process dies here (kill -9 between the store's reservation and the enqueue)."""


class CrashOnEnqueue:
    """Wraps a queue: every way of enqueueing dies; the rest is the real queue."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("enqueue"):
            raise Crash(f"killed before {name}")
        return getattr(self.inner, name)


def _request(record_id: str, n: int = 500) -> AnalysisRequest:
    return parse_request({"sampleRate": 100, "adcGain": 100, "dataI": list(range(n)), "recordId": record_id})


async def _until(condition: Any, what: str, timeout_s: float = PROMPT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def crash_between_reserve_and_enqueue(
    deployment: Deployment, request: AnalysisRequest, check: Callable[[AnalysisService], Awaitable[None]]
) -> None:
    """A service reserves *request* and dies before enqueueing it (``await check(doomed)``
    runs then); embedded, the process is gone (a new service will start on the same data
    folder); scaled out, its backends stay as they are."""
    doomed = await deployment.service()
    doomed._queue = CrashOnEnqueue(doomed.queue)  # type: ignore[assignment]
    with pytest.raises(Crash):
        await doomed.submit("client", request)
    await check(doomed)
    if deployment.embedded:
        deployment.services.remove(doomed)
        doomed._queue = doomed._queue.inner  # type: ignore[union-attr]
        await doomed.stop(drain_timeout_s=1)


class TestCrashBetweenReserveAndEnqueue:
    async def test_a_retry_through_a_live_service_is_answered_promptly(self, deployment: Deployment) -> None:
        request = _request("gap-1")

        async def reserved_never_enqueued(doomed: AnalysisService) -> None:
            assert await doomed.store.is_pending("client", "gap-1")  # the gap

        await crash_between_reserve_and_enqueue(deployment, request, reserved_never_enqueued)
        survivor = await deployment.service()
        started = time.monotonic()
        result = await asyncio.wait_for(survivor.submit("client", request), PROMPT_S)
        assert time.monotonic() - started < PROMPT_S
        assert result.http_status == 200 and result.body == quick_analyse(request, PipelineSettings())
        assert deployment.recorder.calls == ["gap-1"]
        assert (await survivor.submit("client", request)).body == result.body  # stored: no second analysis
        assert deployment.recorder.calls == ["gap-1"]


class TestOrdinaryJoin:
    @pytest.mark.parametrize("state", ["running", "queued"])
    async def test_a_retry_of_a_job_in_the_queue_is_analysed_once(self, deployment: Deployment, state: str) -> None:
        gate = threading.Event()
        deployment.recorder.gate = gate
        first = await deployment.service()
        second = first if deployment.embedded else await deployment.service()
        tasks = []
        if state == "queued":  # the only worker is busy with another job: ours waits in the queue
            tasks.append(asyncio.create_task(first.submit("client", _request("blocker"))))
            await _until(lambda: _called(deployment, "blocker"), "the blocker never ran")
        tasks.append(asyncio.create_task(first.submit("client", _request("once"))))
        if state == "running":
            await _until(lambda: _called(deployment, "once"), "the job never ran")
        else:
            await _until(lambda: _jobs(first, 2), "the job was never queued")
        retry = asyncio.create_task(second.submit("client", _request("once")))
        await _until(lambda: _counted(second, "deduplicated", 1), "the retry did not join")
        gate.set()
        *_, original = await asyncio.gather(*tasks)
        joined = await asyncio.wait_for(retry, PROMPT_S)
        assert joined == original and joined.http_status == 200
        assert deployment.recorder.calls.count("once") == 1


class TestCostOfARetry:
    async def test_requeueing_an_orphan_is_charged_and_joining_is_free(self, deployment: Deployment) -> None:
        cost = 500  # samples x leads of one request
        service = await deployment.service(client_cost_burst=float(cost), client_cost_per_s=1e-6)
        orphan = _request("orphan")
        await service.store.reserve("client", "orphan", request_digest(orphan), service.config.stale_after_s)
        gate = threading.Event()
        deployment.recorder.gate = gate
        paid = asyncio.create_task(service.submit("client", _request("paid")))  # spends the whole budget
        await _until(lambda: _called(deployment, "paid"), "the paid job never ran")
        with pytest.raises(OverCapacity):  # re-queueing the orphan would be a free analysis
            await asyncio.wait_for(service.submit("client", orphan), PROMPT_S)
        joined = asyncio.create_task(service.submit("client", _request("paid")))  # a retry of a queued job
        gate.set()
        assert (await asyncio.wait_for(joined, PROMPT_S)) == await paid
        assert deployment.recorder.calls == ["paid"]
        other = await asyncio.wait_for(service.submit("someone-else", orphan), PROMPT_S)  # others are served
        assert other.http_status == 200 and deployment.recorder.calls == ["paid", "orphan"]


async def _called(deployment: Deployment, record_id: str) -> bool:
    return record_id in deployment.recorder.calls


async def _jobs(service: AnalysisService, n: int) -> bool:
    return (await service.queue.stats()).jobs == n


async def _counted(service: AnalysisService, name: str, n: int) -> bool:
    return service.metrics.counts[name] >= n
