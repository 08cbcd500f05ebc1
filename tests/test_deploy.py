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
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.test_observability import OBSERVABILITY, run_promtool

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


# --- Prometheus in Kubernetes ----------------------------------------------------------------------
# The Debian promtool is built without Kubernetes service discovery ("field kubernetes_sd_configs not
# found"), so the job is checked in two parts: promtool checks everything but the discovery (each
# kubernetes_sd_configs block replaced by a static target), and the discovery blocks and the meta
# labels the relabelling reads are checked against the Prometheus configuration reference; then the
# job's relabelling is applied to the pods the chart renders.

PROMETHEUS_KUBERNETES = OBSERVABILITY / "prometheus-kubernetes.yml"
# <kubernetes_sd_config>: its own keys and the HTTP client's.
KUBERNETES_SD_KEYS = frozenset(
    {
        "api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata",
        "basic_auth", "authorization", "oauth2", "proxy_url", "no_proxy", "proxy_from_environment",
        "proxy_connect_header", "follow_redirects", "enable_http2", "tls_config",
    }
)  # fmt: skip
KUBERNETES_SD_ROLES = frozenset({"node", "service", "pod", "endpoints", "endpointslice", "ingress"})
# The meta labels of each role this repository uses (a name ending in "_" is a prefix: a label or
# annotation name follows). Every role has the namespace's.
KUBERNETES_META = {
    "pod": (
        "__meta_kubernetes_namespace", "__meta_kubernetes_pod_name", "__meta_kubernetes_pod_ip",
        "__meta_kubernetes_pod_label_", "__meta_kubernetes_pod_labelpresent_",
        "__meta_kubernetes_pod_annotation_", "__meta_kubernetes_pod_annotationpresent_",
        "__meta_kubernetes_pod_container_init", "__meta_kubernetes_pod_container_name",
        "__meta_kubernetes_pod_container_id", "__meta_kubernetes_pod_container_image",
        "__meta_kubernetes_pod_container_port_name", "__meta_kubernetes_pod_container_port_number",
        "__meta_kubernetes_pod_container_port_protocol", "__meta_kubernetes_pod_ready",
        "__meta_kubernetes_pod_phase", "__meta_kubernetes_pod_node_name", "__meta_kubernetes_pod_host_ip",
        "__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_controller_kind",
        "__meta_kubernetes_pod_controller_name",
    ),
}  # fmt: skip
POD_IP = "10.1.2.3"


def kubernetes_jobs(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [job for job in config["scrape_configs"] if "kubernetes_sd_configs" in job]


def documented_meta(name: str, role: str) -> bool:
    return any(name == m or (m.endswith("_") and name.startswith(m)) for m in KUBERNETES_META[role])


def test_kubernetes_prometheus_config_passes_promtool_with_static_targets(tmp_path: Path) -> None:
    """Everything but the discovery, checked by promtool: the file with each kubernetes_sd_configs block
    replaced by one static target, beside the repository's rule files (``rule_files`` resolves as it
    does next to the original, and promtool checks every rule file it finds).

    Checked to fail: with ``action: keep`` misspelt ``action: kep`` in the job, promtool exited 1
    ("unknown relabel action"); with ``rule_files`` pointing at ``rule/*.rules.yml``, no rule file was
    found and this failed."""
    config = yaml.safe_load(PROMETHEUS_KUBERNETES.read_text())
    jobs = kubernetes_jobs(config)
    assert jobs, "no job with kubernetes_sd_configs"
    for job in jobs:
        del job["kubernetes_sd_configs"]
        job["static_configs"] = [{"targets": [f"{POD_IP}:8101"]}]
    checked = tmp_path / PROMETHEUS_KUBERNETES.name
    checked.write_text(yaml.safe_dump(config))
    (tmp_path / "rules").symlink_to(OBSERVABILITY / "rules", target_is_directory=True)
    out = run_promtool("check", "config", str(checked))
    rule_files = sum(len(list(OBSERVABILITY.glob(pattern))) for pattern in config["rule_files"])
    assert rule_files >= 1 and f"SUCCESS: {rule_files} rule files found" in out, out


def test_kubernetes_discovery_blocks_and_meta_labels_are_documented() -> None:
    """The parts promtool cannot check: each kubernetes_sd_configs block has only documented keys and a
    documented role, and every ``__meta_kubernetes_*`` label the job's relabelling reads is one that
    role sets.

    Checked to fail: with ``role: pods`` it named the role; with the source label
    ``__meta_kubernetes_pod_labels_app_kubernetes_io_part_of`` it named the label."""
    for job in kubernetes_jobs(yaml.safe_load(PROMETHEUS_KUBERNETES.read_text())):
        roles = set()
        for block in job["kubernetes_sd_configs"]:
            assert set(block) <= KUBERNETES_SD_KEYS, sorted(set(block) - KUBERNETES_SD_KEYS)
            assert block["role"] in KUBERNETES_SD_ROLES, block["role"]
            assert block["role"] in KUBERNETES_META, f"role {block['role']}: list its meta labels here"
            roles.add(block["role"])
        used = {
            label
            for rule in job.get("relabel_configs", [])
            for label in rule.get("source_labels", [])
            if label.startswith("__meta_kubernetes_")
        }
        assert used, job["job_name"]
        for label in sorted(used):
            assert all(documented_meta(label, role) for role in roles), f"{job['job_name']}: {label}"


def sanitized(name: str) -> str:
    """A Kubernetes label or annotation name as Prometheus writes it into a meta label name."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_targets(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The labels Prometheus' pod role gives a rendered pod: one target per container port."""
    meta = doc["spec"]["template"]["metadata"]
    base = {
        "__meta_kubernetes_namespace": "aduan",
        "__meta_kubernetes_pod_name": f"{doc['metadata']['name']}-0",
        "__meta_kubernetes_pod_ip": POD_IP,
        "__metrics_path__": "/metrics",
        "__scheme__": "http",
    }
    for kind, values in (("label", meta.get("labels", {})), ("annotation", meta.get("annotations", {}))):
        for key, value in values.items():
            base[f"__meta_kubernetes_pod_{kind}_{sanitized(key)}"] = str(value)
            base[f"__meta_kubernetes_pod_{kind}present_{sanitized(key)}"] = "true"
    ports = [p for c in doc["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
    if not ports:
        return [{**base, "__address__": POD_IP}]
    number = "__meta_kubernetes_pod_container_port_number"
    return [
        {**base, "__address__": f"{POD_IP}:{p['containerPort']}", number: str(p["containerPort"])}
        for p in ports
    ]


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus' relabelling, for the actions the job uses (``keep``, ``replace``); None: dropped."""
    out = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        value = rule.get("separator", ";").join(out.get(s, "") for s in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if action == "keep":
            if match is None:
                return None
        elif action == "replace":
            if match is not None:
                template = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
                result = match.expand(template)
                if result:
                    out[rule["target_label"]] = result
                else:
                    out.pop(rule["target_label"], None)
        else:
            pytest.fail(f"relabel action {action!r} is not modelled by this test")
    return out


def test_kubernetes_job_scrapes_each_service_pod_of_the_chart_as_compose_does() -> None:
    """The job's relabelling applied to the pods the chart renders (as Prometheus' pod role labels
    them): it keeps one target per service, on the service's port and /metrics, labelled
    ``service=<name>`` like the compose job; the topic-creation Job's pod is dropped.

    Checked to fail: with the chart's ``prometheus.io/scrape`` annotation removed, no pod was kept;
    with the ``service`` label taken from ``app.kubernetes.io/name``, every target was named
    ``aduan``."""
    (job,) = kubernetes_jobs(yaml.safe_load(PROMETHEUS_KUBERNETES.read_text()))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    services = {s["name"]: int(s["port"]) for s in values["services"]}
    kept = [
        labels
        for doc in render()
        if doc["kind"] in POD_KINDS
        for target in pod_targets(doc)
        if (labels := relabel(target, job["relabel_configs"])) is not None
    ]
    assert sorted((t["service"], t["__address__"], t["__metrics_path__"]) for t in kept) == sorted(
        (name, f"{POD_IP}:{port}", "/metrics") for name, port in services.items()
    )
    assert {t["namespace"] for t in kept} == {"aduan"}
