"""OWN008: a noisy alert: pages often, resolves by itself within minutes, or flaps.

Computed from two sources over the pack's window: the alert's firing episodes (`ALERTS` history from
prometheus_signals) and its PagerDuty incidents (title naming the alert, on the PagerDuty services
its routes reach). Each measure is judged on its own; any one over its threshold is a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from collectors.durations import format_duration, parse_duration
from collectors.facts import AlertHistory, PDIncident, PDLogEntry
from rules.checks.own011_no_for import is_paging, observed_at, rule_evidence
from rules.engine import CheckContext, incident_window, incidents_in_order
from rules.findings import Evidence, Finding, Fix, Severity

WEEK_S = 7 * 86400.0


def _span(seconds: float) -> str:
    """`30d` rather than `4w2d`."""
    return f"{int(seconds // 86400)}d" if seconds >= 86400 and seconds % 86400 == 0 else format_duration(seconds)


@dataclass
class Thresholds:
    """The pack's params of OWN008 (see docs/checks/OWN008.md)."""

    window_s: float = 30 * 86400.0
    pages_per_week: float = 3.0
    auto_resolve_minutes: float = 5.0
    auto_resolve_share: float = 0.5
    min_pages: int = 5
    short_episode_minutes: float = 5.0
    short_episode_share: float = 0.5
    min_episodes: int = 5
    flap_gap_minutes: float = 30.0
    flaps_per_week: float = 3.0

    @classmethod
    def of(cls, ctx: CheckContext, check_id: str, service: str | None) -> Thresholds:
        d = cls()

        def p(name: str, default: Any) -> Any:
            return ctx.param(check_id, name, service, default)

        return cls(
            window_s=parse_duration(str(p("window", "30d"))),
            pages_per_week=float(p("pages_per_week", d.pages_per_week)),
            auto_resolve_minutes=float(p("auto_resolve_minutes", d.auto_resolve_minutes)),
            auto_resolve_share=float(p("auto_resolve_share", d.auto_resolve_share)),
            min_pages=int(p("min_pages", d.min_pages)),
            short_episode_minutes=float(p("short_episode_minutes", d.short_episode_minutes)),
            short_episode_share=float(p("short_episode_share", d.short_episode_share)),
            min_episodes=int(p("min_episodes", d.min_episodes)),
            flap_gap_minutes=float(p("flap_gap_minutes", d.flap_gap_minutes)),
            flaps_per_week=float(p("flaps_per_week", d.flaps_per_week)),
        )


@dataclass
class Noise:
    """What the history and the incidents say about one alert over the window."""

    history_window_s: float = 0.0
    episodes: int = 0
    short_episodes: int = 0
    flaps: int = 0
    has_history: bool = False
    pages: list[PDIncident] = field(default_factory=list)
    auto_resolved: list[PDIncident] = field(default_factory=list)
    median_episode_s: float | None = None

    def reasons(self, t: Thresholds) -> list[str]:
        out = []
        weeks = t.window_s / WEEK_S
        if self.pages and len(self.pages) / weeks >= t.pages_per_week:
            out.append(
                f"paged {len(self.pages)} times in {_span(t.window_s)} "
                f"({len(self.pages) / weeks:.1f} a week; limit {t.pages_per_week:g})"
            )
        if (
            self.pages
            and len(self.pages) >= t.min_pages
            and len(self.auto_resolved) / len(self.pages) >= t.auto_resolve_share
        ):
            out.append(
                f"{len(self.auto_resolved)} of {len(self.pages)} pages resolved by themselves within "
                f"{t.auto_resolve_minutes:g} min, unacknowledged"
            )
        if (
            self.episodes
            and self.episodes >= t.min_episodes
            and self.short_episodes / self.episodes >= t.short_episode_share
        ):
            out.append(
                f"{self.short_episodes} of {self.episodes} firing episodes lasted {t.short_episode_minutes:g} min "
                f"or less"
            )
        hweeks = (self.history_window_s or t.window_s) / WEEK_S
        if self.flaps and self.flaps / hweeks >= t.flaps_per_week:
            out.append(
                f"fired again within {t.flap_gap_minutes:g} min of resolving {self.flaps} times "
                f"({self.flaps / hweeks:.1f} a week; limit {t.flaps_per_week:g})"
            )
        return out


def measure(
    history: list[AlertHistory],
    history_window_s: float,
    incidents: list[PDIncident],
    log_entries: dict[str, list[PDLogEntry]],
    now: datetime,
    t: Thresholds,
    pages_only: bool = False,
) -> Noise:
    """Episodes, short episodes and flaps from the history; pages and self-resolved pages from incidents.

    `pages_only`: the incidents are known to be pages of this window already (high urgency, created in it)."""
    n = Noise(history_window_s=min(t.window_s, history_window_s) if history else 0.0, has_history=bool(history))
    since = now - timedelta(seconds=t.window_s)
    short = t.short_episode_minutes * 60
    eps: list[tuple[datetime, datetime]] = []
    for h in history:
        if h.episodes:
            eps += [(s, e) for s, e in h.episodes if since <= s <= now]
        else:  # counts only (an older recording): no flap information
            n.episodes += h.fires
            n.short_episodes += h.short_fires
    eps.sort()
    n.episodes += len(eps)
    n.short_episodes += sum(1 for s, e in eps if (e - s).total_seconds() <= short)
    gap = timedelta(minutes=t.flap_gap_minutes)
    n.flaps = sum(1 for a, b in zip(eps, eps[1:], strict=False) if b[0] - a[1] <= gap)
    if eps:
        lengths = sorted((e - s).total_seconds() for s, e in eps)
        n.median_episode_s = lengths[len(lengths) // 2]
    auto = timedelta(minutes=t.auto_resolve_minutes)
    for i in incidents:
        if not pages_only and (not (since <= i.created_at <= now) or i.urgency != "high"):
            continue  # a low-urgency incident notifies, it does not page
        n.pages.append(i)
        if i.acknowledged_at is not None or i.resolved_at is None or i.resolved_at - i.created_at > auto:
            continue
        resolves = [e for e in log_entries.get(i.id, []) if e.type.startswith("resolve")]
        if any(e.agent_type == "user_reference" for e in resolves):
            continue  # a person closed it: not resolved by itself
        n.auto_resolved.append(i)
    return n


_TOKEN = re.compile(r"[\w-]+")


def _history_index(g: Any) -> dict[str, list[tuple[str, Any, AlertHistory]]]:
    """(source, signals, series) per alert name, sources in name order (as the check reads them)."""
    out: dict[str, list[tuple[str, Any, AlertHistory]]] = {}
    for src, sig in sorted(g.signals.items()):
        for h in sig.alert_history:
            out.setdefault(h.alertname, []).append((src, sig, h))
    return out


def _incident_index(g: Any, names: set[str], since: datetime, now: datetime) -> dict[str, list[PDIncident]]:
    """Incidents per token (a maximal run of word characters and dashes) of their title, in incident order,
    for the tokens in `names` only (the others, e.g. `FIRING`, would hold every incident), and only the
    high-urgency ones created in [since, now] (the others are no page of any alert's window).

    The tokens are found once per distinct title: alerts page again and again under the same title
    (L: 66,604 pages, 5,000 titles; the regex and the intersection per incident were a quarter of OWN008)."""
    out: dict[str, list[PDIncident]] = {}
    findall = _TOKEN.findall
    tokens_of: dict[str, set[str]] = {}
    incidents = g.pagerduty.incidents
    for n in incident_window(g, since, now):
        i = incidents[n]
        if i.urgency != "high":
            continue
        title = i.title
        toks = tokens_of.get(title)
        if toks is None:
            toks = tokens_of[title] = names.intersection(findall(title))  # named twice: one incident
        for tok in toks:
            if tok in out:
                out[tok].append(i)
            else:
                out[tok] = [i]
    return out


class NoisyAlert:
    id: ClassVar[str] = "OWN008"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "noisy alert: pages often, resolves by itself within minutes, or flaps"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        g = ctx.graph
        # what `measure` reads of the log: whether a person resolved the incident (the other entries
        # cannot change an answer, so they are not kept)
        logs: dict[str, list[PDLogEntry]] = {}
        for e in g.pagerduty.log_entries:
            if e.incident_id and e.agent_type == "user_reference" and e.type.startswith("resolve"):
                logs.setdefault(e.incident_id, []).append(e)
        pd_src = next(
            (r.status.name for r in g.snapshot.sources if r.facts is not None and r.facts.kind == "pagerduty"), None
        )
        # one pass over the alerts for their services and their names (each pass over 50,000 alerts costs
        # about 25 ms on L, whatever it does: three of them were a fifth of this check)
        services: set[str | None] = set()
        of_name: dict[str, list[Any]] = {}  # alerts per name, in alert order
        for a in ctx.alerts:
            if a.services:
                services.update(a.services)
            else:
                services.add(None)
            same = of_name.get(a.alert)
            if same is None:
                of_name[a.alert] = [a]
            else:
                same.append(a)
        # the thresholds per service, parsed once per distinct settings (one, unless the pack overrides
        # OWN008 for some teams): reading ten params per alert was a third of this check on 50,000 alerts
        parsed: dict[int, Thresholds] = {}
        of_service: dict[str | None, Thresholds] = {}
        for service in services:
            settings = ctx.settings(self.id, service)
            t = parsed.get(id(settings))
            if t is None:
                t = parsed[id(settings)] = Thresholds.of(ctx, self.id, service)
            of_service[service] = t
        by_name = g.memo(("own008", "history"), lambda: _history_index(g))
        # an alert's incidents are found through the tokens of their titles: only alert names are indexed,
        # and only the pages of the widest window (`measure` keeps those of each alert's own window)
        names = {name for name in of_name if _TOKEN.fullmatch(name)}
        widest = max((t.window_s for t in parsed.values()), default=0.0)
        by_token = _incident_index(g, names, ctx.now - timedelta(seconds=widest), ctx.now)
        # most alerts have no firing history and no page: nothing is measured, so no reason is found
        # (what `measure` and `reasons` conclude too, for thresholds that ask at least one page and
        # one episode); they are left out before they are grouped (L: 5,000 of 50,000 are kept)
        everything = any(t.min_pages < 1 or t.min_episodes < 1 for t in parsed.values())
        groups: dict[tuple[str, str | None], list[Any]] = {}
        for name, same in of_name.items():
            if everything or name in by_name or name in by_token or name not in names:
                for a in same:  # (in alert order: each group's alerts, and its first, as one pass makes them)
                    for s in a.services or [None]:
                        groups.setdefault((name, s), []).append(a)
        for (name, service), alerts in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            t = of_service[service]
            history, hsources, hwindow = self._history(ctx, name, service)
            incidents = self._incidents(ctx, name, alerts, by_token)
            # the index holds the pages of the widest window: those of this window when it is the widest
            exact = t.window_s == widest and name in names
            noise = measure(history, hwindow, incidents, logs, ctx.now, t, pages_only=exact)
            reasons = noise.reasons(t)
            if not reasons:
                continue
            yield self._finding(ctx, name, service, alerts, t, noise, reasons, hsources, pd_src)

    @staticmethod
    def _history(ctx: CheckContext, name: str, service: str | None) -> tuple[list[AlertHistory], list[str], float]:
        """The alert's firing series for this service (series attributed elsewhere are left out)."""
        out, sources, window = [], [], 0.0
        by_name = ctx.graph.memo(("own008", "history"), lambda: _history_index(ctx.graph))
        for src, sig, h in by_name.get(name, ()):
            owners = ctx.graph.services_of_labels(h.labels)
            if service is not None and owners and service not in owners:
                continue
            out.append(h)
            if src not in sources:
                sources.append(src)
            window = max(window, sig.history_window_s)
        return out, sources, window

    @staticmethod
    def _incidents(
        ctx: CheckContext, name: str, alerts: list[Any], by_token: dict[str, list[PDIncident]]
    ) -> list[PDIncident]:
        """Incidents whose title names the alert, on the PagerDuty services its routes reach (any, if none).

        `by_token`: `_incident_index` of at least every alert name made of word characters and dashes."""
        if _TOKEN.fullmatch(name):
            # a name of word characters and dashes matches exactly when it is a whole token of the title
            candidates = by_token.get(name)
            if not candidates:
                return []
            wanted = {p.pagerduty_service for a in alerts for p in a.paths if p.pagerduty_service}
            if not wanted:
                return list(candidates)
            return [i for i in candidates if i.service_id in wanted]
        wanted = {p.pagerduty_service for a in alerts for p in a.paths if p.pagerduty_service}
        pat = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        return [
            i for i in ctx.graph.pagerduty.incidents if (not wanted or i.service_id in wanted) and pat.search(i.title)
        ]

    @staticmethod
    def _latest(ctx: CheckContext, pages: list[PDIncident], n: int) -> list[PDIncident]:
        """The last `n` pages by `created_at` (a stable sort). The pages are a subsequence of the incidents
        (see `_incidents`): when those are in time order, so are the pages, and the sort (66,000 datetime
        comparisons across time zone objects on L) is left out."""
        if incidents_in_order(ctx.graph):
            return pages[-n:]
        return sorted(pages, key=lambda i: i.created_at)[-n:]

    def _finding(
        self,
        ctx: CheckContext,
        name: str,
        service: str | None,
        alerts: list[Any],
        t: Thresholds,
        noise: Noise,
        reasons: list[str],
        hsources: list[str],
        pd_src: str | None,
    ) -> Finding:
        a = alerts[0]
        for_s = min(x.for_s for x in alerts)
        evidence = [rule_evidence(ctx, x, for_s=x.for_s, severity=x.severity) for x in alerts]
        for src in hsources:
            evidence.append(
                Evidence(
                    source=src,
                    kind="prometheus_signals",
                    observed_at=observed_at(ctx, src),
                    values={
                        "window": _span(noise.history_window_s),
                        "episodes": noise.episodes,
                        "short_episodes": noise.short_episodes,
                        "short_episode_minutes": t.short_episode_minutes,
                        "flaps": noise.flaps,
                        "flap_gap_minutes": t.flap_gap_minutes,
                        "median_episode_s": noise.median_episode_s,
                    },
                )
            )
        if noise.pages:
            evidence.append(
                Evidence(
                    source=pd_src or "pagerduty",
                    kind="pagerduty",
                    observed_at=observed_at(ctx, pd_src) if pd_src else None,
                    values={
                        "window": _span(t.window_s),
                        "pages": len(noise.pages),
                        "pages_per_week": round(len(noise.pages) / (t.window_s / WEEK_S), 2),
                        "auto_resolved": len(noise.auto_resolved),
                        "auto_resolve_minutes": t.auto_resolve_minutes,
                        "incidents": [i.id for i in self._latest(ctx, noise.pages, 5)],
                    },
                )
            )
        hold = max(600.0, for_s * 4, (noise.median_episode_s or 0) * 2)
        change = f"raise `for:` from {format_duration(for_s)}" if for_s else "add `for:`"
        steps = []
        if noise.flaps and noise.flaps / ((noise.history_window_s or t.window_s) / WEEK_S) >= t.flaps_per_week:
            steps.append(
                f"add `keep_firing_for: {format_duration(t.flap_gap_minutes * 60)}` to {name} so a short gap does "
                f"not resolve it and page again"
            )
        if len(reasons) > len(steps):
            steps.append(
                f"make {name} wait out its blips: {change} to about {format_duration(hold)}, or compute it over "
                f"a longer range"
            )
        steps.append("if nobody needs to act at once, send it as a ticket (severity warning) instead of a page")
        fix = "; ".join(steps)
        pages = is_paging(a) or bool(noise.pages)
        return Finding(
            check=self.id,
            severity=self.severity if pages else "info",
            service=service,
            subject=name,
            summary=f"alert {name} is noisy: " + "; ".join(reasons),
            evidence=evidence,
            fix=Fix(summary=fix),
        )
