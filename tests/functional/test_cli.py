"""The command line as a user runs it: ``python -m gateway`` in a subprocess."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

from gateway.config.settings import environment_variables


def gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=30, env=env
    )


def test_version_prints_the_installed_package_version() -> None:
    result = gateway("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"gateway {importlib.metadata.version('ai-gateway')}"


def test_help_lists_every_gateway_environment_variable() -> None:
    result = gateway("--help")
    assert result.returncode == 0
    for name in (
        "GATEWAY_CONFIG",
        "GATEWAY_PORT",
        "GATEWAY_UPSTREAM_CONNECT_TIMEOUT",
        "GATEWAY_LIMITS_MAX_IN_FLIGHT",
    ):
        assert name in result.stdout
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip().startswith("GATEWAY_")}
    assert listed == {"GATEWAY_CONFIG"} | {name for name, _, _ in environment_variables()}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "argument --port: expected a whole number from 1 to 65535, got '70000'"),
        (["--port", "http"], "argument --port: expected a whole number from 1 to 65535, got 'http'"),
        (["--workers", "0"], "argument --workers: expected a whole number from 1 to 1024, got '0'"),
        (["--drain-timeout", "-1"], "argument --drain-timeout: expected a non-negative number of seconds"),
    ],
)
def test_bad_numbers_on_the_command_line_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = gateway(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_out_of_range_in_the_environment_exits_2_naming_the_setting() -> None:

    result = gateway(env={**os.environ, "GATEWAY_PORT": "70000"})
    assert result.returncode == 2
    assert "server.port: expected a whole number from 1 to 65535, got '70000'" in result.stderr
    assert "Traceback" not in result.stderr
