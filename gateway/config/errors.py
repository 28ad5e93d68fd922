"""The error of a bad routing config, shared by the modules that parse one."""

from __future__ import annotations

from gateway.errors import InvalidRequest


class ConfigError(InvalidRequest):
    code = "invalid_config"


def bad(path: str, problem: str) -> ConfigError:
    """A 400 naming the dotted path of the bad field (never its value: it may hold a key)."""
    return ConfigError(f"Invalid routing config: {path}: {problem}.", param="x-portkey-config")
