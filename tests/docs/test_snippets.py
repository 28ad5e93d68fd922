"""Every fenced block of README.md and docs/*.md works as printed, and every relative link resolves.

Rules, by the block's language (an untagged block or a language in no rule is a failure):
- toml: parses, and starts through the gateway's settings loader (each ``${NAME}`` it names set to a
  placeholder); a block that holds keys before any table is a section's body and is read as such.
- json: parses; a routing config (``targets``, ``strategy`` or ``provider`` at its top) passes the
  gateway's config parser.
- python: compiles; one that calls the gateway (``localhost:8787``) runs as printed against a gateway
  this module starts, whose ``openai`` and ``groq`` providers point at a local fake (only the port
  changes).
- sh/bash/console: ``bash -n``; ``gateway --version``/``--help`` and ``curl`` calls to the gateway run
  (the same gateway and fake) and must succeed; nothing else runs (``make``, container engines, ...).
- yaml: parses. nginx, dockerfile, text: not executable (listed in NOT_EXECUTABLE).
A failure names the file and line of the block.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from gateway.config.routing import parse_config_value
from gateway.config.settings import load_settings
from tests.fake_provider import FakeProvider, Received, sse
from tests.functional.fake_realtime import FakeRealtime
from tests.functional.gateway_process import GatewayProcess, free_port, gateway_env, start_gateway

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Languages whose blocks are configuration for other programs, checked where those programs are.
NOT_EXECUTABLE = frozenset({"nginx", "dockerfile", "text"})
SHELLS = frozenset({"sh", "bash", "console", "shell"})
#: The address every snippet is written for; the test's gateway replaces only the port.
DOC_PORT = "8787"
_PLACEHOLDER = "placeholder-value"
_RUN_TIMEOUT = 20.0


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _blocks() -> Iterator[Block]:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").split("\n")
        start, language, body = 0, "", list[str]()
        for number, line in enumerate(lines, 1):
            if not start and line.startswith("```"):
                start, language, body = number, line[3:].strip().lower(), []
            elif start and line.startswith("```"):
                yield Block(page, start, language, "\n".join(body) + "\n")
                start = 0
            elif start:
                body.append(line)


BLOCKS = list(_blocks())


def _ids(block: Block) -> str:
    return f"{block.where}-{block.language or 'untagged'}"


# --- the fake provider and the gateway the runnable snippets call ---------------------------------


async def _chat(request: web.Request, received: Received) -> web.StreamResponse:
    body = json.loads(received.body)
    answer = {"id": "chatcmpl-docs", "object": "chat.completion", "created": 1, "model": body["model"]}
    if not body.get("stream"):
        message = {"role": "assistant", "content": "hello from the fake"}
        choices = [{"index": 0, "message": message, "finish_reason": "stop"}]
        return web.json_response({**answer, "choices": choices})
    chunk = {**answer, "object": "chat.completion.chunk"}
    events = [
        json.dumps(
            {**chunk, "choices": [{"index": 0, "delta": {"content": "hello"}, "finish_reason": None}]}
        ),
        json.dumps({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ]
    return web.Response(body=sse(*(event.encode() for event in events)), content_type="text/event-stream")


def _fake_app() -> web.Application:
    """One server for both: the realtime routes first, then the provider's catch-all."""
    provider, realtime = FakeProvider(), FakeRealtime()
    provider.on("POST", "/v1/chat/completions", _chat)
    app = realtime.app()
    (catch_all,) = provider.app().router.routes()
    app.router.add_route("*", "/{tail:.*}", catch_all.handler)
    return app


class _FakeThread:
    """The fake on its own event loop in a thread, so snippets (blocking SDK calls) run unchanged."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(_fake_app())
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> _FakeThread:
        self._thread.start()
        assert self._started.wait(10), "the fake provider did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def docs_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    folder = tmp_path_factory.mktemp("docs-gateway")
    with _FakeThread() as fake:
        settings = folder / "gateway.toml"
        base = f"http://127.0.0.1:{fake.port}/v1"
        settings.write_text(
            f'[providers.openai]\nbase_url = "{base}"\n[providers.groq]\nbase_url = "{base}"\n'
        )
        gateway = start_gateway(folder, "--config", str(settings), port=free_port())
        try:
            asyncio.run(gateway.wait_ready())
            yield gateway
        finally:
            gateway.kill()


def _snippet_env(gateway: GatewayProcess) -> dict[str, str]:
    """The environment a reader has: the venv's commands on PATH, keys set to placeholders."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    keys = {name: _PLACEHOLDER for name in ("OPENAI_API_KEY", "GROQ_API_KEY", "ANTHROPIC_API_KEY")}
    return gateway_env(PATH=path, **keys)


def _at(text: str, gateway: GatewayProcess) -> str:
    return re.sub(rf"(localhost|127\.0\.0\.1):{DOC_PORT}\b", rf"\1:{gateway.port}", text)


def _calls_gateway(text: str) -> bool:
    return re.search(rf"(localhost|127\.0\.0\.1):{DOC_PORT}\b", text) is not None


# --- toml ------------------------------------------------------------------------------------------


def _as_settings_file(text: str) -> str:
    """A section's body (keys before any table) cannot start alone: it is not a settings file."""
    first = next((line for line in text.split("\n") if line.strip() and not line.startswith("#")), "")
    assert first.startswith("["), "a settings snippet starts with its [table]"
    return text


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language == "toml"], ids=_ids)
def test_toml_snippet_starts_the_gateway(block: Block, tmp_path: Path) -> None:
    text = _as_settings_file(block.text)
    tomllib.loads(text)
    environ = {name: _PLACEHOLDER for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)}
    settings = tmp_path / "gateway.toml"
    settings.write_text(text)
    try:
        load_settings(str(settings), environ=environ)
    except ValueError as exc:
        pytest.fail(f"{block.where}: the settings snippet does not start: {exc}")


# --- json ------------------------------------------------------------------------------------------

_CONFIG_KEYS = frozenset({"targets", "strategy", "provider"})


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language in {"json", "yaml"}], ids=_ids)
def test_data_snippet_parses_and_configs_are_accepted(block: Block) -> None:
    if block.language == "yaml":
        try:
            list(yaml.safe_load_all(block.text))
        except yaml.YAMLError as exc:
            pytest.fail(f"{block.where}: not YAML: {exc}")
        return
    try:
        value = json.loads(block.text)
    except json.JSONDecodeError as exc:
        pytest.fail(f"{block.where}: not JSON: {exc}")
    if isinstance(value, dict) and _CONFIG_KEYS & value.keys():
        parse_config_value(value, where=block.where)


# --- python ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language == "python"], ids=_ids)
def test_python_snippet_compiles(block: Block) -> None:
    try:
        compile(block.text, block.where, "exec")
    except SyntaxError as exc:
        pytest.fail(f"{block.where}: {exc}")


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.language == "python" and _calls_gateway(b.text)], ids=_ids
)
def test_python_snippet_runs_against_the_gateway(block: Block, docs_gateway: GatewayProcess) -> None:
    done = _run([sys.executable, "-c", _at(block.text, docs_gateway)], docs_gateway)
    assert done.returncode == 0, f"{block.where}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    assert done.stdout.strip(), f"{block.where}: printed nothing"


def _run(argv: list[str], gateway: GatewayProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=_snippet_env(gateway), capture_output=True, text=True, timeout=_RUN_TIMEOUT, cwd=ROOT
    )


# --- shell -----------------------------------------------------------------------------------------


def _commands(text: str) -> list[str]:
    """The block's commands, a console's ``$ `` prompt removed and continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [line.removeprefix("$ ") for line in joined.split("\n")]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _runnable(command: str) -> bool:
    """Commands that need no real provider: the CLI's answers, and curl to the gateway itself."""
    words = shlex.split(command, comments=True)
    if words[:1] == ["gateway"] or words[:3] == ["python", "-m", "gateway"]:
        return bool({"--version", "--help"} & set(words))
    return words[:1] == ["curl"] and _calls_gateway(command)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language in SHELLS], ids=_ids)
def test_shell_snippet_is_valid_bash(block: Block) -> None:
    text = "\n".join(_commands(block.text)) if block.language == "console" else block.text
    done = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, f"{block.where}: {done.stderr}"


RUNNABLE = [(b, c) for b in BLOCKS if b.language in SHELLS for c in _commands(b.text) if _runnable(c)]


@pytest.mark.parametrize(("block", "command"), RUNNABLE, ids=[f"{b.where}-{c[:30]}" for b, c in RUNNABLE])
def test_shell_command_runs_against_the_gateway(
    block: Block, command: str, docs_gateway: GatewayProcess
) -> None:
    done = _run(
        [
            "bash",
            "-c",
            f"set -o pipefail; {_at(command, docs_gateway)} --fail-with-body"
            if command.startswith("curl")
            else command,
        ],
        docs_gateway,
    )
    assert done.returncode == 0, (
        f"{block.where}: {command}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
    )
    assert done.stdout.strip(), f"{block.where}: {command} printed nothing"
    if '"stream": true' in command:
        assert done.stdout.rstrip().endswith("data: [DONE]"), f"{block.where}: the stream did not end whole"


# --- the rest ------------------------------------------------------------------------------


def test_every_block_has_a_language_with_a_rule() -> None:
    ruled = {"toml", "json", "python", "yaml"} | SHELLS | NOT_EXECUTABLE
    unruled = [f"{b.where} ({b.language or 'untagged'})" for b in BLOCKS if b.language not in ruled]
    assert unruled == []


# --- links -----------------------------------------------------------------------------------------


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-`` and ``_`` dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_anchor(line.lstrip("#")) for line in _prose(page) if re.match(r"#+ ", line)}


def _prose(page: Path) -> Iterator[str]:
    inside = False
    for line in page.read_text(encoding="utf-8").split("\n"):
        if line.startswith("```"):
            inside = not inside
        elif not inside:
            yield line


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for line in _prose(page):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            resolved = (page.parent / file).resolve() if file else page
            if not resolved.exists() or (
                anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved)
            ):
                broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)}: broken links"


def test_snippets_were_found() -> None:
    # A parser that found nothing would pass every check above.
    languages: dict[str, Any] = {}
    for block in BLOCKS:
        languages[block.language] = languages.get(block.language, 0) + 1
    assert {"toml", "json", "python", "sh"} <= languages.keys()
