"""OWN009: which rules watch a queue, and the suggested lag alert, which `promtool check rules` must accept
for every fix the check produces on the demo organisation and the golden cases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from servers import PROMTOOL_BIN, promtool_check_rules

from agent import demo
from agent.config import load_config
from agent.pipeline import collect
from collectors.facts import Matcher, QueueLag
from rules.checks.own009_queue_unwatched import queue_alert_rules_yaml, selectors, watched_by
from rules.engine import run_checks
from rules.findings import Finding
from rules.graph import OwnershipGraph

TESTDATA = Path(__file__).parent / "testdata" / "OWN009"

KAFKA = QueueLag(
    queue="orders.created",
    kind="kafka",
    value=1520,
    labels={"consumergroup": "cw", "topic": "orders.created"},
    metric="kafka_consumergroup_lag",
    query_name="queue_lag:kafka",
)


def _own009(config: Path) -> list[Finding]:
    loaded = load_config(config)
    now = loaded.config.now
    assert now is not None
    return run_checks(OwnershipGraph.build(collect(loaded, now)), now, only={"OWN009"})


def _require_promtool() -> None:
    if not os.access(PROMTOOL_BIN, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but promtool is not installed at {PROMTOOL_BIN}")
        pytest.skip(f"promtool not installed at {PROMTOOL_BIN}")


@pytest.mark.parametrize(
    "config", [demo.config_path(), TESTDATA / "bad" / "ownership.yaml"], ids=["demo", "golden-bad"]
)
def test_every_fix_passes_promtool(config: Path, tmp_path: Path) -> None:
    _require_promtool()
    findings = _own009(config)
    assert findings
    for f in findings:
        assert f.fix is not None and f.fix.rules_yaml
        path = tmp_path / f"{f.subject}.yml"
        path.write_text(f.fix.rules_yaml)
        ok, count, output = promtool_check_rules(path)
        assert ok and count == 1, f"{f.subject}:\n{f.fix.rules_yaml}\n{output}"
        rule = yaml.safe_load(f.fix.rules_yaml)["groups"][0]["rules"][0]
        assert rule["for"] and rule["labels"]["severity"] and rule["labels"]["service"] == f.service
        assert rule["annotations"]["runbook_url"].startswith("https://")
        # the suggested alert watches the queue it is about
        lag = next(e for e in f.evidence if e.kind == "prometheus_signals").values
        q = QueueLag(
            queue=f.subject,
            kind=lag["kind"],
            value=lag["value"],
            labels=lag["labels"],
            metric=lag["metric"],
            query_name=lag["query"],
        )
        assert watched_by(q, [], [(rule["alert"], rule["expr"])]) == [rule["alert"]]


def test_demo_fix_is_the_sqs_age_alert() -> None:
    (f,) = _own009(demo.config_path())
    assert (f.service, f.subject) == ("notifications", "notifications-sms")
    assert f.fix is not None
    rule = yaml.safe_load(f.fix.rules_yaml or "")["groups"][0]["rules"][0]
    assert rule["alert"] == "NotificationsSmsOldestMessageTooOld"
    assert rule["expr"] == (
        'max by (queue_name) (aws_sqs_approximate_age_of_oldest_message_maximum{queue_name="notifications-sms"}) > 600'
    )
    assert rule["for"] == "15m"
    assert rule["labels"] == {"severity": "critical", "service": "notifications", "team": "platform"}


def test_selectors_skip_absent_and_read_name_matchers() -> None:
    assert selectors('absent(x{a="1"}) or y{b=~"2|3"}') == [("y", [_m("b", "=~", "2|3")])]
    assert selectors('{__name__="z", c!="4"}') == [("z", [_m("c", "!=", "4")])]
    assert selectors("this is not promql") == []


def test_watched_by_matchers_and_recording_rules() -> None:
    rec = [
        ("queue:lag:sum", "sum by (consumergroup, topic) (kafka_consumergroup_lag)"),
        ("queue:lag:max", "max(queue:lag:sum)"),
    ]
    assert watched_by(KAFKA, rec, [("A", 'queue:lag:sum{topic="orders.created"} > 1')]) == ["A"]
    assert watched_by(KAFKA, rec, [("A", "queue:lag:max > 1")]) == ["A"]  # derived twice, no queue matcher
    assert watched_by(KAFKA, rec, [("A", 'kafka_consumergroup_lag{topic=~"orders\\\\..+", job="kafka"} > 1')]) == ["A"]
    assert watched_by(KAFKA, rec, [("A", 'kafka_consumergroup_lag{topic="payments"} > 1')]) == []
    assert (
        watched_by(KAFKA, rec, [("A", 'kafka_consumergroup_lag{topic="orders.created", consumergroup="x"} > 1')]) == []
    )
    assert watched_by(KAFKA, rec, [("A", 'absent(kafka_consumergroup_lag{topic="orders.created"})')]) == []
    assert watched_by(KAFKA, [], [("A", "queue:lag:sum > 1")]) == []  # no recording rule: another metric


def test_fix_escapes_label_values_and_names_the_alert(tmp_path: Path) -> None:
    _require_promtool()
    q = QueueLag(
        queue='9 odd "queue"',
        kind="rabbitmq",
        value=5,
        labels={"queue": '9 odd "queue"', "vhost": "/"},
        metric="rabbitmq_queue_messages_ready",
        query_name="queue_lag:rabbitmq",
    )
    text = queue_alert_rules_yaml(
        q, service=None, team=None, runbook_base_url=None, threshold=1000, for_="15m", severity="warning"
    )
    rule = yaml.safe_load(text)["groups"][0]["rules"][0]
    assert rule["alert"] == "Queue9OddQueueQueueBacklogHigh"
    assert 'queue="9 odd \\"queue\\""' in rule["expr"]
    path = tmp_path / "r.yml"
    path.write_text(text)
    ok, count, output = promtool_check_rules(path)
    assert ok and count == 1, output


def _m(name: str, op: str, value: str) -> Matcher:
    return Matcher(name=name, op=op, value=value)  # type: ignore[arg-type]


def test_rule_index_finds_what_reading_every_rule_finds() -> None:
    """RuleIndex parses only the rules whose text names a metric a queue reads (and those with a
    `__name__` matcher or an escape): the same watchers as matching every selector of every rule."""
    from rules.checks.own009_queue_unwatched import RuleIndex, agrees

    recording = [
        ("lag:sum", 'sum by (topic) (kafka_consumergroup_lag{job="kafka"})'),
        ("lag:sum:max", "max by (topic) (lag:sum)"),
        ("other:rate", "rate(http_requests_total[5m])"),
        ("lag:named", '{__name__="kafka_consumergroup_lag", topic="a"}'),
    ]
    alerting = [
        ("A", 'kafka_consumergroup_lag{topic="a"} > 10'),
        ("B", 'kafka_consumergroup_lag{topic="b", consumergroup=~"w.*"} > 10'),
        ("C", 'lag:sum:max{topic!="b"} > 1'),
        ("D", 'absent(kafka_consumergroup_lag{topic="a"})'),
        ("E", '{__name__="kafka_consumergroup_lag"} > 5'),
        ("F", 'lag:named > 1 and on() up{job="x"} == 1'),
        ("G", 'sqs_age{queue_name="q\\u0031"} > 1'),
        ("H", "http_requests_total > 1"),
        ("I", 'kafka_consumergroup_lag{topic="b", job="other"} > 10'),
    ]

    def reference(q: QueueLag) -> list[str]:
        names, todo = {q.metric}, [q.metric]
        while todo:
            n = todo.pop()
            for rec, expr in recording:
                for m, ms in selectors(expr):
                    if m == n and rec not in names and agrees(ms, q.labels):
                        names.add(rec)
                        todo.append(rec)
        hits = []
        for alert, expr in alerting:
            if any(m in names and agrees(ms, q.labels) for m, ms in selectors(expr)):
                hits.append(alert)
        return hits

    queues = [
        QueueLag(queue=t, kind="kafka", value=1, labels=labels, metric="kafka_consumergroup_lag", query_name="q")
        for t, labels in (
            ("a", {"topic": "a"}),
            ("b", {"topic": "b", "consumergroup": "worker"}),
            ("b2", {"topic": "b", "consumergroup": "x"}),
            ("c", {"consumergroup": "w1"}),
        )
    ]
    queues.append(
        QueueLag(queue="q1", kind="sqs", value=1, labels={"queue_name": "q1"}, metric="sqs_age", query_name="q")
    )
    index = RuleIndex(recording, alerting)
    got = [index.watched_by(q) for q in queues]
    assert got == [reference(q) for q in queues]
    assert got[0] == ["A", "C", "E", "F"] and got[1] == ["B", "E", "I"]  # derived, named, matched


def test_texts_naming_is_the_plain_scan() -> None:
    """`_Texts.naming` (one `find` over the joined texts) gives the positions the scan of every text gives."""
    from rules.checks.own009_queue_unwatched import _Texts

    exprs = ["a_lag > 1", "", "b{__name__=~'x'}", "a_lag + a_lag", "c\\u0031", "xa_la", "g", "a_lag", "a\0b"]
    texts = _Texts(exprs)
    for n in ("a_lag", "a_la", "g", "x", "lag > 1\0", "", "a\0b", "zzz", "\0"):
        want = [p for p, e in enumerate(exprs) if n in e or "__name__" in e or "\\" in e]
        assert texts.naming(n) == want, n
