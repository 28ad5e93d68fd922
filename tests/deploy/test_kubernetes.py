"""The Helm chart (deploy/helm/ai-gateway) and the plain manifests rendered from it.

Renders the chart with the real helm binary (``make helm`` puts it beside this venv's python),
validates every object against the Kubernetes schemas with kubernetes-validate, and checks what
would hurt a user in a cluster: probes and port the gateway does not serve, a grace period shorter
than the drain, a settings file that does not start, a pod that runs as root or writes its image.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes_validate
import pytest
import yaml

from tests.functional.gateway_process import GatewayProcess, eventually, free_port, gateway_env, start_gateway

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "ai-gateway"
MANIFESTS = ROOT / "deploy" / "kubernetes" / "ai-gateway.yaml"
HELM = Path(sys.executable).with_name("helm")
#: The chart's minimum (Chart.yaml kubeVersion: the preStop sleep action is on from 1.30) and a
#: recent release.
KUBERNETES_VERSIONS = ("1.30", "1.35")

Manifest = dict[str, Any]

#: Values people change, each rendering checked like the defaults.
VARIATIONS: dict[str, list[str]] = {
    "defaults": [],
    "autoscaling off, 5 replicas": ["--set", "autoscaling.enabled=false", "--set", "replicaCount=5"],
    "existing secret": ["--set", "existingSecret=team-keys"],
    "keys given as values": [
        "--set", "secrets.OPENAI_API_KEY=sk-test-1", "--set", "secrets.GATEWAY_ADMIN_TOKEN=t",
    ],
    "extra env, 4 workers": [
        "--set", "env[0].name=GATEWAY_CUSTOM_HOSTS_ALLOW", "--set", "env[0].value=10.0.0.0/8",
        "--set", "workers=4", "--set", "resources.requests.cpu=4",
    ],
    "long drain, no pdb, no spread": [
        "--set", "drainTimeout=600", "--set", "preStopSleepSeconds=0",
        "--set", "podDisruptionBudget.enabled=false", "--set", "topologySpread.enabled=false",
    ],
}  # fmt: skip


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.is_file(), f"{HELM} is missing: run `make helm`"
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=30, check=False)


def render(*args: str) -> str:
    result = helm("template", "ai-gateway", str(CHART), *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def objects(*args: str) -> dict[str, Manifest]:
    """The rendered objects by kind (the chart renders at most one of each)."""
    rendered = [doc for doc in yaml.safe_load_all(render(*args)) if doc]
    by_kind = {doc["kind"]: doc for doc in rendered}
    assert len(by_kind) == len(rendered), "two objects of one kind"
    return by_kind


def pod_spec(manifests: dict[str, Manifest]) -> Manifest:
    spec: Manifest = manifests["Deployment"]["spec"]["template"]["spec"]
    return spec


def container(manifests: dict[str, Manifest]) -> Manifest:
    (gateway,) = pod_spec(manifests)["containers"]
    return dict(gateway)


def env_of(manifests: dict[str, Manifest]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(manifests)["env"] if "value" in item}


def test_chart_passes_helm_lint_strict() -> None:
    result = helm("lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variation", VARIATIONS)
def test_every_object_validates_against_the_kubernetes_schemas(variation: str) -> None:
    manifests = objects(*VARIATIONS[variation])
    for version in KUBERNETES_VERSIONS:
        for manifest in manifests.values():
            kubernetes_validate.validate(manifest, version, strict=True)


def test_the_values_decide_which_objects_are_rendered() -> None:
    assert set(objects()) == {
        "Deployment",
        "Service",
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    fixed = objects(*VARIATIONS["autoscaling off, 5 replicas"])
    assert "HorizontalPodAutoscaler" not in fixed
    assert fixed["Deployment"]["spec"]["replicas"] == 5
    # With autoscaling on, the Deployment leaves the count to the HPA (a replicas field would fight it).
    assert "replicas" not in objects()["Deployment"]["spec"]

    given = objects(*VARIATIONS["keys given as values"])
    secret = given["Secret"]
    assert {name: base64.b64decode(value).decode() for name, value in secret["data"].items()} == {
        "OPENAI_API_KEY": "sk-test-1",
        "GATEWAY_ADMIN_TOKEN": "t",
    }
    assert container(given)["envFrom"] == [
        {"secretRef": {"name": secret["metadata"]["name"], "optional": False}}
    ]

    existing = objects(*VARIATIONS["existing secret"])
    assert "Secret" not in existing
    assert container(existing)["envFrom"] == [{"secretRef": {"name": "team-keys", "optional": False}}]


def test_the_service_hpa_and_pdb_reach_the_deployments_pods() -> None:
    manifests = objects()
    deployment = manifests["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert manifests["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    # The HPA's CPU target is a share of the request: without one it cannot scale.
    assert container(manifests)["resources"]["requests"]["cpu"]
    (service_port,) = manifests["Service"]["spec"]["ports"]
    (container_port,) = container(manifests)["ports"]
    assert service_port["targetPort"] == container_port["name"]


@pytest.mark.parametrize("variation", VARIATIONS)
def test_grace_period_outlasts_the_prestop_sleep_and_the_drain(variation: str) -> None:
    manifests = objects(*VARIATIONS[variation])
    env = env_of(manifests)
    sleep = container(manifests)["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(env["GATEWAY_DRAIN_DELAY"]) + float(env["GATEWAY_DRAIN_TIMEOUT"])
    assert pod_spec(manifests)["terminationGracePeriodSeconds"] > sleep + drain


@pytest.mark.parametrize("variation", VARIATIONS)
def test_the_pod_runs_as_non_root_on_a_read_only_root(variation: str) -> None:
    manifests = objects(*VARIATIONS[variation])
    pod = pod_spec(manifests)["securityContext"]
    assert (pod["runAsNonRoot"], pod["runAsUser"], pod["seccompProfile"]["type"]) == (
        True,
        10001,
        "RuntimeDefault",
    )
    gateway = container(manifests)["securityContext"]
    assert gateway["readOnlyRootFilesystem"] is True
    assert gateway["allowPrivilegeEscalation"] is False
    assert gateway["capabilities"]["drop"] == ["ALL"]
    assert "/tmp" in {mount["mountPath"] for mount in container(manifests)["volumeMounts"]}


def test_committed_manifests_are_a_fresh_render_of_the_chart() -> None:
    committed = MANIFESTS.read_text()
    header, _, body = committed.partition("\n---\n")
    assert "make manifests" in header, "the header must say how to regenerate"
    assert all(line.startswith("#") for line in header.splitlines())
    assert "---\n" + body == render(), "deploy/kubernetes/ is stale: run `make manifests`"


def test_the_chart_deploys_the_gateway_version_of_this_checkout() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    version = setup["metadata"]["version"]
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"] == version
    assert container(objects())["image"] == f"ai-gateway:{version}"


def test_a_changed_settings_file_rolls_the_pods() -> None:
    def checksum(*args: str) -> str:
        annotation: str = objects(*args)["Deployment"]["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]
        return annotation

    assert checksum() != checksum("--set", "config=[server]\naccess_log = false\n")
    assert checksum() == checksum()


def test_a_misspelt_value_is_refused_by_name() -> None:
    result = helm("template", "ai-gateway", str(CHART), "--set", "drainTimout=5")
    assert result.returncode != 0
    assert "drainTimout" in result.stderr


@pytest.fixture
def gateway_from_the_manifests(tmp_path: Path) -> Iterator[tuple[GatewayProcess, dict[str, Manifest]]]:
    """The gateway started as the pod would start it: the ConfigMap's gateway.toml as it is, the
    container's environment and the Secret's keys; on 127.0.0.1 instead of every address."""
    port = free_port()
    manifests = objects(
        *VARIATIONS["keys given as values"], "--set", f"containerPort={port}", "--set", "drainDelay=2"
    )
    env = env_of(manifests)
    config_mount = next(m for m in container(manifests)["volumeMounts"] if m["name"] == "config")
    assert env["GATEWAY_CONFIG"] == f"{config_mount['mountPath']}/gateway.toml"
    settings = tmp_path / "gateway.toml"
    settings.write_text(manifests["ConfigMap"]["data"]["gateway.toml"])
    keys = {name: base64.b64decode(value).decode() for name, value in manifests["Secret"]["data"].items()}
    assert env["GATEWAY_HOST"] == "0.0.0.0"  # a pod must listen beyond loopback; the test need not
    env.update(GATEWAY_CONFIG=str(settings), GATEWAY_HOST="127.0.0.1")
    process = start_gateway(tmp_path, env=gateway_env(**env, **keys), port=port, port_flag=False)
    try:
        yield process, manifests
    finally:
        process.kill()


async def status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
        return response.status


async def test_the_probes_are_served_on_the_container_port_by_the_rendered_settings(
    gateway_from_the_manifests: tuple[GatewayProcess, dict[str, Manifest]],
) -> None:
    gateway, manifests = gateway_from_the_manifests
    await gateway.wait_ready()
    (port,) = container(manifests)["ports"]
    assert port["containerPort"] == gateway.port
    probes = {
        kind: container(manifests)[kind]["httpGet"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for kind, probe in probes.items():
            assert probe["port"] == port["name"], kind
            assert await status(session, f"http://127.0.0.1:{port['containerPort']}{probe['path']}") == 200, (
                kind
            )

        # On SIGTERM (after the preStop sleep) readiness fails at once while liveness holds, so the
        # pod leaves the endpoints and is not restarted mid-drain.
        gateway.signal(signal.SIGTERM)
        readiness = f"{gateway.url}{probes['readinessProbe']['path']}"
        liveness = f"{gateway.url}{probes['livenessProbe']['path']}"

        async def unready() -> bool:
            return await status(session, readiness) == 503

        await eventually(unready, 1.0, "readiness to fail after SIGTERM")
        assert await status(session, liveness) == 200
    assert await gateway.wait_exit() == 0, gateway.stderr


def test_the_secret_keys_never_reach_the_configmap() -> None:
    marker = hashlib.sha256(b"marker").hexdigest()
    rendered = objects("--set", f"secrets.OPENAI_API_KEY=sk-{marker}")
    for kind, manifest in rendered.items():
        if kind != "Secret":
            assert marker not in yaml.safe_dump(manifest), kind
