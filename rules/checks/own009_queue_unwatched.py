"""OWN009: a queue with lag or backlog metrics and no alert on them.

A queue is watched when some alerting rule selects its lag metric (or a recording rule derived from
it, transitively) with matchers that agree with the queue's labels. A matcher on a label the queue's
series does not carry (e.g. `job`) is not held against it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate
from typing import Any, ClassVar

from collectors.durations import format_duration
from collectors.facts import Matcher, QueueLag, Service
from collectors.promql import parse as parse_promql
from rules.checks.own011_no_for import observed_at
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity
from rules.fixes import dump_yaml
from rules.routing import matchers_match

_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
_INVERTED = {"absent", "absent_over_time"}  # they fire when the metric is missing, not when it is high


def selectors(expr: str) -> list[tuple[str, list[Matcher]]]:
    """(metric name, label matchers) of every vector selector outside absent(); [] when unparsable."""
    return list(_selectors(expr))


def _selectors(expr: str) -> tuple[tuple[str, list[Matcher]], ...]:
    from rules.exprs import facts

    f = facts(expr)  # every queue reads every rule: each text is parsed once
    if f.error is not None:
        return ()
    if f.queue_selectors is not None:
        return f.queue_selectors
    return selectors_of(parse_promql(expr))


def selectors_of(node: Any) -> tuple[tuple[str, list[Matcher]], ...]:
    """`selectors` of a parsed expression."""
    out: list[tuple[str, list[Matcher]]] = []

    def walk(n: Any) -> None:
        t = type(n).__name__
        if t == "VectorSelector":
            name = n.name
            ms: list[Matcher] = []
            for m in n.matchers.matchers:
                op = _OPS.get(str(m.op).strip(), "=")
                if m.name == "__name__":
                    if op == "=" and not name:
                        name = m.value
                    continue
                ms.append(Matcher(name=m.name, op=op, value=m.value))  # type: ignore[arg-type]
            if name:
                out.append((str(name), ms))
            return
        if t == "MatrixSelector":
            walk(n.vector_selector)
        elif t == "Call":
            if n.func.name not in _INVERTED:
                for arg in n.args:
                    walk(arg)
        elif t == "BinaryExpr":
            walk(n.lhs)
            walk(n.rhs)
        elif t in ("ParenExpr", "UnaryExpr", "SubqueryExpr", "AggregateExpr"):
            walk(n.expr)
            if t == "AggregateExpr" and getattr(n, "param", None) is not None:
                walk(n.param)

    walk(node)
    return tuple(out)


def agrees(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    """The matchers on labels the queue's series carries all hold (others are not held against it)."""
    relevant = [m for m in matchers if m.name in labels]
    return matchers_match(relevant, labels)


def watched_by(q: QueueLag, recording: list[tuple[str, str]], alerting: list[tuple[str, str]]) -> list[str]:
    """Alerting rules (names) selecting the queue's metric, or a recording rule derived from it."""
    return RuleIndex(recording, alerting).watched_by(q)


class _Selectors:
    """The selectors of one metric, indexed by one equality matcher each: a queue's candidates are the
    selectors whose indexed matcher holds for it (or is on a label it does not carry), not all of them.

    On a large organisation every queue metric is selected by one alert per queue (`topic="..."`):
    testing all of them for every queue was 350,000 `agrees` calls."""

    def __init__(self) -> None:
        self.free: list[tuple[Any, ...]] = []  # selectors with no equality matcher
        self.by_label: dict[str, dict[str, list[tuple[Any, ...]]]] = {}

    def add(self, entry: tuple[Any, ...], ms: list[Matcher]) -> None:
        key = next((m for m in ms if m.op == "="), None)
        if key is None:
            self.free.append(entry)
        else:
            self.by_label.setdefault(key.name, {}).setdefault(key.value, []).append(entry)

    def candidates(self, labels: dict[str, str]) -> Iterator[tuple[Any, ...]]:
        """A superset of the selectors that agree with the labels (each still to be tested)."""
        yield from self.free
        for name, by_value in self.by_label.items():
            if name in labels:
                yield from by_value.get(labels[name], ())
            else:  # the indexed matcher is not held against the queue: the others decide
                for entries in by_value.values():
                    yield from entries


class _Texts:
    """Which of a list of expressions contain a given text, or `__name__`, or a backslash.

    Why: a metric's readers are looked for among every rule each time a queue reads a metric not seen
    yet (L: a dozen metrics, 65,000 rules, three substring tests each). The texts are joined once, and
    each question is answered by `str.find` over the joined text: the same positions, in order."""

    def __init__(self, exprs: list[str]):
        self._exprs = exprs
        self._joined = "\0".join(exprs)
        # where each text starts in the joined text (its length and a separator after each)
        self._starts = list(accumulate([len(e) + 1 for e in exprs], initial=0))[: len(exprs)]
        self._always = self._holding("__name__") | self._holding("\\")

    def _holding(self, n: str) -> set[int]:
        """Positions of the expressions containing `n` (no NUL in it: a match is inside one text)."""
        found: set[int] = set()
        starts, find = self._starts, self._joined.find
        at = find(n)
        while at >= 0:
            p = bisect_right(starts, at) - 1
            found.add(p)
            # the next expression (a text holding `n` again is found once)
            at = find(n, starts[p + 1]) if p + 1 < len(starts) else -1
        return found

    def naming(self, n: str) -> list[int]:
        """Positions of the expressions containing `n`, `__name__` or a backslash, in order."""
        if not n or "\0" in n:  # (a match could span two texts): the plain scan
            return [p for p, e in enumerate(self._exprs) if n in e or "__name__" in e or "\\" in e]
        return sorted(self._holding(n) | self._always)


class RuleIndex:
    """Recording and alerting rules indexed by the metrics their selectors read (built once per check run)."""

    def __init__(self, recording: list[tuple[str, str]], alerting: list[tuple[str, str]]):
        self._rules = {"recording": recording, "alerting": alerting}
        # a metric's readers (`_Selectors`) are found when a queue first reads it: only the rules whose text
        # names the metric are parsed for it (a selector's metric is written in it, unless it comes from a
        # `__name__` matcher or an escape: those rules are always read). Reading all 65,000 rules of a
        # large organisation for four queue metrics was most of this check.
        self._built: dict[tuple[str, str], _Selectors | None] = {}
        self._texts: dict[str, _Texts] = {}

    def _indexed(self, kind: str, n: str) -> _Selectors | None:
        key = (kind, n)
        if key in self._built:
            return self._built[key]
        sels = None
        rules = self._rules[kind]
        texts = self._texts.get(kind)
        if texts is None:
            texts = self._texts[kind] = _Texts([expr for _, expr in rules])
        for pos in texts.naming(n):
            name, expr = rules[pos]
            for m, ms in _selectors(expr):
                if m != n:
                    continue
                if sels is None:
                    sels = _Selectors()
                sels.add((name, ms) if kind == "recording" else (pos, name, ms), ms)
        self._built[key] = sels
        return sels

    def watched_by(self, q: QueueLag) -> list[str]:
        names = {q.metric}
        todo = [q.metric]
        while todo:  # recording rules of recording rules
            n = todo.pop()
            sels = self._indexed("recording", n)
            if sels is None:
                continue
            for rec, ms in sels.candidates(q.labels):
                if rec not in names and agrees(ms, q.labels):
                    names.add(rec)
                    todo.append(rec)
        hits: dict[int, str] = {}
        for n in names:
            asels = self._indexed("alerting", n)
            if asels is None:
                continue
            for pos, alert, ms in asels.candidates(q.labels):
                if pos not in hits and agrees(ms, q.labels):
                    hits[pos] = alert
        return [hits[p] for p in sorted(hits)]


# --------------------------------------------------------------------------- the fix


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^0-9A-Za-z]+", name) if p)


def _promql_string(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def queue_alert_name(q: QueueLag) -> str:
    suffix = {"kafka": "ConsumerLagHigh", "sqs": "OldestMessageTooOld"}.get(q.kind, "QueueBacklogHigh")
    if q.unit == "seconds" and q.kind != "sqs":
        suffix = "QueueAgeHigh"
    base = _camel(q.queue) or "Queue"
    if base[0].isdigit():
        base = "Queue" + base
    return base + suffix


def queue_alert_expr(q: QueueLag, threshold: float) -> str:
    agg = "max" if q.unit == "seconds" else "sum"
    by = ", ".join(sorted(q.labels))
    sel = ", ".join(f"{k}={_promql_string(v)}" for k, v in sorted(q.labels.items()))
    thr = int(threshold) if float(threshold).is_integer() else threshold
    grouping = f" by ({by})" if by else ""
    return f"{agg}{grouping} ({q.metric}{{{sel}}}) > {thr}"


def queue_alert_rules_yaml(
    q: QueueLag,
    *,
    service: str | None,
    team: str | None,
    runbook_base_url: str | None,
    threshold: float,
    for_: str,
    severity: str,
) -> str:
    """A Prometheus rule file with one lag alert for the queue (`promtool check rules` accepts it)."""
    name = queue_alert_name(q)
    labels: dict[str, str] = {"severity": severity}
    if service:
        labels["service"] = service
    if team:
        labels["team"] = team
    what = "oldest message age" if q.unit == "seconds" else "backlog" if q.kind != "kafka" else "consumer lag"
    unit = "s" if q.unit == "seconds" else " messages"
    slug = re.sub(r"(?<=[0-9a-z])(?=[A-Z])", "-", name).lower()
    runbook = (
        f"{runbook_base_url.rstrip('/')}/{slug}"
        if runbook_base_url
        else f"https://runbooks.example.com/{service or 'SERVICE'}/{slug}"
    )
    rule = {
        "alert": name,
        "expr": queue_alert_expr(q, threshold),
        "for": for_,
        "labels": labels,
        "annotations": {
            "summary": f"{q.kind} queue {q.queue}: {what} above {threshold:g}{unit} for {for_}",
            "description": f"{what.capitalize()} of {q.queue} is {{{{ $value }}}}{unit}; its consumers are "
            f"not keeping up.",
            "runbook_url": runbook,
        },
    }
    group = {"name": f"{service or 'queues'}-queue-lag", "rules": [rule]}
    head = (
        f"# Suggested by ownership-agent (OWN009) for the {q.kind} queue {q.queue}.\n"
        f"# The threshold is a placeholder: set it from the queue's normal range. The runbook_url is a\n"
        f"# placeholder too: write the runbook before you merge.\n"
    )
    doc = {"groups": [group]}
    return head + dump_yaml(doc, literal_multiline=False, width=1000, allow_unicode=True)


# --------------------------------------------------------------------------- the check


class QueueUnwatched:
    id: ClassVar[str] = "OWN009"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "queue with lag or backlog metrics and no alert on them"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        g = ctx.graph
        recording = [(sr.rule.name, sr.rule.expr) for sr in g.recording_rules()]
        recording += [(r.name, r.expr) for r in g.slos.generated_rules if r.type == "recording"]
        alerting = [(sr.rule.name, sr.rule.expr) for sr in g.alert_rules()]
        index = RuleIndex(recording, alerting)
        catalog_src = next(
            (r.status.name for r in g.snapshot.sources if r.facts is not None and r.facts.kind == "catalog"), "catalog"
        )
        seen: set[tuple[str | None, str]] = set()
        for src, sig in sorted(g.signals.items()):
            for q in sig.queue_lag:
                svc = self._service_of(ctx, q)
                service = svc.name if svc else q.service
                if (service, q.queue) in seen:
                    continue
                if index.watched_by(q):
                    continue
                seen.add((service, q.queue))
                team = ctx.team_of(service)
                threshold = float(
                    ctx.param(
                        self.id,
                        "fix_threshold_seconds" if q.unit == "seconds" else "fix_threshold_messages",
                        service,
                        600 if q.unit == "seconds" else 1000,
                    )
                )
                for_ = format_duration(ctx.duration(self.id, "fix_for", service, "15m"))
                severity = str(ctx.param(self.id, "fix_severity", service, "critical"))
                rules_yaml = queue_alert_rules_yaml(
                    q,
                    service=service,
                    team=team,
                    runbook_base_url=svc.runbook_base_url if svc else None,
                    threshold=threshold,
                    for_=for_,
                    severity=severity,
                )
                unit = "s" if q.unit == "seconds" else f" {q.unit}"
                fires_now = " (it would fire now)" if q.value > threshold else ""
                evidence = [
                    Evidence(
                        source=src,
                        kind="prometheus_signals",
                        observed_at=observed_at(ctx, src),
                        values={
                            "queue": q.queue,
                            "kind": q.kind,
                            "metric": q.metric,
                            "labels": q.labels,
                            "value": q.value,
                            "unit": q.unit,
                            "query": q.query_name,
                        },
                    )
                ]
                if svc is not None:
                    evidence.append(
                        Evidence(
                            source=catalog_src,
                            kind="catalog",
                            observed_at=observed_at(ctx, catalog_src),
                            file=svc.location.file,
                            line=svc.location.line,
                            values={"service": svc.name, "queues": [x.name for x in svc.queues]},
                        )
                    )
                owner = f" of service {service}" if service else " (no service claims it)"
                yield Finding(
                    check=self.id,
                    severity=self.severity,
                    service=service,
                    subject=q.queue,
                    summary=(
                        f"{q.kind} queue {q.queue}{owner} has a lag metric ({q.metric} = {q.value:g}{unit} now) "
                        f"but no alerting rule selects it for this queue: a stuck consumer is found by its users"
                    ),
                    evidence=evidence,
                    fix=Fix(
                        summary=(
                            f"add the alert {queue_alert_name(q)} ({q.metric} above {threshold:g}{unit} for {for_}"
                            f"{fires_now}); tune the threshold to the queue's normal range and write the runbook"
                        ),
                        rules_yaml=rules_yaml,
                    ),
                )

    @staticmethod
    def _service_of(ctx: CheckContext, q: QueueLag) -> Service | None:
        if q.service:
            return ctx.graph.service(q.service)
        for s, cq in ctx.graph.memo(("own009", "queues"), lambda: _queues_by_name(ctx.graph)).get(q.queue, ()):
            if cq.kind in ("other", q.kind) or q.kind == "other":
                return s
        return None


def _queues_by_name(g: Any) -> dict[str, list[tuple[Service, Any]]]:
    """(service, catalog queue) per queue name, in catalog order."""
    out: dict[str, list[tuple[Service, Any]]] = {}
    for s in g.catalog.services:
        for cq in s.queues:
            out.setdefault(cq.name, []).append((s, cq))
    return out
