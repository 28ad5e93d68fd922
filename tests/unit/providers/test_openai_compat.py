"""``OpenAICompatible.prepare``: the whole upstream request of a catalog row, built at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson
import pytest

from gateway.providers.base import AuthStyle, ClientBody, ProviderSpec, UpstreamCall
from gateway.providers.openai_compat import OpenAICompatible

RAW = b'{"model": "m", "seed": 7,  "messages": []}'
PARAMS = orjson.loads(RAW)


def spec(auth: AuthStyle = "bearer", renames: Mapping[str, str] | None = None) -> ProviderSpec:
    return ProviderSpec("acme", "Acme", "https://api.acme.test/v1/", "", auth, param_renames=renames or {})


def call(
    endpoint: str = "chat/completions",
    query: str = "",
    base_url: str = "",
    options: Mapping[str, str] | None = None,
    api_key: str = "",
) -> UpstreamCall:
    return UpstreamCall(endpoint, query, base_url, options or {}, api_key=api_key)


def test_url_is_the_base_and_endpoint_with_the_raw_query_as_sent() -> None:
    adapter = OpenAICompatible(spec())
    prepared = adapter.prepare(call("files/f%2F1/content", query="a=%2F&b=1"), ClientBody())
    assert prepared.url == "https://api.acme.test/v1/files/f%2F1/content?a=%2F&b=1"
    custom = adapter.prepare(call(base_url="http://127.0.0.1:9/v1/"), ClientBody())
    assert custom.url == "http://127.0.0.1:9/v1/chat/completions"


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ("bearer", {"Authorization": "Bearer sk-1"}),
        ("api-key", {"api-key": "sk-1"}),
        ("none", {}),
    ],
)
def test_key_goes_in_the_rows_auth_form_with_no_auth_step(auth: AuthStyle, expected: dict[str, str]) -> None:
    prepared = OpenAICompatible(spec(auth=auth)).prepare(call(api_key="sk-1"), ClientBody())
    assert prepared.headers == expected
    assert prepared.authorize is None


def test_no_key_sends_no_auth_header() -> None:
    assert OpenAICompatible(spec()).prepare(call(), ClientBody()).headers == {}


def test_openai_options_become_openai_headers() -> None:
    options = {"openai-organization": "org-1", "openai-project": "", "openai-beta": "assistants=v2"}
    prepared = OpenAICompatible(spec()).prepare(call(options=options, api_key="k"), ClientBody())
    assert prepared.headers == {
        "OpenAI-Organization": "org-1",
        "OpenAI-Beta": "assistants=v2",
        "Authorization": "Bearer k",
    }


def test_client_bytes_pass_untouched_when_nothing_renames_a_field() -> None:
    prepared = OpenAICompatible(spec()).prepare(call(), ClientBody(RAW, dict(PARAMS)))
    assert prepared.body is RAW


def test_catalog_rename_reencodes_the_body() -> None:
    adapter = OpenAICompatible(spec(renames={"seed": "random_seed"}))
    prepared = adapter.prepare(call(), ClientBody(RAW, dict(PARAMS)))
    assert isinstance(prepared.body, bytes)
    assert orjson.loads(prepared.body) == {"model": "m", "random_seed": 7, "messages": []}


def test_config_edited_params_are_encoded() -> None:
    prepared = OpenAICompatible(spec()).prepare(call(), ClientBody(None, {"model": "other"}))
    assert prepared.body == b'{"model":"other"}'


def test_an_upload_streams_through_and_no_body_stays_none() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"part"

    upload = chunks()
    adapter = OpenAICompatible(spec())
    assert adapter.prepare(call("audio/transcriptions"), ClientBody(stream=upload)).body is upload
    assert adapter.prepare(call("models"), ClientBody()).body is None


@pytest.mark.parametrize(
    ("endpoint", "chunks"),
    [("chat/completions", True), ("completions", True), ("embeddings", False), ("responses", False)],
)
def test_only_chat_and_completions_streams_are_read_as_chat_chunks(endpoint: str, chunks: bool) -> None:
    prepared = OpenAICompatible(spec()).prepare(call(endpoint), ClientBody())
    assert prepared.chat_chunks is chunks
    assert prepared.translation is None
