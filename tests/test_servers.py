"""Prove that the real-server fixtures in conftest.py / servers.py work."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from servers import (
    DEFAULT_PROMETHEUS_CONFIG,
    AlertmanagerServer,
    PrometheusServer,
    amtool_check_config,
    amtool_routes_test,
    promtool_check_rules,
)

RULES_YAML = """\
groups:
  - name: ownership-test
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: AlwaysFiring
        expr: vector(1) > 0
        labels:
          severity: warning
        annotations:
          summary: always firing
      - alert: NeverFiring
        expr: vector(0) > 1
        for: 5m
        labels:
          severity: critical
"""

AM_CONFIG = """\
route:
  receiver: default
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['team="db"']
      receiver: db-team
      continue: true
    - matchers: ['severity="critical"']
      receiver: pager
    - matchers: ['team="web"']
      receiver: web-team
receivers:
  - name: default
  - name: db-team
  - name: pager
  - name: web-team
"""


def wait_for(fn, timeout: float = 15.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def all_rules(rules_data: dict) -> list[dict]:
    return [r for g in rules_data["groups"] for r in g["rules"]]


# --------------------------------------------------------------------------- Prometheus


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "ownership-rules.yml"
    path.write_text(RULES_YAML)
    return path


def test_promtool_check_rules(rules_file: Path, tmp_path: Path):
    ok, count, output = promtool_check_rules(rules_file)
    assert ok, output
    assert count == 3, output

    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: Bad\n        expr: sum(\n")
    ok, count, output = promtool_check_rules(bad)
    assert not ok
    assert count is None
    assert output


def test_prometheus_reload_loads_rules(prometheus_server: PrometheusServer, rules_file: Path):
    assert prometheus_server.rules()["groups"] == []
    try:
        prometheus_server.write_config(rule_files=[rules_file])
        prometheus_server.reload()
        rules = wait_for(lambda: all_rules(prometheus_server.rules()))
        assert len(rules) == 3
        assert sorted((r["type"], r["name"]) for r in rules) == [
            ("alerting", "AlwaysFiring"),
            ("alerting", "NeverFiring"),
            ("recording", "job:up:sum"),
        ]
        # The rule file really is evaluated (evaluation interval 1s).
        firing = wait_for(lambda: [a for a in prometheus_server.alerts() if a["labels"]["alertname"] == "AlwaysFiring"])
        assert firing and firing[0]["state"] == "firing"
        result = prometheus_server.query('ALERTS{alertname="AlwaysFiring"}')
        assert result["resultType"] == "vector"
    finally:
        prometheus_server.write_config(DEFAULT_PROMETHEUS_CONFIG, rule_files=[])
        prometheus_server.reload()
    assert prometheus_server.rules()["groups"] == []


def test_prometheus_constructor_with_rule_files(rules_file: Path):
    with PrometheusServer(rule_files=[rules_file]) as prom:
        assert prom.url == f"http://127.0.0.1:{prom.port}"
        assert "rule_files:" in prom.config_path.read_text()
        assert len(all_rules(prom.rules())) == 3
        assert prom.query("1+1")["result"][1] == "2"
        proc = prom.proc
    assert proc.poll() is not None, "prometheus still running after stop"
    assert prom.tmpdir is None


# --------------------------------------------------------------------------- Alertmanager


@pytest.fixture
def am_config_file(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(AM_CONFIG)
    return path


def test_amtool_check_config(am_config_file: Path, tmp_path: Path):
    ok, output = amtool_check_config(am_config_file)
    assert ok, output
    assert "4 receivers" in output

    bad = tmp_path / "bad.yml"
    bad.write_text("route:\n  receiver: nope\nreceivers:\n  - name: default\n")
    ok, output = amtool_check_config(bad)
    assert not ok, output


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"alertname": "X"}, ["default"]),
        ({"alertname": "X", "severity": "critical"}, ["pager"]),
        ({"alertname": "X", "team": "web"}, ["web-team"]),
        # continue: true on the db-team route -> also matches the pager route
        ({"alertname": "X", "team": "db", "severity": "critical"}, ["db-team", "pager"]),
    ],
)
def test_amtool_routes_test(am_config_file: Path, labels: dict, expected: list[str]):
    assert amtool_routes_test(am_config_file, labels) == expected


def test_alertmanager_status_and_alerts(alertmanager_server: AlertmanagerServer):
    status = alertmanager_server.status()
    assert "receiver: default" in status["config"]["original"]
    assert status["cluster"]["status"] == "disabled"

    alertmanager_server.post_alerts(
        [{"labels": {"alertname": "FixtureSmoke", "severity": "warning"}, "annotations": {"summary": "hi"}}]
    )
    alerts = wait_for(lambda: [a for a in alertmanager_server.alerts() if a["labels"]["alertname"] == "FixtureSmoke"])
    assert len(alerts) == 1
    assert [r["name"] for r in alerts[0]["receivers"]] == ["default"]
    assert alerts[0]["annotations"]["summary"] == "hi"


def test_alertmanager_routing_tree(am_config_file: Path):
    with AlertmanagerServer(am_config_file.read_text()) as am:
        assert "db-team" in am.status()["config"]["original"]
        am.post_alerts(
            [
                {"labels": {"alertname": "DbDown", "team": "db", "severity": "critical"}},
                {"labels": {"alertname": "WebSlow", "team": "web"}},
            ]
        )
        alerts = wait_for(lambda: am.alerts() if len(am.alerts()) == 2 else None)
        by_name = {a["labels"]["alertname"]: sorted(r["name"] for r in a["receivers"]) for a in alerts}
        assert by_name == {"DbDown": ["db-team", "pager"], "WebSlow": ["web-team"]}


# --------------------------------------------------------------------------- PostgreSQL


def import_psycopg():
    """psycopg is a [test] dependency: skip locally if missing, fail in CI."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        import psycopg

        return psycopg
    return pytest.importorskip("psycopg")


def test_postgres_pg_stat_statements(postgres_server):
    psycopg = import_psycopg()
    assert postgres_server.url.startswith("postgresql+psycopg://owner:")
    assert postgres_server.url.endswith(f"@127.0.0.1:{postgres_server.port}/ownership")

    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        conn.execute("select pg_stat_statements_reset()")
        conn.execute("select pg_sleep(0.2)")
        rows = conn.execute(
            "select query, calls, mean_exec_time from pg_stat_statements "
            "where query ilike '%pg_sleep%' and query not ilike '%pg_stat_statements%'"
        ).fetchall()
    assert rows, "pg_sleep query not recorded in pg_stat_statements"
    query, calls, mean_ms = rows[0]
    assert calls == 1
    assert mean_ms >= 150, (query, mean_ms)


def test_postgres_password_auth(postgres_server):
    psycopg = import_psycopg()
    dsn = postgres_server.create_role("reader", "right-password")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "reader"

    wrong = postgres_server.dsn_for("reader", "wrong-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)

    wrong_owner = postgres_server.dsn_for(postgres_server.user, "not-" + postgres_server.password)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong_owner, connect_timeout=5)
