"""``cardio report`` and ``cardio serve`` (with the live publisher of another process)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import wfdb

from cardio.cli.main import main
from cardio.cli.serve import serve
from companion.config import CompanionConfig
from companion.recording import Recording
from companion.store import Store
from companion.web.publish import LivePublisher, discovery_path, read_discovery


@pytest.fixture
def home(tmp_path: Path, cinc2017_fixture: dict[str, tuple[Path, str]]) -> Path:
    config = CompanionConfig.resolve(data_dir=tmp_path, env={})
    counts = wfdb.rdrecord(str(cinc2017_fixture["A00001"][0]), physical=False).d_signal[:, 0]
    with Store.open(config) as store:
        rid = store.add_recording(Recording(counts, 300.0, 1000.0, complete=True,
                                            started_at=dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)))
        store.set_local_result(rid, {"label": "N", "category": "Normal sinus rhythm", "heart_rate_bpm": 76.0})
    return tmp_path


class TestReportCommand:
    def test_writes_an_a4_pdf(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        out = home / "r.pdf"
        assert main(["report", "1", "-o", str(out), "--data-dir", str(home)]) == 0
        data = out.read_bytes()
        box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
        assert box and float(box.group(1)) == pytest.approx(297 / 25.4 * 72, abs=0.01)
        assert "written to" in capsys.readouterr().out

    def test_png_at_chosen_dpi(self, home: Path) -> None:
        out = home / "r.png"
        assert main(["report", "1", "-o", str(out), "--dpi", "100", "--data-dir", str(home)]) == 0
        assert out.read_bytes()[:4] == b"\x89PNG"

    @pytest.mark.parametrize(("args", "message"), [
        (["report", "1", "-o", "r.jpg"], "unsupported report format"),
        (["report", "9", "-o", "r.png"], "no recording with id 9"),
        (["report", "1", "-o", "r.png", "--dpi", "5"], "--dpi must be within"),
    ])
    def test_errors_are_one_clear_line(self, home: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
        args = [a if not a.startswith("r.") else str(home / a) for a in args]
        assert main([*args, "--data-dir", str(home)]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not list(home.glob("r.*"))


async def _live_ws_url(session: aiohttp.ClientSession, url: str) -> str:
    """The live websocket URL with the page token, as the live page gives it to its script."""
    page = await (await session.get(url + "/live")).text()
    match = re.search(r'data-token="([^"]+)"', page)
    assert match is not None
    return f"{url}/live/ws?t={match[1]}"


class TestServeAndPublisher:
    async def test_a_recorder_in_another_process_reaches_the_live_view(self, home: Path) -> None:
        config = CompanionConfig.resolve(data_dir=home, env={})
        ready = asyncio.Event()
        task = asyncio.create_task(serve(config, "127.0.0.1", 0, ready=ready))
        try:
            await asyncio.wait_for(ready.wait(), timeout=20)
            found = read_discovery(home)
            assert found is not None
            url, _token = found
            assert (discovery_path(home).stat().st_mode & 0o777) == 0o600
            async with aiohttp.ClientSession() as session:
                assert (await session.get(url + "/healthz")).status == 200
                async with session.ws_connect(await _live_ws_url(session, url)) as browser:
                    async with LivePublisher.discover(config) as live:
                        live.start(fs_hz=300.0, duration_s=30.0, device="sim")
                        live.status("Place both fingers on the electrodes")
                        live.samples(0, np.linspace(-1, 1, 2500))
                        live.samples(2500, [float("nan"), 0.5])
                        live.done(7, "Normal sinus rhythm")
                    got = []
                    while not got or got[-1]["type"] != "done":
                        got.append(await browser.receive_json(timeout=10))
            kinds = [m["type"] for m in got]
            assert kinds == ["start", "status", "samples", "samples", "samples"] + ["done"]
            assert [m["first_index"] for m in got if m["type"] == "samples"] == [0, 2000, 2500]
            assert got[4]["mv"] == [0.0, 0.5]
            assert got[-1] == {"type": "done", "recording_id": 7, "result": "Normal sinus rhythm"}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert not discovery_path(home).exists()

    async def test_publisher_without_serve_is_a_silent_no_op(self, tmp_path: Path) -> None:
        config = CompanionConfig.resolve(data_dir=tmp_path, env={})
        async with LivePublisher.discover(config) as live:
            live.start(fs_hz=300.0, duration_s=30.0)
            live.samples(0, [0.1, 0.2])
            live.done(None)
        assert live.url is None and not live.connected


class TestRecordIntoLiveView:
    async def test_record_and_store_through_live_view_streams_every_sample(self, home: Path) -> None:
        from companion.discovery import RadioBackends
        from companion.link_options import LinkOptions
        from companion.recorder import record_and_store
        from companion.web.live_listener import live_view
        from simulator.harness import VirtualWorld

        config = CompanionConfig.resolve(data_dir=home, env={})
        ready = asyncio.Event()
        task = asyncio.create_task(serve(config, "127.0.0.1", 0, ready=ready))
        try:
            await asyncio.wait_for(ready.wait(), timeout=20)
            url, _ = read_discovery(home) or ("", "")
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    await _live_ws_url(session, url)) as browser:
                async with VirtualWorld(source="synthetic:normal", speed=30) as world:
                    backends = RadioBackends(client=world.client_backend, scanner=world.scanner_backend)
                    with Store.open(config) as store:
                        async with live_view(config) as listener:
                            outcome = await record_and_store(store, config.recovery_dir, backends,
                                                             LinkOptions(address=world.address), listener)
                            listener.report(outcome)
                    sent = world.device.recorded_samples()
                got = []
                while not got or got[-1]["type"] not in ("done", "error"):
                    got.append(await browser.receive_json(timeout=20))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert got[-1]["type"] == "done" and got[-1]["recording_id"] == outcome.recording_id
        start = next(m for m in got if m["type"] == "start")
        assert start["fs_hz"] == 300.0 and start["duration_s"] == 30.0
        live_mv = np.concatenate([m["mv"] for m in got if m["type"] == "samples"])
        expected_mv = (np.asarray(sent, dtype=np.float64) - outcome.recording.baseline_counts) \
            / outcome.recording.adc_gain_counts_per_mv
        np.testing.assert_allclose(live_mv, np.round(expected_mv, 4), atol=1e-9)

    @pytest.mark.slow
    async def test_cardio_record_in_another_process_streams_to_cardio_serve(self, home: Path) -> None:
        import sys

        config = CompanionConfig.resolve(data_dir=home, env={})
        ready = asyncio.Event()
        task = asyncio.create_task(serve(config, "127.0.0.1", 0, ready=ready))
        try:
            await asyncio.wait_for(ready.wait(), timeout=20)
            url, _ = read_discovery(home) or ("", "")
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    await _live_ws_url(session, url)) as browser:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "cardio", "record", "--simulate", "--sim-speed", "30", "--quiet",
                    "--no-sync", "--data-dir", str(home),
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
                got = []
                while not got or got[-1]["type"] not in ("done", "error"):
                    got.append(await browser.receive_json(timeout=60))
                _, err = await proc.communicate()
                assert proc.returncode == 0, err.decode()[-2000:]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert got[-1]["type"] == "done" and isinstance(got[-1]["recording_id"], int)
        assert sum(len(m["mv"]) for m in got if m["type"] == "samples") == 9000
