"""``load_settings``: embedded defaults < TOML file < ``GATEWAY_*`` environment, with dotted-path errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.config.settings import (
    ProviderSettings,
    Settings,
    SettingsError,
    load_settings,
    replace_server,
)
from gateway.limits.caller import Budget, key_digest

WriteToml = Callable[[str], str]


@pytest.fixture
def write_toml(tmp_path: Path) -> WriteToml:
    """Write a settings file into tmp_path; its path."""

    def write(text: str) -> str:
        path = tmp_path / "gateway.toml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_no_file_and_no_environment_gives_the_embedded_defaults() -> None:
    settings = load_settings(None, environ={})
    assert settings == Settings()
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8787
    assert settings.server.workers == 1
    assert settings.upstream.connect_timeout > 0
    assert settings.upstream.idle_timeout > 0
    # aiohttp's default cap of 100 connections would queue requests: the gateway's is unlimited.
    assert settings.upstream.limit_per_host == 0
    assert settings.custom_hosts.allow == ()
    assert settings.custom_hosts.allow_metadata is False
    assert settings.providers == {}


def test_unrelated_environment_variables_are_ignored() -> None:
    assert load_settings(None, environ={"PORT": "1", "GATEWAY_PORTS": "2", "HOME": "/root"}) == Settings()


def test_file_sets_values_in_every_section(write_toml: WriteToml) -> None:
    path = write_toml(
        """
        [server]
        host = "0.0.0.0"
        port = 9000
        workers = 4
        access_log = true
        drain_timeout = 12.5

        [limits]
        max_upload_bytes = 1024

        [upstream]
        connect_timeout = 3
        idle_timeout = 45.5

        [custom_hosts]
        allow = ["vllm.internal:8000", "ollama.internal"]
        allow_metadata = true
        """
    )
    settings = load_settings(path, environ={})
    assert (settings.server.host, settings.server.port, settings.server.workers) == ("0.0.0.0", 9000, 4)
    assert settings.server.access_log is True
    assert settings.server.drain_timeout == 12.5
    assert settings.limits.max_upload_bytes == 1024
    assert settings.upstream.connect_timeout == 3.0
    assert isinstance(settings.upstream.connect_timeout, float)
    assert settings.upstream.idle_timeout == 45.5
    assert settings.custom_hosts.allow == ("vllm.internal:8000", "ollama.internal")
    assert settings.custom_hosts.allow_metadata is True
    # Fields the file does not name keep their defaults.
    assert settings.server.log_level == Settings().server.log_level
    assert settings.limits.max_json_body_bytes == Settings().limits.max_json_body_bytes


def test_environment_overrides_server_and_section_fields() -> None:
    settings = load_settings(
        None,
        environ={
            "GATEWAY_PORT": "9100",
            "GATEWAY_HOST": "0.0.0.0",
            "GATEWAY_ACCESS_LOG": "yes",
            "GATEWAY_UPSTREAM_CONNECT_TIMEOUT": "2.5",
            "GATEWAY_LIMITS_MAX_JSON_BODY_BYTES": "4096",
            "GATEWAY_CUSTOM_HOSTS_ALLOW_METADATA": "true",
        },
    )
    assert settings.server.port == 9100
    assert settings.server.host == "0.0.0.0"
    assert settings.server.access_log is True
    assert settings.upstream.connect_timeout == 2.5
    assert settings.limits.max_json_body_bytes == 4096
    assert settings.custom_hosts.allow_metadata is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vllm.internal:8000", ("vllm.internal:8000",)),
        ("a.internal, b.internal:8080 ,c.internal", ("a.internal", "b.internal:8080", "c.internal")),
        (" a.internal,,", ("a.internal",)),
        ("", ()),
    ],
)
def test_custom_hosts_allow_from_the_environment_is_a_comma_list(
    value: str, expected: tuple[str, ...]
) -> None:
    settings = load_settings(None, environ={"GATEWAY_CUSTOM_HOSTS_ALLOW": value})
    assert settings.custom_hosts.allow == expected


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("on", True), ("0", False), ("off", False)])
def test_boolean_environment_values(value: str, expected: bool) -> None:
    assert load_settings(None, environ={"GATEWAY_ACCESS_LOG": value}).server.access_log is expected


def test_environment_beats_the_file_and_the_file_beats_the_defaults(write_toml: WriteToml) -> None:
    path = write_toml("[server]\nport = 9000\nworkers = 3\n[upstream]\nconnect_timeout = 7\n")
    settings = load_settings(path, environ={"GATEWAY_PORT": "9200", "GATEWAY_UPSTREAM_CONNECT_TIMEOUT": "1"})
    assert settings.server.port == 9200
    assert settings.upstream.connect_timeout == 1.0
    assert settings.server.workers == 3
    assert settings.upstream.idle_timeout == Settings().upstream.idle_timeout


def test_flags_beat_the_environment_and_unset_flags_change_nothing() -> None:
    settings = load_settings(None, environ={"GATEWAY_PORT": "9200", "GATEWAY_WORKERS": "2"})
    flagged = replace_server(settings, port=9300, workers=None, host=None)
    assert flagged.server.port == 9300
    assert flagged.server.workers == 2
    assert flagged.server.host == settings.server.host
    assert flagged.upstream == settings.upstream


def test_env_references_in_the_file_are_expanded(write_toml: WriteToml) -> None:
    path = write_toml(
        """
        [providers.openai]
        api_key = "${OPENAI_API_KEY}"

        [providers.groq]
        api_key = "gsk-${GROQ_SUFFIX}-${GROQ_SUFFIX}"
        base_url = "http://${GROQ_HOST}/openai/v1"

        [custom_hosts]
        allow = ["${GROQ_HOST}"]
        """
    )
    environ = {"OPENAI_API_KEY": "sk-from-env", "GROQ_SUFFIX": "x", "GROQ_HOST": "groq.internal:9"}
    settings = load_settings(path, environ=environ)
    assert settings.providers["openai"] == ProviderSettings(api_key="sk-from-env", base_url="")
    assert settings.providers["groq"] == ProviderSettings(
        api_key="gsk-x-x", base_url="http://groq.internal:9/openai/v1"
    )
    assert settings.custom_hosts.allow == ("groq.internal:9",)


def test_text_that_only_looks_like_a_reference_is_kept(write_toml: WriteToml) -> None:
    path = write_toml('[providers.openai]\napi_key = "$OPENAI_API_KEY and ${1BAD} and ${"\n')
    settings = load_settings(path, environ={})
    assert settings.providers["openai"].api_key == "$OPENAI_API_KEY and ${1BAD} and ${"


def test_a_missing_environment_variable_names_the_field_and_the_variable(write_toml: WriteToml) -> None:
    path = write_toml('[providers.openai]\napi_key = "${NOT_SET_ANYWHERE}"\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={"OTHER": "x"})
    assert "providers.openai.api_key" in str(raised.value)
    assert "NOT_SET_ANYWHERE" in str(raised.value)


def test_a_referenced_variable_that_is_set_but_empty_expands_to_empty(write_toml: WriteToml) -> None:
    path = write_toml('[providers.openai]\napi_key = "${EMPTY}"\n')
    assert load_settings(path, environ={"EMPTY": ""}).providers["openai"].api_key == ""


def test_a_default_after_colon_dash_stands_in_for_an_unset_or_empty_variable(write_toml: WriteToml) -> None:
    path = write_toml(
        '[providers.openai]\napi_key = "${OPENAI_API_KEY:-}"\nbase_url = "${BASE:-http://h:1/v1}"\n'
    )
    assert load_settings(path, environ={}).providers["openai"] == ProviderSettings(
        api_key="", base_url="http://h:1/v1"
    )
    assert load_settings(path, environ={"BASE": ""}).providers["openai"].base_url == "http://h:1/v1"
    set_ = load_settings(path, environ={"OPENAI_API_KEY": "sk-1", "BASE": "http://x/v1"}).providers["openai"]
    assert set_ == ProviderSettings(api_key="sk-1", base_url="http://x/v1")


def test_a_missing_variable_in_a_named_config_names_its_list_index_and_how_to_default_it(
    write_toml: WriteToml,
) -> None:
    path = write_toml(
        """
        [configs.resilient]
        strategy = { mode = "fallback" }
        targets = [
          { provider = "openai", api_key = "sk-1" },
          { provider = "groq", api_key = "${GROQ_API_KEY}" },
        ]
        """
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={})
    message = str(raised.value)
    assert "configs.resilient.targets[1].api_key" in message
    assert "GROQ_API_KEY" in message
    assert "${GROQ_API_KEY:-default}" in message


def test_an_empty_targets_list_is_reported_as_empty(write_toml: WriteToml) -> None:
    path = write_toml("[configs.none]\ntargets = []\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={})
    assert "configs.none" in str(raised.value)
    assert "targets: is empty" in str(raised.value)


def test_providers_table_holds_each_providers_key_and_base_url(write_toml: WriteToml) -> None:
    path = write_toml(
        """
        [providers.openai]
        api_key = "sk-1"

        [providers.vllm]
        base_url = "http://gpu-box:8000/v1"
        """
    )
    providers = load_settings(path, environ={}).providers
    assert set(providers) == {"openai", "vllm"}
    assert providers["openai"].api_key == "sk-1"
    assert providers["openai"].base_url == ""
    assert providers["vllm"] == ProviderSettings(api_key="", base_url="http://gpu-box:8000/v1")


@pytest.mark.parametrize(
    ("toml", "dotted_path"),
    [
        ("[upstream]\nconect_timeout = 1\n", "upstream.conect_timeout"),
        ('[upstream]\nconnect_timeout = "soon"\n', "upstream.connect_timeout"),
        ("[upstream]\nconnect_timeout = -1\n", "upstream.connect_timeout"),
        ("[upstream]\nconnect_timeout = true\n", "upstream.connect_timeout"),
        ('[server]\nport = "eighty"\n', "server.port"),
        ("[server]\nport = [8787]\n", "server.port"),
        ("[server]\nport = 8787.5\n", "server.port"),
        ("[server]\naccess_log = 1.5\n", "server.access_log"),
        ("[server]\nhost = 127\n", "server.host"),
        ("[custom_hosts]\nallow = [1, 2]\n", "custom_hosts.allow"),
        ("[providers.openai]\napi_key = 5\n", "providers.openai.api_key"),
        ('[providers.openai]\napi_key = "sk-1\\r\\nX-Injected: 1"\n', "providers.openai.api_key"),
        ('[providers.bedrock.options]\naws-region = "us-1\\n"\n', "providers.bedrock.options.aws-region"),
        ('[cache]\nsemantic_api_key = "k\\u0000"\n', "cache.semantic_api_key"),
        ('[providers.openai]\nkey = "sk"\n', "providers.openai.key"),
        ('[providers]\nopenai = "sk"\n', "providers.openai"),
        ("server = 1\n", "server"),
        ("[serverz]\nport = 1\n", "serverz"),
    ],
)
def test_bad_settings_name_the_dotted_path(write_toml: WriteToml, toml: str, dotted_path: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(write_toml(toml), environ={})
    assert dotted_path in str(raised.value)


def test_a_key_with_a_line_break_is_refused_without_showing_it(write_toml: WriteToml) -> None:
    """It would go upstream as a header of its own; the error names the field, not the secret."""
    with pytest.raises(SettingsError) as raised:
        load_settings(write_toml('[providers.openai]\napi_key = "sk-secret-4711\\nX: y"\n'), environ={})
    assert "providers.openai.api_key" in str(raised.value)
    assert "line break" in str(raised.value)
    assert "sk-secret-4711" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "dotted_path"),
    [
        ("GATEWAY_PORT", "80a", "server.port"),
        ("GATEWAY_UPSTREAM_CONNECT_TIMEOUT", "fast", "upstream.connect_timeout"),
        ("GATEWAY_ACCESS_LOG", "maybe", "server.access_log"),
        ("GATEWAY_WORKERS", "-2", "server.workers"),
        ("GATEWAY_LOG_LEVEL", "verbose", "server.log_level"),
        ("GATEWAY_UPSTREAM_IDLE_TIMEOUT", "inf", "upstream.idle_timeout"),
        ("GATEWAY_UPSTREAM_IDLE_TIMEOUT", "nan", "upstream.idle_timeout"),
    ],
)
def test_bad_environment_values_name_the_dotted_path(name: str, value: str, dotted_path: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(None, environ={name: value})
    assert dotted_path in str(raised.value)


def test_an_unreadable_file_is_a_settings_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(SettingsError) as raised:
        load_settings(str(missing), environ={})
    assert str(missing) in str(raised.value)


def test_invalid_toml_is_a_settings_error_naming_the_file(write_toml: WriteToml) -> None:
    path = write_toml("[server\nport = 1\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={})
    assert path in str(raised.value)
    assert "TOML" in str(raised.value)


def test_named_configs_are_parsed_at_start_up(write_toml: WriteToml) -> None:
    path = write_toml('[configs.main]\nprovider = "groq"\napi_key = "sk-x"\n')
    config = load_settings(path, environ={}).configs["main"]
    assert (config.provider, config.api_key, config.path) == ("groq", "sk-x", "config")


def test_a_bad_named_config_names_the_config_and_the_field(write_toml: WriteToml) -> None:
    path = write_toml(
        '[configs.main]\nstrategy = { mode = "roundrobin" }\ntargets = [{ provider = "groq" }]\n'
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={})
    assert "configs.main" in str(raised.value)
    assert "config.strategy.mode" in str(raised.value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'strategy = { mode = "fallback" }\ntargets = [' + '{ provider = "groq" }, ' * 51 + "]\n",
            "config has 51 targets; the limit is 50",
        ),
        ('provider = "groq"\noverride_params = { user = "' + "x" * 70000 + '" }\n', "the limit is 65536"),
        (
            'strategy = { mode = "conditional", conditions = [{ query = { "metadata.x" = '
            '{ "$regex" = "(?=a)" } }, then = "a" }] }\ntargets = [{ provider = "groq", name = "a" }]\n',
            "no backreferences or lookaround",
        ),
    ],
    ids=["targets", "size", "regex"],
)
def test_named_configs_are_held_to_the_inline_configs_limits(
    table: str, message: str, write_toml: WriteToml
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(write_toml("[configs.main]\n" + table), environ={})
    assert "configs.main" in str(raised.value)
    assert message in str(raised.value)


def test_a_process_needs_at_least_one_listening_socket() -> None:
    with pytest.raises(SettingsError, match=r"server\.listen_sockets: expected at least 1"):
        load_settings(None, environ={"GATEWAY_LISTEN_SOCKETS": "0"})
    assert load_settings(None, environ={"GATEWAY_LISTEN_SOCKETS": "3"}).server.listen_sockets == 3


def test_semantic_cache_settings_are_checked(write_toml: WriteToml) -> None:
    path = write_toml('[cache]\nmode = "semantic"\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={})
    assert "cache.semantic_provider" in str(raised.value)
    for threshold in ("0", "1.5"):
        with pytest.raises(SettingsError) as raised:
            load_settings(None, environ={"GATEWAY_CACHE_SEMANTIC_THRESHOLD": threshold})
        assert "cache.semantic_threshold: expected a number above 0 and at most 1" in str(raised.value)
    settings = load_settings(
        None,
        environ={
            "GATEWAY_CACHE_MODE": "semantic",
            "GATEWAY_CACHE_SEMANTIC_PROVIDER": "openai",
            "GATEWAY_CACHE_SEMANTIC_MODEL": "text-embedding-3-small",
            "GATEWAY_CACHE_SEMANTIC_API_KEY": "sk-embed",
        },
    )
    assert settings.cache.semantic_threshold == 0.95
    assert "sk-embed" not in repr(settings)


def test_gateway_and_virtual_keys_are_read_from_their_tables(write_toml: WriteToml) -> None:
    path = write_toml(
        "[keys]\nenabled = true\n"
        '[gateway_keys.team-a]\nkey = "${TEAM_A_KEY}"\nmodels = ["gpt-4o-mini"]\n'
        'limits = {requests_per_minute = 60}\nbudgets = [{amount = 5, period = "day"}]\n'
        '[virtual_keys.openai-prod]\nprovider = "openai"\napi_key = "sk-held"\n'
    )
    settings = load_settings(path, environ={"TEAM_A_KEY": "gk-0123456789abcdef"})
    key = settings.gateway_keys["team-a"]
    assert key.digest == key_digest("gk-0123456789abcdef")
    assert key.models == frozenset({"gpt-4o-mini"})
    assert key.limits.requests_per_minute == 60
    assert key.budgets == (Budget(5.0, "day"),)
    assert settings.virtual_keys["openai-prod"].api_key == "sk-held"
    assert "gk-0123456789abcdef" not in repr(settings)
    assert "sk-held" not in repr(settings)


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ('[gateway_keys.a]\nkey = "short"\n', "gateway_keys.a.key"),
        ('[gateway_keys.a]\nkey_sha256 = "nothex"\n', "gateway_keys.a.key_sha256"),
        ('[gateway_keys.a]\nkey = "gk-0123456789abcdef"\nlimits = {rpm = 5}\n', "gateway_keys.a.limits.rpm"),
        (
            '[gateway_keys.a]\nkey = "gk-0123456789abcdef"\nbudgets = [{amount = 5, period = "week"}]\n',
            "gateway_keys.a.budgets[0].period",
        ),
        ('[virtual_keys.v]\napi_key = "sk-held-secret"\n', "virtual_keys.v.provider"),
    ],
)
def test_a_bad_key_definition_names_the_field_and_never_the_secret(
    write_toml: WriteToml, table: str, where: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(write_toml(table), environ={})
    assert where in str(raised.value)
    assert "sk-held-secret" not in str(raised.value)
    assert "gk-0123456789abcdef" not in str(raised.value)
