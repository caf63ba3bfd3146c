"""The patient's app in a real browser (Debian Chromium), at phone and desktop sizes, under the pages' own CSP:
history → recording (plain words, safety text, details folded) → symptoms, profile, trends; recording from the
app with the live view, then the result, synced like ``cardio record``."""

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
from cardio.recorders import RecordSettings, make_recorder

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
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
    settings = RecordSettings(simulate=True, source="synthetic:normal", speed=6.0, sync=True)
    recorder = make_recorder(config, settings)
    runner, url = await _serve(create_app(config, recorder=recorder, record_label=settings.label))
    try:
        yield {"url": url, "ids": ids, "config": config}
    finally:
        await runner.cleanup()


async def _until(page: Any, expression: str, timeout_s: float = 30.0) -> None:
    """Poll a JS expression until truthy (``page.wait_for_function`` needs eval, which the pages' CSP forbids)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await page.evaluate(f"() => Boolean({expression})"):
        assert loop.time() < deadline, f"timed out waiting for {expression}"
        await asyncio.sleep(0.1)


async def _no_page_overflow(page: Any) -> None:
    """Nothing sticks out of the viewport sideways (wide content scrolls inside its own box)."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    offenders = await page.evaluate(
        "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
        "window.innerWidth + 1 && !e.closest('.scroller')).map(e => e.tagName + '.' + e.className).slice(0, 5)")
    assert overflow <= 1, f"page is {overflow} px wider than the screen: {offenders}"


class TestHistoryAndRecording:
    async def test_phone_history_filter_recording_words_and_report(self, browser: Any, ui: dict[str, Any],
                                                                  screenshot_dir: Path) -> None:
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
        page = await context.new_page()
        await page.goto(ui["url"] + "/")
        items = page.locator("li.rec")
        assert await items.count() == len(ui["ids"])
        text = await page.locator("ul.history").inner_text()
        assert "Sinus rhythm" in text and re.search(r"\d\d:\d\d [A-Z]", text)  # patient words, local time
        assert not re.search(r"\b0\.\d\d\b", text)  # no probabilities
        await _no_page_overflow(page)
        await page.screenshot(path=str(screenshot_dir / "companion-history.png"))
        await page.locator("a.chip", has_text="Possible AF").click()
        await page.wait_for_url(re.compile(r"result=atrial_fibrillation"))
        assert await page.locator("li.rec").count() == 1
        await page.locator("li.rec a").first.click()
        await page.wait_for_url(re.compile(r"/recordings/\d+$"))
        card = page.locator("section.verdict")
        assert "Possible atrial fibrillation" in await card.inner_text()
        assert "not a diagnosis" in await card.locator(".safety").inner_text()
        size = await page.locator(".verdict-label").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 20  # the verdict reads on a phone
        details = page.locator("details#details")
        assert not await details.evaluate("d => d.open")
        assert not await page.locator("details#details table").is_visible()  # codes only once opened
        await page.locator("details#details summary").click()
        assert "code A" in await details.inner_text()
        report = page.locator("img#report")
        await _until(page, "document.getElementById('report').complete")
        natural = await report.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert natural[0] > 0 and abs(natural[0] / natural[1] - 297 / 210) < 0.02  # the SVG, A4 landscape
        shown = await report.evaluate("img => img.getBoundingClientRect().width")
        assert shown >= 1000  # drawn large enough to read; it scrolls inside its frame
        await _no_page_overflow(page)
        await page.locator("details#details summary").click()
        await page.evaluate("() => window.scrollTo(0, 0)")
        await page.screenshot(path=str(screenshot_dir / "companion-recording.png"), full_page=True)
        await context.close()

    async def test_desktop_recording_page(self, browser: Any, ui: dict[str, Any], screenshot_dir: Path) -> None:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await page.goto(f"{ui['url']}/recordings/{ui['ids'][0]}")
        await _until(page, "document.getElementById('report').complete")
        width = await page.locator("img#report").evaluate("img => img.getBoundingClientRect().width")
        assert width >= 900
        await _no_page_overflow(page)
        await page.screenshot(path=str(screenshot_dir / "companion-recording-desktop.png"))
        await context.close()


class TestSymptomsProfileTrends:
    async def test_symptoms_and_note_then_profile_then_trends(self, browser: Any, ui: dict[str, Any],
                                                              screenshot_dir: Path) -> None:
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
        page = await context.new_page()
        rid = ui["ids"][0]
        await page.goto(f"{ui['url']}/recordings/{rid}")
        await page.get_by_label("Palpitations").check()
        await page.get_by_label("Note").fill("after two coffees")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_load_state()
        assert await page.get_by_label("Palpitations").is_checked()
        assert await page.get_by_label("Note").input_value() == "after two coffees"
        await page.goto(ui["url"] + "/?symptom=palpitations")
        assert await page.locator("li.rec").count() == 1
        await page.goto(ui["url"] + "/profile")
        await page.get_by_label("Name").fill("Ada Example")
        await page.get_by_label("Sex").select_option("F")
        await page.get_by_label("Date of birth").fill("1958-03-14")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r"saved=1"))
        assert await page.get_by_label("Name").input_value() == "Ada Example"
        await page.goto(ui["url"] + "/trends")
        chart = page.locator("svg#hr-chart")
        assert await chart.is_visible() and await page.locator("svg#hr-chart circle").count() >= 3
        assert "Possible atrial fibrillation" in await page.locator("main").inner_text()
        await _no_page_overflow(page)
        await page.screenshot(path=str(screenshot_dir / "companion-trends.png"), full_page=True)
        manifest = await page.evaluate("fetch('/manifest.webmanifest').then(r => r.json())")
        assert manifest["display"] == "standalone"
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


class TestRecordFromTheApp:
    async def test_record_button_live_view_result_and_sync(self, browser: Any, ui: dict[str, Any],
                                                          screenshot_dir: Path) -> None:
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
        page = await context.new_page()
        await page.goto(ui["url"] + "/live")
        await _until(page, "document.body.dataset.ws === 'open'")
        button = page.get_by_role("button", name="Record (simulated)")
        await button.click()
        await _until(page, "Number(document.body.dataset.samples || 0) > 300", 30)
        assert await button.is_disabled()
        remaining_1 = int(await page.locator("#remaining").inner_text())
        samples_1 = int(await page.evaluate("document.body.dataset.samples"))
        await _until(page, f"Number(document.body.dataset.samples) > {samples_1 + 900}", 30)
        remaining_2 = int(await page.locator("#remaining").inner_text())
        assert 0 <= remaining_2 < remaining_1 <= 30
        await _no_page_overflow(page)
        await page.screenshot(path=str(screenshot_dir / "companion-live.png"))
        result = page.locator("#live-result")
        await result.wait_for(timeout=60_000)
        words = await result.inner_text()
        assert words in {"Sinus rhythm", "Possible atrial fibrillation", "Other rhythm", "Inconclusive",
                         "Unreadable — try again"}
        assert "not a diagnosis" in await page.locator("#done .safety").inner_text()
        await _until(page, "/cloud/.test(document.getElementById('status').textContent)", 60)
        assert "Sent to the cloud" in await page.locator("#status").inner_text()
        assert await button.is_enabled()
        await page.locator("#done a").click()
        await page.wait_for_url(re.compile(r"/recordings/\d+$"))
        rid = int(page.url.rsplit("/", 1)[1])
        with Store.open(ui["config"]) as store:
            stored = store.get_recording(rid)
        assert stored.recording.complete and stored.cloud_result is not None and stored.sync_state == "done"
        await context.close()
