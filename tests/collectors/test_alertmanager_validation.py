"""Differential test: our Alertmanager config validation against the real `amtool check-config`.

Each case is a small alertmanager.yml written by hand.  For each one, `load_alertmanager_config`
must accept it exactly when amtool (Debian's 0.25) accepts it.  When we reject a config because of
something at a specific place, the error names the file and that line: the line is marked in the
case's YAML with a trailing `# <-` comment.

Skips when amtool is absent (fails instead when CI is set).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import AMTOOL_BIN, amtool_check_config

from agent.errors import InputError
from collectors.alertmanager_config import load_alertmanager_config

MARK = "# <-"

RECEIVERS = """\
receivers:
  - name: default
  - name: team-a
    webhook_configs:
      - url: http://127.0.0.1:5001/
  - name: team-b
"""


@dataclass
class Case:
    id: str
    yaml: str
    ok: bool
    xfail: str | None = None  # why our loader cannot follow amtool here

    @property
    def line(self) -> int | None:
        """1-based line marked with `# <-`, where the error must point (None: no specific place)."""
        for i, line in enumerate(self.yaml.splitlines(), start=1):
            if line.rstrip().endswith(MARK):
                return i
        return None


def route(body: str = "", receivers: str = RECEIVERS) -> str:
    """A root route to `default` plus `body` (indented under `route:`), then the receivers."""
    return "route:\n  receiver: default\n" + body + receivers


CASES = [
    # ------------------------------------------------------------------ accepted
    Case("minimal", route(), True),
    Case(
        "nested-routes-continue-matchers",
        route(
            "  group_by: [alertname, service]\n"
            "  routes:\n"
            "    - receiver: team-a\n"
            "      continue: true\n"
            "      matchers:\n"
            '        - service="api"\n'
            '        - severity=~"critical|warning"\n'
            "      routes:\n"
            "        - receiver: team-b\n"
            "          matchers: ['env!=\"dev\"', 'team!~\"^x.*\"']\n"
            "    - receiver: team-b\n"
        ),
        True,
    ),
    Case(
        "matchers-quotes-escapes-unicode",
        route(
            "  routes:\n"
            "    - receiver: team-a\n"
            "      matchers:\n"
            '        - \'summary="say \\"hi\\", then go"\'\n'
            "        - 'team=\"équipe données\"'\n"
            "        - 'owner=\"🚀\"'\n"
            "        - severity=critical\n"
            '        - \'{env="prod", region=~"eu-.*"}\'\n'
        ),
        True,
    ),
    Case(
        "old-style-match-and-match-re",
        route(
            "  routes:\n"
            "    - receiver: team-a\n"
            "      match:\n"
            "        service: api\n"
            "      match_re:\n"
            "        severity: ^(critical|warning)$\n"
        ),
        True,
    ),
    Case("group-by-wildcard", route("  group_by: ['...']\n"), True),
    Case(
        "durations",
        route("  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1d4h\n"),
        True,
    ),
    Case(
        "mute-time-intervals",
        route("  routes:\n    - receiver: team-a\n      matchers: [service=api]\n      mute_time_intervals: [nights]\n")
        + "mute_time_intervals:\n"
        "  - name: nights\n"
        "    time_intervals:\n"
        "      - times:\n"
        "          - start_time: '00:00'\n"
        "            end_time: '08:00'\n"
        "        weekdays: ['monday:friday']\n",
        True,
    ),
    Case(
        "active-time-intervals-full-spec",
        route(
            "  routes:\n"
            "    - receiver: team-a\n"
            "      active_time_intervals: [business-hours]\n"
            "      mute_time_intervals: [holidays]\n"
        )
        + "time_intervals:\n"
        "  - name: business-hours\n"
        "    time_intervals:\n"
        "      - weekdays: ['monday:friday', saturday]\n"
        "        times:\n"
        "          - start_time: '09:00'\n"
        "            end_time: '17:30'\n"
        "        location: Europe/Berlin\n"
        "  - name: holidays\n"
        "    time_intervals:\n"
        "      - days_of_month: ['1', '-3:-1']\n"
        "        months: ['december', 'january:february']\n"
        "        years: ['2024:2030']\n",
        True,
    ),
    Case(
        "inhibit-new-matchers",
        route() + "inhibit_rules:\n"
        '  - source_matchers: [severity="critical"]\n'
        "    target_matchers: ['severity=~\"warning|info\"']\n"
        "    equal: [alertname, cluster]\n",
        True,
    ),
    Case(
        "inhibit-old-matchers",
        route() + "inhibit_rules:\n"
        "  - source_match: {severity: critical}\n"
        "    target_match_re: {severity: 'warning|info'}\n"
        "    equal: ['service']\n",
        True,
    ),
    Case(
        "pagerduty-routing-key",
        route(receivers="receivers:\n  - name: default\n    pagerduty_configs:\n      - routing_key: abc123\n"),
        True,
    ),
    Case(
        "pagerduty-service-key-file",
        route(
            receivers="receivers:\n  - name: default\n    pagerduty_configs:\n"
            "      - service_key_file: /etc/alertmanager/pd.key\n        severity: critical\n"
        ),
        True,
    ),
    Case(
        "slack-with-api-url",
        route(
            receivers="receivers:\n  - name: default\n    slack_configs:\n"
            "      - api_url: https://hooks.slack.com/services/T/B/X\n        channel: '#ops'\n"
        ),
        True,
    ),
    Case(
        "slack-with-global-url",
        "global:\n  slack_api_url: https://hooks.slack.com/services/T/B/X\n  resolve_timeout: 5m\n"
        + route(receivers="receivers:\n  - name: default\n    slack_configs:\n      - channel: '#ops'\n"),
        True,
    ),
    Case("templates", "templates: ['/etc/alertmanager/*.tmpl']\n" + route(), True),
    # ------------------------------------------------------------------ rejected
    Case("no-route", RECEIVERS, False),
    Case("root-without-receiver", "route:  # <-\n  group_by: [alertname]\n" + RECEIVERS, False),
    Case(
        "undefined-receiver-in-child",
        route("  routes:\n    - receiver: nobody  # <-\n      matchers: [a=b]\n"),
        False,
    ),
    Case("undefined-root-receiver", "route:\n  receiver: nobody  # <-\n" + RECEIVERS, False),
    Case("root-with-matchers", "route:  # <-\n  receiver: default\n  matchers: [a=b]\n" + RECEIVERS, False),
    Case("root-with-match", "route:  # <-\n  receiver: default\n  match: {a: b}\n" + RECEIVERS, False),
    Case("continue-on-root", route("  continue: true  # <-\n"), False),
    Case(
        "root-with-mute-time-interval",
        "route:  # <-\n  receiver: default\n  mute_time_intervals: [n]\n"
        + RECEIVERS
        + "time_intervals:\n  - name: n\n    time_intervals: [{weekdays: [sunday]}]\n",
        False,
    ),
    Case(
        "duplicate-receiver",
        route(receivers="receivers:\n  - name: default\n  - name: default  # <-\n"),
        False,
    ),
    Case(
        "receiver-without-name",
        route(receivers="receivers:\n  - name: default\n  - webhook_configs: []  # <-\n"),
        False,
    ),
    Case(
        "pagerduty-without-key",
        route(receivers="receivers:\n  - name: default\n    pagerduty_configs:\n      - severity: critical  # <-\n"),
        False,
    ),
    Case(
        "pagerduty-routing-key-and-file",
        route(
            receivers="receivers:\n  - name: default\n    pagerduty_configs:\n"
            "      - routing_key: abc  # <-\n        routing_key_file: /etc/pd.key\n"
        ),
        False,
    ),
    Case(
        "pagerduty-unknown-field",
        route(
            receivers="receivers:\n  - name: default\n    pagerduty_configs:\n"
            "      - routing_key: abc\n        urgency: high  # <-\n"
        ),
        False,
    ),
    Case(
        "slack-without-any-api-url",
        route(receivers="receivers:\n  - name: default\n    slack_configs:\n      - channel: '#ops'  # <-\n"),
        False,
    ),
    Case(
        "webhook-without-url",
        route(receivers="receivers:\n  - name: default\n    webhook_configs:\n      - send_resolved: true  # <-\n"),
        False,
    ),
    Case("unknown-receiver-field", route(receivers="receivers:\n  - name: default\n    phone: 555  # <-\n"), False),
    Case(
        "matcher-without-operator",
        route("  routes:\n    - receiver: team-a\n      matchers:\n        - severity  # <-\n"),
        False,
    ),
    Case(
        "matcher-unterminated-quote",
        route("  routes:\n    - receiver: team-a\n      matchers:\n        - 'severity=\"critical'  # <-\n"),
        False,
    ),
    Case(
        "matcher-invalid-regex",
        route("  routes:\n    - receiver: team-a\n      matchers:\n        - 'severity=~\"(crit\"'  # <-\n"),
        False,
    ),
    Case(
        "match-re-invalid-regex",
        route("  routes:\n    - receiver: team-a\n      match_re:  # <-\n        severity: '[a-'\n"),
        False,
    ),
    Case(
        "match-invalid-label-name",
        route("  routes:\n    - receiver: team-a\n      match:  # <-\n        foo-bar: x\n"),
        False,
    ),
    Case(
        "inhibit-invalid-matcher",
        route() + "inhibit_rules:\n  - source_matchers: ['severity=~\"[\"']  # <-\n    target_matchers: [a=b]\n",
        False,
    ),
    Case("unknown-top-level-field", route() + "tracing2: {}  # <-\n", False),
    Case("unknown-route-field", route("  group_by_labels: [a]  # <-\n"), False),
    Case(
        "undefined-mute-time-interval",
        route("  routes:\n    - receiver: team-a\n      mute_time_intervals: [weekends]  # <-\n"),
        False,
    ),
    Case(
        "undefined-active-time-interval",
        route("  routes:\n    - receiver: team-a\n      active_time_intervals: [office]  # <-\n"),
        False,
    ),
    Case("group-wait-bad-unit", route("  group_wait: 5x  # <-\n"), False),
    Case("group-interval-zero", route("  group_interval: 0s  # <-\n"), False),
    Case("repeat-interval-zero", route("  repeat_interval: 0s  # <-\n"), False),
    Case("group-by-duplicated", route("  group_by: [alertname, cluster, alertname]  # <-\n"), False),
    Case("group-by-wildcard-and-labels", route("  group_by: ['...', alertname]  # <-\n"), False),
    Case("group-by-invalid-label", route("  group_by: [foo-bar]  # <-\n"), False),
    Case(
        "time-interval-bad-weekday",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - weekdays: [funday]  # <-\n",
        False,
    ),
    Case(
        "time-interval-start-after-end",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n"
        "      - times:  # <-\n          - start_time: '18:00'\n            end_time: '09:00'\n",
        False,
    ),
    Case(
        "time-interval-bad-time",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n"
        "      - times:  # <-\n          - start_time: '25:00'\n            end_time: '26:00'\n",
        False,
    ),
    Case(
        "time-interval-day-of-month-zero",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - days_of_month: ['0']  # <-\n",
        False,
    ),
    Case(
        "time-interval-bad-month",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - months: [smarch]  # <-\n",
        False,
    ),
    Case(
        "time-interval-bad-location",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - location: Mars/Olympus  # <-\n",
        False,
    ),
    Case(
        "time-interval-duplicate-name",
        route() + "time_intervals:\n  - name: t\n    time_intervals: [{weekdays: [sunday]}]\n"
        "mute_time_intervals:\n  - name: t  # <-\n    time_intervals: [{weekdays: [monday]}]\n",
        False,
    ),
    Case("yaml-syntax-error", "route:\n  receiver: default\n group_wait: 5s  # <-\n" + RECEIVERS, False),
    # ------------------------------------------------------------------ integrations
    Case(
        "email-with-global-smtp",
        "global:\n  smtp_smarthost: mail.example.com:25\n  smtp_from: am@example.com\n"
        + route(receivers="receivers:\n  - name: default\n    email_configs:\n      - to: ops@example.com\n"),
        True,
    ),
    Case(
        "email-without-smarthost",
        route(receivers="receivers:\n  - name: default\n    email_configs:\n      - to: ops@example.com  # <-\n"),
        False,
    ),
    Case(
        "email-without-to",
        "global:\n  smtp_smarthost: mail.example.com:25\n  smtp_from: am@example.com\n"
        + route(receivers="receivers:\n  - name: default\n    email_configs:\n      - send_resolved: true  # <-\n"),
        False,
    ),
    Case(
        "email-smarthost-without-port",
        route(
            receivers="receivers:\n  - name: default\n    email_configs:\n      - to: ops@example.com\n"
            "        from: am@example.com\n        smarthost: mail.example.com  # <-\n"
        ),
        False,
    ),
    Case(
        "opsgenie-without-api-key",
        route(receivers="receivers:\n  - name: default\n    opsgenie_configs:\n      - message: down  # <-\n"),
        False,
    ),
    Case(
        "opsgenie-with-global-api-key",
        "global:\n  opsgenie_api_key: k\n"
        + route(receivers="receivers:\n  - name: default\n    opsgenie_configs:\n      - message: down\n"),
        True,
    ),
    Case(
        "webhook-url-without-scheme",
        route(receivers="receivers:\n  - name: default\n    webhook_configs:\n      - url: example.com/hook  # <-\n"),
        False,
    ),
    Case(
        "webhook-url-ftp",
        route(receivers="receivers:\n  - name: default\n    webhook_configs:\n      - url: ftp://example.com/  # <-\n"),
        False,
    ),
    Case(
        "pagerduty-url-without-host",
        route(
            receivers="receivers:\n  - name: default\n    pagerduty_configs:\n"
            "      - routing_key: abc\n        url: 'https://'  # <-\n"
        ),
        False,
    ),
    Case("global-slack-url-invalid", "global:\n  slack_api_url: hooks.slack.com  # <-\n" + route(), False),
    Case(
        "pagerduty-client-url-is-free-text",
        route(
            receivers="receivers:\n  - name: default\n    pagerduty_configs:\n"
            "      - routing_key: abc\n        client_url: '{{ template \"pd.link\" . }}'\n"
        ),
        True,
    ),
    # ------------------------------------------------------------------ more time intervals
    Case(
        "time-interval-weekday-range-reversed",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - weekdays: ['friday:monday']  # <-\n",
        False,
    ),
    Case(
        "time-interval-weekday-number",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - weekdays: ['1']  # <-\n",
        False,
    ),
    Case(
        "time-interval-month-range-reversed",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - months: ['march:january']  # <-\n",
        False,
    ),
    Case(
        "time-interval-year-range-reversed",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - years: ['2030:2020']  # <-\n",
        False,
    ),
    Case(
        "time-interval-days-negative-then-positive",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - days_of_month: ['-3:5']  # <-\n",
        False,
    ),
    Case(
        "time-interval-days-always-empty",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - days_of_month: ['30:-5']  # <-\n",
        False,
    ),
    Case(
        "time-interval-days-positive-to-negative",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - days_of_month: ['25:-1']\n",
        True,
    ),
    Case(
        "time-interval-numeric-months-and-24h",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n"
        "      - months: ['1:3', december]\n        times: [{start_time: '18:00', end_time: '24:00'}]\n",
        True,
    ),
    Case(
        "time-interval-abbreviated-month",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n      - months: [Dec]  # <-\n",
        False,
    ),
    Case(
        "time-interval-times-without-end",
        route()
        + "time_intervals:\n  - name: t\n    time_intervals:\n      - times:  # <-\n          - start_time: '09:00'\n",
        False,
    ),
    Case(
        "time-interval-minute-60",
        route() + "time_intervals:\n  - name: t\n    time_intervals:\n"
        "      - times:  # <-\n          - start_time: '09:60'\n            end_time: '10:00'\n",
        False,
    ),
    # ------------------------------------------------------------------ more matchers
    Case(
        "inhibit-equal-invalid-label",
        route()
        + "inhibit_rules:\n  - source_matchers: [a=b]\n    target_matchers: [c=d]\n    equal: [foo-bar]  # <-\n",
        False,
    ),
    Case(
        "regex-lookahead-is-perl-only",
        route("  routes:\n    - receiver: team-a\n      matchers:\n        - 'service=~\"(?!db).*\"'  # <-\n"),
        False,
    ),
    Case(
        "regex-backreference-is-perl-only",
        route("  routes:\n    - receiver: team-a\n      match_re:  # <-\n        service: '(a)\\1'\n"),
        False,
    ),
    Case(
        "regex-balanced-only-once-anchored",
        route("  routes:\n    - receiver: team-a\n      match_re:\n        service: 'api)|(web'\n"),
        True,  # Alertmanager compiles ^(?:api)|(web)$
    ),
    Case(
        "regex-inline-flag",
        route(
            "  routes:\n    - receiver: team-a\n      matchers: ['alertname=~\"(?i)disk.*\"', 'job=~\"a(?i:B)c\"']\n"
        ),
        True,
    ),
    Case(
        "regex-unicode-class",
        route("  routes:\n    - receiver: team-a\n      matchers:\n        - 'team=~\"\\\\pL+\"'\n"),
        True,
    ),
    Case(
        "matcher-quoted-label-name",
        route('  routes:\n    - receiver: team-a\n      matchers:\n        - \'"service"="api"\'  # <-\n'),
        False,
    ),
    Case(
        "matcher-unicode-label-name",
        route("  routes:\n    - receiver: team-a\n      matchers:\n        - 'équipe=\"données\"'  # <-\n"),
        False,
    ),
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def amtool() -> str:
    if not os.access(AMTOOL_BIN, os.X_OK):
        reason = f"amtool not installed ({AMTOOL_BIN}); apt-get install prometheus-alertmanager to run this test"
        if _in_ci():
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return AMTOOL_BIN


def test_case_ids_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.xfail, strict=True)] if c.xfail else [])
        for c in CASES
    ],
)
def test_we_accept_iff_amtool_accepts(case: Case, amtool: str, tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(case.yaml, encoding="utf-8")
    am_ok, am_output = amtool_check_config(path, amtool=amtool)
    # the case table states what amtool does, so a reader sees it without running amtool
    assert am_ok == case.ok, f"amtool {'accepts' if am_ok else 'rejects'} {case.id}:\n{am_output}"
    try:
        load_alertmanager_config(path)
    except InputError as e:
        ours: InputError | None = e
    else:
        ours = None
    assert (ours is None) == am_ok, f"amtool: {am_output.strip()}\nours: {ours}"
    if ours is None:
        return
    msg = str(ours)
    if case.line is not None:
        m = re.match(re.escape(str(path)) + r":(\d+): \S", msg)
        assert m, f"error does not start with `{path}:LINE: `: {msg}"
        assert int(m.group(1)) == case.line, f"error at line {m.group(1)}, expected {case.line}: {msg}"
    else:
        assert re.match(re.escape(str(path)) + r"(:\d+)?: \S", msg), msg
