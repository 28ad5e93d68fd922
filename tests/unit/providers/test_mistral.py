"""``MistralAI.prepare``: a catalog row, plus Portkey's fill-in-the-middle switch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from gateway.errors import InvalidRequest
from gateway.providers.base import ClientBody, PreparedRequest, UpstreamCall
from gateway.providers.catalog import PROVIDERS
from gateway.providers.mistral import MistralAI

SPEC = next(spec for spec in PROVIDERS if spec.slug == "mistral-ai")
FIM = {"mistral-fim-completion": "true"}


def prepare(
    params: Mapping[str, Any], options: Mapping[str, str], endpoint: str = "chat/completions"
) -> PreparedRequest:
    raw = orjson.dumps(params)
    call = UpstreamCall(endpoint, "", "", options, api_key="mk")
    return MistralAI(SPEC).prepare(call, ClientBody(raw, dict(params)))


def test_without_the_switch_a_chat_goes_to_chat_with_the_clients_bytes() -> None:
    params = {"model": "mistral-large", "messages": [{"role": "user", "content": "hi"}]}
    prepared = prepare(params, {"mistral-fim-completion": ""})
    assert prepared.url == f"{SPEC.base_url}/chat/completions"
    assert prepared.body == orjson.dumps(params)
    assert prepared.headers == {"Authorization": "Bearer mk"}


def test_the_catalog_rename_of_seed_applies() -> None:
    prepared = prepare({"model": "m", "seed": 3}, {})
    assert isinstance(prepared.body, bytes)
    assert orjson.loads(prepared.body) == {"model": "m", "random_seed": 3}


def test_fim_switch_sends_the_last_user_text_as_the_prompt_to_fim() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "def f("}, {"type": "text", "text": "x)"}]},
    ]
    prepared = prepare({"model": "codestral", "messages": messages, "max_completion_tokens": 9}, FIM)
    assert prepared.url == f"{SPEC.base_url}/fim/completions"
    assert prepared.chat_chunks  # FIM streams chat completion chunks
    assert isinstance(prepared.body, bytes)
    assert orjson.loads(prepared.body) == {"model": "codestral", "prompt": "def f(x)", "max_tokens": 9}


def test_fim_keeps_a_given_prompt_and_suffix() -> None:
    prepared = prepare({"model": "codestral", "prompt": "a", "suffix": "b"}, FIM)
    assert isinstance(prepared.body, bytes)
    assert orjson.loads(prepared.body) == {"model": "codestral", "prompt": "a", "suffix": "b"}


def test_fim_switch_leaves_other_endpoints_alone() -> None:
    prepared = prepare({"model": "mistral-embed", "input": "x"}, FIM, "embeddings")
    assert prepared.url == f"{SPEC.base_url}/embeddings"
    assert not prepared.chat_chunks


def test_fim_without_a_prompt_or_user_message_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as refused:
        prepare({"model": "codestral", "messages": [{"role": "system", "content": "s"}]}, FIM)
    assert refused.value.param == "prompt"
