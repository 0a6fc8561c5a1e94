"""OWN013: a paging alert silenced for longer than the pack allows (a silence that outlived its incident)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from collectors.durations import format_duration
from collectors.facts import SilenceFact
from rules.checks.own011_no_for import is_paging, observed_at, rule_evidence
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity
from rules.routing import matchers_match


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f}".removesuffix(".0") + " days" if seconds >= 86400 else format_duration(seconds)


def _matchers_text(s: SilenceFact) -> str:
    return "{" + ", ".join(f'{m.name}{m.op}"{m.value}"' for m in s.matchers) + "}"


class _Active:
    """The silences active at the instant, those with an `alertname=` matcher indexed by its value."""

    def __init__(self, silences: list[SilenceFact]):
        self.silences = silences
        self.by_name: dict[str, list[int]] = {}
        self.others: list[int] = []
        for i, s in enumerate(silences):
            name = next((m.value for m in s.matchers if m.name == "alertname" and m.op == "="), None)
            if name is None:
                self.others.append(i)
            else:
                self.by_name.setdefault(name, []).append(i)
        # per limit: the index of the silences longer than it (see `candidates`)
        self._longer: dict[float, tuple[dict[str, list[int]], list[int]]] = {}

    def candidates(self, labels: dict[str, str], longer_than: float) -> list[SilenceFact]:
        """Silences that may match the labels and last longer than `longer_than` seconds, in their order
        (an `alertname=` matcher of another value cannot match).

        The lengths are compared once per limit (one, unless the pack overrides it), not once per alert:
        on L, 20,000 paging alerts each compared every silence without an alertname matcher."""
        got = self._longer.get(longer_than)
        if got is None:
            keep = [(s.ends_at - s.starts_at).total_seconds() > longer_than for s in self.silences]
            got = self._longer[longer_than] = (
                {name: [i for i in pos if keep[i]] for name, pos in self.by_name.items()},
                [i for i in self.others if keep[i]],
            )
        by_name, others = got
        found = by_name.get(labels.get("alertname", ""), [])
        pos = sorted([*found, *others]) if found else others
        return [self.silences[i] for i in pos]


_NONE = _Active([])


class LongSilence:
    id: ClassVar[str] = "OWN013"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "paging alert silenced for longer than the pack allows"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        now = ctx.now
        seen: set[tuple[str | None, str]] = set()
        active = {
            name: _Active([s for s in am.silences if s.starts_at <= now < s.ends_at])
            for name, am in ctx.graph.alertmanagers.items()
        }
        am_names = sorted(ctx.graph.alertmanagers)
        # an alert no active silence can match (none without an `alertname=` matcher, none with its name)
        # has no candidate at any limit: passed over at once (L: 20 silences, 50,000 alerts)
        any_other = any(act.others for act in active.values())
        silenced_names = {name for act in active.values() for name in act.by_name}
        for a in ctx.alerts:
            if not any_other and a.labels.get("alertname", "") not in silenced_names:
                continue
            if not is_paging(a):
                continue
            service = a.services[0] if a.services else None
            if (service, a.alert) in seen:
                continue
            max_silence = ctx.duration(self.id, "max_silence", service, "7d")
            through = {p.alertmanager for p in a.paths}
            hits: list[tuple[str, SilenceFact]] = []
            for am_name in am_names:
                if am_name not in through:
                    continue  # a silence only mutes the alerts its own Alertmanager receives
                for s in active.get(am_name, _NONE).candidates(a.labels, max_silence):
                    # a missing label is the empty string, as Alertmanager: a silence on a label the
                    # alert leaves open (one instance) mutes only part of it and is not reported
                    if matchers_match(s.matchers, a.labels):
                        hits.append((am_name, s))
            if not hits:
                continue
            seen.add((service, a.alert))
            hits.sort(key=lambda h: h[1].ends_at - h[1].starts_at, reverse=True)
            am_name, s = hits[0]
            length = (s.ends_at - s.starts_at).total_seconds()
            age = (now - s.starts_at).total_seconds()
            fired = self._fired_since(ctx, a.alert, a.labels, s)
            fired_text = f"; it has fired {fired} time(s) since, unseen" if fired else ""
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=service,
                subject=a.alert,
                summary=(
                    f"paging alert {a.alert} is silenced by {am_name} silence {s.id} {_matchers_text(s)} for "
                    f"{_days(length)} (started {_days(age)} ago, ends "
                    f"{s.ends_at.isoformat()}); the pack allows {_days(max_silence)}{fired_text}"
                ),
                evidence=[
                    *(
                        Evidence(
                            source=name,
                            kind="alertmanager",
                            observed_at=observed_at(ctx, name),
                            values={
                                "silence_id": sil.id,
                                "matchers": _matchers_text(sil),
                                "starts_at": sil.starts_at.isoformat(),
                                "ends_at": sil.ends_at.isoformat(),
                                "duration": _days((sil.ends_at - sil.starts_at).total_seconds()),
                                "created_by": sil.created_by,
                                "comment": sil.comment,
                            },
                        )
                        for name, sil in hits
                    ),
                    rule_evidence(ctx, a, labels=a.labels, fired_since_silence=fired),
                ],
                fix=Fix(
                    summary=(
                        f"expire the silence (`amtool silence expire {s.id}`) and fix what keeps {a.alert} firing; "
                        f"if the condition is expected, change the alert (threshold, `for:`, severity) instead of "
                        f"muting it, or silence it for at most {_days(max_silence)} at a time"
                    )
                ),
            )

    @staticmethod
    def _fired_since(ctx: CheckContext, alertname: str, labels: dict[str, str], s: SilenceFact) -> int | None:
        """Firing episodes of the alert that started while the silence held (None: no history)."""
        if not ctx.graph.signals:
            return None
        n = 0
        for sig in ctx.graph.signals.values():
            for h in sig.alert_history:
                if h.alertname != alertname or not matchers_match(s.matchers, {**labels, **h.labels}):
                    continue
                n += sum(1 for start, _ in h.episodes if s.starts_at <= start <= ctx.now)
        return n
