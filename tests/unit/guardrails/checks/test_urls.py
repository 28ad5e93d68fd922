"""validUrls against 127.0.0.1 servers, through the gateway's real upstream session and policy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config.settings import Settings
from gateway.guardrails.check import (
    AFTER_REQUEST,
    CheckParametersError,
    CheckResult,
    CheckServices,
    HookContext,
)
from gateway.guardrails.checks.urls import MAX_URLS, SPECS
from gateway.upstream.hostpolicy import HostPolicy
from gateway.upstream.session import create_upstream_session
from tests.unit.guardrails.checks.context import answer

(VALID_URLS,) = SPECS


@pytest.fixture
async def services() -> AsyncIterator[CheckServices]:
    settings = Settings()  # listens on 127.0.0.1: loopback URLs are allowed
    session = create_upstream_session(settings)
    yield CheckServices(session, settings.host_policy, timeout=2.0)
    await session.close()


@pytest.fixture
async def site(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> str:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_route("*", "/moved", moved)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}"


async def validate(text: str, services: CheckServices | None, **parameters: object) -> CheckResult:
    context: HookContext = answer(text)
    context.services = services
    assert VALID_URLS.run_async is not None
    return await VALID_URLS.run_async(context, VALID_URLS.prepare(parameters))


async def test_valid_urls_passes_when_every_url_answers(site: str, services: CheckServices) -> None:
    result = await validate(f"See {site}/ok and {site}/moved, twice: {site}/ok", services)
    assert result.verdict is True
    assert result.data["validUrls"] == [f"{site}/ok", f"{site}/moved"]
    assert result.data["explanation"] == "All URLs are valid (2 found)."


async def test_valid_urls_fails_on_a_missing_page_and_not_inverts_it(
    site: str, services: CheckServices
) -> None:
    result = await validate(f"See {site}/gone", services)
    assert result.verdict is False
    assert result.data["reasons"] == {f"{site}/gone": "answered 404"}
    assert (await validate(f"See {site}/gone", services, **{"not": True})).verdict is True


async def test_a_url_the_policy_refuses_is_invalid_with_the_reason_and_no_userinfo(
    site: str, services: CheckServices
) -> None:
    closed = CheckServices(services.session, HostPolicy(), services.timeout)  # loopback closed
    working = site.replace("http://", "http://user:secret@") + "/ok"
    result = await validate(f"{working} and http://169.254.169.254/latest", closed)
    assert result.verdict is False
    reasons = result.data["reasons"]
    assert set(reasons) == {f"{site}/ok", "http://169.254.169.254/latest"}
    assert reasons[f"{site}/ok"] == "refused: a loopback address"
    assert "secret" not in repr([reasons, result.data["validUrls"], result.data["invalidUrls"]])


async def test_dns_mode_resolves_names_without_calling_them(services: CheckServices) -> None:
    result = await validate("http://localhost:9/x", services, onlyDNS=True)
    assert result.verdict is True
    assert result.data["validationMethod"] == "DNS lookup"
    refused = await validate("http://169.254.169.254/latest", services, onlyDNS=True)
    assert refused.verdict is False
    assert refused.data["reasons"] == {"http://169.254.169.254/latest": "refused: a cloud metadata address"}


async def test_an_answer_without_urls_fails_as_in_portkey(services: CheckServices) -> None:
    result = await validate("no links here", services, **{"not": True})
    assert result.verdict is False
    assert result.error is None


async def test_too_many_urls_or_no_text_cannot_be_decided(services: CheckServices) -> None:
    many = " ".join(f"http://127.0.0.1:9/{i}" for i in range(MAX_URLS + 1))
    result = await validate(many, services)
    assert result.verdict is False
    assert result.error == f"The text has {MAX_URLS + 1} distinct URLs; at most {MAX_URLS} are checked"
    assert (await validate("", services)).error == "Missing text to analyze"


def test_valid_urls_runs_after_the_model_and_refuses_bad_flags() -> None:
    assert VALID_URLS.events == frozenset({AFTER_REQUEST})
    with pytest.raises(CheckParametersError):
        VALID_URLS.prepare({"onlyDNS": "yes"})
