"""Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Python playwright.

Never ``playwright install``: the system browser is launched by path. Tests skip with a
clear reason only when that binary is missing. One browser per module (module-scoped
event loop). Set ``CARDIOLINK_SCREENSHOTS=DIR`` to also save the pages' screenshots there
(``docs/screenshots`` is refreshed that way).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

CHROMIUM = Path(os.environ.get("CARDIOLINK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]
#: a phone-sized viewport (the companion UI stands in for the phone app)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is None:
                item.add_marker(pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$CARDIOLINK_SCREENSHOTS`` or a temporary folder."""
    chosen = os.environ.get("CARDIOLINK_SCREENSHOTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
