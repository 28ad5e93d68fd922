"""Which providers a request goes to, with which keys and base URLs.

Either one target from the ``x-portkey-provider`` headers, or the ordered targets a routing
config (``x-portkey-config``) plans for this request (``routing/plan.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDictProxy

from gateway.config.extras import Cache
from gateway.config.hooks import Hook
from gateway.config.resilience import CircuitBreaker, Retry
from gateway.config.routing import Node, parse_config
from gateway.config.settings import ProviderSettings, Settings
from gateway.errors import InvalidRequest
from gateway.limits.caller import NO_LIMITS, RateLimits, VirtualKey
from gateway.providers.base import ProviderAdapter
from gateway.providers.registry import ProviderRegistry
from gateway.routing.health import TargetHealth
from gateway.routing.identity import TargetIdentity, target_identity
from gateway.routing.plan import Leg, plan
from gateway.upstream.hostguard import check_custom_host

__all__ = [
    "ANTHROPIC_CLIENT_PATH",
    "NO_RETRY",
    "VIRTUAL_KEY_HEADER",
    "Target",
    "parsed_config",
    "provider_names",
    "targets_for",
    "virtual_key_names",
]

_NO_PROVIDER_SETTINGS = ProviderSettings()
NO_RETRY = Retry()
_HF_BASE_URL = "x-portkey-huggingface-base-url"
_STRICT = "x-portkey-strict-open-ai-compliance"
VIRTUAL_KEY_HEADER = "x-portkey-virtual-key"
_NO_VIRTUAL_KEYS: Mapping[str, VirtualKey] = {}
#: The paths the Anthropic SDK calls (``/v1/messages`` and its ``count_tokens``): there its
#: ``x-api-key`` is the provider key for any provider.
ANTHROPIC_CLIENT_PATH = "/v1/messages"


# Not frozen, though never changed once built (``dataclasses.replace`` makes the variants): a
# frozen dataclass sets each of these 22 fields through ``object.__setattr__``, 4-6 µs a request.
@dataclass(slots=True)
class Target:
    """One provider to send the request to, and what its place in a config allows."""

    adapter: ProviderAdapter
    api_key: str
    #: The custom host or the settings' base URL; ``""`` means the provider's own.
    base_url: str
    #: The ``x-portkey-<name>`` values the adapter declared (Azure resource, deployment...).
    options: dict[str, str]
    #: Where a config put this target (``config.targets[1]``); ``None`` without a config.
    config_path: str | None = None
    override_params: Mapping[str, Any] = field(default_factory=dict)
    #: Milliseconds the config allows each attempt here; the request's own deadline bounds it too.
    request_timeout: int | None = None
    #: Upstream statuses after which the next target is tried (empty: none is left).
    move_on: frozenset[int] = frozenset()
    #: Whether the config named ``move_on`` (a content-policy refusal moves on only then).
    move_on_named: bool = False
    #: The config's ``cb_config`` for this target's breaker (``None``: the settings').
    breaker: CircuitBreaker | None = None
    #: Further attempts at this target, and on which statuses.
    retry: Retry = NO_RETRY
    #: Seconds without a first chunk after which the next target starts too (hedging).
    hedge_after: float | None = None
    #: The circuit breaker (and load figures) this target counts toward; ``None`` outside a config.
    health_key: TargetIdentity | None = None
    #: The config's body defaults (the request's own fields win) and fields removed before sending.
    default_params: Mapping[str, Any] = field(default_factory=dict)
    drop_params: frozenset[str] = frozenset()
    #: The config's ``forward_headers`` (``x-portkey-forward-headers``, when sent, wins).
    forward_headers: frozenset[str] = frozenset()
    #: The config's ``cache`` (mode, max_age); ``None``: the config has none, or there is no config
    #: (``[cache] mode`` decides then: ``cache/stage.py``).
    cache: Cache | None = None
    #: ``False``: translated answers keep the provider's extras (see :func:`strict_compliance`).
    strict_open_ai_compliance: bool = True
    #: The config's guardrail hooks for this target (its own, else inherited).
    before_hooks: tuple[Hook, ...] = ()
    after_hooks: tuple[Hook, ...] = ()
    #: The virtual key whose credential this target uses (``""``: none), and its rate limits.
    virtual_key: str = ""
    virtual_limits: RateLimits = NO_LIMITS

    def model_for(self, params: Mapping[str, Any]) -> str:
        """The model this target is asked for (``""``: the request names none)."""
        return _model(self.override_params, params, self.default_params)

    def check_serves(self, family: str) -> None:
        """A clear 400 when the provider's catalog row does not list the endpoint ``family``."""
        spec = self.adapter.spec
        if spec.endpoints is None or family in spec.endpoints:
            return
        where = f" ({self.config_path})" if self.config_path else ""
        raise InvalidRequest(
            f"Provider {spec.slug}{where} does not offer /v1/{family} endpoints.",
            param="x-portkey-config" if self.config_path else "x-portkey-provider",
            code="unsupported_endpoint",
        )

    @property
    def host_param(self) -> str:
        """Where this target's host came from, for an error about it: the config, the custom-host
        header, or the provider's own."""
        if self.config_path:
            return "x-portkey-config"
        return "x-portkey-custom-host" if self.base_url else "x-portkey-provider"

    def for_leg(self, leg: Leg, params: Mapping[str, Any]) -> Target:
        """This target as the config's plan places it (the model its overrides pick included)."""
        return dataclasses.replace(
            self,
            override_params=leg.override_params,
            request_timeout=leg.request_timeout,
            move_on=leg.move_on,
            move_on_named=leg.move_on_named,
            breaker=leg.cb_config,
            retry=leg.retry or NO_RETRY,
            hedge_after=leg.hedge_after,
            health_key=self.identity(_model(leg.override_params, params, self.default_params)),
        )

    def identity(self, model: str) -> TargetIdentity:
        """Who this target is when asked for ``model``: see ``routing/identity.py``."""
        spec = self.adapter.spec
        base_url = self.base_url or spec.base_url
        return target_identity(spec.slug, base_url, model, self.options, self.api_key)


def targets_for(
    headers: CIMultiDictProxy[str],
    metadata: Mapping[str, str],
    params: Mapping[str, Any],
    registry: ProviderRegistry,
    settings: Settings,
    health: TargetHealth,
    pathname: str,
    config: str | None = None,
    virtual_keys: Mapping[str, VirtualKey] = _NO_VIRTUAL_KEYS,
) -> list[Target]:
    """The targets to try, in order: the plan of ``config`` (``x-portkey-config``, or the gateway
    key's default), or the one the headers name.

    ``pathname`` is the request's path (``/v1/chat/completions``), for ``url.pathname`` conditions;
    ``virtual_keys`` holds every virtual key :func:`virtual_key_names` named, resolved.
    """
    # The Anthropic SDK sends its key as x-api-key, whichever provider serves it.
    sdk = pathname.startswith(ANTHROPIC_CLIENT_PATH)
    if not config:
        return [target_from_headers(headers, registry, settings, virtual_keys, anthropic_client=sdk)]

    def key_of(node: Node) -> TargetIdentity:
        target = _from_node(node, headers, registry, settings, virtual_keys, anthropic_client=sdk)
        return target.identity(_model(node.override_params, params, node.default_params))

    legs = plan(parsed_config(config, settings), metadata, params, _LoadFromHealth(health, key_of), pathname)
    return [
        _from_node(leg.node, headers, registry, settings, virtual_keys, anthropic_client=sdk).for_leg(
            leg, params
        )
        for leg in legs
    ]


def virtual_key_names(headers: CIMultiDictProxy[str], config: str | None, settings: Settings) -> set[str]:
    """The virtual keys a request may use: ``x-portkey-virtual-key`` and its config's
    ``virtual_key`` values (the config is parsed once and cached, so this costs a walk)."""
    names = set()
    if header := headers.get(VIRTUAL_KEY_HEADER, "").strip():
        names.add(header)
    if config:
        names.update(node.virtual_key for node in parsed_config(config, settings).walk() if node.virtual_key)
    return names


def provider_names(
    headers: CIMultiDictProxy[str],
    config: str | None,
    settings: Settings,
    virtual_keys: Mapping[str, VirtualKey],
) -> set[str]:
    """The provider slugs a request may go to: its header's, its config targets' (the config is
    parsed once and cached) and its virtual keys'."""
    names = {key.provider for key in virtual_keys.values()}
    if slug := headers.get("x-portkey-provider", "").strip():
        names.add(slug)
    if config:
        names.update(node.provider for node in parsed_config(config, settings).walk() if node.provider)
    return names


def target_from_headers(
    headers: CIMultiDictProxy[str],
    registry: ProviderRegistry,
    settings: Settings,
    virtual_keys: Mapping[str, VirtualKey] = _NO_VIRTUAL_KEYS,
    *,
    anthropic_client: bool = False,
) -> Target:
    """The one target the headers name: ``x-portkey-provider`` (or the virtual key's provider)."""
    virtual = _virtual_key(headers.get(VIRTUAL_KEY_HEADER, "").strip(), virtual_keys)
    slug = virtual.provider if virtual is not None and not headers.get("x-portkey-provider") else None
    adapter = registry.get(slug or _header_provider(headers, None))
    configured = settings.providers.get(adapter.spec.slug, _NO_PROVIDER_SETTINGS)
    custom_host = headers.get("x-portkey-custom-host", "")
    option = adapter.spec.host_option
    option_host = headers.get(f"x-portkey-{option}", "").strip() if option else ""
    base_url = (
        check_custom_host(custom_host, settings.host_policy)
        if custom_host
        else _checked_option_host(adapter, option_host, settings)
        or _huggingface_base_url(headers, adapter.spec.slug, settings)
        or configured.base_url
    )
    options = {
        name: headers.get(f"x-portkey-{name}", "").strip() or configured.options.get(name, "")
        for name in adapter.option_headers
    }
    api_key = _api_key(headers, adapter.spec.slug, settings, anthropic_client) or configured.api_key
    target = Target(
        adapter, api_key, base_url, options, strict_open_ai_compliance=strict_compliance(headers, None)
    )
    if virtual is None:
        return target
    return _with_virtual_key(target, virtual, custom_host or option_host, VIRTUAL_KEY_HEADER)


def _checked_option_host(adapter: ProviderAdapter, value: str, settings: Settings) -> str:
    """The caller's base URL from the adapter's host option (azure-ai's foundry URL) through the
    SSRF guard, as a custom host is; ``""`` without one."""
    if not value:
        return ""
    header = f"x-portkey-{adapter.spec.host_option}"
    return check_custom_host(value, settings.host_policy, header, header)


def _virtual_key(name: str | None, virtual_keys: Mapping[str, VirtualKey]) -> VirtualKey | None:
    # Every name was resolved before planning (an unknown one is a 400 there).
    return virtual_keys[name] if name else None


def _with_virtual_key(target: Target, virtual: VirtualKey, custom_host: str, param: str) -> Target:
    """``target`` with the virtual key's credential, options and base URL over the caller's. A
    caller's custom host is refused: it would send the stored secret wherever the caller likes."""
    if custom_host:
        raise InvalidRequest(
            f"A custom host cannot be combined with a virtual key ({param}): the virtual key's "
            "credential goes only to its own provider or base URL.",
            param=param,
            code="custom_host_with_virtual_key",
        )
    return dataclasses.replace(
        target,
        api_key=virtual.api_key or target.api_key,
        base_url=virtual.base_url or target.base_url,
        options={**target.options, **{k: v for k, v in virtual.options.items() if k in target.options}},
        virtual_key=virtual.name,
        virtual_limits=virtual.limits,
    )


def _header_provider(headers: CIMultiDictProxy[str], node: Node | None) -> str:
    """The ``x-portkey-provider`` slug; a 400 without one (``node``: the config target that
    names no provider of its own, so takes the headers')."""
    slug = headers.get("x-portkey-provider", "").strip()
    if slug:
        return slug
    if node is None:
        message = (
            "Missing x-portkey-provider header: name the provider to call, for example "
            "'x-portkey-provider: openai' (docs/providers.md lists every provider), or send a routing "
            "config in x-portkey-config."
        )
    else:
        message = (
            f"The routing config names no provider at {node.path}, so that target is the one the "
            "headers name, and the x-portkey-provider header is missing: send it (for example "
            "'x-portkey-provider: openai') or give the config a 'provider'."
        )
    raise InvalidRequest(message, param="x-portkey-provider", code="missing_provider")


def _from_node(
    node: Node,
    headers: CIMultiDictProxy[str],
    registry: ProviderRegistry,
    settings: Settings,
    virtual_keys: Mapping[str, VirtualKey],
    *,
    anthropic_client: bool = False,
) -> Target:
    """The target a config node names; a node without ``provider`` takes its virtual key's, else
    the headers' (and then the headers' virtual key too). ``x-portkey-custom-host`` wins over the
    node's ``custom_host``, as in Portkey."""
    name = node.virtual_key
    if name is None and node.provider is None:
        name = headers.get(VIRTUAL_KEY_HEADER, "").strip() or None
    virtual = _virtual_key(name, virtual_keys)
    if node.provider is not None:
        adapter = registry.get(node.provider, where=f"{node.path}.provider")
    elif node.virtual_key is not None and virtual is not None:
        adapter = registry.get(virtual.provider, where=f"{node.path}.virtual_key")
    else:
        adapter = registry.get(_header_provider(headers, node))
    configured = settings.providers.get(adapter.spec.slug, _NO_PROVIDER_SETTINGS)
    header_host = headers.get("x-portkey-custom-host", "")
    host_option = adapter.spec.host_option
    option_host = (
        (node.options.get(host_option, "") or headers.get(f"x-portkey-{host_option}") or "").strip()
        if host_option
        else ""
    )
    if header_host:
        base_url = check_custom_host(header_host, settings.host_policy)
    elif node.custom_host:
        where = f"{node.path}.custom_host"
        base_url = check_custom_host(node.custom_host, settings.host_policy, where, "x-portkey-config")
    else:
        base_url = _checked_option_host(adapter, option_host, settings) or configured.base_url
    options = {
        option: node.options.get(option)
        or headers.get(f"x-portkey-{option}", "").strip()
        or configured.options.get(option, "")
        for option in adapter.option_headers
    }
    api_key = (
        node.api_key or _api_key(headers, adapter.spec.slug, settings, anthropic_client) or configured.api_key
    )
    strict = strict_compliance(headers, node.strict_open_ai_compliance)
    target = Target(
        adapter,
        api_key,
        base_url,
        options,
        config_path=node.path,
        default_params=node.default_params,
        drop_params=node.drop_params,
        forward_headers=node.forward_headers or frozenset(),
        cache=node.cache,
        strict_open_ai_compliance=strict,
        before_hooks=node.before_hooks or (),
        after_hooks=node.after_hooks or (),
    )
    if virtual is None:
        return target
    param = f"{node.path}.virtual_key" if node.virtual_key else VIRTUAL_KEY_HEADER
    return _with_virtual_key(target, virtual, header_host or node.custom_host or option_host, param)


class _LoadFromHealth:
    """The load a ``loadbalance`` sees, from this process's target health (targets only: a nested
    strategy counts as idle and unmeasured)."""

    def __init__(self, health: TargetHealth, key_of: Callable[[Node], TargetIdentity]) -> None:
        self._health = health
        self._key_of = key_of

    def in_flight(self, node: Node) -> int:
        return self._health.in_flight(self._key_of(node)) if node.is_target else 0

    def latency(self, node: Node) -> float | None:
        return self._health.latency(self._key_of(node)) if node.is_target else None


@functools.lru_cache(maxsize=256)
def _parsed_inline(text: str, strict: bool) -> Node:
    """Inline configs are parsed once (so their ignored keys are logged once): clients send the
    same header on every request."""
    return parse_config(text, strict)


def parsed_config(value: str, settings: Settings) -> Node:
    """The config ``value`` names: inline JSON (parsed once), or a ``[configs.<id>]`` id."""
    text = value.strip()
    if text.startswith("{"):
        return _parsed_inline(text, settings.routing.strict_configs)
    named = settings.configs.get(text)
    if named is None:
        raise InvalidRequest(
            f"No config named {text!r}: x-portkey-config takes inline JSON or the id of a "
            "[configs.<id>] table in the settings file.",
            param="x-portkey-config",
            code="unknown_config",
        )
    return named


def _model(
    override_params: Mapping[str, Any], params: Mapping[str, Any], default_params: Mapping[str, Any]
) -> str:
    """The model a target is asked for: its config's override, else the request's own, else the
    config's default."""
    model = override_params.get("model", params.get("model", default_params.get("model")))
    return model if isinstance(model, str) else ""


def _huggingface_base_url(headers: CIMultiDictProxy[str], provider: str, settings: Settings) -> str:
    """Portkey's ``x-portkey-huggingface-base-url``: a dedicated Inference Endpoint's URL, to which
    the gateway appends ``/v1/chat/completions`` as Portkey does; guarded like a custom host."""
    value = headers.get(_HF_BASE_URL, "").strip() if provider == "huggingface" else ""
    if not value:
        return ""
    return check_custom_host(value.rstrip("/") + "/v1", settings.host_policy, _HF_BASE_URL, _HF_BASE_URL)


def strict_compliance(headers: CIMultiDictProxy[str], configured: bool | None) -> bool:
    """Whether answers are strictly OpenAI's: yes (the default, as in Portkey) unless the
    ``x-portkey-strict-open-ai-compliance`` header or the config node's (inherited)
    ``strict_open_ai_compliance`` says ``false``. Either ``false`` wins, as in Portkey, where the
    SDK sends the header on every call."""
    value = headers.get(_STRICT)
    if value is not None:
        flag = value.strip().lower()
        if flag == "false":
            return False
        if flag != "true":
            raise InvalidRequest(
                f"{_STRICT} must be 'true' or 'false'.",
                param=_STRICT,
                code="invalid_strict_open_ai_compliance",
            )
    return configured is not False


def _api_key(
    headers: CIMultiDictProxy[str], provider: str, settings: Settings, anthropic_client: bool = False
) -> str:
    """The caller's provider key: ``Authorization: Bearer``, else ``x-portkey-api-key``, else (for
    Anthropic, and for any provider behind ``/v1/messages``: ``anthropic_client``, as the Anthropic
    SDK and Claude Code send it) ``x-api-key``. With gateway keys
    on, ``Authorization`` and ``x-api-key`` hold the gateway key: only ``x-portkey-api-key`` counts."""
    if settings.keys.enabled:
        return headers.get("x-portkey-api-key", "").strip()
    authorization = headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = headers.get("x-portkey-api-key", "").strip()
    if not key and (provider == "anthropic" or anthropic_client):
        return headers.get("x-api-key", "").strip()
    return key
