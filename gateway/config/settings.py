"""Settings: embedded defaults, an optional TOML file, then ``GATEWAY_*`` environment variables.

Precedence (lowest first): defaults < file < environment < command-line flags (``cli.py``).
Environment names: ``GATEWAY_<KEY>`` for the ``[server]`` section (``GATEWAY_PORT``), and
``GATEWAY_<SECTION>_<KEY>`` for the others (``GATEWAY_UPSTREAM_CONNECT_TIMEOUT``).
String values in the file may reference the environment as ``${NAME}`` (provider keys).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from gateway.config.cloud import AwsSettings, AzureSettings
from gateway.config.cloud import SettingsError as SettingsError  # where it always was
from gateway.config.fields import ConfigError, header_value_problem
from gateway.config.gateway_keys import parse_gateway_key, parse_virtual_key
from gateway.config.routing import Node, parse_config_value
from gateway.errors import InvalidRequest
from gateway.limits.caller import GatewayKey, VirtualKey
from gateway.observability.prices import PriceTable, load_prices
from gateway.on_first_use import load
from gateway.upstream.hostpolicy import HostPolicy, listens_on_loopback_only, parse_allow

__all__ = [
    "LOG_LEVELS",
    "MAX_PORT",
    "BreakerSettings",
    "BudgetSettings",
    "CacheSettings",
    "ConsoleSettings",
    "CustomHostSettings",
    "GuardrailSettings",
    "LimitSettings",
    "MetricsSettings",
    "PricingSettings",
    "ProviderSettings",
    "RateLimitSettings",
    "RealtimeSettings",
    "RetrySettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "UpstreamSettings",
    "environment_variables",
    "load_settings",
    "replace_server",
]

_D = TypeVar("_D")
_MiB = 1024 * 1024
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8787
    workers: int = 1
    log_level: str = "info"
    #: One line per finished request, written off the hot path (see observability/recorder.py).
    access_log: bool = False
    #: ``text`` (one readable line) or ``json`` (one JSON object a line: observability/requestlog.py).
    access_log_format: str = "text"
    #: Seconds in-flight requests and streams get to finish after SIGTERM.
    drain_timeout: float = 30.0
    #: Seconds to keep accepting (with /readyz at 503) before closing the listener, so a load
    #: balancer sees the pod as unready first. 0 closes the listener at once.
    drain_delay: float = 0.0
    backlog: int = 2048
    #: Listening sockets per process (SO_REUSEPORT): uvloop accepts one connection per socket per
    #: turn of its loop, so under CPU overload this many times more new connections get in.
    listen_sockets: int = 8
    #: Client keep-alive; longer than common load balancers' idle timeouts (60 s) so they close first.
    keepalive_timeout: float = 75.0
    #: With ``workers`` > 1, a worker that exits sooner than this many seconds after it started is
    #: taken for a crash loop (a port in use, a bad setting): the supervisor stops instead of
    #: restarting it. 0 restarts every worker that exits.
    min_worker_uptime: float = 5.0
    #: Dispatch fixed-path routes by one lookup and write whole answers in one go
    #: (``middleware/lean_server.py``) rather than through aiohttp's router and streaming writer;
    #: the bytes on the wire are the same. ``False`` keeps aiohttp's for all.
    lean_http: bool = True

    def __post_init__(self) -> None:
        if self.listen_sockets < 1:
            raise SettingsError(f"server.listen_sockets: expected at least 1, got {self.listen_sockets}")

    @property
    def loopback_only(self) -> bool:
        """Whether the gateway listens on loopback only, where only this machine can reach it."""
        return listens_on_loopback_only(self.host)


@dataclass(frozen=True, slots=True)
class LimitSettings:
    #: JSON bodies are read whole (routing needs their fields): this caps that memory.
    max_json_body_bytes: int = 32 * _MiB
    #: Uploads (multipart, binary) are streamed through, never held: this caps their size.
    max_upload_bytes: int = 512 * _MiB
    #: Proxied requests (streams included, until they end) one process runs at once; past it, 503.
    max_in_flight: int = 1024
    #: JSON body bytes one process holds at once (a chunked body counts as max_json_body_bytes).
    max_buffered_body_bytes: int = 128 * _MiB
    #: Cap the requests in flight (new ones get a 503) while the event loop runs this many seconds
    #: late: CPU-bound overload (middleware/admission.py). 0 turns it off. A busy but healthy loop
    #: (a closed loop of 64 connections saturating one slow core) runs 5-20 ms late; an open-ended
    #: overload makes it later and later: the default sits between the two.
    max_loop_lag: float = 0.050
    #: Seconds in the ``Retry-After`` header of a 503 ``overloaded``.
    retry_after: int = 1
    #: Open client connections per process (realtime sessions included); more are closed at once.
    max_connections: int = 10_000
    #: Seconds from a request's first byte to the end of its headers; then the connection is closed.
    header_timeout: float = 10.0
    #: Seconds a JSON body (read whole) may take to arrive, and an upload may go without a byte: 408.
    body_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    connect_timeout: float = 10.0
    #: Longest silence between two bytes from the provider, including the wait for response
    #: headers (a non-streaming reasoning model can think for minutes before its first byte).
    idle_timeout: float = 300.0
    #: Longest wait for the response headers after the request went out; 0 means none (the idle
    #: timeout still applies). Like every timeout before the answer starts, it lets a fallback move on.
    headers_timeout: float = 0.0
    #: Longest wait for a stream's first chunk after its headers; 0 means none (the idle timeout
    #: still applies). Until the first chunk, a silent provider can still be fallen back from.
    first_token_timeout: float = 0.0
    #: Whole-request deadline in seconds; 0 means none. x-portkey-request-timeout overrides it.
    request_timeout: float = 0.0
    #: Pooled connections are dropped after this idle time: shorter than providers' own idle
    #: timeouts, so the gateway never writes into a connection the far end is closing.
    keepalive_timeout: float = 15.0
    #: Per-host connection cap; 0 = unlimited (aiohttp's default of 100 would queue requests).
    limit_per_host: int = 0
    dns_cache_seconds: int = 300
    #: Send every upstream POST of a bytes body (most requests, whichever the provider) through
    #: the lean HTTP/1.1 client (``upstream/lean.py``) rather than aiohttp's; ``False`` keeps
    #: aiohttp's for all. Both apply limit_per_host the same way.
    lean_http: bool = True


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """How a config's ``retry`` waits between attempts at one target."""

    #: Exponential backoff with full jitter: a random wait up to base × 2^n, capped at max_delay.
    base_delay: float = 0.5
    max_delay: float = 8.0
    #: A provider's Retry-After longer than this is not waited for: the next target is tried.
    max_retry_after: float = 30.0
    #: Seconds one request may spend waiting between retries, over all its targets.
    budget: float = 60.0


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """The per-process circuit breaker of each routing target (routing/health.py)."""

    #: Failures in a row that open the breaker; 0 turns this rule off.
    consecutive_failures: int = 5
    #: The breaker also opens when more than this share of the requests in the last ``window``
    #: seconds failed, once at least ``min_requests`` were seen (1.0 turns this rule off).
    error_rate: float = 0.5
    min_requests: int = 10
    window: float = 30.0
    #: Seconds an open breaker skips its target before letting one probe request through.
    cooldown: float = 30.0
    #: Weight of the newest time-to-first-token in its moving average (0 < alpha <= 1).
    ewma_alpha: float = 0.2
    #: A target with no request for this many seconds leaves the table (and its statistics).
    forget_after: float = 3600.0

    def __post_init__(self) -> None:
        # 0 would freeze the average at its first sample; above 1 it overshoots and oscillates.
        if not 0 < self.ewma_alpha <= 1:
            raise SettingsError(f"breaker.ewma_alpha: expected a number in (0, 1], got {self.ewma_alpha}")


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    """Websocket sessions at /v1/realtime, bridged to the provider's realtime endpoint."""

    #: Concurrent sessions per process; further upgrades are refused with a 503.
    max_sessions: int = 10_000
    #: Largest message either side may send (audio buffers arrive as large base64 text frames).
    max_message_bytes: int = 16 * _MiB
    #: Longest wait for the provider to accept the websocket before the client is closed with 1011.
    open_timeout: float = 10.0
    #: A session with no message either way for this long is closed (1000); 0 means never.
    idle_timeout: float = 1800.0
    #: Seconds between pings on both legs, so proxies and load balancers keep quiet sessions; 0 = off.
    heartbeat: float = 20.0


@dataclass(frozen=True, slots=True)
class CustomHostSettings:
    """Where custom hosts may point (rules in upstream/hostpolicy.py; docs/providers.md "Custom hosts")."""

    #: Hosts, ``host:port``, addresses and CIDR ranges custom hosts may reach even when internal.
    allow: tuple[str, ...] = ()
    #: Public internet hosts may be custom hosts; false makes ``allow`` the only hosts allowed.
    allow_public: bool = True
    #: Cloud metadata and other link-local addresses are refused unless this is true.
    allow_metadata: bool = False

    def __post_init__(self) -> None:
        try:
            parse_allow(self.allow)
        except ValueError as exc:
            raise SettingsError(f"custom_hosts.allow: {exc}") from None


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    #: Keys outside Portkey's config schema are a 400 naming their path (a start-up error in a
    #: named config) instead of ignored with a warning.
    strict_configs: bool = False


@dataclass(frozen=True, slots=True)
class AdminSettings:
    #: Bearer token for the endpoints that show the gateway's state (/v1/health/targets). Without
    #: one they answer only while the gateway listens on loopback only.
    token: str = ""


@dataclass(frozen=True, slots=True)
class PricingSettings:
    #: A JSON price table merged over the shipped one (observability/prices.py has the shape).
    file: str = ""
    #: Derived: the table the recorder prices records with, read once here (start-up).
    table: PriceTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            table = load_prices(self.file)
        except ValueError as exc:
            raise SettingsError(f"pricing.file: {exc}") from None
        object.__setattr__(self, "table", table)  # frozen: set once, here


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    #: ``GET /metrics`` (Prometheus), fed by the recorder off the request path.
    enabled: bool = True
    #: Distinct ``model`` label values per process; later ones are counted as ``other``.
    max_model_labels: int = 100


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """The response cache (``gateway/cache/``). A routing config's ``cache`` decides for its own
    requests; ``mode`` is the default for requests without a config."""

    #: ``""`` (none), ``simple`` (exact) or ``semantic`` for requests without a routing config.
    mode: str = ""
    #: Seconds an entry lives when the config's ``cache`` gives no ``max_age``.
    max_age: float = 3600.0
    #: ``memory`` (this process) or ``redis`` (shared; ``redis_url``).
    backend: str = "memory"
    #: The memory backend's bound (keys and answers), in bytes; least recently used go first.
    max_bytes: int = 256 * _MiB
    #: A larger answer is not stored.
    max_entry_bytes: int = 4 * _MiB
    redis_url: str = ""
    #: JSON endpoints cached besides chat, completions and embeddings, for requests without a
    #: routing config (``/v1/moderations``); a config's ``cache.paths`` decides for its own.
    paths: tuple[str, ...] = ()
    #: The semantic cache's embeddings provider and model (both needed for ``semantic`` mode),
    #: its key (``""``: ``[providers.<slug>] api_key``) and base URL (``""``: the provider's).
    semantic_provider: str = ""
    semantic_model: str = ""
    semantic_api_key: str = field(default="", repr=False)
    semantic_base_url: str = ""
    #: Cosine similarity a semantic match needs, above 0 and at most 1 (a config may say its own).
    semantic_threshold: float = 0.95
    #: Vectors the semantic index keeps per process (oldest evicted first).
    semantic_max_entries: int = 100_000
    #: Seconds the embedding call may take; a slower one is a plain MISS.
    semantic_timeout: float = 2.0
    #: A longer last user message is not embedded (a plain MISS): it bounds the embedding's cost.
    semantic_max_chars: int = 4000


@dataclass(frozen=True, slots=True)
class GuardrailSettings:
    """Guardrail checks (docs/guardrails.md)."""

    #: Seconds a check that calls out (the webhook) may take; its own ``timeout`` may be shorter.
    webhook_timeout: float = 3.0


@dataclass(frozen=True, slots=True)
class KeySettings:
    """Gateway keys (``limits/keys.py``): defined in ``[gateway_keys.<id>]`` tables (and, with
    Redis, through the admin API); provider credentials in ``[virtual_keys.<name>]``."""

    #: Every request needs a valid gateway key (a 401 otherwise).
    enabled: bool = False
    #: ``memory`` (the settings' keys only) or ``redis`` (also keys created through the admin API,
    #: shared by every process and replica naming ``redis_url``).
    backend: str = "memory"
    redis_url: str = ""


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Where the gateway keys' rate limits are counted (docs/rate_limits.md)."""

    #: ``memory`` (each process counts its own) or ``redis`` (``[keys] redis_url``: every process
    #: and replica shares the counts).
    backend: str = "memory"
    #: With Redis unreachable: ``open`` admits requests unlimited (an outage of Redis is not one of
    #: the gateway), ``closed`` answers 503.
    on_redis_error: str = "open"


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """Budgets and usage per gateway key (docs/budgets.md); in effect with ``[keys] enabled``."""

    #: ``memory`` (this process's spend) or ``redis`` (``[keys] redis_url``: one spend for every
    #: process and replica).
    backend: str = "memory"
    #: When Redis cannot answer a budget check: ``open`` lets the request through (logged,
    #: counted), ``closed`` refuses it with a 503.
    on_redis_error: str = "open"


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The live console: ``GET /console`` and its feed (guarded like ``/v1/health/targets``)."""

    enabled: bool = True
    #: Feed connections open at once per process; more are refused with a 503.
    max_feeds: int = 8


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    #: Key used when the caller sends none (``${OPENAI_API_KEY}``); anyone who can reach the
    #: gateway can then spend it, so bind the gateway to a private interface when set.
    api_key: str = ""
    #: Replaces the catalog's base URL for every request to this provider.
    base_url: str = ""
    #: Provider options used when a request's ``x-portkey-<name>`` header gives none
    #: (``aws-region = "us-east-1"``, ``vertex-project-id = "..."``); same caution as ``api_key``.
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    custom_hosts: CustomHostSettings = field(default_factory=CustomHostSettings)
    retries: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    realtime: RealtimeSettings = field(default_factory=RealtimeSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    guardrails: GuardrailSettings = field(default_factory=GuardrailSettings)
    keys: KeySettings = field(default_factory=KeySettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    budgets: BudgetSettings = field(default_factory=BudgetSettings)
    azure: AzureSettings = field(default_factory=AzureSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    pricing: PricingSettings = field(default_factory=PricingSettings)
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    #: Named routing configs (``[configs.<id>]``), parsed and checked at start-up.
    configs: Mapping[str, Node] = field(default_factory=dict)
    #: ``[gateway_keys.<id>]`` and ``[virtual_keys.<name>]``, by id and name.
    gateway_keys: Mapping[str, GatewayKey] = field(default_factory=dict)
    virtual_keys: Mapping[str, VirtualKey] = field(default_factory=dict)
    #: Derived: where custom hosts and upstream connections may go (the URLs written here count
    #: as allowed; loopback is allowed while server.host is loopback only).
    host_policy: HostPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        operator_urls = [provider.base_url for provider in self.providers.values()] + [
            node.custom_host for config in self.configs.values() for node in config.walk() if node.custom_host
        ]
        if self.cache.semantic_base_url:
            operator_urls.append(self.cache.semantic_base_url)
        policy = HostPolicy.build(
            self.custom_hosts.allow,
            allow_public=self.custom_hosts.allow_public,
            allow_metadata=self.custom_hosts.allow_metadata,
            server_host=self.server.host,
            operator_urls=operator_urls,
        )
        object.__setattr__(self, "host_policy", policy)  # frozen: set once, here


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "limits": LimitSettings,
    "upstream": UpstreamSettings,
    "custom_hosts": CustomHostSettings,
    "retries": RetrySettings,
    "breaker": BreakerSettings,
    "realtime": RealtimeSettings,
    "admin": AdminSettings,
    "metrics": MetricsSettings,
    "console": ConsoleSettings,
    "cache": CacheSettings,
    "keys": KeySettings,
    "rate_limits": RateLimitSettings,
    "budgets": BudgetSettings,
    "guardrails": GuardrailSettings,
    "azure": AzureSettings,
    "aws": AwsSettings,
    "routing": RoutingSettings,
    "pricing": PricingSettings,
}
#: Variables the cloud platforms set for their own SDKs: defaults for these settings.
_PLATFORM_ENV = (
    ("AZURE_AUTHORITY_HOST", "azure", "authority_host"),
    ("AZURE_TENANT_ID", "azure", "tenant_id"),
    ("AZURE_CLIENT_ID", "azure", "client_id"),
    ("AZURE_FEDERATED_TOKEN_FILE", "azure", "federated_token_file"),
    ("AWS_ACCESS_KEY_ID", "aws", "access_key_id"),
    ("AWS_SECRET_ACCESS_KEY", "aws", "secret_access_key"),
    ("AWS_SESSION_TOKEN", "aws", "session_token"),
)
#: ``${VAR}``, or ``${VAR:-default}`` (the default when VAR is unset or empty, as in a shell).
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_settings(path: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from defaults, the TOML file at ``path`` (if any) and ``environ``."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path:
        toml = load("tomllib")  # only with a settings file: a gateway without one need not hold it
        try:
            with open(path, "rb") as f:
                raw = toml.load(f)
        except OSError as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from None
        except toml.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    raw = _expand_env(raw, environ, "")
    _apply_env_overrides(raw, environ)
    for variable, section, key in _PLATFORM_ENV:
        if environ.get(variable):
            raw.setdefault(section, {}).setdefault(key, environ[variable])
    return _build(raw)


def replace_server(settings: Settings, **changes: Any) -> Settings:
    """Settings with some ``[server]`` fields changed (command-line flags win over everything)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return dataclasses.replace(settings, server=dataclasses.replace(settings.server, **changes))


def _build(raw: dict[str, Any]) -> Settings:
    unknown = set(raw) - set(_SECTIONS) - {"providers", "configs", "gateway_keys", "virtual_keys"}
    if unknown:
        raise SettingsError(f"unknown settings section: {sorted(unknown)[0]}")
    sections = {name: _section(cls, raw.get(name, {}), name) for name, cls in _SECTIONS.items()}
    providers = {
        slug: _section(ProviderSettings, value, f"providers.{slug}")
        for slug, value in _table(raw.get("providers", {}), "providers").items()
    }
    configs = {
        name: _named_config(value, f"configs.{name}", sections["routing"].strict_configs)
        for name, value in _table(raw.get("configs", {}), "configs").items()
    }
    gateway_keys = {
        key_id: _definition(parse_gateway_key, key_id, value, f"gateway_keys.{key_id}")
        for key_id, value in _table(raw.get("gateway_keys", {}), "gateway_keys").items()
    }
    virtual_keys = {
        name: _definition(parse_virtual_key, name, value, f"virtual_keys.{name}")
        for name, value in _table(raw.get("virtual_keys", {}), "virtual_keys").items()
    }
    for slug, provider in providers.items():
        _check_sent_in_a_header(provider.api_key, f"providers.{slug}.api_key")
        for name, value in provider.options.items():
            _check_sent_in_a_header(value, f"providers.{slug}.options.{name}")
    cache = sections["cache"]
    _check_sent_in_a_header(cache.semantic_api_key, "cache.semantic_api_key")
    if cache.mode == "semantic" and not (cache.semantic_provider and cache.semantic_model):
        raise SettingsError("cache.mode: semantic needs cache.semantic_provider and cache.semantic_model")
    for section in ("rate_limits", "budgets", "keys"):
        if sections[section].backend == "redis" and not sections["keys"].redis_url:
            raise SettingsError(f"{section}.backend: redis needs keys.redis_url")
    if sections["cache"].backend == "redis" and not sections["cache"].redis_url:
        raise SettingsError("cache.backend: redis needs cache.redis_url")
    return Settings(
        **sections, providers=providers, configs=configs, gateway_keys=gateway_keys, virtual_keys=virtual_keys
    )


def _check_sent_in_a_header(value: str, path: str) -> None:
    """A key or provider option goes upstream in a header: a line break would start a header of
    its own. The error names the field, never the value (a secret)."""
    if (problem := header_value_problem(value)) is not None:
        raise SettingsError(f"{path}: {problem}")


def _definition(parse: Callable[[str, Any, str], _D], name: str, value: Any, path: str) -> _D:
    try:
        return parse(name, value, path)
    except InvalidRequest as exc:
        raise SettingsError(exc.message) from None


def _named_config(value: Any, path: str, strict: bool) -> Node:
    try:
        return parse_config_value(value, strict, path)
    except ConfigError as exc:
        raise SettingsError(f"{path}: {exc.message}") from None


def _section(cls: type[Any], value: Any, path: str) -> Any:
    table = _table(value, path)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # derived fields are not settings
    kwargs = {}
    for key, item in table.items():
        if key not in fields:
            raise SettingsError(f"{path}.{key}: unknown setting")
        default = getattr(cls(), key)
        kwargs[key] = _coerce(item, default, f"{path}.{key}")
    return cls(**kwargs)


def _table(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingsError(f"{path}: expected a table")
    return value


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _whole_number(value: Any) -> int | None:
    number = _number(value)
    # int() would silently turn a port of 8787.5 into 8787.
    return int(number) if number is not None and number.is_integer() else None


def _names(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _string_table(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        return None
    return dict(value)


_PARSERS: dict[type[Any], Callable[[Any], object]] = {
    bool: _flag,
    int: _whole_number,
    float: _number,
    tuple: _names,
    dict: _string_table,
}
_EXPECTED = {
    bool: "true or false",
    int: "a non-negative whole number",
    float: "a non-negative number",
    tuple: "a list of strings",
    dict: "a table of strings",
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "server.log_level": LOG_LEVELS,
    "server.access_log_format": ("text", "json"),
    "cache.mode": ("", "simple", "semantic"),
    "cache.backend": ("memory", "redis"),
    "keys.backend": ("memory", "redis"),
    "rate_limits.backend": ("memory", "redis"),
    "rate_limits.on_redis_error": ("open", "closed"),
    "budgets.backend": ("memory", "redis"),
    "budgets.on_redis_error": ("open", "closed"),
}
MAX_PORT = 65535
#: Numbers that are fractions: above 0, at most 1.
_FRACTIONS = frozenset({"cache.semantic_threshold"})
#: Whole numbers with bounds of their own (inclusive).
_RANGES: dict[str, tuple[int, int]] = {"server.port": (1, MAX_PORT), "server.workers": (1, 1024)}


def _coerce(value: Any, default: Any, path: str) -> Any:
    """``value`` checked against the type of the field's default (environment strings parsed)."""
    kind: type[Any] = type(default)
    parse = _PARSERS.get(kind, _text)
    parsed = parse(value)
    if parsed is None:
        raise SettingsError(f"{path}: expected {_EXPECTED.get(kind, 'a string')}, got {value!r}")
    choices = _CHOICES.get(path)
    if choices is not None and parsed not in choices:
        raise SettingsError(f"{path}: expected one of {', '.join(choices)}, got {value!r}")
    if path in _FRACTIONS and not 0 < cast(float, parsed) <= 1:
        raise SettingsError(f"{path}: expected a number above 0 and at most 1, got {value!r}")
    bounds = _RANGES.get(path)
    if bounds is not None and isinstance(parsed, int) and not bounds[0] <= parsed <= bounds[1]:
        low, high = bounds
        raise SettingsError(f"{path}: expected a whole number from {low} to {high}, got {value!r}")
    return parsed


def _expand_env(value: Any, environ: Mapping[str, str], path: str) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, environ, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if environ.get(name):
                return environ[name]
            if default is not None:
                return default
            if name in environ:
                return ""
            raise SettingsError(
                f"{path}: environment variable {name} is not set; set it (export {name}=...) or give "
                f"a default in the file: ${{{name}:-default}}"
            )

        return _ENV_REFERENCE.sub(lookup, value)
    return value


def environment_variables() -> list[tuple[str, str, str]]:
    """Every ``GATEWAY_*`` variable: its name, the setting it overrides (``server.port``) and that
    setting's default, from the settings classes themselves (``--help`` lists them)."""
    names = []
    for section, cls in _SECTIONS.items():
        prefix = "GATEWAY_" if section == "server" else f"GATEWAY_{section.upper()}_"
        defaults = cls()
        for f in dataclasses.fields(cls):
            if not f.init:
                continue  # derived, not a setting
            names.append((prefix + f.name.upper(), f"{section}.{f.name}", _shown(getattr(defaults, f.name))))
    return names


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, tuple):
        return ",".join(default)
    return str(default) if default != {} else ""


def _apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, setting, _ in environment_variables():
        if name in environ:
            section, key = setting.split(".")
            raw.setdefault(section, {})[key] = environ[name]
