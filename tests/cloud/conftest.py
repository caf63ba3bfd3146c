"""Fixtures of the cloud tests: a running service on a loopback port, real payloads."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfdb
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cloud.app import create_app
from cloud.config import CloudConfig
from cloud.pipeline import PipelineSettings, analyse
from cloud.storage import TokenStore, open_db
from cloud.validation import AnalysisRequest


@dataclass
class CountingAnalyser:
    """Wraps an analyser (the real one by default), counting calls; can fail or block."""

    inner: Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]] = analyse
    fail_first: int = 0
    gate: threading.Event | None = None
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: AnalysisRequest, settings: PipelineSettings) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            attempt = self.calls
        if self.gate is not None:
            self.gate.wait(timeout=20)
        if attempt <= self.fail_first:
            raise RuntimeError(f"injected failure {attempt}")
        return self.inner(request, settings)


@dataclass
class Cloud:
    """A running service: HTTP test client, a valid token, the app, the analyser."""

    http: TestClient
    token: str
    app: web.Application
    analyser: CountingAnalyser
    data_dir: Path

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def new_token(self, name: str) -> str:
        conn = open_db(self.data_dir)
        try:
            return TokenStore(conn).create(name)
        finally:
            conn.close()

    async def post(self, payload: Any, token: str | None = None) -> tuple[int, Any]:
        response = await self.http.post("/v1/analyses", json=payload, headers=self.headers(token))
        return response.status, await response.json(content_type=None)


CloudFactory = Callable[..., Awaitable[Cloud]]


@pytest.fixture
async def make_cloud(tmp_path: Path) -> AsyncIterator[CloudFactory]:
    """Factory: ``await make_cloud(inner=..., fail_first=0, gate=None, **config)`` → :class:`Cloud`.

    Thread workers by default; *inner* is the analysis function (the real pipeline by
    default), wrapped in a :class:`CountingAnalyser`.
    """
    started: list[TestClient] = []

    async def factory(
        inner: Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]] = analyse,
        fail_first: int = 0,
        gate: threading.Event | None = None,
        **settings: Any,
    ) -> Cloud:
        data_dir = tmp_path / f"cloud{len(started)}"
        conn = open_db(data_dir)
        token = TokenStore(conn).create("tester")
        conn.close()
        settings.setdefault("executor", "thread")
        settings.setdefault("workers", 2)
        config = CloudConfig(data_dir=data_dir, **settings)
        counting = CountingAnalyser(inner=inner, fail_first=fail_first, gate=gate)
        app = create_app(config, analyser=counting)
        http = TestClient(TestServer(app))
        await http.start_server()
        started.append(http)
        return Cloud(http=http, token=token, app=app, analyser=counting, data_dir=data_dir)

    yield factory
    for http in started:
        await http.close()


@pytest.fixture
async def cloud(make_cloud: CloudFactory) -> Cloud:
    """A service with the real analysis pipeline."""
    return await make_cloud()


def record_payload(path: Path, record_id: str | None = None, seconds: float | None = None) -> dict[str, Any]:
    """API payload from a WFDB record's ADC counts (lead 0 as dataI)."""
    rec = wfdb.rdrecord(str(path), physical=False)
    counts = np.asarray(rec.d_signal[:, 0], dtype=np.int64)
    if seconds is not None:
        counts = counts[: int(seconds * rec.fs)]
    payload: dict[str, Any] = {
        "sampleRate": float(rec.fs),
        "adcGain": float(rec.adc_gain[0]),
        "baseline": int(rec.baseline[0]),
        "dataI": counts.tolist(),
    }
    if record_id is not None:
        payload["recordId"] = record_id
    return payload


@pytest.fixture
def cinc_payload(cinc2017_fixture: dict[str, tuple[Path, str]]) -> Callable[..., dict[str, Any]]:
    """``cinc_payload("A00001", record_id=None, seconds=None)`` → API payload of a real record."""

    def make(name: str = "A00001", record_id: str | None = None, seconds: float | None = None) -> dict[str, Any]:
        return record_payload(cinc2017_fixture[name][0], record_id, seconds)

    return make


LUDB_FIELDS = {
    "i": "dataI", "ii": "dataII", "iii": "dataIII", "avr": "dataAVR", "avl": "dataAVL", "avf": "dataAVF",
    "v1": "dataV1", "v2": "dataV2", "v3": "dataV3", "v4": "dataV4", "v5": "dataV5", "v6": "dataV6",
}


@pytest.fixture
def ludb_payload(fixtures_dir: Path) -> Callable[[str], dict[str, Any]]:
    """``ludb_payload("2")`` → 12-lead API payload of a real LUDB record (10 s, 500 Hz).

    LUDB sets a gain per lead; the API has one ``adcGain``, so every lead is rescaled
    to 1000 counts/mV (rounding changes each sample by under 1 µV).
    """

    def make(name: str) -> dict[str, Any]:
        rec = wfdb.rdrecord(str(fixtures_dir / "ludb" / name), physical=False)
        payload: dict[str, Any] = {"sampleRate": float(rec.fs), "adcGain": 1000.0, "baseline": 0}
        for j, lead in enumerate(rec.sig_name):
            mv = (rec.d_signal[:, j] - rec.baseline[j]) / rec.adc_gain[j]
            payload[LUDB_FIELDS[lead.lower()]] = np.round(mv * 1000.0).astype(np.int64).tolist()
        return payload

    return make


# --- real Redis and PostgreSQL from the Debian packages (skipped only where absent) ---


def _missing(what: str, hint: str) -> None:
    from cloud.devservers import require_services

    message = f"{what} not installed ({hint}); CI installs it (.ci/run)"
    if require_services():
        pytest.fail(message + " but CARDIOLINK_REQUIRE_SERVICES=1")
    pytest.skip(message)


def _own_folder(prefix: str) -> Path:
    """A folder outside pytest's basetemp (other pytest runs on this machine prune that)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="session")
def redis_server() -> Any:
    """One ``redis-server`` (AOF on) for the session; tests flush it (``redis_url``)."""
    from cloud.devservers import RedisServer, redis_binary

    if redis_binary() is None:
        _missing("redis-server", "apt-get install redis-server")
    folder = _own_folder("cardio-redis-")
    server = RedisServer.start(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    """URL of the session's Redis, emptied for this test."""
    import redis

    if redis_server.process is None:  # a test killed it
        redis_server.restart()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return str(redis_server.url)


@pytest.fixture(scope="session")
def postgres_server() -> Any:
    """One PostgreSQL cluster for the session; each test gets its own database."""
    from cloud.devservers import PostgresServer, postgres_bin_dir

    if postgres_bin_dir() is None:
        _missing("PostgreSQL", "apt-get install postgresql")
    folder = _own_folder("cardio-postgres-")
    server = PostgresServer.start(folder / "cluster")
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """URL of a fresh, empty database."""
    return str(postgres_server.create_database(f"t{len(postgres_server.databases)}"))


# --- API services and workers over one pair of backends, built in-process -------------


@dataclass
class Recorder:
    """An analysis (``inner``) with the record ids it was called for; can block on ``gate``."""

    inner: Callable[[AnalysisRequest, PipelineSettings], dict[str, Any]]
    gate: threading.Event | None = None
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: AnalysisRequest, settings: PipelineSettings) -> dict[str, Any]:
        with self.lock:
            self.calls.append(request.record_id)
        if self.gate is not None:
            self.gate.wait(timeout=30)
        return self.inner(request, settings)


class Deployment:
    """API services (:class:`~cloud.analysis.AnalysisService`) over one pair of backends;
    embedded each has its worker and memory queue, scaled out one shared :class:`Worker` runs."""

    def __init__(self, config: CloudConfig, recorder: Recorder) -> None:
        self.config, self.recorder = config, recorder
        self.services: list[Any] = []
        self.worker: Any = None
        self._backends: list[Any] = []

    @property
    def embedded(self) -> bool:
        return self.config.queue_url == "memory://"

    async def service(self, **changes: Any) -> Any:
        """A started API service (embedded: with its worker and its own memory queue)."""
        from cloud.analysis import AnalysisService

        service = AnalysisService(dataclasses.replace(self.config, **changes), analyser=self.recorder)
        await service.start()
        self.services.append(service)
        if not self.embedded and self.worker is None:
            await self.restart_worker(service)
        return service

    async def stop_worker(self, service: Any) -> None:
        """Stop the worker that would analyse *service*'s jobs (the queue keeps them)."""
        worker = service.worker if self.embedded else self.worker
        await worker.stop(timeout_s=1)

    async def restart_worker(self, service: Any, **changes: Any) -> Any:
        """A new worker for *service*'s jobs (scaled out: on new connections, with *changes*)."""
        from cloud.queues import open_queue
        from cloud.stores import open_store
        from cloud.worker import Worker

        cfg = dataclasses.replace(service.config, **changes)
        if self.embedded:
            service.worker = Worker(cfg, service.queue, service.store, concurrency=1, analyser=self.recorder,
                                    metrics=service.metrics)
            await service.worker.start()
            return service.worker
        queue = await open_queue(cfg.queue_url, max_jobs=cfg.queue_max_jobs, max_bytes=cfg.queue_max_bytes,
                                 claim_idle_s=cfg.claim_idle_s)
        store = await open_store(cfg.store_url, cfg.data_dir)
        self._backends += [queue, store]
        self.worker = Worker(cfg, queue, store, concurrency=1, analyser=self.recorder)
        await self.worker.start()
        return self.worker

    async def close(self) -> None:
        if self.worker is not None:
            await self.worker.stop(timeout_s=5)
        for service in self.services:
            while hasattr(service._queue, "inner"):  # a test's fault wrapper
                service._queue = service._queue.inner
            await service.stop(drain_timeout_s=1)
        for backend in self._backends:
            await backend.close()


@pytest.fixture(params=["embedded", "scaled-out"])
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    """SQLite + memory queue, or PostgreSQL + Redis (real servers), running
    ``tests.cloud.test_engine.quick_analyse`` through a :class:`Recorder`."""
    from tests.cloud.test_engine import quick_analyse

    urls: dict[str, Any] = {}
    if request.param == "scaled-out":
        urls = {"queue_url": request.getfixturevalue("redis_url"), "store_url": request.getfixturevalue("postgres_url")}
    config = CloudConfig(data_dir=tmp_path / "data", executor="thread", workers=1, timeout_s=60.0, batch_max=1,
                         claim_idle_s=5.0, **urls)
    made = Deployment(config, Recorder(quick_analyse))
    yield made
    await made.close()
