"""Deployment files: metric names, service lists, Prometheus rules and YAML syntax (no servers needed).

- Every PromQL expression of the alert rules and the Grafana dashboards uses only metric names some
  service declares (``tests/metric_families.py``), plus Prometheus' own ``up``, and is valid PromQL
  (checked by promtool).
- The compose file, the Helm values and the Prometheus scrape configuration list exactly the services
  that exist under ``services/``, on the same ports.
- ``promtool check rules`` and ``promtool test rules`` pass (Debian package ``prometheus``).
- Every YAML file under ``deploy/`` (Helm templates excepted) parses.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.metric_families import all_families, exporters, label_names, series_names

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
OBSERVABILITY = DEPLOY / "observability"
RULES = OBSERVABILITY / "rules" / "aduan.rules.yml"
RULE_TESTS = OBSERVABILITY / "tests" / "aduan.rules.test.yml"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus.yml"
DASHBOARDS = OBSERVABILITY / "grafana" / "dashboards"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
CHART = DEPLOY / "helm" / "aduan"
HELM_VALUES = CHART / "values.yaml"

BUILTIN_METRICS = frozenset({"up"})
# Consumer timings of the embedded dev/test stack; Apache Kafka refuses sessions under 6 s.
DEV_ONLY_SETTINGS = (
    "ADUAN_KAFKA_SESSION_TIMEOUT_MS",
    "ADUAN_KAFKA_HEARTBEAT_INTERVAL_MS",
    "ADUAN_KAFKA_FETCH_MAX_WAIT_MS",
)


# --- helpers -------------------------------------------------------------------------------------


_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_COMMENTS = re.compile(r"#[^\n]*")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIERS = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
    }
)
_GRAFANA_VARIABLES = re.compile(r"\$\{?__\w+\}?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (function names, labels and keywords left out)."""
    text = _STRINGS.sub('""', expr)
    text = _COMMENTS.sub("", text)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPINGS.sub("", text)
    return {
        m.group(1)
        for m in _IDENTIFIERS.finditer(text)
        if m.group(2) is None and m.group(1).lower() not in _KEYWORDS
    }


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's interval variables by a duration so the expression is plain PromQL."""
    plain = _GRAFANA_VARIABLES.sub("5m", expr)
    assert "$" not in plain, f"unknown Grafana variable in {expr!r}"
    return plain


def rule_expressions() -> list[tuple[str, str]]:
    doc = yaml.safe_load(RULES.read_text())
    return [
        (f"{RULES.name}: {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in doc["groups"]
        for rule in group["rules"]
    ]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{path.name}: {panel.get('title')!r} {target.get('refId')}"
                    found.append((where, grafana_to_promql(target["expr"])))
    return found


def service_dirs() -> set[str]:
    return {p.parent.name for p in (REPO / "services").glob("*/pyproject.toml")}


def compose_doc() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def compose_app_services() -> dict[str, dict[str, Any]]:
    """Compose services built from the one service image definition (infrastructure left out)."""
    return {
        name: spec
        for name, spec in compose_doc()["services"].items()
        if isinstance(spec.get("build"), dict) and spec["build"].get("dockerfile") == "deploy/Dockerfile"
    }


def compose_port(name: str, spec: dict[str, Any]) -> int:
    env = spec["environment"]
    prefix = "ADUAN_" + name.upper().replace("-", "_") + "_"
    return int(env[prefix + "PORT"])


def helm_services() -> list[dict[str, Any]]:
    return yaml.safe_load(HELM_VALUES.read_text())["services"]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found on PATH: install the Debian package `prometheus` "
            "(apt-get install -y prometheus) to check and unit-test the alert rules"
        )
    return path


def run_promtool(*args: str) -> str:
    """Run promtool, which must succeed; returns what it printed."""
    result = subprocess.run([promtool(), *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


# --- (a) metric names ----------------------------------------------------------------------------


def test_extractor_finds_metric_names_only() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (stage, le) (rate(aduan_handle_seconds_bucket{stage="x y"}[5m])))'
        " > 1 and on () sum(increase(aduan_ingest_requests_total[30m] offset 1d)) >= 10"
        ' or up{job="aduan"} == 0 unless aduan_consumer_lag'
    )
    assert metric_names(expr) == {
        "aduan_handle_seconds_bucket",
        "aduan_ingest_requests_total",
        "up",
        "aduan_consumer_lag",
    }


def test_declared_names_follow_prometheus_conventions() -> None:
    names = series_names(all_families())
    assert "aduan_events_dead_lettered_total" in names
    assert "aduan_handle_seconds_bucket" in names
    assert "aduan_handle_seconds" not in names  # a histogram is only queried through its series


def test_case_time_histograms_reach_a_month() -> None:
    """Intake to SKPD topic, intake to case, time to respond and to resolve measure case times: each
    has buckets at 6 h (the respond deadline the SLA dashboard reads), 1, 3, 7, 14 and 30 days, so a
    7-day resolve or a report that reached us a week late lands in a bucket, not in +Inf.

    Checked to fail: with the end-to-end list ending at 6 h (as before), it named
    ``aduan_intake_to_skpd_seconds``."""
    from aduan_router.metrics import INTAKE_TO_SKPD_SECONDS
    from aduan_sla_monitor.metrics import INTAKE_TO_CASE_SECONDS, RESOLVE_SECONDS, RESPOND_SECONDS

    wanted = {6 * 3600.0, *(days * 86400.0 for days in (1, 3, 7, 14, 30))}
    for histogram in (INTAKE_TO_SKPD_SECONDS, INTAKE_TO_CASE_SECONDS, RESPOND_SECONDS, RESOLVE_SECONDS):
        bounds = set(histogram._upper_bounds)  # the finite buckets and +Inf
        assert wanted <= bounds, (histogram._name, sorted(wanted - bounds))


def test_rules_and_dashboard_use_only_declared_metrics() -> None:
    allowed = series_names(all_families()) | BUILTIN_METRICS
    expressions = rule_expressions() + dashboard_expressions()
    assert len(rule_expressions()) >= 5 and len(dashboard_expressions()) >= 10
    undeclared = []
    for where, expr in expressions:
        used = metric_names(expr)
        assert used, f"{where}: no metric found in {expr!r}"
        undeclared += [f"{where}: {name}" for name in sorted(used - allowed)]
    assert not undeclared, "metrics no service declares:\n" + "\n".join(undeclared)


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each dashboard query, given to it as a recording rule."""
    rules = [
        {"record": f"aduan_dashboard:query_{i}", "expr": expr}
        for i, (_, expr) in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", str(path))


def test_dashboard_uses_the_datasource_variable() -> None:
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"], path.name
        for panel in _panels(dashboard["panels"]):
            if panel.get("targets"):
                assert panel["datasource"]["uid"] == "${datasource}", (path.name, panel["title"])


# --- (b) service lists ---------------------------------------------------------------------------


def test_compose_lists_exactly_the_services() -> None:
    assert set(compose_app_services()) == service_dirs()


def test_helm_values_list_exactly_the_services() -> None:
    names = [s["name"] for s in helm_services()]
    assert len(names) == len(set(names)), "duplicate service in Helm values"
    assert set(names) == service_dirs()


def test_compose_services_are_built_and_checked_alike() -> None:
    for name, spec in compose_app_services().items():
        assert spec["build"] == {
            "context": "..",
            "dockerfile": "deploy/Dockerfile",
            "args": {"SERVICE": name},
        }, name
        assert (REPO / "services" / name / "pyproject.toml").is_file(), f"services/{name} missing"
        port = compose_port(name, spec)
        prefix = "ADUAN_" + name.upper().replace("-", "_") + "_"
        assert spec["environment"][prefix + "HOST"] == "0.0.0.0", name
        probe = " ".join(spec["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/healthz" in probe, name
        assert spec["depends_on"]["topics"]["condition"] == "service_completed_successfully", name
        assert spec["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_ports_agree_across_compose_helm_prometheus_and_the_image() -> None:
    compose_ports = {name: compose_port(name, spec) for name, spec in compose_app_services().items()}
    helm_ports = {s["name"]: int(s["port"]) for s in helm_services()}
    assert compose_ports == helm_ports
    assert len(set(helm_ports.values())) == len(helm_ports), "two services share a port"

    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "aduan"]
    scraped = {
        target: group["labels"]["service"] for group in job["static_configs"] for target in group["targets"]
    }
    assert scraped == {f"{name}:{port}": name for name, port in compose_ports.items()}

    # The one image runs ``aduan-<service>``: every service must install that command.
    for name in compose_ports:
        assert f"aduan-{name} = " in (REPO / "services" / name / "pyproject.toml").read_text(), name
    assert not list((REPO / "services").glob("*/Dockerfile")), "one image definition: deploy/Dockerfile"


def test_compose_topics_init_runs_the_cli_from_the_tools_image() -> None:
    topics = compose_doc()["services"]["topics"]
    assert topics["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile.tools"}
    assert topics["command"] == ["topics", "create"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert 'ENTRYPOINT ["aduan"]' in (DEPLOY / "Dockerfile.tools").read_text()


def test_production_deploys_keep_default_consumer_timings() -> None:
    compose_env = {key for spec in compose_doc()["services"].values() for key in spec.get("environment", {})}
    values = yaml.safe_load(HELM_VALUES.read_text())
    helm_env = set(values["common"]) | {key for s in values["services"] for key in s.get("env", {})}
    helm_env |= {e["name"] for s in values["services"] for e in s.get("secretEnv", [])}
    env_example = {
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    for where, keys in (
        ("compose.yaml", compose_env),
        ("Helm values", helm_env),
        (".env.example", env_example),
    ):
        assert keys, where
        assert not keys & set(DEV_ONLY_SETTINGS), f"{where} sets dev/test-only consumer timings"


def test_env_example_defines_every_required_compose_variable() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    defined = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert required <= set(defined), f"missing in .env.example: {sorted(required - set(defined))}"
    for key, value in defined.items():
        if re.search(r"SECRET|PASSWORD|_KEY$", key):
            assert value.startswith("change-me"), f"{key} in .env.example must be a placeholder"


# --- (c) promtool --------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    run_promtool("check", "rules", str(RULES))


def test_promtool_test_rules() -> None:
    run_promtool("test", "rules", str(RULE_TESTS))


def test_promtool_check_config() -> None:
    run_promtool("check", "config", str(PROMETHEUS_CONFIG))


def test_every_alert_has_a_unit_test() -> None:
    alerts = {
        rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    }
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts <= tested, f"alerts never seen firing in {RULE_TESTS.name}: {sorted(alerts - tested)}"


def readme_anchors() -> set[str]:
    """GitHub's anchors of the README's headings (lower case, spaces to dashes, punctuation dropped)."""
    anchors, fenced = set(), False
    for line in (REPO / "README.md").read_text().splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_every_alert_has_a_runbook_in_the_readme() -> None:
    """Checked to fail: with the heading of AduanServiceDown's runbook renamed, this named it."""
    anchors = readme_anchors()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            runbook = rule["annotations"].get("runbook", "")
            doc, _, anchor = runbook.partition("#")
            assert doc == "README.md" and anchor in anchors, f"{rule['alert']}: runbook {runbook!r}"


def _series_family(selector: str) -> tuple[str, dict[str, str]]:
    name, _, rest = selector.partition("{")
    labels = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name.removesuffix(suffix) in all_families():
            return name.removesuffix(suffix), labels
    return name, labels


def test_rule_tests_feed_series_as_the_services_export_them() -> None:
    """Input series come only from services that export their family; a family without labels (one
    sample on every exporter, like the GPS gauge) is fed from every exporter.

    Checked to fail: with a router series of ``aduan_geocoding_gps_enabled`` added to the GPS test
    (what one shared registry exported), this named it."""
    owners, families = exporters(), all_families()
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        fed: dict[str, set[str]] = {}
        for series in test["input_series"]:
            family, labels = _series_family(series["series"])
            if family in BUILTIN_METRICS:
                continue
            assert family in families, f"{test['name']}: {family} is declared by no service"
            assert labels.get("service") in owners[family], f"{test['name']}: {series['series']}"
            fed.setdefault(family, set()).add(labels["service"])
        for family, services in fed.items():
            if not label_names()[family]:
                assert services == owners[family], f"{test['name']}: {family} from {sorted(services)}"


# --- (d) syntax ----------------------------------------------------------------------------------


def deploy_yaml_files() -> list[Path]:
    templates = CHART / "templates"
    files = [*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")]
    return sorted(p for p in files if templates not in p.parents)


@pytest.mark.parametrize("path", deploy_yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_deploy_yaml_parses(path: Path) -> None:
    assert yaml.safe_load(path.read_text()) is not None


def test_dashboards_are_json() -> None:
    paths = sorted(DASHBOARDS.glob("*.json"))
    assert paths
    for path in paths:
        json.loads(path.read_text())


def test_helm_chart_is_complete() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "aduan"
    templates = {p.name for p in (CHART / "templates").iterdir()}
    assert {"_helpers.tpl", "NOTES.txt", "deployments.yaml", "services.yaml", "topics-job.yaml"} <= templates
    for entry in helm_services():
        assert {"name", "port", "image"} <= set(entry), entry
