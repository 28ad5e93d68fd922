"""``POST /v1/responses`` for translated providers, through the wire: the real OpenAI SDK's
``responses`` API against the gateway, fake Anthropic, Gemini, Bedrock and Cohere servers behind
it, each speaking its own format (docs/formats.md, "Responses for every provider")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError

from tests.fake_provider import FakeProvider, Received
from tests.functional import fake_anthropic as fa
from tests.functional import fake_bedrock as fb
from tests.functional import fake_cohere as fc
from tests.functional import fake_gemini as fg

Server = Callable[..., Awaitable[TestServer]]

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
SCHEMA = {
    "type": "object",
    "properties": {"temp": {"type": "integer"}},
    "required": ["temp"],
    "additionalProperties": False,
}
JSON_FORMAT = {"format": {"type": "json_schema", "name": "weather", "schema": SCHEMA, "strict": True}}


class Backend(Protocol):
    """A translated provider behind the gateway: how to reach it, script it and read what it got."""

    model: str
    headers: dict[str, str]
    #: (input, output) tokens of :meth:`text`'s answer.
    usage: tuple[int, int]

    def text(self, text: str) -> None:
        """Answer the next requests with ``text``, as a whole answer."""

    def stream(self) -> str:
        """Answer the next requests with a stream; its whole text."""

    def tool_call(self, call_id: str) -> None:
        """Answer with one call of get_weather(city="Paris") named ``call_id``."""

    def tool_stream(self) -> None:
        """Answer with a recorded stream of text then parallel tool calls (TOOL_STREAMS)."""

    def cut_stream(self) -> None:
        """Answer with a stream whose connection closes after its first text ("Hel")."""

    def body(self) -> dict[str, Any]:
        """The last request's body as the provider received it."""

    def tool_result(self) -> Any:
        """The last request's tool result, in the provider's form (for a call ``call_1``
        that answered ``22C``)."""

    def schema(self) -> Any:
        """The last request's structured-output setting, in the provider's form."""

    def calls(self) -> int:
        """How many requests reached the provider."""


@dataclass
class Anthropic:
    fake: fa.FakeAnthropic
    model = "claude-sonnet-4-5"
    usage = (10, 5)

    @property
    def headers(self) -> dict[str, str]:
        return {"x-portkey-provider": "anthropic", "x-portkey-custom-host": self.fake.base_url}

    def text(self, text: str) -> None:
        self.fake.answer(fa.Message(fa.message(text)))

    def stream(self) -> str:
        deltas = [fa.text_delta("Hel"), fa.text_delta("lo.")]
        pairs = [fa.start(), fa.text_block(), *deltas, fa.block_stop(), fa.finish(), fa.STOP]
        self.fake.answer(fa.Stream(fa.events(*pairs)))
        return "Hello."

    def tool_call(self, call_id: str) -> None:
        use = {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}}
        self.fake.answer(fa.Message({**fa.message(), "content": [use], "stop_reason": "tool_use"}))

    def tool_stream(self) -> None:
        self.fake.answer(fa.Stream(fa.fixture_events("parallel-tool-use-stream.sse")))

    def cut_stream(self) -> None:
        self.fake.answer(fa.Stream(fa.events(fa.start(), fa.text_block(), fa.text_delta("Hel")), end="cut"))

    def body(self) -> dict[str, Any]:
        return self.fake.last.body

    def tool_result(self) -> Any:
        return self.body()["messages"][-1]

    def schema(self) -> Any:
        return self.body()["output_config"]

    def calls(self) -> int:
        return len(self.fake.received)


@dataclass
class Google:
    fake: FakeProvider
    model = "gemini-2.0-flash"
    usage = (5, 2)

    @property
    def headers(self) -> dict[str, str]:
        return {"x-portkey-provider": "google", "x-portkey-custom-host": f"http://127.0.0.1:{self.fake.port}"}

    def _on(self, action: str, responder: fg.Responder) -> None:
        self.fake.on("POST", f"/v1beta/models/{self.model}:{action}", responder)

    def text(self, text: str) -> None:
        counts = {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}
        self._on("generateContent", fg.json_reply(fg.answer([{"text": text}], counts=counts)))

    def stream(self) -> str:
        counts = {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}
        body = fg.sse(fg.answer([{"text": "Hel"}], finish=None), fg.answer([{"text": "lo."}], counts=counts))
        self._on("streamGenerateContent", fg.stream_reply([body]))
        return "Hello."

    def tool_call(self, call_id: str) -> None:
        call = {"functionCall": {"id": call_id, "name": "get_weather", "args": {"city": "Paris"}}}
        self._on("generateContent", fg.json_reply(fg.answer([call])))

    def tool_stream(self) -> None:
        self._on("streamGenerateContent", fg.stream_reply(fg.events_of(fg.fixture("tool-stream.sse"))))

    def cut_stream(self) -> None:
        self._on(
            "streamGenerateContent",
            fg.stream_reply([fg.sse(fg.answer([{"text": "Hel"}], finish=None))], cut=True),
        )

    def body(self) -> dict[str, Any]:
        sent = self.fake.last.json()
        assert isinstance(sent, dict)
        return sent

    def tool_result(self) -> Any:
        return self.body()["contents"][-1]

    def schema(self) -> Any:
        config = self.body()["generationConfig"]
        return {key: config[key] for key in ("responseMimeType", "responseJsonSchema")}

    def calls(self) -> int:
        return len(self.fake.received)


@dataclass
class Bedrock:
    fake: fb.FakeBedrock
    model = "meta.llama3-70b-instruct-v1:0"  # a model served through Converse
    usage = (9, 4)

    @property
    def headers(self) -> dict[str, str]:
        return self.fake.headers

    def text(self, text: str) -> None:
        self.fake.answer(fb.json_answer(fb.converse(text)))

    def stream(self) -> str:
        self.fake.answer(fb.stream_answer(fb.text_stream("Hel", "lo.")))
        return "Hello."

    def tool_call(self, call_id: str) -> None:
        use = {"toolUse": {"toolUseId": call_id, "name": "get_weather", "input": {"city": "Paris"}}}
        self.fake.answer(fb.json_answer(fb.converse(content=[use], stop="tool_use")))

    def tool_stream(self) -> None:
        self.fake.answer(fb.stream_answer(fb.stream_fixture("converse-stream-tool-use.jsonl")))

    def cut_stream(self) -> None:
        self.fake.answer(fb.stream_answer(fb.text_stream("Hel")[:2], cut=True))

    def body(self) -> dict[str, Any]:
        sent = self.fake.last.json()
        assert isinstance(sent, dict)
        return sent

    def tool_result(self) -> Any:
        return self.body()["messages"][-1]

    def schema(self) -> Any:
        return self.body()["outputConfig"]

    def calls(self) -> int:
        return len(self.fake.calls)


@dataclass
class Cohere:
    fake: fc.FakeCohere
    model = "command-a-03-2025"
    usage = (71, 3)

    @property
    def headers(self) -> dict[str, str]:
        return {"x-portkey-provider": "cohere", "x-portkey-custom-host": self.fake.host}

    def text(self, text: str) -> None:
        self.fake.reply(fc.chat_answer(text))

    def stream(self) -> str:
        self.fake.stream(fc.fixture_events("text.sse"))
        return "Hello, world!"

    def tool_call(self, call_id: str) -> None:
        arguments = orjson.dumps({"city": "Paris"}).decode()
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": arguments},
        }
        self.fake.reply(fc.chat_answer("", finish="TOOL_CALL", tool_calls=[call]))

    def tool_stream(self) -> None:
        self.fake.stream(fc.fixture_events("tool-calls.sse"))

    def cut_stream(self) -> None:
        self.fake.stream(fc.fixture_events("text.sse")[:3], cut=True)

    def body(self) -> dict[str, Any]:
        return self.fake.last.body

    def tool_result(self) -> Any:
        return self.body()["messages"][-1]

    def schema(self) -> Any:
        return self.body()["response_format"]

    def calls(self) -> int:
        return len(self.fake.received)


TOOL_RESULT = {
    "anthropic": {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "22C"}],
    },
    "google": {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"content": "22C"}}}],
    },
    "bedrock": {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"text": "22C"}]}}],
    },
    "cohere": {"role": "tool", "tool_call_id": "call_1", "content": "22C"},
}


async def started(server: Server, app: web.Application) -> int:
    return (await server(app)).port or 0


@pytest.fixture(params=["anthropic", "google", "bedrock", "cohere"])
async def backend(request: pytest.FixtureRequest, aiohttp_server: Server) -> Backend:
    fake: Any
    if request.param == "anthropic":
        fake = fa.FakeAnthropic()
        fake.port = await started(aiohttp_server, fake.app())
        return Anthropic(fake)
    if request.param == "google":
        fake = FakeProvider()
        fake.port = await started(aiohttp_server, fake.app())
        return Google(fake)
    if request.param == "bedrock":
        fake = fb.FakeBedrock()
        fake.port = await started(aiohttp_server, fake.app())
        return Bedrock(fake)
    fake = fc.FakeCohere()
    fake.port = await started(aiohttp_server, fake.app())
    return Cohere(fake)


@pytest.fixture
async def sdk(gateway_url: str, backend: Backend) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="sk-provider", default_headers=backend.headers, max_retries=0
    )
    yield client
    await client.close()


def provider(backend: Backend) -> str:
    return backend.headers["x-portkey-provider"]


async def test_create_answers_a_response_with_the_providers_text_and_usage(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    backend.text("Bonjour.")
    response = await sdk.responses.create(model=backend.model, input="Hi", instructions="Be brief.")
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Bonjour."
    assert [item.type for item in response.output] == ["message"]
    assert response.usage is not None
    usage = (response.usage.input_tokens, response.usage.output_tokens)
    assert usage == backend.usage
    assert response.usage.total_tokens == sum(backend.usage)


async def test_stream_is_responses_events_whose_final_text_is_the_providers(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    text = backend.stream()
    kinds = []
    async with sdk.responses.stream(model=backend.model, input="Hi") as stream:
        async for event in stream:
            kinds.append(event.type)
        final = await stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert final.output_text == text
    assert final.status == "completed"
    assert final.usage is not None
    assert final.usage.output_tokens > 0

    backend.stream()
    events = await sdk.responses.create(model=backend.model, input="Hi", stream=True)
    numbers = [event.sequence_number async for event in events]
    assert numbers == list(range(len(numbers)))


async def test_a_stream_the_provider_cuts_fails_and_never_completes(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    backend.cut_stream()
    events = [
        event async for event in await sdk.responses.create(model=backend.model, input="Hi", stream=True)
    ]
    kinds = [event.type for event in events]
    assert "response.output_text.delta" in kinds
    assert kinds[-2:] == ["error", "response.failed"]
    assert "response.completed" not in kinds
    failed = events[-1]
    assert failed.type == "response.failed"
    assert failed.response.status == "failed"
    assert failed.response.error is not None


async def test_function_call_comes_back_as_an_item_and_its_output_reaches_the_provider(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    backend.tool_call("call_1")
    first = await sdk.responses.create(model=backend.model, input="Weather in Paris?", tools=[WEATHER])  # type: ignore[list-item]
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert (call.call_id, call.name, orjson.loads(call.arguments)) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )

    backend.text("Sunny, 22C.")
    second = await sdk.responses.create(
        model=backend.model,
        tools=[WEATHER],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            *[item.model_dump(exclude_none=True) for item in first.output],  # type: ignore[misc]
            {"type": "function_call_output", "call_id": "call_1", "output": "22C"},
        ],
    )
    assert second.output_text == "Sunny, 22C."
    assert backend.tool_result() == TOOL_RESULT[provider(backend)]


async def test_streamed_parallel_tool_calls_are_function_call_items(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    backend.tool_stream()
    async with sdk.responses.stream(model=backend.model, input="Weather?", tools=[WEATHER]) as stream:  # type: ignore[list-item]
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.function_call_arguments.done") == 2
    first, *calls = final.output
    assert (first.type, final.status) == TOOL_STREAMS[provider(backend)][0]
    got = [(c.name, orjson.loads(c.arguments)) for c in calls if c.type == "function_call"]
    assert got == TOOL_STREAMS[provider(backend)][1]
    assert len({c.call_id for c in calls if c.type == "function_call"}) == 2


#: What each recorded tool stream holds: (the first output item's type, the status), the calls.
TOOL_STREAMS = {
    "anthropic": (
        ("message", "completed"),
        [("get_weather", {"city": "Paris", "unit": "c"}), ("get_time", {"zone": "Asia/Tokyo"})],
    ),
    "google": (
        ("message", "completed"),
        [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Tokyo", "unit": "celsius"})],
    ),
    "bedrock": (
        ("message", "completed"),
        [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})],
    ),
    # Cohere's tool plan comes first, as a reasoning item.
    "cohere": (
        ("reasoning", "completed"),
        [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "London"})],
    ),
}


async def test_json_schema_format_reaches_the_provider_as_its_structured_output(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    backend.text('{"temp": 22}')
    response = await sdk.responses.create(model=backend.model, input="Weather?", text=JSON_FORMAT)  # type: ignore[arg-type]
    assert orjson.loads(response.output_text) == {"temp": 22}
    assert response.text is not None
    assert response.text.format is not None
    assert response.text.format.type == "json_schema"
    assert backend.schema() == SCHEMA_SENT[provider(backend)]


SCHEMA_SENT = {
    "anthropic": {"format": {"type": "json_schema", "schema": SCHEMA}},
    "google": {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA},
    "bedrock": {
        "textFormat": {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": orjson.dumps(SCHEMA).decode(), "name": "weather"}},
        }
    },
    "cohere": {"type": "json_object", "json_schema": SCHEMA},
}


async def test_previous_response_id_is_a_400_naming_it_for_a_translated_provider(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await sdk.responses.create(
            model=backend.model, input="And then?", previous_response_id="resp_earlier"
        )
    assert caught.value.param == "previous_response_id"
    assert "input" in caught.value.message  # says what to send instead
    assert backend.calls() == 0


# --- OpenAI-format providers, fallback, cache ----------------------------------------------------

#: A Response as an OpenAI-format provider answers it itself.
OPENAI_RESPONSE = {
    "id": "resp_fromopenai",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-4.1-mini",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "From OpenAI.", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}


async def answer_response(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response(OPENAI_RESPONSE)


async def test_an_openai_format_provider_gets_the_request_byte_for_byte_refused_fields_included(
    gateway_url: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/responses", answer_response)
    raw = b'{"model": "gpt-4.1-mini",  "input": "And then?",\n "previous_response_id": "resp_earlier"}'
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer sk-openai",
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/responses", data=raw, headers=headers) as response,
    ):
        assert response.status == 200
        assert await response.json() == OPENAI_RESPONSE
    assert (fake.last.path, fake.last.body) == ("/v1/responses", raw)
    assert fake.last.headers["Authorization"] == "Bearer sk-openai"


async def test_fallback_from_a_translated_provider_to_an_openai_format_one(
    gateway_url: str, fake: FakeProvider, aiohttp_server: Server
) -> None:
    anthropic = fa.FakeAnthropic()
    anthropic.port = await started(aiohttp_server, anthropic.app())
    anthropic.answer(fa.error(529, "overloaded_error", "Overloaded"))
    fake.on("POST", "/v1/responses", answer_response)
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "anthropic", "custom_host": anthropic.base_url, "api_key": "sk-ant"},
            {
                "provider": "openai",
                "custom_host": fake.base_url,
                "api_key": "sk-openai",
                "override_params": {"model": "gpt-4.1-mini"},
            },
        ],
    }
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="unused",
        default_headers={"x-portkey-config": orjson.dumps(config).decode()},
        max_retries=0,
    ) as client:
        raw = await client.responses.with_raw_response.create(
            model="claude-sonnet-4-5", input="Hi", instructions="Be brief."
        )
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert raw.parse().output_text == "From OpenAI."
    # The first attempt went as Anthropic's Messages, the second as the client's Responses request.
    assert anthropic.last.body["system"] == [{"type": "text", "text": "Be brief."}]
    assert anthropic.last.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert fake.last.path == "/v1/responses"
    assert fake.last.json() == {"model": "gpt-4.1-mini", "input": "Hi", "instructions": "Be brief."}
    assert fake.last.headers["Authorization"] == "Bearer sk-openai"


async def test_cache_hit_on_responses_answers_a_response_whole_and_streamed(
    gateway_url: str, backend: Backend
) -> None:
    backend.text("Cached?")
    headers = {**backend.headers, "x-portkey-config": orjson.dumps({"cache": {"mode": "simple"}}).decode()}
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="sk-provider", default_headers=headers, max_retries=0
    ) as client:
        first = await client.responses.with_raw_response.create(model=backend.model, input="Hi")
        second = await client.responses.with_raw_response.create(model=backend.model, input="Hi")
        async with client.responses.stream(model=backend.model, input="Hi") as stream:
            kinds = [event.type async for event in stream]
            streamed = await stream.get_final_response()
    assert first.headers["x-portkey-cache-status"] == "MISS"
    assert second.headers["x-portkey-cache-status"] == "HIT"
    hit = second.parse()
    assert (hit.object, hit.output_text) == ("response", "Cached?")
    assert hit.usage is not None
    assert (hit.usage.input_tokens, hit.usage.output_tokens) == backend.usage
    assert hit.id != first.parse().id  # each answer is its own Response
    assert (kinds[0], kinds[-1]) == ("response.created", "response.completed")
    assert streamed.output_text == "Cached?"
    assert backend.calls() == 1


async def test_metadata_is_echoed_on_the_response_and_not_sent_to_the_provider(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    # Most translated providers refuse chat metadata; in a Response it only tags the object.
    backend.text("Tagged.")
    response = await sdk.responses.create(model=backend.model, input="Hi", metadata={"team": "search"})
    assert response.metadata == {"team": "search"}
    assert response.output_text == "Tagged."
    assert not {"metadata", "requestMetadata"} & set(backend.body())


PDF = "data:application/pdf;base64,JVBERi0="
#: A request each provider refuses, and the Responses field the 400 names.
REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    "anthropic": ({"text": {"format": {"type": "json_object"}}}, "text.format"),
    "google": (
        {
            "input": [
                {"role": "user", "content": [{"type": "input_file", "filename": "a.pdf", "file_data": PDF}]}
            ]
        },
        "input",
    ),
    "bedrock": ({"reasoning": {"effort": "high"}}, "reasoning.effort"),
    "cohere": (
        {"tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}},
        "tool_choice",
    ),
}


async def test_a_providers_refusal_names_the_responses_field_the_client_sent(
    sdk: AsyncOpenAI, backend: Backend
) -> None:
    backend.text("unused")
    params, param = REFUSALS[provider(backend)]
    with pytest.raises(BadRequestError) as caught:
        await sdk.responses.create(**{"model": backend.model, "input": "Hi", **params})
    assert caught.value.param == param
    assert caught.value.body["message"].startswith(f"{provider(backend)}: ")  # type: ignore[index]
    assert backend.calls() == 0
