"""deploy/ is valid as written: the compose file passes a real Compose tool's `config`, and the Helm chart
renders with Helm's own template engine into manifests that validate against the Kubernetes schemas.

Tools, all from the package registries: `docker-compose` 1.29 (Debian package, installed by
`make tools`; its `config` validates against the Compose specification's JSON schema and resolves
anchors, merges and variables, no Docker engine needed), `helm-python-sdk` (Helm v4's Go SDK; renders a
chart offline, like `helm template`) and `kubernetes-validate` (the Kubernetes OpenAPI schemas, strict:
unknown fields are errors).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
CHART = DEPLOY / "helm" / "aduan"
PRODUCTION = CHART / "values-production.yaml"
KUBERNETES = "1.33.0"  # the oldest Kubernetes release the chart is checked against
POD_KINDS = {"Deployment", "Job"}


# --- compose ---------------------------------------------------------------------------------------


def compose_config(path: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose not found: install the Debian package 'docker-compose' (make tools)")
    return subprocess.run(
        [tool, "-p", "aduan", "-f", str(path), "--env-file", str(ENV_EXAMPLE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@functools.cache
def compose_config_of_the_file() -> subprocess.CompletedProcess[str]:
    return compose_config()  # about 7 s: run once


def test_compose_file_passes_config() -> None:
    """Checked to fail: with the top-level `name: aduan` the file had before, `config` exits 1 ("'name'
    does not match any of the regexes: '^x-'")."""
    done = compose_config_of_the_file()
    assert done.returncode == 0, done.stderr


def test_compose_config_rejects_a_broken_file(tmp_path: Path) -> None:
    """The validator is real: one misspelt key in an otherwise valid copy makes `config` fail."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    restart: unless-stopped\n", "    restartt: no\n", 1))
    done = compose_config(broken)
    assert done.returncode != 0
    assert "restartt" in done.stderr


def resolved_compose() -> dict[str, Any]:
    done = compose_config_of_the_file()
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = yaml.safe_load(done.stdout)
    return loaded


def test_compose_containers_of_ours_are_hardened_and_bounded() -> None:
    """Every container built from our images runs as the image's non-root user on a read-only root file
    system, without capabilities, with a memory limit.
    Checked to fail: without `<<: *hardening` in the `topics` service, it fails on `topics`."""
    ours = {n: s for n, s in resolved_compose()["services"].items() if "build" in s}
    assert len(ours) == 10  # nine services and the topics init container
    for name, svc in ours.items():
        assert svc.get("user") == "10001:10001", name
        assert svc.get("read_only") is True, name
        assert svc.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert svc.get("mem_limit"), name
        assert svc.get("tmpfs") == ["/tmp"], name


def test_compose_writes_with_majority_and_sets_topic_replication() -> None:
    env = resolved_compose()["services"]["topics"]["environment"]
    assert env["ADUAN_MONGODB_WRITE_CONCERN"] == "majority"
    assert env["ADUAN_KAFKA_REPLICATION_FACTOR"] == "1"  # one broker in this file
    assert env["ADUAN_KAFKA_MIN_INSYNC_REPLICAS"] == "1"


# --- Helm ------------------------------------------------------------------------------------------


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart's manifests as `helm template aduan deploy/helm/aduan -n aduan` would print them."""
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values or {}, name="aduan", namespace="aduan")
    return [
        doc
        for path, text in sorted(rendered.items())
        if path.endswith((".yaml", ".yml"))
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def production_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(PRODUCTION.read_text())
    return loaded


def with_secret(values: dict[str, Any]) -> dict[str, Any]:
    """Values that also render the optional Secret, so it is validated too."""
    return {**values, "secrets": {"create": True, "stringData": {"mongodb-url": "mongodb://db"}}}


PROFILES = {
    "default": lambda: with_secret({}),
    "production": lambda: with_secret(production_values()),
}


def test_helm_lint_finds_no_error() -> None:
    result = helm.lint(str(CHART))
    assert result["errors"] == []
    assert not [m for m in result["messages"] if m["severity"] > 1], result["messages"]  # 1: info


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_rendered_manifests_validate_against_kubernetes_schemas(profile: str) -> None:
    """Checked to fail: with `readOnlyRootFilesystem` misspelt `readOnlyRootFileSystem` in values.yaml,
    strict validation rejects every Deployment ("Additional properties are not allowed")."""
    docs = render(PROFILES[profile]())
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == ["ConfigMap", "Deployment", "Job", "Secret", "Service"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_validation_rejects_a_broken_manifest() -> None:
    """The validator is real: a probe period given as text is refused."""
    values = {"probes": {"startup": {"periodSeconds": "five", "failureThreshold": 60}}}
    deployment = next(d for d in render(values) if d["kind"] == "Deployment")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def pod_containers(doc: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pod = doc["spec"]["template"]["spec"]
    return pod, pod["containers"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_pod_is_non_root_read_only_and_bounded(profile: str) -> None:
    """Checked to fail: with the topics Job's `resources` removed from its template, it fails on the Job."""
    pods = [d for d in render(PROFILES[profile]()) if d["kind"] in POD_KINDS]
    assert len(pods) == 10  # nine services and the topic-creation Job
    for doc in pods:
        pod, containers = pod_containers(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for c in containers:
            where = f"{doc['metadata']['name']}/{c['name']}"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
            assert "memory" in c["resources"]["limits"], where


def test_production_profile_replicates_topics_and_writes_with_majority() -> None:
    """The production settings reach both the services (shared ConfigMap) and the topic-creation Job.
    Checked to fail: with ADUAN_KAFKA_MIN_INSYNC_REPLICAS removed from values-production.yaml."""
    docs = render(production_values())
    common = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    job = next(d for d in docs if d["kind"] == "Job")
    job_env = {e["name"]: e.get("value") for e in pod_containers(job)[1][0]["env"]}
    for env in (common, job_env):
        assert env["ADUAN_KAFKA_REPLICATION_FACTOR"] == "3"
        assert env["ADUAN_KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["ADUAN_MONGODB_WRITE_CONCERN"] == "majority"
    replicas = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["replicas"]
        for d in docs
        if d["kind"] == "Deployment"
    }
    assert replicas["normalizer"] == replicas["router"] == replicas["sla-monitor"] == 2
    assert replicas["ingest-qlue"] == replicas["notifier"] == 1


def test_replicas_map_scales_one_stage() -> None:
    docs = render({"replicas": {"router": 6}})
    router = next(d for d in docs if d["metadata"]["name"] == "aduan-router" and d["kind"] == "Deployment")
    assert router["spec"]["replicas"] == 6


def test_one_image_definition_for_every_service() -> None:
    """compose builds every service from deploy/Dockerfile (build argument SERVICE); no other
    Dockerfile of a service exists."""
    services = resolved_compose()["services"]
    built = {n: s["build"] for n, s in services.items() if "build" in s and n != "topics"}
    assert {b["dockerfile"] for b in built.values()} == {"deploy/Dockerfile"}
    assert {n: b["args"]["SERVICE"] for n, b in built.items()} == {n: n for n in built}
    assert sorted(p.name for p in REPO.glob("services/*/Dockerfile*")) == []
