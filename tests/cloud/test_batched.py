"""Batched analysis (issue 10, lever B): ``analyse_many`` answers what ``analyse`` answers
one by one, and a worker that claims several queued jobs keeps each job's own fate."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cloud.pipeline as pipeline
from cloud.config import CloudConfig
from cloud.errors import StoreUnavailable
from cloud.jobs import Job
from cloud.pipeline import Outcome, PipelineSettings, analyse, analyse_each, analyse_many
from cloud.queues import MemoryQueue, open_queue
from cloud.stores import open_store
from cloud.validation import AnalysisRequest, parse_request
from cloud.worker import Worker

SETTINGS = PipelineSettings()
CINC = ("A00001", "A00002", "A00004", "A00013", "A00022")  # N, N, A, O, ~


def _comparable(body: dict[str, Any]) -> str:
    """The answer as bytes, all fields but ``processingMs``."""
    return json.dumps({k: v for k, v in body.items() if k != "processingMs"}, sort_keys=True)


def _assert_same_as_alone(requests: list[AnalysisRequest], outcomes: list[Outcome]) -> None:
    assert len(outcomes) == len(requests)
    for request, outcome in zip(requests, outcomes, strict=True):
        alone = pipeline.outcome_of(analyse, request, SETTINGS)
        if alone.body is not None:
            assert outcome.body is not None, (request.record_id, outcome)
            assert _comparable(outcome.body) == _comparable(alone.body), request.record_id
        else:
            assert outcome.body is None and alone.unanalysable is not None and outcome.unanalysable is not None
            assert outcome.unanalysable.detail == alone.unanalysable.detail


def _counts_payload(counts: np.ndarray, fs_hz: float, record_id: str) -> dict[str, Any]:
    return {"sampleRate": fs_hz, "adcGain": 200.0, "dataI": counts.astype(np.int64).tolist(), "recordId": record_id}


@pytest.fixture
def cinc_requests(cinc_payload: Callable[..., dict[str, Any]]) -> list[AnalysisRequest]:
    """The five CinC fixtures cut to 20 s: one group of same-shaped one-lead recordings."""
    return [parse_request(cinc_payload(name, record_id=name, seconds=20)) for name in CINC]


class TestSameAnswers:
    def test_a_group_of_real_records(self, cinc_requests: list[AnalysisRequest]) -> None:
        outcomes = analyse_many(cinc_requests, SETTINGS)
        _assert_same_as_alone(cinc_requests, outcomes)
        assert {o.body["rhythm"]["code"] for o in outcomes if o.body} >= {"N", "A", "~"}

    def test_a_mixed_batch(self, cinc_requests: list[AnalysisRequest], cinc_payload: Callable[..., dict[str, Any]],
                           ludb_payload: Callable[[str], dict[str, Any]]) -> None:
        flat = parse_request(_counts_payload(np.zeros(6000), 300.0, "flat"))
        short = [parse_request(_counts_payload(np.arange(1500) % k, 300.0, f"short{k}")) for k in (7, 11)]
        slow = parse_request({**cinc_payload("A00001", seconds=10), "sampleRate": 100.0, "recordId": "slow"})
        requests = [*cinc_requests[:3], parse_request({**ludb_payload("2"), "recordId": "twelve"}), flat,
                    parse_request(cinc_payload("A00004", record_id="full")), *short, slow, cinc_requests[3]]
        outcomes = analyse_many(requests, SETTINGS)
        _assert_same_as_alone(requests, outcomes)
        assert outcomes[4].body is not None and outcomes[4].body["heartRate"] is None  # flat: unreadable, answered

    def test_processing_time_of_a_group_is_shared(self, cinc_requests: list[AnalysisRequest]) -> None:
        outcomes = analyse_many(cinc_requests, SETTINGS)
        times = {o.body["processingMs"] for o in outcomes if o.body is not None}
        assert len(times) == 1 and times.pop() > 0

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.integers(2, 5), st.sampled_from([250.0, 300.0, 500.0]), st.integers(8, 20), st.integers(0, 2**31 - 1))
    def test_generated_signals(self, k: int, fs_hz: float, seconds: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        requests = [parse_request(_counts_payload(_synthetic(rng, fs_hz, seconds), fs_hz, f"g{i}")) for i in range(k)]
        _assert_same_as_alone(requests, analyse_many(requests, SETTINGS))


def _synthetic(rng: np.random.Generator, fs_hz: float, seconds: int) -> np.ndarray:
    """ADC counts (200/mV) of a beat train with its own rate, rhythm, amplitude and noise;
    sometimes flat or pure noise."""
    n = int(fs_hz * seconds)
    kind = rng.choice(["beats", "beats", "beats", "flat", "noise"])
    if kind == "flat":
        return np.full(n, int(rng.integers(-50, 50)))
    t = np.arange(n) / fs_hz
    x = rng.normal(0.0, rng.uniform(0.005, 0.3), n) + 0.2 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t)
    if kind == "beats":
        rr_s = 60.0 / rng.uniform(40, 160)
        beats = np.cumsum(rr_s * rng.uniform(0.7 if rng.random() < 0.3 else 0.97, 1.03, int(seconds / rr_s) + 2))
        amp = rng.uniform(0.3, 2.5)
        for b in beats[beats < seconds - 0.3]:
            x += amp * np.exp(-0.5 * ((t - b) / 0.012) ** 2) + 0.15 * amp * np.exp(-0.5 * ((t - b - 0.25) / 0.04) ** 2)
            x += 0.1 * amp * np.exp(-0.5 * ((t - b + 0.16) / 0.02) ** 2)
    return np.round(x * 200.0)


class TestIsolation:
    def test_one_failing_record_fails_alone(self, cinc_requests: list[AnalysisRequest],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        real = pipeline._single_lead

        def cursed(leads: Any) -> dict[str, Any]:
            if leads.measured[0].signal_mv[0] == cursed_first:
                raise RuntimeError("injected")
            return real(leads)

        cursed_first = pipeline._Leads.of(cinc_requests[1], SETTINGS).signals_mv[0, 0]
        expected = [analyse(r, SETTINGS) for i, r in enumerate(cinc_requests) if i != 1]
        monkeypatch.setattr(pipeline, "_single_lead", cursed)
        outcomes = analyse_many(cinc_requests, SETTINGS)
        assert outcomes[1].body is None and outcomes[1].failure == "RuntimeError: injected"
        others = [o.body for i, o in enumerate(outcomes) if i != 1]
        assert [_comparable(b) for b in others if b is not None] == [_comparable(b) for b in expected]

    def test_a_failing_shared_pass_analyses_each_alone(self, cinc_requests: list[AnalysisRequest],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(contexts: Any) -> None:
            raise MemoryError("shared pass")

        monkeypatch.setattr(pipeline, "_share", broken)
        _assert_same_as_alone(cinc_requests, analyse_many(cinc_requests, SETTINGS))


# --- the worker ---


class Recorder:
    """A batch analyser that records the batch sizes (thread executor: shared memory)."""

    def __init__(self, inner: Callable[..., list[Outcome]] = analyse_many, fail: bool = False) -> None:
        self.inner, self.fail, self.sizes = inner, fail, []
        self.lock = threading.Lock()

    def __call__(self, requests: list[AnalysisRequest], settings: PipelineSettings) -> list[Outcome]:
        with self.lock:
            self.sizes.append(len(requests))
        if self.fail:
            raise RuntimeError("batch broke")
        return self.inner(requests, settings)


async def _run_worker(queue: Any, store: Any, config: CloudConfig, keys: list[tuple[str, str]], **kwargs: Any) -> None:
    worker = Worker(config, queue, store, concurrency=1, **kwargs)
    await worker.start()
    try:
        for _ in range(600):
            if all([await store.get_result(*key) is not None for key in keys]) and not (await queue.stats()).jobs:
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()


async def _enqueue(queue: Any, store: Any, requests: list[AnalysisRequest]) -> list[Job]:
    jobs = [Job.of("client", r) for r in requests]
    for job in jobs:
        await store.reserve(*job.key, job.digest, 60)
        await queue.enqueue(job.encode())
    return jobs


class TestBatchingWorker:
    async def test_queued_jobs_are_analysed_together_with_the_same_answers(
        self, cinc_requests: list[AnalysisRequest], tmp_path: Path
    ) -> None:
        queue, store = MemoryQueue(100, 10_000_000), await open_store(None, tmp_path)
        jobs = await _enqueue(queue, store, cinc_requests)
        await queue.enqueue(b"not a job")  # dead-lettered on its own, the batch goes on
        recorder = Recorder()
        config = CloudConfig(data_dir=tmp_path, executor="thread", batch_max=8)
        await _run_worker(queue, store, config, [j.key for j in jobs], batch_analyser=recorder)
        assert recorder.sizes == [5]
        for job in jobs:
            stored = await store.get_result(*job.key)
            assert stored is not None and stored.http_status == 200
            assert _comparable(stored.body) == _comparable(analyse(job.request, SETTINGS))
        assert [d.reason[:14] for d in await queue.dead_letters()] == ["malformed job:"]
        await store.close()

    async def test_one_at_a_time_when_batch_max_is_1(self, cinc_requests: list[AnalysisRequest],
                                                     tmp_path: Path) -> None:
        queue, store = MemoryQueue(100, 10_000_000), await open_store(None, tmp_path)
        jobs = await _enqueue(queue, store, cinc_requests[:3])
        recorder = Recorder()
        config = CloudConfig(data_dir=tmp_path, executor="thread", batch_max=1)
        await _run_worker(queue, store, config, [j.key for j in jobs], batch_analyser=recorder)
        assert recorder.sizes == [] and all([await store.get_result(*j.key) for j in jobs])
        await store.close()

    async def test_a_failing_batch_falls_back_to_each_alone(self, cinc_requests: list[AnalysisRequest],
                                                            tmp_path: Path) -> None:
        queue, store = MemoryQueue(100, 10_000_000), await open_store(None, tmp_path)
        jobs = await _enqueue(queue, store, cinc_requests[:3])
        recorder = Recorder(fail=True)
        config = CloudConfig(data_dir=tmp_path, executor="thread", batch_max=8)
        await _run_worker(queue, store, config, [j.key for j in jobs], batch_analyser=recorder)
        assert recorder.sizes == [3]
        for job in jobs:
            stored = await store.get_result(*job.key)
            assert stored is not None and _comparable(stored.body) == _comparable(analyse(job.request, SETTINGS))
        await store.close()


def _failing_for(record_id: str) -> Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]]:
    def analyser(request: AnalysisRequest, settings: PipelineSettings) -> dict[str, Any]:
        if request.record_id == record_id:
            raise ValueError("this one is broken")
        return {"status": "completed", "recordId": request.record_id, "processingMs": 0.1}

    return analyser


@pytest.fixture(params=["memory", "redis"])
async def any_queue(request: pytest.FixtureRequest) -> Any:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    queue = await open_queue(url, max_jobs=100, max_bytes=1_000_000, claim_idle_s=30.0)
    yield queue
    await queue.close()


class TestOverAnyQueue:
    async def test_a_bad_job_in_a_batch_is_retried_then_dead_lettered_alone(self, any_queue: Any,
                                                                            tmp_path: Path) -> None:
        store = await open_store(None, tmp_path)
        requests = [parse_request(_counts_payload(np.arange(500) % 9, 100.0, f"r{i}")) for i in range(4)]
        jobs = await _enqueue(any_queue, store, requests)
        analyser = _failing_for("r2")
        recorder = Recorder(inner=lambda rs, s: analyse_each(analyser, rs, s))
        config = CloudConfig(data_dir=tmp_path, executor="thread", batch_max=8, max_attempts=2)
        await _run_worker(any_queue, store, config, [j.key for i, j in enumerate(jobs) if i != 2],
                          analyser=analyser, batch_analyser=recorder)
        for _ in range(100):  # r2: tried twice (batch of 4, then alone), then given up
            if (await any_queue.stats()).dead_letters:
                break
            await asyncio.sleep(0.05)
        assert recorder.sizes == [4]  # r2's retry came back alone (single path)
        assert [await store.get_result(*j.key) is not None for j in jobs] == [True, True, False, True]
        [letter] = await any_queue.dead_letters()
        assert letter.attempts == 2 and "this one is broken" in letter.reason
        assert (await any_queue.stats()).jobs == 0
        await store.close()


class _StoreFailingFor:
    """The real store, except that reading *record_id*'s result fails (its backend is away)."""

    def __init__(self, inner: Any, record_id: str) -> None:
        self.inner, self.record_id = inner, record_id

    async def get_result(self, client_id: str, record_id: str) -> Any:
        if record_id == self.record_id:
            raise StoreUnavailable("injected: store unreachable")
        return await self.inner.get_result(client_id, record_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_backend_failure_on_one_job_does_not_hold_up_the_others(tmp_path: Path) -> None:
    queue, store = MemoryQueue(100, 1_000_000), await open_store(None, tmp_path)
    requests = [parse_request(_counts_payload(np.arange(500) % 9, 100.0, f"r{i}")) for i in range(3)]
    jobs = await _enqueue(queue, store, requests)
    flaky = _StoreFailingFor(store, "r1")
    config = CloudConfig(data_dir=tmp_path, executor="thread", batch_max=8)
    worker = Worker(config, queue, flaky, concurrency=1, analyser=_failing_for("none"))  # type: ignore[arg-type]
    await worker.start()
    try:
        for _ in range(100):
            if all([await store.get_result(*jobs[i].key) is not None for i in (0, 2)]):
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert [await store.get_result(*j.key) is not None for j in jobs] == [True, False, True]
    assert (await queue.stats()).jobs == 1  # r1 stays claimed: re-claimed after claim_idle_s
    await store.close()
