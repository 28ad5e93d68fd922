"""The custom-host policy's rules, in order: metadata, allow list, loopback, internal, public."""

from __future__ import annotations

import ipaddress

from gateway.upstream.hostpolicy import HostPolicy, normal_name


def policy(
    *allow: str,
    public: bool = True,
    metadata: bool = False,
    server: str = "0.0.0.0",
    urls: tuple[str, ...] = (),
) -> HostPolicy:
    return HostPolicy.build(
        allow, allow_public=public, allow_metadata=metadata, server_host=server, operator_urls=urls
    )


def test_names_are_compared_lower_case_without_the_trailing_dot() -> None:
    assert normal_name(" API.Example.COM. ") == "api.example.com"


def test_cloud_metadata_is_refused_in_any_spelling_unless_allowed() -> None:
    for host in ("169.254.169.254", "metadata.google.internal", "METADATA.google.internal."):
        assert policy().refusal(host, 80) is not None
        assert policy(metadata=True).refusal(host, 80) is None


def test_loopback_is_open_only_while_the_gateway_listens_on_loopback_only() -> None:
    assert policy(server="127.0.0.1").refusal("localhost", 8080) is None
    assert policy(server="127.0.0.1").refusal("127.0.0.1", 8080) is None
    assert policy().refusal("localhost", 8080) == "a loopback name"
    assert policy().refusal("127.0.0.1", 8080) is not None


def test_internal_names_and_addresses_are_refused_unless_the_allow_list_names_them() -> None:
    assert policy().refusal("vllm.default.svc", 8000) == "an internal name"
    assert policy().refusal("gpu-box", 8000) == "an internal name"
    assert policy().refusal("10.0.0.5", 8000) is not None
    assert policy("vllm.default.svc:8000").refusal("vllm.default.svc", 8000) is None
    assert policy("vllm.default.svc:8000").refusal("vllm.default.svc", 9000) is not None
    assert policy("10.0.0.0/8").refusal("10.0.0.5", 8000) is None


def test_public_hosts_need_allow_public_when_a_caller_names_them() -> None:
    assert policy().refusal("api.example.com", 443) is None
    assert policy(public=False).refusal("api.example.com", 443) == "not in custom_hosts.allow"
    assert policy(public=False, urls=("https://api.example.com/v1",)).refusal("api.example.com", 443) is None


def test_a_vouched_name_may_resolve_anywhere_but_metadata() -> None:
    allowed = policy("llm.corp")
    private = ipaddress.ip_address("10.1.2.3")
    metadata = ipaddress.ip_address("169.254.169.254")
    assert allowed.vouches("LLM.corp.", 443)
    assert allowed.resolved_refusal("llm.corp", 443, private) is None
    assert allowed.resolved_refusal("llm.corp", 443, metadata) is not None
    assert policy().resolved_refusal("api.example.com", 443, private) is not None
