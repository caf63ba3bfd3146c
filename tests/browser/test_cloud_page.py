"""The cloud web page in a real browser: upload a CSV, press Analyse, see the report; bad CSV → message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from cloud.app import create_app
from cloud.config import CloudConfig
from cloud.webpage import EXAMPLES_DIR

pytestmark = pytest.mark.asyncio(loop_scope="module")

DESKTOP = {"width": 1280, "height": 900}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cloud_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    config = CloudConfig(data_dir=tmp_path_factory.mktemp("cloud"), workers=1, executor="thread", timeout_s=60.0)
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class TestCloudPage:
    async def test_upload_a_csv_and_see_the_result(self, browser: Any, cloud_url: str, screenshot_dir: Path) -> None:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await page.goto(cloud_url + "/")
        await page.fill("#sampleRate", "300")
        await page.fill("#adcGain", "1000")
        await page.fill("#baseline", "0")
        await page.set_input_files("input[name=csvfile]", str(EXAMPLES_DIR / "cinc2017_A00004_af.csv"))
        await page.get_by_role("button", name="Analyse").click()
        await page.locator("#result, #error").first.wait_for(timeout=60_000)
        if await page.locator("#error").count():
            pytest.fail("the page showed an error: " + await page.locator("#error").inner_text())
        assert await page.locator("#diagnoses tr").count() >= 1
        report = page.locator("img#report")
        natural = await report.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0]")
        assert natural[0] > 1000 and abs(natural[0] / natural[1] - 297 / 210) < 0.01
        await page.screenshot(path=str(screenshot_dir / "cloud-page.png"), full_page=True)
        await context.close()

    async def test_bad_csv_shows_a_clear_message(self, browser: Any, cloud_url: str) -> None:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await page.goto(cloud_url + "/")
        await page.fill("textarea[name=csvtext]", "12\n15\nnot-a-number\n")
        await page.get_by_role("button", name="Analyse").click()
        error = page.locator("#error")
        await error.wait_for()
        assert "line 3" in await error.inner_text()
        assert await page.locator("#result").count() == 0
        await context.close()

    async def test_choosing_an_example_fills_its_parameters(self, browser: Any, cloud_url: str) -> None:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await page.goto(cloud_url + "/")
        await page.select_option("#example", "ludb_2_12lead")
        assert await page.input_value("#sampleRate") == "500"
        await context.close()


class TestCloudPageOnAPhone:
    async def test_the_result_is_scrolled_into_view(self, browser: Any, cloud_url: str) -> None:
        """Issue 14: after Analyse on a phone the result is on screen, not ~900 px below."""
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        await page.goto(cloud_url + "/")
        await page.fill("#sampleRate", "300")
        await page.fill("#adcGain", "1000")
        await page.fill("#baseline", "0")
        await page.set_input_files("input[name=csvfile]", str(EXAMPLES_DIR / "cinc2017_A00004_af.csv"))
        await page.get_by_role("button", name="Analyse").click()
        result = page.locator("#result")
        await result.wait_for(timeout=60_000)
        top = await result.evaluate("e => e.getBoundingClientRect().top")
        assert -2 <= top < 844 / 2, f"the result starts {top:.0f} px down the screen"
        await context.close()
