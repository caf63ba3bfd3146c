"""Regression tests of issue 13's engine defects (#2 #3 #6 #9 #12), each named after what
it protects."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import json
from pathlib import Path
from typing import Any

from cloud.analysis import SERVICE_KEY
from cloud.errors import StoreUnavailable
from cloud.stores.base import StoredResult
from tests.cloud.test_engine import quick_analyse

REPO = Path(__file__).resolve().parents[2]


def _payload(record_id: str, n: int = 500, offset: int = 0, leads: int = 1) -> dict[str, Any]:
    fields = ["dataI", "dataII", "dataIII", "dataV1"][:leads]
    return {"sampleRate": 100, "adcGain": 100, "recordId": record_id,
            **{f: [offset + i % 97 for i in range(n)] for f in fields}}


class TestSameRecordIdOtherSamples:  # 9
    async def test_is_409_conflict_and_the_first_answer_stays(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse)
        assert (await cloud.post(_payload("r")))[0] == 200
        status, body = await cloud.post(_payload("r", offset=5))
        assert status == 409 and body["type"].endswith("/conflict") and "recordId" in body["detail"]
        assert (await cloud.post(_payload("r")))[0] == 200 and cloud.analyser.calls == 1


class TestRecreatedTokenName:  # 12
    async def test_cannot_read_the_old_holders_analyses(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse)
        old = cloud.new_token("alice")
        assert (await cloud.post(_payload("secret"), token=old))[0] == 200
        store = cloud.app[SERVICE_KEY].store
        await store.revoke_token("alice")
        new = await store.create_token("alice")
        response = await cloud.http.get("/v1/analyses/secret", headers=cloud.headers(new))
        assert response.status == 404
        assert (await cloud.post(_payload("secret", offset=3), token=new))[0] == 200  # a new client: no conflict


class FailingPuts:
    """Wraps a store: ``put_result`` fails *n* times (a full disk), the rest works."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.left = inner, n

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put_result(self, *args: Any) -> bool:
        if self.left > 0:
            self.left -= 1
            raise StoreUnavailable("sqlite: OperationalError: database or disk is full")
        return bool(await self.inner.put_result(*args))

    async def ping(self) -> None:
        if self.left > 0:
            raise StoreUnavailable("sqlite: OperationalError: database or disk is full")
        await self.inner.ping()


class TestStoreError:  # 3
    async def test_answers_503_at_once_health_tells_and_retry_succeeds(self, make_cloud: Any) -> None:
        cloud = await make_cloud(inner=quick_analyse, timeout_s=20)
        service = cloud.app[SERVICE_KEY]
        service.worker.store = FailingPuts(service.store, 1)  # type: ignore[union-attr]
        service._store = service.worker.store  # type: ignore[union-attr]
        started = time.monotonic()
        response = await cloud.http.post("/v1/analyses", json=_payload("disk"), headers=cloud.headers())
        body = await response.json()
        assert response.status == 503 and body["type"].endswith("/store-unavailable"), body
        assert int(response.headers["Retry-After"]) >= 1
        assert time.monotonic() - started < 5  # the waiter was resolved, not left to time out
        # while the store fails, /healthz says so; once it works, it says ok
        service.worker.store.left = 1  # type: ignore[union-attr]
        health = await cloud.http.get("/healthz")
        assert health.status == 503 and (await health.json())["status"] == "unavailable"
        service.worker.store.left = 0  # type: ignore[union-attr]
        assert (await cloud.http.get("/healthz")).status == 200
        status, result = await cloud.post(_payload("disk"))  # the client's retry
        assert status == 200 and result["recordId"] == "disk"
        assert cloud.analyser.calls == 2  # the job was re-queued after the failed store


class TestAdmissionByCost:  # 6
    async def test_one_client_cannot_fill_the_service(self, make_cloud: Any) -> None:
        gate_free = await make_cloud(inner=quick_analyse, client_cost_per_s=100.0, client_cost_burst=2000.0)
        heavy = gate_free.token
        light = gate_free.new_token("light")
        assert (await gate_free.post(_payload("h1", n=500, leads=4), token=heavy))[0] == 200  # 2000: the bucket
        response = await gate_free.http.post("/v1/analyses", json=_payload("h2", n=500, leads=4),
                                             headers=gate_free.headers(heavy))
        assert response.status == 503 and (await response.json())["type"].endswith("/capacity-unavailable")
        assert int(response.headers["Retry-After"]) >= 1
        assert (await gate_free.post(_payload("l1"), token=light))[0] == 200  # others are still served

    async def test_queue_bound_in_bytes_refuses_early(self, make_cloud: Any) -> None:
        import threading

        gate = threading.Event()
        cloud = await make_cloud(inner=quick_analyse, gate=gate, workers=1, queue_max_bytes=6000)
        first = asyncio.create_task(cloud.post(_payload("a", n=1000)))  # ~4 kB payload
        await asyncio.sleep(0.2)
        response = await cloud.http.post("/v1/analyses", json=_payload("b", n=1000), headers=cloud.headers())
        assert response.status == 503 and "Retry-After" in response.headers
        gate.set()
        assert (await first)[0] == 200


def _get(url: str, timeout_s: float = 30) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _post(url: str, body: Any, token: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


class TestDyingAnalysisProcess:  # 2
    def test_never_stops_or_wedges_the_api(self, tmp_path: Path, cinc_payload: Any) -> None:
        from cloud.devservers import free_port

        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cli = [sys.executable, "-m", "cloud.cli"]
        token = subprocess.run([*cli, "token", "create", "t", "--data", str(tmp_path)], capture_output=True,
                               text=True, check=True, env=env).stdout.strip()
        port = free_port()
        proc = subprocess.Popen([*cli, "serve", "--port", str(port), "--data", str(tmp_path), "--workers", "2"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    _get(base + "/healthz", 2)
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.2)
            assert _post(base + "/v1/analyses", cinc_payload("A00001", record_id="k0"), token)[0] == 200
            for n, signum in enumerate((signal.SIGTERM, signal.SIGKILL, signal.SIGINT), start=1):
                analysis = [p for p in _children(proc.pid) if b"forkserver" not in Path(f"/proc/{p}/cmdline").read_bytes()
                            and b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]
                for child in analysis + [g for c in _children(proc.pid) for g in _children(c)]:
                    os.kill(child, signum)
                status, body = _post(base + "/v1/analyses", cinc_payload("A00001", record_id=f"k{n}"), token)
                assert proc.poll() is None, f"serve died after {signum!r} to its analysis processes"
                assert status == 200, body
                assert _get(base + "/healthz")[0] == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


__all__ = ["StoredResult"]
