"""``gateway`` / ``python -m gateway``: flags over environment over settings file over defaults."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway.config.settings import LOG_LEVELS, Settings, SettingsError, load_settings, replace_server
from gateway.providers.registry import ProviderRegistry
from gateway.server import run

__all__ = [
    "main",
]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gateway", description="OpenAI-compatible AI gateway in front of many LLM providers."
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 in containers)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8787)")
    parser.add_argument("--workers", type=int, help="processes sharing the port via SO_REUSEPORT (default 1)")
    parser.add_argument("--config", default=os.environ.get("GATEWAY_CONFIG"), help="settings file (TOML)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="default info")
    parser.add_argument("--access-log", action="store_true", default=None, help="log one line per request")
    parser.add_argument("--drain-timeout", type=float, help="seconds in-flight requests get after SIGTERM")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(args.config)
        _check_provider_names(settings)
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    settings = replace_server(
        settings,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        drain_timeout=args.drain_timeout,
    )
    return run(settings)


def _check_provider_names(settings: Settings) -> None:
    """A misspelt ``[providers.<slug>]`` table would otherwise be ignored without a word, and a
    misspelt provider in a named config would fail only when a request reaches it."""
    registry = ProviderRegistry.default()
    for slug, provider in settings.providers.items():
        if slug not in registry:
            raise SettingsError(f"providers.{slug}: unknown provider (the README lists the slugs)")
        known = registry.get(slug).option_headers
        for option in provider.options:
            if option not in known:
                expected = ", ".join(known) or "none"
                raise SettingsError(
                    f"providers.{slug}.options.{option}: unknown option (expected: {expected})"
                )
    for name, config in settings.configs.items():
        for node in config.walk():
            if node.provider is not None and node.provider not in registry:
                raise SettingsError(
                    f"configs.{name}: {node.path}.provider: unknown provider {node.provider!r}"
                )
