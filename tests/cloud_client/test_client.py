"""The client against a scripted HTTP server: retries, backoff, Retry-After, errors."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cloud_client import (
    AnalysisRequest,
    AnalysisResult,
    AuthError,
    CloudClient,
    CloudUnavailable,
    ProtocolError,
    RequestRejected,
)

RESULT = {
    "status": "completed",
    "recordId": "r1",
    "modelVersion": "m1",
    "diagnoses": [
        {"code": "A", "label": "Atrial fibrillation", "probability": 0.8},
        {"code": "N", "label": "Normal sinus rhythm", "probability": 0.2},
        {"code": "wide-qrs", "label": "Wide QRS", "probability": None},
    ],
    "heartRate": 88.5,
    "measurements": {"prMs": None, "qrsMs": 96.0, "qtMs": 380.0, "qtcMs": 420.0},
    "quality": {"readable": True, "reasons": []},
    "leads": ["I"],
    "processingMs": 12.5,
}


def _problem(status: int, **extra: Any) -> web.Response:
    body = {"type": "x/p", "title": "t", "status": status, "detail": f"problem {status}", **extra}
    return web.Response(status=status, text=json.dumps(body), content_type="application/problem+json")


class Scripted:
    """A server answering POST /v1/analyses from a list of responses, recording requests."""

    def __init__(self) -> None:
        self.script: list[Callable[[], web.Response]] = []
        self.requests: list[dict[str, Any]] = []
        self.delay_s = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.body_exists else None
        self.requests.append({"auth": request.headers.get("Authorization"), "body": body, "path": request.raw_path})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self.script.pop(0)()


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Scripted, str]]:
    server = Scripted()
    app = web.Application()
    app.router.add_post("/v1/analyses", server.handle)
    app.router.add_get("/v1/analyses/{rid}", server.handle)
    test_server = TestServer(app)
    await test_server.start_server()
    yield server, str(test_server.make_url("")).rstrip("/")
    await test_server.close()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)


def _client(url: str, sleeps: Sleeps, **kw: Any) -> CloudClient:
    return CloudClient(url, "secret-token", sleep=sleeps, rng=random.Random(1), **kw)


REQUEST = AnalysisRequest(300.0, 1000.0, {"I": [1, 2, 3]}, baseline_counts=4, record_id="r1")


class TestModels:
    def test_request_json(self) -> None:
        assert REQUEST.to_json() == {"sampleRate": 300.0, "adcGain": 1000.0, "baseline": 4, "recordId": "r1", "dataI": [1, 2, 3]}

    def test_default_record_id_unique(self) -> None:
        a = AnalysisRequest(300.0, 1.0, {"I": [0]})
        b = AnalysisRequest(300.0, 1.0, {"I": [0]})
        assert a.record_id != b.record_id

    def test_unknown_lead(self) -> None:
        with pytest.raises(ValueError):
            AnalysisRequest(300.0, 1.0, {"X": [0]})

    def test_result_parsing(self) -> None:
        result = AnalysisResult.from_json(RESULT)
        assert result.top is not None and result.top.code == "A"
        assert result.measurements.qtc_ms == 420.0 and result.measurements.pr_ms is None
        assert result.heart_rate_bpm == 88.5 and result.raw == RESULT

    def test_not_a_result(self) -> None:
        with pytest.raises(ProtocolError):
            AnalysisResult.from_json({"status": "completed"})


class TestRetries:
    async def test_success_sends_token_and_record_id(self, scripted: tuple[Scripted, str]) -> None:
        server, url = scripted
        server.script = [lambda: web.json_response(RESULT)]
        async with _client(url, Sleeps()) as client:
            result = await client.analyse(REQUEST)
        assert result.record_id == "r1"
        assert server.requests[0]["auth"] == "Bearer secret-token"
        assert server.requests[0]["body"]["recordId"] == "r1"

    async def test_5xx_retried_with_growing_jittered_backoff(self, scripted: tuple[Scripted, str]) -> None:
        server, url = scripted
        server.script = [lambda: _problem(503), lambda: _problem(500), lambda: _problem(502), lambda: web.json_response(RESULT)]
        sleeps = Sleeps()
        async with _client(url, sleeps, max_attempts=4, backoff_base_s=1.0) as client:
            assert (await client.analyse(REQUEST)).record_id == "r1"
        assert len(sleeps.delays) == 3
        for n, delay in enumerate(sleeps.delays, start=1):
            assert 0.0 <= delay <= 2 ** (n - 1)
        assert len({json.dumps(r["body"]) for r in server.requests}) == 1  # same recordId every time

    async def test_429_honours_retry_after(self, scripted: tuple[Scripted, str]) -> None:
        server, url = scripted
        server.script = [
            lambda: web.Response(status=429, text="{}", headers={"Retry-After": "7"}),
            lambda: web.json_response(RESULT),
        ]
        sleeps = Sleeps()
        async with _client(url, sleeps) as client:
            await client.analyse(REQUEST)
        assert sleeps.delays == [7.0]

    async def test_gives_up_after_max_attempts(self, scripted: tuple[Scripted, str]) -> None:
        server, url = scripted
        server.script = [lambda: _problem(504)] * 3
        async with _client(url, Sleeps(), max_attempts=3) as client:
            with pytest.raises(CloudUnavailable) as info:
                await client.analyse(REQUEST)
        assert info.value.attempts == 3 and "504" in info.value.reason

    async def test_too_long_retry_after_gives_up_at_once(self, scripted: tuple[Scripted, str]) -> None:
        server, url = scripted
        server.script = [lambda: web.Response(status=429, headers={"Retry-After": "3600"})]
        sleeps = Sleeps()
        async with _client(url, sleeps, max_retry_after_s=60) as client:
            with pytest.raises(CloudUnavailable) as info:
                await client.analyse(REQUEST)
        assert sleeps.delays == [] and info.value.retry_after_s == 3600

    @pytest.mark.parametrize(("status", "error"), [(400, RequestRejected), (422, RequestRejected), (401, AuthError)])
    async def test_4xx_not_retried(self, scripted: tuple[Scripted, str], status: int, error: type) -> None:
        server, url = scripted
        server.script = [lambda: _problem(status, errors=[{"field": "dataI", "message": "too short"}])]
        async with _client(url, Sleeps()) as client:
            with pytest.raises(error) as info:
                await client.analyse(REQUEST)
        assert info.value.status == status and "dataI: too short" in str(info.value)
        assert len(server.requests) == 1

    async def test_connection_refused_retried_then_unavailable(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        sleeps = Sleeps()
        async with _client(f"http://127.0.0.1:{port}", sleeps, max_attempts=3) as client:
            with pytest.raises(CloudUnavailable) as info:
                await client.analyse(REQUEST)
        assert info.value.attempts == 3 and len(sleeps.delays) == 2

    async def test_timeout_is_retried(self, scripted: tuple[Scripted, str]) -> None:
        server, url = scripted
        server.delay_s = 1.0
        server.script = [lambda: web.json_response(RESULT)] * 2
        sleeps = Sleeps()
        async with _client(url, sleeps, max_attempts=2, timeout_s=0.1) as client:
            with pytest.raises(CloudUnavailable) as info:
                await client.analyse(REQUEST)
        assert "Timeout" in info.value.reason

    async def test_get_pending_and_missing_are_none(self, scripted: tuple[Scripted, str]) -> None:
        server, url = scripted
        server.script = [lambda: web.json_response({"status": "pending", "recordId": "r1"}, status=202), lambda: _problem(404)]
        async with _client(url, Sleeps()) as client:
            assert await client.get("r1") is None
            assert await client.get("r1") is None

    async def test_get_keeps_the_record_id_in_its_own_path_segment(self, scripted: tuple[Scripted, str]) -> None:
        server, url = scripted
        server.script = [lambda: _problem(404)]
        async with _client(url, Sleeps()) as client:
            assert await client.get("a/../../../healthz") is None  # not a request (with the token) to /healthz
            with pytest.raises(ValueError):
                await client.get("..")
        assert [r["path"] for r in server.requests] == ["/v1/analyses/a%2F..%2F..%2F..%2Fhealthz"]

    def test_token_not_in_repr(self) -> None:
        assert "secret" not in repr(CloudClient("http://x", "secret-token"))


def test_measurements_name_their_qtc_formula() -> None:
    from cloud_client.models import AnalysisResult

    body = {"status": "completed", "recordId": "r1", "modelVersion": "m", "diagnoses": [], "heartRate": None,
            "measurements": {"prMs": None, "qrsMs": None, "qtMs": 380.0, "qtcMs": 420.0, "qtcFormula": "Fridericia"},
            "quality": {"readable": True, "reasons": []}, "leads": ["I"], "processingMs": 1.0}
    assert AnalysisResult.from_json(body).measurements.qtc_formula == "Fridericia"
    del body["measurements"]["qtcFormula"]  # an older server: formula unknown, value still read
    old = AnalysisResult.from_json(body).measurements
    assert old.qtc_formula is None and old.qtc_ms == 420.0
