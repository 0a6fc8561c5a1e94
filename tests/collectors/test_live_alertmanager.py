"""Live Alertmanager: a real one receiving the alerts a real Prometheus fires, routing keys joined three ways."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import servers
from conftest import require_binary
from livestack import Exporter, prometheus_config, wait_until, write_rules

from agent.config import AlertmanagerSource
from collectors.alertmanager import AlertmanagerCollector
from collectors.secrets import fingerprint

INLINE_KEY = "R0uT1nGkEy-inline-0000000000000001"
FILE_KEY = "R0uT1nGkEy-file-00000000000000002"
MOVED_KEY = "R0uT1nGkEy-moved-0000000000000003"
MOVED_PATH = "/nonexistent/ownership-test/payments.key"


def am_config(key_file: Path) -> str:
    return f"""\
route:
  receiver: team-webhook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="page"', 'service="checkout"']
      receiver: pagerduty-checkout
    - matchers: ['service="payments"']
      receiver: pagerduty-payments
receivers:
  - name: team-webhook
    webhook_configs:
      - url: http://127.0.0.1:9/hook
  - name: pagerduty-checkout
    pagerduty_configs:
      - routing_key: {INLINE_KEY}
        url: http://127.0.0.1:9/enqueue
      - routing_key_file: {key_file}
        url: http://127.0.0.1:9/enqueue
  - name: pagerduty-payments
    pagerduty_configs:
      - routing_key_file: {MOVED_PATH}
        url: http://127.0.0.1:9/enqueue
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    require_binary(servers.PROMETHEUS_BIN, "prometheus")
    require_binary(servers.ALERTMANAGER_BIN, "prometheus-alertmanager")
    folder = tmp_path_factory.mktemp("live-am")
    key_file = folder / "checkout.key"
    key_file.write_text(FILE_KEY + "\n")
    config = am_config(key_file)
    (folder / "alertmanager.yml").write_text(config)
    exporter = Exporter()
    try:
        with (
            servers.AlertmanagerServer(config) as am,
            servers.PrometheusServer(
                prometheus_config(exporter, alertmanager_url=am.url),
                rule_files=[write_rules(folder)],
                extra_args=["--rules.alert.resend-delay=2s"],
            ),
        ):
            wait_until(
                lambda: {a["labels"]["alertname"] for a in am.alerts()} >= {"CheckoutLagHigh", "ShadowExporterMissing"},
                "alerts reached Alertmanager",
            )
            silence = {
                "matchers": [{"name": "service", "value": "payments", "isRegex": False, "isEqual": True}],
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
                "createdBy": "test",
                "comment": "maintenance",
            }
            req = urllib.request.Request(
                f"{am.url}/api/v2/silences",
                data=json.dumps(silence).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                silence_id = json.load(resp)["silenceID"]
            yield am, folder, silence_id
    finally:
        exporter.stop()


def _targets(facts, receiver: str):
    return next(r for r in facts.receivers if r.name == receiver).pagerduty


def test_live_alerts_receivers_and_silences(stack) -> None:
    am, _, silence_id = stack
    got = AlertmanagerCollector(AlertmanagerSource(name="am-eu", kind="alertmanager", url=am.url), Path(".")).collect()
    f = got.facts
    alerts = {a.labels["alertname"]: a for a in f.alerts}
    lag = alerts["CheckoutLagHigh"]
    assert lag.receivers == ["pagerduty-checkout"]
    assert lag.state == "active" and lag.starts_at is not None
    # as Prometheus sent it: external labels added, relabelled, the replica label dropped
    assert lag.labels["region"] == "eu" and lag.labels["paging"] == "yes" and "replica" not in lag.labels
    assert alerts["ShadowExporterMissing"].receivers == ["team-webhook"]
    # the running routing tree
    assert f.route.receiver == "team-webhook"
    assert [r.receiver for r in f.route.routes] == ["pagerduty-checkout", "pagerduty-payments"]
    assert f.route.routes[0].group_wait_s is None and f.route.group_wait_s == 0
    assert {r.name for r in f.receivers} == {"team-webhook", "pagerduty-checkout", "pagerduty-payments"}
    assert [s.id for s in f.silences] == [silence_id]
    assert f.silences[0].matchers[0].value == "payments" and f.silences[0].comment == "maintenance"
    # the inline key is hidden (<secret>); the key file is readable here, at the path Alertmanager uses
    inline, from_file = _targets(f, "pagerduty-checkout")
    assert inline.key_fingerprint is None
    assert from_file.key_fingerprint == fingerprint(FILE_KEY) and from_file.key_file
    assert _targets(f, "pagerduty-payments")[0].key_fingerprint is None
    detail = got.detail or ""
    assert detail.startswith("live: running config of Alertmanager ")
    assert "1 through the key files it names" in detail
    assert "2 hidden as <secret>: joined through the catalog annotation pagerduty.com/integration-key" in detail
    assert INLINE_KEY not in f.model_dump_json() and FILE_KEY not in f.model_dump_json()


def test_keys_from_the_config_file(stack) -> None:
    am, folder, _ = stack
    src = AlertmanagerSource(name="am-eu", kind="alertmanager", url=am.url, config_file="alertmanager.yml")
    got = AlertmanagerCollector(src, folder).collect()
    inline, from_file = _targets(got.facts, "pagerduty-checkout")
    assert inline.key_fingerprint == fingerprint(INLINE_KEY)
    assert from_file.key_fingerprint == fingerprint(FILE_KEY)
    assert "through the config file alertmanager.yml" in (got.detail or "")
    assert "differ" not in (got.detail or "")
    assert got.facts.config_file is None  # the tree is the running one, not the file's


def test_key_files_found_by_name_in_a_local_folder(stack, tmp_path: Path) -> None:
    am, _, _ = stack
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "payments.key").write_text(MOVED_KEY)
    src = AlertmanagerSource(name="am-eu", kind="alertmanager", url=am.url, key_files_dir="keys")
    got = AlertmanagerCollector(src, tmp_path).collect()
    assert _targets(got.facts, "pagerduty-payments")[0].key_fingerprint == fingerprint(MOVED_KEY)
    assert "2 through the key files it names" in (got.detail or "")
