"""Store-and-forward: settings, offline then online, rejection, auth, and kill -9 mid-upload.

A real analysis service (real pipeline, thread workers) runs in the test's event loop on
a loopback port; the companion reaches it only over HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfdb
from aiohttp import web

from cloud.analysis import SERVICE_KEY
from cloud.app import create_app
from cloud.config import CloudConfig
from cloud.pipeline import PipelineSettings, analyse
from cloud.storage import TokenStore, open_db
from cloud.validation import AnalysisRequest
from cardio.local_cloud import local_cloud
from cloud_client import CloudClient
from companion.recording import Recording
from companion.store import Store
from companion.sync import (
    CloudAuthError,
    CloudConfigError,
    resolve_cloud,
    retry_delay_s,
    sync_pending,
)

REPO = Path(__file__).resolve().parents[2]


@dataclass
class GatedAnalyser:
    """The real pipeline, counting calls; ``started`` is set when a call begins, and
    the call waits for ``release`` (when given)."""

    release: threading.Event | None = None
    started: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def __call__(self, request: AnalysisRequest, settings: PipelineSettings) -> dict[str, Any]:
        self.calls += 1
        self.started.set()
        if self.release is not None:
            self.release.wait(timeout=30)
        return analyse(request, settings)


@dataclass
class Server:
    url: str
    token: str
    app: web.Application
    analyser: GatedAnalyser


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(analyser: GatedAnalyser | None = None, port: int = 0) -> Server:
        data_dir = tmp_path / f"cloud{len(runners)}"
        conn = open_db(data_dir)
        token = TokenStore(conn).create("phone")
        conn.close()
        analyser = analyser or GatedAnalyser()
        app = create_app(CloudConfig(data_dir=data_dir, executor="thread", workers=1), analyser=analyser)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return Server(f"http://127.0.0.1:{runner.addresses[0][1]}", token, app, analyser)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def real_recording(cinc2017_fixture: dict[str, tuple[Path, str]]) -> Any:
    def make(name: str = "A00001", seconds: float | None = None) -> Recording:
        rec = wfdb.rdrecord(str(cinc2017_fixture[name][0]), physical=False)
        counts = np.asarray(rec.d_signal[:, 0], dtype=np.int32)
        if seconds is not None:
            counts = counts[: int(seconds * rec.fs)]
        return Recording(
            samples=counts, sample_rate_hz=float(rec.fs), adc_gain_counts_per_mv=float(rec.adc_gain[0]),
            baseline_counts=int(rec.baseline[0]), expected_samples=len(counts), complete=True, verified=True,
        )

    return make


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fast_client(url: str, token: str) -> CloudClient:
    return CloudClient(url, token, max_attempts=2, backoff_base_s=0.01, timeout_s=30)


class TestResolveCloud:
    def test_flags_then_env_then_file(self, tmp_path: Path) -> None:
        (tmp_path / "cloud.json").write_text(json.dumps({"url": "http://file:1", "token": "ft"}))
        env = {"CARDIOLINK_CLOUD_URL": "http://env:2", "CARDIOLINK_CLOUD_TOKEN": "et"}
        flags = resolve_cloud(url="https://flag:3/", token="t", data_dir=tmp_path, env=env)
        assert flags is not None and (flags.url, flags.token, flags.source) == ("https://flag:3", "t", "flags")
        from_env = resolve_cloud(data_dir=tmp_path, env=env)
        assert from_env is not None and (from_env.url, from_env.token) == ("http://env:2", "et")
        from_file = resolve_cloud(data_dir=tmp_path, env={})
        assert from_file is not None and (from_file.url, from_file.token) == ("http://file:1", "ft")
        assert "ft" not in repr(from_file)

    def test_flag_url_with_token_from_file(self, tmp_path: Path) -> None:
        (tmp_path / "cloud.json").write_text(json.dumps({"token": "ft"}))
        settings = resolve_cloud(url="http://x:1", data_dir=tmp_path, env={})
        assert settings is not None and settings.token == "ft"

    def test_nothing_configured(self, tmp_path: Path) -> None:
        assert resolve_cloud(data_dir=tmp_path, env={}) is None

    @pytest.mark.parametrize(
        ("kwargs", "file_text"),
        [
            ({"url": "http://x:1"}, None),
            ({"token": "t"}, None),
            ({"url": "ftp://x", "token": "t"}, None),
            ({}, "{not json"),
            ({}, '{"url": "http://x", "token": "t", "extra": 1}'),
        ],
    )
    def test_incomplete_or_bad(self, tmp_path: Path, kwargs: dict[str, str], file_text: str | None) -> None:
        if file_text is not None:
            (tmp_path / "cloud.json").write_text(file_text)
        with pytest.raises(CloudConfigError):
            resolve_cloud(data_dir=tmp_path, env={}, **kwargs)


class TestSync:
    async def test_offline_then_online_exactly_once(self, tmp_path: Path, start_server: Any, real_recording: Any) -> None:
        port = _free_port()
        store = Store(tmp_path / "history.sqlite3")
        rid = store.add_recording(real_recording())
        t0 = dt.datetime.now(dt.UTC)
        async with _fast_client(f"http://127.0.0.1:{port}", "tok") as offline:
            report = await sync_pending(store, offline, now=lambda: t0)
        assert report.sent == [] and report.deferred == [rid] and report.offline_reason
        item = store.outbox_item(rid)
        assert item is not None and item.state == "pending" and item.attempts == 1
        assert item.next_try_at >= t0 + dt.timedelta(seconds=retry_delay_s(1) - 1)
        assert store.due_outbox(now=t0) == []  # not due before its next-try time

        server = await start_server(port=port)
        later = t0 + dt.timedelta(seconds=retry_delay_s(1) + 1)
        async with _fast_client(server.url, server.token) as online:
            report = await sync_pending(store, online, now=lambda: later)
            assert report.sent == [rid]
            again = await sync_pending(store, online, now=lambda: later)
        assert again.sent == []
        stored = store.get_recording(rid)
        assert stored.sync_state == "done"
        cloud = stored.cloud_result
        assert cloud is not None and cloud["record_id"] == stored.uuid
        assert cloud["label"] in {"N", "A", "O", "~"} and cloud["response"]["leads"] == ["I"]
        assert server.analyser.calls == 1
        store.close()

    async def test_rejected_recording_is_given_up(self, tmp_path: Path, start_server: Any, real_recording: Any) -> None:
        server = await start_server()
        store = Store(tmp_path / "history.sqlite3")
        short = store.add_recording(real_recording(seconds=3))
        good = store.add_recording(real_recording("A00002"))
        async with _fast_client(server.url, server.token) as client:
            report = await sync_pending(store, client)
        assert report.rejected == [short] and report.sent == [good]
        item = store.outbox_item(short)
        assert item is not None and item.state == "failed" and "5-600 s" in (item.last_error or "")
        store.close()

    async def test_bad_token_keeps_item_queued(self, tmp_path: Path, start_server: Any, real_recording: Any) -> None:
        server = await start_server()
        store = Store(tmp_path / "history.sqlite3")
        rid = store.add_recording(real_recording())
        async with _fast_client(server.url, "clk_wrong") as client:
            with pytest.raises(CloudAuthError):
                await sync_pending(store, client)
        assert [i.recording_id for i in store.due_outbox()] == [rid]
        assert server.analyser.calls == 0
        store.close()

    async def test_local_cloud_in_process(self, tmp_path: Path, real_recording: Any) -> None:
        store = Store(tmp_path / "history.sqlite3")
        rid = store.add_recording(real_recording())
        async with local_cloud(tmp_path) as settings:
            assert settings.url.startswith("http://127.0.0.1:")
            async with _fast_client(settings.url, settings.token) as client:
                assert (await sync_pending(store, client)).sent == [rid]
        async with local_cloud(tmp_path) as second:  # the data folder's token, kept across runs; results persist
            assert second.token == settings.token
            async with _fast_client(second.url, second.token) as client:
                assert (await client.get(store.get_recording(rid).uuid)) is not None
        store.close()


class TestKillMidUpload:
    async def test_sigkill_during_upload_then_restart_gives_one_analysis(
        self, tmp_path: Path, start_server: Any, real_recording: Any
    ) -> None:
        release = threading.Event()
        server = await start_server(GatedAnalyser(release=release))
        home = tmp_path / "home"
        store = Store(home / "history.sqlite3")
        rid = store.add_recording(real_recording())
        store.close()
        env = {**os.environ, "CARDIOLINK_HOME": str(home), "PYTHONPATH": str(REPO)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cardio", "sync", "--cloud-url", server.url, "--token", server.token,
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(300):  # the upload reached the server and is being analysed
            if server.analyser.started.is_set():
                break
            await asyncio.sleep(0.05)
        assert server.analyser.started.is_set(), "upload never reached the server"
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
        release.set()
        service = server.app[SERVICE_KEY]
        for _ in range(200):  # the server finishes and stores the analysis anyway
            if await service.store.count_results() == 1 and service.in_flight == 0:
                break
            await asyncio.sleep(0.05)
        store = Store(home / "history.sqlite3")
        item = store.outbox_item(rid)
        assert item is not None and item.state == "sending"  # killed mid-upload
        assert store.get_recording(rid).cloud_result is None
        async with _fast_client(server.url, server.token) as client:  # restart: sync again
            report = await sync_pending(store, client)
        assert report.sent == [rid]
        assert store.get_recording(rid).cloud_result is not None
        assert server.analyser.calls == 1
        assert await service.store.count_results() == 1
        assert service.metrics.counts["deduplicated"] == 1
        store.close()


class TestSyncCommand:
    def test_offline_exit_75_then_in_process_cloud_sends(self, tmp_path: Path, real_recording: Any) -> None:
        import subprocess

        home = tmp_path / "home"
        store = Store(home / "history.sqlite3")
        rid = store.add_recording(real_recording())
        store.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARDIOLINK_CLOUD")}
        env.update(CARDIOLINK_HOME=str(home), PYTHONPATH=str(REPO))
        cmd = [sys.executable, "-m", "cardio", "sync", "--json"]
        offline = subprocess.run(
            [*cmd, "--cloud-url", f"http://127.0.0.1:{_free_port()}", "--token", "t"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert offline.returncode == 75, offline.stderr
        report = json.loads(offline.stdout)
        assert report["sent"] == [] and report["queued"] == [rid] and report["offline"]
        store = Store(home / "history.sqlite3")
        assert store.due_outbox() == []  # waits for its next-try time...
        store.enqueue(rid)  # ...which we bring forward
        store.close()
        # nothing configured → the in-process cloud on loopback
        online = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert online.returncode == 0, online.stderr
        assert json.loads(online.stdout)["sent"] == [rid]
        store = Store(home / "history.sqlite3")
        assert store.get_recording(rid).cloud_result is not None
        store.close()
