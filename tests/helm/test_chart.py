"""The Helm chart, rendered offline with helm-python-sdk (Helm's own library; no helm binary here),
every manifest validated (kubernetes-validate --strict; custom resources against the CRD schemas),
compared with golden outputs, and the agent's own alerts checked by promtool."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from servers import promtool_check_rules

helm_python = pytest.importorskip("helm_python", reason="helm-python-sdk is in the test extra")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).parent.parent.parent
CHART = ROOT / "helm" / "ownership-agent"
TESTDATA = Path(__file__).parent / "testdata"
K8S_VERSION = "1.30.0"
VALUES = {"default": None, "production": CHART / "ci" / "production-values.yaml"}


def render(values: dict | None) -> dict[str, str]:
    chart = helm_python.Chart.load(str(CHART))
    return chart.render(values, name="ownership", namespace="observability")


def manifests(values: dict | None) -> list[dict]:
    out = []
    for name, text in sorted(render(values).items()):
        if name.endswith("NOTES.txt"):
            continue
        out.extend(d for d in yaml.safe_load_all(text) if d)
    return out


def _values(kind: str) -> dict | None:
    p = VALUES[kind]
    return yaml.safe_load(p.read_text()) if p else None


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_golden(kind: str, request: pytest.FixtureRequest) -> None:
    docs = manifests(_values(kind))
    text = yaml.safe_dump_all(docs, sort_keys=True)
    golden = TESTDATA / f"{kind}.yaml"
    if request.config.getoption("--update-golden") or not golden.exists():
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_every_manifest_is_valid(kind: str) -> None:
    docs = manifests(_values(kind))
    crd_kinds = {"ServiceMonitor", "PrometheusRule"}
    seen = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount"} <= seen
    for d in docs:
        if d["kind"] in crd_kinds:
            continue
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)


CRD_FILES = {
    "ServiceMonitor": "0servicemonitorCustomResourceDefinition.yaml",
    "PrometheusRule": "0prometheusruleCustomResourceDefinition.yaml",
}


def test_custom_resources_match_their_crd_schemas(shared_dir: Path) -> None:
    docs = manifests(_values("production"))
    checked = 0
    for d in docs:
        if d["kind"] not in CRD_FILES:
            continue
        crd = yaml.safe_load(
            (shared_dir / "reference-data" / "prometheus-operator-crds" / CRD_FILES[d["kind"]]).read_text()
        )
        version = d["apiVersion"].split("/")[1]
        schema = next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version)
        # the CRD's patterns are Go regexes (`^(?i)...`): validate without checking the schema itself
        jsonschema.Draft7Validator(schema).validate(d)
        checked += 1
    assert checked == 2


def test_agent_alerts_pass_promtool(tmp_path: Path) -> None:
    [rule] = [d for d in manifests(_values("production")) if d["kind"] == "PrometheusRule"]
    f = tmp_path / "agent-rules.yml"
    f.write_text(yaml.safe_dump(rule["spec"]))
    ok, count, out = promtool_check_rules(f)
    assert ok and count == 4, out


def test_agent_alerts_fire_when_they_should(tmp_path: Path) -> None:
    """`promtool test rules` on the chart's alerts (production values: staleAfter 1h, noSnapshotFor 30m, a
    5m interval): a source down for its `for` fires, one down for less does not; a source whose last
    success stops advancing fires once older than staleAfter, a fresh one never; a process whose scheduler
    turns all failed for three intervals fires, one with a success among them does not; no snapshot
    series at all fires."""
    import subprocess

    from conftest import require_binary
    from servers import PROMTOOL_BIN

    require_binary(PROMTOOL_BIN, "prometheus (promtool)")
    [rule] = [d for d in manifests(_values("production")) if d["kind"] == "PrometheusRule"]
    (tmp_path / "agent-rules.yml").write_text(yaml.safe_dump(rule["spec"]))
    runbook = "https://git.example.com/ownership-agent/docs/checks/OWN000.md"

    def down(source: str) -> dict:
        return {
            "exp_labels": {"severity": "warning", "source": source, "kind": source},
            "exp_annotations": {
                "summary": f"Ownership Agent cannot collect source {source} ({source})",
                "description": "Its answers use the last good facts of this source; they age.",
                "runbook_url": runbook,
            },
        }

    up = 'ownership_source_up{{source="{0}",kind="{0}",instance="a"}}'
    last = 'ownership_source_last_success_timestamp_seconds{{source="{0}",kind="{0}",instance="a"}}'
    runs = 'ownership_scheduler_runs_total{{outcome="{0}",instance="{1}"}}'
    tests = {
        "rule_files": ["agent-rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": up.format("pagerduty"), "values": "1x10 0x110"},  # down from 11m
                    {"series": up.format("catalog"), "values": "1x120"},
                    {"series": last.format("catalog"), "values": "0+60x120"},  # answers every minute
                    {"series": last.format("pagerduty"), "values": "0+60x10 600x110"},  # not after 10m
                    {"series": 'ownership_snapshot_timestamp_seconds{instance="a"}', "values": "0+60x120"},
                ],
                "alert_rule_test": [
                    {"eval_time": "20m", "alertname": "OwnershipAgentSourceDown", "exp_alerts": []},
                    {"eval_time": "30m", "alertname": "OwnershipAgentSourceDown", "exp_alerts": [down("pagerduty")]},
                    {"eval_time": "72m", "alertname": "OwnershipAgentSourceStale", "exp_alerts": []},
                    {
                        "eval_time": "80m",
                        "alertname": "OwnershipAgentSourceStale",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "source": "pagerduty", "kind": "pagerduty"},
                                "exp_annotations": {
                                    "summary": "Source pagerduty has not been collected for 1h",
                                    "runbook_url": runbook,
                                },
                            }
                        ],
                    },
                    {"eval_time": "100m", "alertname": "OwnershipAgentNoSnapshot", "exp_alerts": []},
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    # instance a: a turn every 5 minutes, every one failing from the first
                    {"series": runs.format("failure", "a"), "values": "0 0 0 0 0 1 1 1 1 1 2 2 2 2 2 3x20"},
                    {"series": runs.format("success", "a"), "values": "0x35"},
                    # instance b: failures, but a success within every three intervals
                    {"series": runs.format("failure", "b"), "values": "0 0 0 0 0 1 1 1 1 1 2x25"},
                    {"series": runs.format("success", "b"), "values": "0x10 1 1 1 1 1 1 1 1 1 1 2x15"},
                ],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "OwnershipAgentCollectionsFailing", "exp_alerts": []},
                    {
                        "eval_time": "12m",
                        "alertname": "OwnershipAgentCollectionsFailing",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "instance": "a"},
                                "exp_annotations": {
                                    "summary": "Ownership Agent a: no collection succeeded in three intervals (5m each)",
                                    "description": "It serves its last good snapshot; its log says why each run "
                                    "failed (collection failed).",
                                    "runbook_url": "https://git.example.com/ownership-agent/README.md",
                                },
                            }
                        ],
                    },
                ],
            },
            {
                "interval": "1m",
                "input_series": [{"series": up.format("catalog"), "values": "1x30"}],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "OwnershipAgentNoSnapshot", "exp_alerts": []},
                    {
                        "eval_time": "15m",
                        "alertname": "OwnershipAgentNoSnapshot",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical"},
                                "exp_annotations": {
                                    "summary": "Ownership Agent has taken no snapshot for 30m: collections are failing",
                                    "runbook_url": "https://git.example.com/ownership-agent/README.md",
                                },
                            }
                        ],
                    },
                ],
            },
        ],
    }
    (tmp_path / "agent-rules.test.yml").write_text(yaml.safe_dump(tests))
    proc = subprocess.run(
        [PROMTOOL_BIN, "test", "rules", "agent-rules.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_container_is_non_root_and_read_only() -> None:
    [dep] = [d for d in manifests(None) if d["kind"] == "Deployment"]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["args"][:1] == ["serve"]


def test_secrets_come_from_kubernetes_secrets() -> None:
    docs = manifests(_values("production"))
    [dep] = [d for d in docs if d["kind"] == "Deployment"]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    for name in ("PAGERDUTY_TOKEN", "OWNERSHIP_API_TOKENS", "OWNERSHIP_DB_PASSWORD"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    [cm] = [d for d in docs if d["kind"] == "ConfigMap" and "ownership.yaml" in d["data"]]
    cfg = yaml.safe_load(cm["data"]["ownership.yaml"])
    assert cfg["store"] == {
        "url": "postgresql+psycopg://ownership@postgres.db:5432/ownership",
        "password": {"token_env": "OWNERSHIP_DB_PASSWORD"},
        "retention_full": "7d",
        "retention_daily": "400d",
    }


@pytest.mark.parametrize(
    ("retention", "days"), [({"full": "3d", "daily": "30d"}, (3.0, 30.0)), ({"daily": ""}, (7.0, None))]
)
def test_store_retention_reaches_the_agents_config(retention: dict[str, str], days: tuple[float, float | None]) -> None:
    """`retention` values become the store's retention_full / retention_daily, as the agent reads them
    (an empty `daily`: daily snapshots kept for ever)."""
    from agent.config import Config

    [cm] = [
        d for d in manifests({"retention": retention}) if d["kind"] == "ConfigMap" and "ownership.yaml" in d["data"]
    ]
    cfg = Config.model_validate(yaml.safe_load(cm["data"]["ownership.yaml"]))
    assert cfg.store.retention_days() == days


def test_sqlite_allows_one_replica_only() -> None:
    with pytest.raises(Exception, match="needs database.url"):
        render({"replicaCount": 2})


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://ownership:S3cret@db/o", "postgresql+psycopg://ownership@db/o?password=S3cret"]
)
def test_a_database_url_with_a_password_is_refused(url: str) -> None:
    """It would be written in clear into the ConfigMap (and the agent refuses it at start anyway)."""
    with pytest.raises(Exception, match="database.passwordSecret") as e:
        render({"database": {"url": url}, "replicaCount": 1})
    assert "S3cret" not in str(e.value)


@pytest.mark.parametrize(
    ("interval", "stale", "window_s", "stale_s"),
    [("5m", "1h", 900, 3600), ("1h30m", "1h30m", 16200, 5400), ("1w", "2d12h", 3 * 604800, 216000)],
)
def test_alert_thresholds_take_compound_durations(
    tmp_path: Path, interval: str, stale: str, window_s: int, stale_s: int
) -> None:
    """`1h30m` or `1w` (valid for the agent) gave `[0s]` windows (promtool refuses them) and a `> 0` staleness
    threshold (the alert fired for ever)."""
    values = _values("production") or {}
    values = {
        **values,
        "collectInterval": interval,
        "prometheusRule": {**values["prometheusRule"], "staleAfter": stale},
    }
    [rule] = [d for d in manifests(values) if d["kind"] == "PrometheusRule"]
    exprs = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert f"[{window_s}s]" in exprs["OwnershipAgentCollectionsFailing"]
    assert exprs["OwnershipAgentSourceStale"].rstrip().endswith(f"> {stale_s}")
    f = tmp_path / "agent-rules.yml"
    f.write_text(yaml.safe_dump(rule["spec"]))
    ok, count, out = promtool_check_rules(f)
    assert ok and count == 4, out
    with pytest.raises(Exception, match="not a Prometheus duration"):
        render({**values, "collectInterval": "5 minutes"})


def test_rendered_config_is_a_valid_agent_config(tmp_path: Path) -> None:
    from agent.config import load_config

    for kind in VALUES:
        [cm] = [d for d in manifests(_values(kind)) if d["kind"] == "ConfigMap" and "ownership.yaml" in d["data"]]
        p = tmp_path / f"{kind}.yaml"
        p.write_text(cm["data"]["ownership.yaml"])
        load_config(p)


def test_dashboard_in_the_chart_is_the_generated_one() -> None:
    [cm] = [d for d in manifests(None) if d["kind"] == "ConfigMap" and "ownership.json" in d["data"]]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["data"]["ownership.json"].strip() == (ROOT / "dashboards" / "ownership.json").read_text().strip()


def test_default_values_wait_for_a_token_secret_rather_than_start_without_one() -> None:
    """The agent refuses to serve without an API token: with no Secret named the pod references
    <fullname>-api-tokens (it waits for it, "secret not found") and NOTES.txt says how to create it; it was
    started without one and exited, in a loop."""
    [dep] = [d for d in manifests(None) if d["kind"] == "Deployment"]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["OWNERSHIP_API_TOKENS"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "ownership-ownership-agent-api-tokens", "key": "tokens"}
    notes = render(None)["ownership-agent/templates/NOTES.txt"]
    assert "create secret generic ownership-ownership-agent-api-tokens" in notes
    named = [d for d in manifests({"api": {"tokensSecret": {"name": "mine"}}}) if d["kind"] == "Deployment"][0]
    env = {e["name"]: e for e in named["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OWNERSHIP_API_TOKENS"]["valueFrom"]["secretKeyRef"]["name"] == "mine"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"store": {"retention_full": "1d"}}, "config.store is written by the chart"),
        ({"serve": {"interval": "1m"}}, "config.serve.interval is set by the chart"),
    ],
)
def test_config_the_chart_writes_itself_is_refused(config: dict, message: str) -> None:
    """These were silently replaced by the chart's own values."""
    with pytest.raises(Exception, match=message):
        render({"config": config})


def test_the_service_port_is_not_the_containers() -> None:
    """`service.port: 80` made the non-root container (every capability dropped) bind port 80, which it cannot."""
    docs = manifests({"service": {"port": 80}, "dashboard": {"labels": {"grafana_dashboard": 1}}})
    [dep] = [d for d in docs if d["kind"] == "Deployment"]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 8080 and container["args"][-1] == "8080"
    [svc] = [d for d in docs if d["kind"] == "Service"]
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == "http"
    # a label given as a number is written as the string Kubernetes requires
    [dash] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    for d in docs:
        if d["kind"] not in ("ServiceMonitor", "PrometheusRule"):
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
