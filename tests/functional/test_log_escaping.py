"""Log fields carrying caller input escape control and line-separator characters: one record, one line."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest
from aiohttp import web

from gateway.appkeys import RECORDER
from gateway.middleware.errors import openai_errors
from gateway.observability.logging import escaped
from gateway.observability.prices import PriceTable
from gateway.observability.recorder import Recorder
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider

#: CR, LF, VT, FF, NEL, U+2028, U+2029 and DEL, percent-encoded as a client sends them in a path.
FORGING = "%0D%0A%0B%0C%C2%85%E2%80%A8%E2%80%A9%7F"
FORGED_LINE = "GET forged 200 provider=openai"


def one_line(text: str) -> bool:
    return len(text.splitlines()) == 1 and not any(c in text for c in "\x0b\x0c\x7f")


async def test_the_access_log_escapes_line_breaks_in_the_path_and_metadata(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True}))
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "x-portkey-metadata": json.dumps({"team": f"a\u2028{FORGED_LINE}\u0085x\x7f"}),
    }
    url = f"http://127.0.0.1:{server.port}/v1/files/a{FORGING}{FORGED_LINE.replace(' ', '%20')}"
    async with (
        aiohttp.ClientSession() as http,
        http.get(aiohttp.client.URL(url, encoded=True), headers=headers) as response,
    ):
        assert response.status < 500  # the fake answers 404: its route does not match a newline
    await server.app[RECORDER].flush()
    [record] = [r for r in caplog.records if r.name == "gateway.access"]
    line = record.getMessage()
    assert one_line(line)
    assert "/v1/files/a\\x0d\\x0a\\x0b\\x0c\\x85\\u2028\\u2029\\x7f" in line
    assert "\\u2028" in line.partition("metadata=")[2]


async def test_the_unexpected_error_log_escapes_the_path(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        raise RuntimeError("a bug")

    # The gateway has no failing route to call: a test app's route, behind the gateway's middleware.
    caplog.set_level(logging.ERROR, logger="gateway.errors")
    app = web.Application(middlewares=[openai_errors])
    app[RECORDER] = Recorder(sinks=(), prices=PriceTable({}))  # the middleware's, as in the gateway
    app.router.add_get(r"/{tail:[\s\S]*}", broken)  # any character, newlines too
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(aiohttp.client.URL(f"http://127.0.0.1:{port}/x{FORGING}y", encoded=True)) as response,
        ):
            assert response.status == 500
    finally:
        await runner.cleanup()
    [record] = [r for r in caplog.records if r.name == "gateway.errors"]
    assert one_line(record.getMessage())
    assert "/x\\x0d\\x0a\\x0b\\x0c\\x85\\u2028\\u2029\\x7fy" in record.getMessage()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("/v1/chat/completions", "/v1/chat/completions"), ("a\tb\u2029c\udcff", "a\\x09b\\u2029c\\udcff")],
)
def test_escaped_keeps_printable_text_and_escapes_the_rest(text: str, expected: str) -> None:
    assert escaped(text) == expected
