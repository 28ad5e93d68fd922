"""``gateway`` / ``python -m gateway``: flags over environment over settings file over defaults."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence

from gateway.config.settings import (
    LOG_LEVELS,
    MAX_PORT,
    Settings,
    SettingsError,
    environment_variables,
    load_settings,
    replace_server,
)
from gateway.providers.registry import ProviderRegistry
from gateway.server import run

__all__ = [
    "main",
]

_DISTRIBUTION = "ai-gateway"  # setup.cfg's [metadata] name


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags; a bad value (``--port 70000``) exits 2 with argparse's one-line message."""
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="OpenAI-compatible AI gateway in front of many LLM providers.",
        epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 in containers)")
    parser.add_argument("--port", type=_whole(1, MAX_PORT), help="port to listen on (default 8787)")
    parser.add_argument(
        "--workers", type=_whole(1, 1024), help="processes sharing the port via SO_REUSEPORT (default 1)"
    )
    parser.add_argument("--config", default=os.environ.get("GATEWAY_CONFIG"), help="settings file (TOML)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="default info")
    parser.add_argument("--access-log", action="store_true", default=None, help="log one line per request")
    parser.add_argument("--drain-timeout", type=_seconds, help="seconds in-flight requests get after SIGTERM")
    return parser.parse_args(argv)


class _Version(argparse.Action):
    """``--version``, looked up only when asked: ``importlib.metadata`` (with the zipfile, csv and
    email modules it loads) would otherwise stay resident in every running gateway (~0.7 MB)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    import importlib.metadata  # only for --version: see _Version

    try:
        return importlib.metadata.version(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _environment_help() -> str:
    """The ``GATEWAY_*`` variables, generated from the settings classes so none is left out."""
    rows = [("GATEWAY_CONFIG", "the settings file, as --config", "")]
    rows += [
        (name, setting, f"default {default}" if default else "")
        for name, setting, default in environment_variables()
    ]
    width = max(len(name) for name, _, _ in rows)
    lines = [f"  {name:<{width}}  {setting}  {default}".rstrip() for name, setting, default in rows]
    return "environment variables (over the settings file, under the flags):\n" + "\n".join(lines)


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, got {text!r}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number of seconds, got {text!r}")
    return value


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
            raise SettingsError(f"providers.{slug}: unknown provider (docs/providers.md lists the slugs)")
        known = registry.get(slug).option_headers
        for option in provider.options:
            if option not in known:
                expected = ", ".join(known) or "none"
                raise SettingsError(
                    f"providers.{slug}.options.{option}: unknown option (expected: {expected})"
                )
    semantic = settings.cache.semantic_provider
    if semantic and semantic not in registry:
        raise SettingsError(
            f"cache.semantic_provider: unknown provider {semantic!r} (docs/providers.md lists the slugs)"
        )
    for name, config in settings.configs.items():
        for node in config.walk():
            if node.provider is not None and node.provider not in registry:
                raise SettingsError(
                    f"configs.{name}: {node.path}.provider: unknown provider {node.provider!r}"
                )
