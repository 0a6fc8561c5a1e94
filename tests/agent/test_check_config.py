"""Bad input through `ownership check-config`: exit 2, `FILE:LINE: message`, no traceback."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from servers import amtool_check_config

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"


def check(org: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("check-config", "--config", str(org / "ownership.yaml"))


def assert_bad(proc: subprocess.CompletedProcess[str], file: Path, line: int, fragment: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    expected = f"{file}:{line}: "
    assert expected in proc.stderr, f"expected {expected!r} in:\n{proc.stderr}"
    assert re.search(fragment, proc.stderr), proc.stderr


def test_small_org_is_valid(org: Path) -> None:
    proc = check(org)
    assert proc.returncode == 0, proc.stderr
    assert "ok  prom (prometheus): 3 rules in 1 files" in proc.stdout


def test_yaml_syntax_error(org: Path) -> None:
    f = org / "catalog.yaml"
    f.write_text(f.read_text().replace("    tier: 1\n", "    tier: [1\n"))
    proc = check(org)
    assert_bad(proc, f, 21, "YAML syntax error")


def test_a_key_given_twice_names_its_line(org: Path) -> None:
    """yaml-rs refuses a mapping key given twice (so do Prometheus and Alertmanager); PyYAML, which words the
    other errors, accepts it: the key's second line is named, and the first."""
    f = org / "catalog.yaml"
    f.write_text(f.read_text().replace("    tier: 1\n", "    tier: 1\n    tier: 2\n", 1))
    proc = check(org)
    assert_bad(proc, f, 21, r"mapping key 'tier' given twice \(first on line 20\)")


def test_unknown_field_in_catalog(org: Path) -> None:
    f = org / "catalog.yaml"
    f.write_text(f.read_text().replace("    tier: 1\n", "    tier: 1\n    owner_team: payments\n"))
    proc = check(org)
    assert_bad(proc, f, 21, r"unknown field 'services\.0\.owner_team'")


def test_unknown_field_in_config(org: Path) -> None:
    f = org / "ownership.yaml"
    f.write_text(f.read_text().replace("    files: [catalog.yaml]\n", "    files: [catalog.yaml]\n    flies: [x]\n", 1))
    proc = check(org)
    assert_bad(proc, f, 10, r"unknown field 'sources\.0\.flies'")


def test_invalid_promql(org: Path) -> None:
    f = org / "rules" / "checkout.yml"
    f.write_text(f.read_text().replace('expr: up{job="checkout"} == 0', 'expr: up{job="checkout" == 0'))
    proc = check(org)
    assert_bad(proc, f, 15, r"rule 'CheckoutDown': could not parse expression")


def test_two_services_with_one_name(org: Path) -> None:
    f = org / "catalog.yaml"
    f.write_text(f.read_text().replace("  - name: ledger\n", "  - name: checkout\n"))
    proc = check(org)
    assert_bad(proc, f, 23, r'service "checkout": defined twice \(first at .*catalog.yaml:18\)')


def test_unknown_team(org: Path) -> None:
    f = org / "catalog.yaml"
    f.write_text(f.read_text().replace("    team: payments\n    tier: 1", "    team: paymnts\n    tier: 1"))
    proc = check(org)
    assert_bad(proc, f, 19, r'service "checkout": unknown team "paymnts"')


def test_route_with_undefined_receiver(org: Path) -> None:
    f = org / "alertmanager.yml"
    f.write_text(f.read_text().replace("receiver: payments-slack", "receiver: payments-chat"))
    proc = check(org)
    assert_bad(proc, f, 9, r'undefined receiver "payments-chat" used in route')
    ok, _ = amtool_check_config(f)
    assert not ok


def test_alertmanager_config_amtool_rejects(org: Path) -> None:
    """Root route with matchers: amtool check-config refuses it, and so do we."""
    f = org / "alertmanager.yml"
    f.write_text(f.read_text().replace("  receiver: default\n", "  receiver: default\n  matchers: ['team=\"x\"']\n", 1))
    ok, out = amtool_check_config(f)
    assert not ok, out
    proc = check(org)
    assert_bad(proc, f, 1, "root route must not have any matchers")


def test_pagerduty_export_missing_required_field(org: Path) -> None:
    f = org / "pagerduty" / "escalation_policies.json"
    body = json.loads(f.read_text())
    del body["escalation_policies"][0]["escalation_rules"][1]["escalation_delay_in_minutes"]
    f.write_text(json.dumps(body, indent=1))
    proc = check(org)
    assert_bad(proc, f, 4, r"escalation_policies\[0\] PEPAY01: missing required field 'escalation_delay_in_minutes'")


def test_missing_config_file(tmp_path: Path) -> None:
    proc = run_cli("check-config", "--config", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "config file not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_now_is_usage_error(org: Path) -> None:
    proc = run_cli("check-config", "--config", str(org / "ownership.yaml"), "--now", "yesterday")
    assert proc.returncode == 2
    assert "not an ISO 8601 instant" in proc.stderr


@pytest.mark.parametrize("url", ["postgresql://u:hunter2@127.0.0.1/db", "postgresql://u@127.0.0.1/db?password=hunter2"])
def test_inline_store_password_refused(org: Path, url: str) -> None:
    f = org / "ownership.yaml"
    f.write_text(f.read_text().replace("sqlite:///.ownership/test.db", url))
    proc = check(org)
    assert proc.returncode == 2
    assert "password.token_env" in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["pages", "--bogus"], "No such option: --bogus"),
        (["--bogus"], "No such option: --bogus"),
        (["nosuchcmd"], "No such command 'nosuchcmd'"),
        (["pages", "--service"], "'--service' requires an argument"),
        (["serve", "--port", "0"], "Invalid value for '--port'"),
    ],
)
def test_usage_errors_exit_2_without_traceback(org: Path, args: list[str], fragment: str) -> None:
    """typer raises the errors of its own copy of click: they are usage errors like the agent's own."""
    proc = run_cli(*args, "--config", str(org / "ownership.yaml"))
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr


def test_instant_without_offset_suggests_an_instant(org: Path) -> None:
    proc = run_cli("check-config", "--config", str(org / "ownership.yaml"), "--now", "2026-11-19")
    assert proc.returncode == 2
    assert "needs a UTC offset, e.g. 2026-11-19T00:00:00+00:00" in proc.stderr
    again = run_cli("check-config", "--config", str(org / "ownership.yaml"), "--now", "2026-11-19T00:00:00+00:00")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:9090/?access_token=hunter2", "http://127.0.0.1:9090/#hunter2"])
def test_live_url_with_a_query_or_fragment_refused(org: Path, url: str) -> None:
    """A token in a URL's query would be printed with every error naming the URL, and the API paths appended
    after it could never work."""
    f = org / "ownership.yaml"
    text = f.read_text()
    f.write_text(text.replace("    config_file: prometheus.yml\n", f"    url: {url}\n", 1))
    line = text.splitlines().index("    config_file: prometheus.yml") + 1
    proc = check(org)
    assert_bad(proc, f, line, "takes no query string or fragment")
    assert "hunter2" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pages", "--engineer", "x", "--window", "0s"], "--window: must be more than 0 and at most 90d"),
        (["pages", "--engineer", "x", "--window", "100000d"], "--window: must be more than 0 and at most 90d"),
        (
            ["pages", "--service", "x", "--at", "9999-12-31T00:00:00Z"],
            "--at: the instant must be between 1970 and 9000",
        ),
    ],
)
def test_cli_bounds_are_the_apis(org: Path, args: list[str], message: str) -> None:
    """The CLI refuses what the API refuses with 422 (agent.instants holds the one rule)."""
    proc = run_cli(*args, "--config", str(org / "ownership.yaml"))
    assert proc.returncode == 2
    assert message in proc.stderr
