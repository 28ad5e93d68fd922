"""deploy/compose.yaml: valid for every Compose implementation, and consistent with the image and the
settings file it mounts (the image itself is built and run in test_container.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gateway.config.settings import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_gateway_service_builds_the_repositorys_dockerfile() -> None:
    build = compose()["services"]["gateway"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert (context / "setup.cfg").is_file()


def test_the_mounted_settings_start_and_every_variable_they_read_is_passed() -> None:
    gateway = compose()["services"]["gateway"]
    mounts = {target: DEPLOY / source for source, target, *_ in (v.split(":") for v in gateway["volumes"])}
    settings_file = mounts[gateway["environment"]["GATEWAY_CONFIG"]]
    referenced = set(re.findall(r"\$\{(\w+)", " ".join(_strings(tomllib.loads(settings_file.read_text())))))
    assert referenced <= set(gateway["environment"])
    settings = load_settings(str(settings_file), environ={})
    # Published port → the port the gateway listens on.
    assert gateway["ports"] == [f"8787:{settings.server.port}"]


def test_the_stop_grace_period_outlasts_the_drain() -> None:
    gateway = compose()["services"]["gateway"]
    drain_delay = float(_image_env()["GATEWAY_DRAIN_DELAY"])
    settings = load_settings(str(DEPLOY / "gateway.toml"), environ={})
    grace = int(gateway["stop_grace_period"].removesuffix("s"))
    assert grace > drain_delay + settings.server.drain_timeout


def test_the_gateway_runs_read_only_without_capabilities() -> None:
    gateway = compose()["services"]["gateway"]
    assert gateway["read_only"] is True
    assert gateway["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in gateway["security_opt"]


def _image_env() -> dict[str, str]:
    """The ENV the Dockerfile sets (``ENV A=1 \\ B=2`` lines)."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = [line.removeprefix("ENV ").split() for line in text.splitlines() if line.startswith("ENV ")]
    return dict(pair.split("=", 1) for words in pairs for pair in words)


def _strings(value: object) -> Iterator[str]:
    """Every string value in a parsed TOML document, where ``${VAR}`` references live."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
