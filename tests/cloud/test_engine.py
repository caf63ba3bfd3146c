"""Queue mechanics through the HTTP API: idempotency, retries, timeouts, drain, submit().

The analysis here is a small deterministic function (these tests are about the engine,
not the signal science, which test_api.py covers with the real pipeline).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from cloud.analysis import SERVICE_KEY, submit
from cloud.errors import RequestError, UnanalysableSignal
from cloud.pipeline import PipelineSettings
from cloud.stores.base import StoredResult
from cloud.storage import open_db
from cloud.validation import AnalysisRequest


def quick_analyse(request: AnalysisRequest, settings: PipelineSettings) -> dict[str, Any]:
    if int(request.samples_counts.max()) == int(request.samples_counts.min()):
        raise UnanalysableSignal("flat line")
    return {
        "status": "completed",
        "recordId": request.record_id,
        "modelVersion": "test",
        "diagnoses": [{"code": "N", "label": "Normal sinus rhythm", "probability": 1.0}],
        "heartRate": 60.0,
        "measurements": {"prMs": None, "qrsMs": None, "qtMs": None, "qtcMs": None},
        "quality": {"readable": True, "reasons": []},
        "leads": list(request.lead_names),
        "processingMs": 0.1,
    }


def _payload(record_id: str, flat: bool = False) -> dict[str, Any]:
    data = [0] * 500 if flat else list(range(500))
    return {"sampleRate": 100, "adcGain": 100, "dataI": data, "recordId": record_id}


async def _until_queued(cloud: Any, jobs: int, timeout_s: float = 10.0) -> None:
    """Wait until the queue holds ``jobs`` jobs (running ones count): a fixed sleep flakes under load."""
    service = cloud.app[SERVICE_KEY]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (await service.queue.stats()).jobs != jobs:
        assert loop.time() < deadline, f"queue never held {jobs} jobs"
        await asyncio.sleep(0.01)


async def _metrics(cloud: Any) -> dict[str, Any]:
    response = await cloud.http.get("/metrics")
    return await response.json()


class TestIdempotency:
    async def test_repeat_returns_stored_result_without_second_analysis(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse)
        first = await cloud.post(_payload("rec-1"))
        second = await cloud.post(_payload("rec-1"))
        assert first == second and first[0] == 200
        assert cloud.analyser.calls == 1
        assert (await _metrics(cloud))["counts"]["deduplicated"] == 1

    async def test_concurrent_repeats_join_one_job(self, make_cloud: Any) -> None:
        gate = threading.Event()
        cloud = await make_cloud(inner=quick_analyse, gate=gate)
        tasks = [asyncio.create_task(cloud.post(_payload("same"))) for _ in range(5)]
        await asyncio.sleep(0.2)
        gate.set()
        answers = await asyncio.gather(*tasks)
        assert {status for status, _ in answers} == {200}
        assert cloud.analyser.calls == 1

    async def test_record_ids_are_per_token(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse)
        other = cloud.new_token("other")
        await cloud.post(_payload("shared-id"))
        response = await cloud.http.get("/v1/analyses/shared-id", headers=cloud.headers(other))
        assert response.status == 404
        assert (await cloud.post(_payload("shared-id"), token=other))[0] == 200
        assert cloud.analyser.calls == 2

    async def test_unanalysable_is_422_and_stored(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse)
        status, body = await cloud.post(_payload("flat", flat=True))
        assert status == 422 and body["type"].endswith("/unanalysable-signal")
        assert (await cloud.post(_payload("flat", flat=True)))[0] == 422
        response = await cloud.http.get("/v1/analyses/flat", headers=cloud.headers())
        assert response.status == 422
        assert cloud.analyser.calls == 1


class TestRetries:
    async def test_failed_attempts_are_requeued(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse, fail_first=2, max_attempts=3)
        status, body = await cloud.post(_payload("flaky"))
        assert status == 200 and body["recordId"] == "flaky"
        assert cloud.analyser.calls == 3
        assert (await _metrics(cloud))["counts"]["retries"] == 2

    async def test_gives_up_after_max_attempts(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse, fail_first=10, max_attempts=2)
        status, body = await cloud.post(_payload("broken"))
        assert status == 500
        assert body["type"].endswith("/analysis-failed") and body["attempts"] == 2
        assert "injected failure" in body["detail"]
        assert cloud.analyser.calls == 2
        # not stored: a later retry is analysed again (and now succeeds)
        cloud.analyser.fail_first = 0
        assert (await cloud.post(_payload("broken")))[0] == 200


class TestTimeout:
    async def test_timeout_answers_504_then_result_is_kept(self, make_cloud: Any) -> None:
        gate = threading.Event()
        cloud = await make_cloud(inner=quick_analyse, gate=gate, timeout_s=0.3)
        status, body = await cloud.post(_payload("slow"))
        assert status == 504 and body["recordId"] == "slow"
        pending = await cloud.http.get("/v1/analyses/slow", headers=cloud.headers())
        assert pending.status == 202 and (await pending.json())["status"] == "pending"
        gate.set()
        for _ in range(50):
            done = await cloud.http.get("/v1/analyses/slow", headers=cloud.headers())
            if done.status == 200:
                break
            await asyncio.sleep(0.05)
        assert done.status == 200
        assert (await cloud.post(_payload("slow")))[0] == 200
        assert cloud.analyser.calls == 1
        assert (await _metrics(cloud))["counts"]["timeouts"] == 1


class TestQueueFull:
    async def test_503_with_retry_after(self, make_cloud: Any) -> None:
        gate = threading.Event()
        cloud = await make_cloud(inner=quick_analyse, gate=gate, workers=1, queue_max_jobs=2, timeout_s=5)  # running + queued
        first = asyncio.create_task(cloud.post(_payload("a")))
        await _until_queued(cloud, 1)  # the worker holds "a"
        second = asyncio.create_task(cloud.post(_payload("b")))  # waits in the queue
        await _until_queued(cloud, 2)
        response = await cloud.http.post("/v1/analyses", json=_payload("c"), headers=cloud.headers())
        assert response.status == 503 and response.headers["Retry-After"] == "1"
        assert (await _metrics(cloud))["counts"]["queueFull"] == 1
        gate.set()
        assert [s for s, _ in await asyncio.gather(first, second)] == [200, 200]


class TestShutdown:
    async def test_stop_drains_queue(self, make_cloud: Any) -> None:
        gate = threading.Event()
        cloud = await make_cloud(inner=quick_analyse, gate=gate, workers=1)
        service = cloud.app[SERVICE_KEY]
        tasks = [asyncio.create_task(cloud.post(_payload(f"d{i}"))) for i in range(4)]
        await _until_queued(cloud, 4)  # 1 running + 3 waiting
        threading.Timer(0.2, gate.set).start()
        await service.stop(drain_timeout_s=10)
        conn = open_db(cloud.data_dir)
        assert conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 4
        conn.close()
        assert {s for s, _ in await asyncio.gather(*tasks)} == {200}


class TestLookupRace:
    async def test_an_answer_stored_between_the_two_reads_is_found(self, make_cloud: Any) -> None:
        """GET while the worker commits: not pending any more must not read as unknown (404)."""
        cloud = await make_cloud(inner=quick_analyse)
        service = cloud.app[SERVICE_KEY]
        store = service.store
        client = (await store.verify_token(cloud.token)).id
        assert (await store.reserve(client, "race", "d1", 60.0)).kind == "new"
        pending = store.pending

        async def worker_commits_first(client_id: str, record_id: str) -> Any:
            await store.put_result(client_id, record_id, "done", StoredResult(200, {"recordId": record_id}, "d1"))
            return await pending(client_id, record_id)

        store.pending = worker_commits_first
        response = await cloud.http.get("/v1/analyses/race", headers=cloud.headers())
        assert response.status == 200 and (await response.json())["recordId"] == "race"


class TestInProcessSubmit:
    async def test_submit_uses_the_queue(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse)
        result = await submit(cloud.app, _payload("web-1"))
        assert result["recordId"] == "web-1"
        again = await submit(cloud.app, _payload("web-1"))
        assert again == result and cloud.analyser.calls == 1

    async def test_submit_raises_request_errors(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse)
        with pytest.raises(RequestError) as info:
            await submit(cloud.app, {"sampleRate": 1})
        assert info.value.status == 422
        with pytest.raises(RequestError) as flat:
            await submit(cloud.app, _payload("f", flat=True))
        assert flat.value.problem == "unanalysable-signal"


class TestLargeBodies:
    async def test_large_body_parsed_off_the_loop_with_same_errors(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse)
        payload = {"sampleRate": 300, "adcGain": 1, "dataI": list(range(30000)), "dataII": [0] * 29999, "x": 1}
        status, body = await cloud.post(payload)
        assert status == 422
        assert {e["field"] for e in body["errors"]} == {"x"}
        good = {"sampleRate": 300, "adcGain": 1, "dataI": list(range(30000)), "recordId": "big"}
        assert (await cloud.post(good))[0] == 200
