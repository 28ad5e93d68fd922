"""The console in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``): the page
loads from a gateway process, live data arrives as traffic flows, a screenshot is saved.

Selenium's calls block, so they run in a thread: the fake provider shares this test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.fake_provider import FakeProvider, Received
from tests.functional.gateway_process import GatewayProcess, free_port, start_gateway

MARKUP_MODEL = "<img src=x onerror=window.__pwned=1>"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,1200",
    ):
        options.add_argument(argument)
    # An explicit driver path: Selenium Manager (which would look for one online) is not used.
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def gateway_process(tmp_path: Path) -> AsyncIterator[GatewayProcess]:
    gateway = start_gateway(tmp_path, port=free_port())
    try:
        await gateway.wait_ready()
        yield gateway
    finally:
        gateway.kill()


async def failing(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response({"error": {"message": "down"}}, status=503)


async def chat(gateway: GatewayProcess, fake: FakeProvider, model: str) -> int:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers) as response,
    ):
        return response.status


def text_of(driver: webdriver.Chrome, element_id: str) -> str:
    text: str = driver.find_element(By.ID, element_id).text
    return text


#: The table's cells read in one go in the page: the live feed may redraw it between two reads
#: from here (a stale element).
_CELLS = (
    "return Array.from(document.querySelectorAll(arguments[0]),"
    " row => Array.from(row.querySelectorAll('td'), cell => cell.innerText.trim()));"
)


def rows(driver: webdriver.Chrome, table: str) -> list[list[str]]:
    cells: list[list[str]] = driver.execute_script(_CELLS, f"#{table} tr")
    return cells


async def wait_for(driver: webdriver.Chrome, check: Callable[[webdriver.Chrome], Any], what: str) -> None:
    wait = WebDriverWait(driver, 15, poll_frequency=0.2)
    await asyncio.to_thread(wait.until, check, f"timed out waiting for {what}")


async def test_the_console_shows_live_traffic_in_a_browser(
    browser: webdriver.Chrome,
    gateway_process: GatewayProcess,
    fake: FakeProvider,
    fake_b: FakeProvider,
    tmp_path: Path,
) -> None:
    await asyncio.to_thread(browser.get, f"{gateway_process.url}/console")
    await wait_for(browser, lambda d: text_of(d, "status") == "live", "the feed to connect")
    assert text_of(browser, "requests") == "0"

    fake_b.on("POST", "/v1/chat/completions", failing)
    assert await chat(gateway_process, fake, "gpt-4o") == 200
    assert await chat(gateway_process, fake, "gpt-4o") == 200
    assert await chat(gateway_process, fake_b, "gpt-4o-mini") == 503

    await wait_for(browser, lambda d: text_of(d, "requests") == "3", "the request count to rise")
    recent = await asyncio.to_thread(rows, browser, "recent")
    assert [row[1:6] for row in recent] == [
        ["openai", "gpt-4o-mini", "chat", "503", "ok"],
        ["openai", "gpt-4o", "chat", "200", "ok"],
        ["openai", "gpt-4o", "chat", "200", "ok"],
    ]
    assert text_of(browser, "errors") == "1"
    assert await asyncio.to_thread(rows, browser, "errors-by-provider") == [["openai", "1"]]
    models = await asyncio.to_thread(rows, browser, "models")
    assert [row[:2] for row in models] == [["gpt-4o", "2"], ["gpt-4o-mini", "1"]]
    assert text_of(browser, "duration") != "–"

    screenshot = tmp_path / "console.png"
    assert await asyncio.to_thread(browser.save_screenshot, str(screenshot))
    assert screenshot.stat().st_size > 10_000
    print(f"console screenshot: {screenshot}")


async def test_a_model_name_with_markup_shows_as_text(
    browser: webdriver.Chrome, gateway_process: GatewayProcess, fake: FakeProvider
) -> None:
    await asyncio.to_thread(browser.get, f"{gateway_process.url}/console")
    await wait_for(browser, lambda d: text_of(d, "status") == "live", "the feed to connect")
    assert await chat(gateway_process, fake, MARKUP_MODEL) == 200
    await wait_for(browser, lambda d: text_of(d, "requests") == "1", "the request to show")
    [row] = await asyncio.to_thread(rows, browser, "recent")
    assert row[2] == MARKUP_MODEL
    [model] = await asyncio.to_thread(rows, browser, "models")
    assert model[0] == MARKUP_MODEL
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert browser.execute_script("return window.__pwned") is None
