"""The companion UI in a real browser: history → recording → report image; live view of a simulated recording."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import wfdb
from aiohttp import web

from companion.config import CompanionConfig
from companion.recorder import screen_recording
from companion.recording import Recording
from companion.store import Store
from companion.web.app import create_app
from cardio.simulate import make_recorder

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHONE = {"width": 390, "height": 844}
#: words for the reference labels, used only when the local model is not installed
REFERENCE = {"N": "Normal sinus rhythm", "A": "Atrial fibrillation", "O": "Other rhythm", "~": "Too noisy to classify"}


def _seed(config: CompanionConfig, cinc2017_fixture: dict[str, tuple[Path, str]]) -> list[int]:
    ids = []
    with Store.open(config) as store:
        for i, (name, (path, label)) in enumerate(sorted(cinc2017_fixture.items())):
            counts = wfdb.rdrecord(str(path), physical=False).d_signal[:, 0]
            rec = Recording(counts, 300.0, 1000.0, 0, complete=True, verified=True,
                            started_at=dt.datetime(2026, 11, 21, 7 + i, 15, tzinfo=dt.UTC),
                            device={"name": "cardiolink", "serial": f"replay {name}"})
            rid = store.add_recording(rec)
            local, measurements, _ = screen_recording(rec)
            if local is None:
                local = {"label": label, "category": REFERENCE[label], "model_version": "reference label (CinC 2017)"}
            store.set_local_result(rid, local)
            if measurements is not None:
                store.set_measurements(rid, measurements)
            ids.append(rid)
    return ids


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ui(tmp_path_factory: pytest.TempPathFactory,
             cinc2017_fixture: dict[str, tuple[Path, str]]) -> AsyncIterator[dict[str, Any]]:
    config = CompanionConfig.resolve(data_dir=tmp_path_factory.mktemp("home"), env={})
    ids = _seed(config, cinc2017_fixture)
    recorder = make_recorder(config, source="synthetic:normal", speed=6.0)
    runner, url = await _serve(create_app(config, simulate=recorder))
    try:
        yield {"url": url, "ids": ids}
    finally:
        await runner.cleanup()


class TestHistoryAndRecording:
    async def test_open_history_then_a_recording_and_see_its_report(self, browser: Any, ui: dict[str, Any],
                                                                   screenshot_dir: Path) -> None:
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2, bypass_csp=True)
        page = await context.new_page()
        await page.goto(ui["url"] + "/")
        items = page.locator("li.rec")
        assert await items.count() == len(ui["ids"])
        first = await items.first.inner_text()
        assert re.search(r"\d+ s", first) and "bpm" in first or "—" in first
        await page.screenshot(path=str(screenshot_dir / "companion-history.png"))
        await page.locator("a.chip", has_text="AF").click()
        await page.wait_for_url(re.compile(r"result=A"))
        assert await page.locator("li.rec").count() == 1
        await page.locator("li.rec a").first.click()
        await page.wait_for_url(re.compile(r"/recordings/\d+$"))
        report = page.locator("img#report")
        await report.wait_for()
        await page.wait_for_function("document.getElementById('report').complete")
        natural = await report.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert natural[0] > 1000 and abs(natural[0] / natural[1] - 297 / 210) < 0.01
        assert await page.locator("text=PDF report").count() == 1
        assert await page.locator("h2", has_text="Local result").count() == 1
        await page.screenshot(path=str(screenshot_dir / "companion-recording.png"), full_page=True)
        await context.close()


class TestDelete:
    async def test_delete_asks_for_confirmation(self, browser: Any, ui: dict[str, Any]) -> None:
        context = await browser.new_context(viewport=PHONE)
        page = await context.new_page()
        rid = ui["ids"][-1]
        await page.goto(f"{ui['url']}/recordings/{rid}")
        dialogs: list[str] = []

        async def answer(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await (dialog.dismiss() if len(dialogs) == 1 else dialog.accept())

        page.on("dialog", answer)
        await page.get_by_label("I want to delete this recording").check()
        await page.get_by_role("button", name="Delete").click()
        assert await page.locator("h1").inner_text() == f"Recording {rid}"  # dismissed: still there
        await page.get_by_role("button", name="Delete").click()
        await page.wait_for_selector("text=was deleted")
        assert len(dialogs) == 2 and "cannot be undone" in dialogs[0]
        await page.goto(ui["url"] + "/")
        assert await page.locator(f"li.rec[data-id='{rid}']").count() == 0
        ui["ids"].remove(rid)
        await context.close()


class TestLiveView:
    async def test_live_view_of_a_simulated_recording_advances(self, browser: Any, ui: dict[str, Any],
                                                               screenshot_dir: Path) -> None:
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2, bypass_csp=True)
        page = await context.new_page()
        await page.goto(ui["url"] + "/live")
        await page.wait_for_function("document.body.dataset.ws === 'open'")
        await page.get_by_role("button", name="Record (simulated)").click()
        await page.wait_for_function("Number(document.body.dataset.samples || 0) > 300", timeout=30_000)
        button = page.get_by_role("button", name="Record (simulated)")
        assert await button.is_disabled()
        remaining_1 = int(await page.locator("#remaining").inner_text())
        samples_1 = int(await page.evaluate("document.body.dataset.samples"))
        await page.wait_for_function(f"Number(document.body.dataset.samples) > {samples_1 + 900}", timeout=30_000)
        remaining_2 = int(await page.locator("#remaining").inner_text())
        assert 0 <= remaining_2 < remaining_1 <= 30
        await page.screenshot(path=str(screenshot_dir / "companion-live.png"))
        done = page.locator("#done a")
        await done.wait_for(timeout=40_000)
        assert await page.locator("#remaining").inner_text() == "0"
        assert await button.is_enabled()
        await done.click()
        await page.wait_for_url(re.compile(r"/recordings/\d+$"))
        await page.locator("img#report").wait_for()
        await context.close()
