"""What ``python -m benchmarks compare`` puts beside this gateway, each started as its users start it.

Every contender is a context manager that starts its process(es) pinned to the given cores,
proxying to the suite's mock on 127.0.0.1, and yields the :class:`System` the load goes to; it
stops them on exit. Portkey's gateway and LiteLLM are found when installed (never installed here,
never fetched): :func:`missing` says which are not, and the table says "not installed" for them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench import GATEWAY_HEADERS, System
from benchmarks.processes import free_port, process_tree, start, wait_port

NGINX = "/usr/sbin/nginx"
PORTKEY_PACKAGE = Path("@portkey-ai") / "gateway"
#: The environment variable naming a folder where Portkey's gateway was installed with npm: a global
#: install cannot pin its @hono/node-server, whose releases after 1.14.2 break its streams
#: (docs/benchmarks.md, "Portkey's streams").
PORTKEY_DIR = "BENCH_PORTKEY_DIR"
#: Admission's loop-lag shedding off (its other limits stay on): at 64 connections a loaded core lets
#: the loop lag past its 10 ms and requests become cheap 503s; this measures the work instead.
NO_LAG_SHEDDING = {"GATEWAY_LIMITS_MAX_LOOP_LAG": "0"}


@dataclass(frozen=True, slots=True)
class Where:
    """What every contender needs: the mock's base URL, its cores and the folder for logs and conf."""

    mock_url: str
    cores: frozenset[int] | None
    log_dir: Path


@contextlib.contextmanager
def gateway(
    where: Where, workers: int = 1, env: dict[str, str] | None = None, name: str = ""
) -> Iterator[System]:
    """This gateway as ``make run`` starts it (``env``: GATEWAY_* settings over the environment;
    ``name``: its log's, ``gateway-<workers>w`` by default)."""
    port = free_port()
    args = ["-m", "gateway", "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    child = start(
        name or f"gateway-{workers}w", args, where.cores, where.log_dir, env={**os.environ, **(env or {})}
    )
    try:
        wait_port(port, child)
        headers = {k: v.replace("{mock}", where.mock_url) for k, v in GATEWAY_HEADERS.items()}
        tree = _tree(child.pid, 1 if workers == 1 else workers + 1)  # a supervisor and its workers
        yield System("gateway", f"http://127.0.0.1:{port}/v1", headers, tree)
    finally:
        child.stop()


@contextlib.contextmanager
def bare_aiohttp(where: Where) -> Iterator[System]:
    """benchmarks/bare_proxy.py: one aiohttp server relaying to the mock."""
    port = free_port()
    child = start(
        "bare-aiohttp", ["-m", "benchmarks.bare_proxy", str(port), where.mock_url], where.cores, where.log_dir
    )
    try:
        wait_port(port, child)
        yield System("bare aiohttp", f"http://127.0.0.1:{port}/v1", {}, [child.pid])
    finally:
        child.stop()


def nginx_conf(prefix: Path, port: int, mock_url: str, workers: int) -> str:
    """A reverse proxy as its guide configures one for streaming: keep-alive to the upstream,
    no response buffering, the access log on as Debian ships it."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, workers would switch to "nobody"
    temp = "".join(
        f"  {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    upstream = mock_url.removeprefix("http://")
    return (
        f"{user}daemon off;\nworker_processes {workers};\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\nevents {{ worker_connections 4096; }}\n"
        f"http {{\n{temp}  access_log {prefix / 'access.log'};\n"
        f"  upstream mock {{ server {upstream}; keepalive 256; }}\n"
        f"  server {{\n    listen 127.0.0.1:{port} backlog=8192;\n    location / {{\n"
        "      proxy_pass http://mock;\n      proxy_http_version 1.1;\n"
        '      proxy_set_header Connection "";\n      proxy_buffering off;\n    }\n  }\n}\n'
    )


@contextlib.contextmanager
def nginx(where: Where, workers: int = 1) -> Iterator[System]:
    port = free_port()
    prefix = where.log_dir / f"nginx-{workers}w"
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, port, where.mock_url, workers))
    child = start(
        f"nginx-{workers}w", ["-c", str(conf), "-p", str(prefix)], where.cores, where.log_dir, program=NGINX
    )
    try:
        wait_port(port, child)
        yield System("nginx", f"http://127.0.0.1:{port}/v1", {}, _tree(child.pid, workers + 1))
    finally:
        child.stop()


def portkey_entry() -> Path | None:
    """The installed ``@portkey-ai/gateway`` start script: in the folder :data:`PORTKEY_DIR` names
    (where ``npm install`` ran with its ``package.json``), ./node_modules, then npm's global root."""
    if shutil.which("node") is None:
        return None
    roots = [Path.cwd() / "node_modules"]
    if folder := os.environ.get(PORTKEY_DIR):
        roots.insert(0, Path(folder) / "node_modules")
    if npm := shutil.which("npm"):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            found = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=20)
            roots.append(Path(found.stdout.strip()))
    return next(
        (
            entry
            for root in roots
            if (entry := root / PORTKEY_PACKAGE / "build" / "start-server.js").is_file()
        ),
        None,
    )


@contextlib.contextmanager
def portkey(where: Where, entry: Path) -> Iterator[System]:
    """Portkey's gateway, headless, on Node; it takes the same Portkey headers as ours."""
    port = free_port()
    node = shutil.which("node") or "node"
    child = start(
        "portkey", [str(entry), f"--port={port}", "--headless"], where.cores, where.log_dir, program=node
    )
    try:
        wait_port(port, child, deadline=60.0)
        headers = {k: v.replace("{mock}", where.mock_url) for k, v in GATEWAY_HEADERS.items()}
        yield System("portkey", f"http://127.0.0.1:{port}/v1", headers, process_tree(child.pid))
    finally:
        child.stop()


def litellm_command() -> str | None:
    return shutil.which("litellm")


@contextlib.contextmanager
def litellm(where: Where, command: str) -> Iterator[System]:
    """LiteLLM's proxy, one worker, model ``bench`` served by the mock as an OpenAI-compatible API.
    It forwards ``x-pass-<name>`` request headers as ``<name>``: the mock's knobs travel that way."""
    port = free_port()
    config = where.log_dir / "litellm.yaml"
    # Recent releases refuse to start without a master key; the load generator sends it.
    master_key = f"sk-{secrets.token_hex(32)}"
    config.write_text(
        "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n"
        f"      api_base: {where.mock_url}/v1\n      api_key: sk-bench\n"
        f"general_settings:\n  master_key: {master_key}\n"
    )
    args = ["--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    child = start("litellm", args, where.cores, where.log_dir, program=command)
    try:
        wait_port(port, child, deadline=120.0)
        headers = {"Authorization": f"Bearer {master_key}"}
        yield System("litellm", f"http://127.0.0.1:{port}/v1", headers, process_tree(child.pid), "x-pass-")
    finally:
        child.stop()


def _tree(pid: int, processes: int) -> list[int]:
    """``pid`` and its children once there are ``processes`` of them in all (the port opens before
    the workers are forked: read too early, the tree misses some), or after 5 s."""
    tree = process_tree(pid)
    for _ in range(100):
        if len(tree) >= processes:
            break
        time.sleep(0.05)
        tree = process_tree(pid)
    return tree
