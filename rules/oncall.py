"""On-call resolution: key -> PagerDuty service -> escalation policy -> who holds each level, urgency,
maintenance, and whether an alert *pages* a person at an instant (pure: facts in, answers out).

Semantics, from PagerDuty's published REST and Events v2 OpenAPI and its knowledge base:

- On-call entries are the `/oncalls` API's, which already resolve schedule layers and overrides;
  an entry holds over the half-open interval [start, end), and `start`/`end` of None mean "always"
  (a user placed directly on a level). A user target of a level holds always, entries or not.
- `escalation_delay_in_minutes` is the time before an unacknowledged incident escalates *away*
  from that level, so level n is notified after the delays of levels 1..n-1; after the last
  level's delay the policy restarts at level 1, `num_loops` more times.
- Urgency: `incident_urgency_rule.type` is `constant` or `use_support_hours`; `urgency` is `high`,
  `low` or `severity_based` (Dynamic Notifications: critical/error -> high, warning/info -> low,
  no severity -> high). `suppressed` is not in the published enum; it is accepted and means that
  no incident is created. Low-urgency incidents do not escalate: they only *notify* level 1.
- A disabled service, or one in a maintenance window, creates no incident.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collectors.facts import (
    PagerDutyFacts,
    PDEscalationPolicy,
    PDLevel,
    PDMaintenanceWindow,
    PDOnCall,
    PDService,
    PDTarget,
    PDUser,
)
from collectors.timeutil import as_utc

Urgency = Literal["high", "low", "suppressed"]
Outcome = Literal["pages", "notifies", "nobody", "unknown"]

# Events API v2 `payload.severity` enum (case-sensitive); anything else is rejected with an error.
SEVERITIES = ("critical", "error", "warning", "info")
# Dynamic Notifications: the severity -> urgency mapping is fixed by PagerDuty.
SEVERITY_URGENCY: dict[str, Urgency] = {"critical": "high", "error": "high", "warning": "low", "info": "low"}

# `support_hours.time_zone` has the format "activesupport-time-zone": the API returns IANA names,
# but Rails names are valid input; the common ones are mapped here.
RAILS_ZONES = {
    "UTC": "Etc/UTC",
    "Eastern Time (US & Canada)": "America/New_York",
    "Central Time (US & Canada)": "America/Chicago",
    "Mountain Time (US & Canada)": "America/Denver",
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "Arizona": "America/Phoenix",
    "Alaska": "America/Juneau",
    "Hawaii": "Pacific/Honolulu",
    "London": "Europe/London",
    "Dublin": "Europe/Dublin",
    "Lisbon": "Europe/Lisbon",
    "Amsterdam": "Europe/Amsterdam",
    "Berlin": "Europe/Berlin",
    "Paris": "Europe/Paris",
    "Madrid": "Europe/Madrid",
    "Rome": "Europe/Rome",
    "Stockholm": "Europe/Stockholm",
    "Warsaw": "Europe/Warsaw",
    "Kyiv": "Europe/Kiev",
    "Mumbai": "Asia/Kolkata",
    "Singapore": "Asia/Singapore",
    "Tokyo": "Asia/Tokyo",
    "Sydney": "Australia/Sydney",
    "Brasilia": "America/Sao_Paulo",
    "Lima": "America/Lima",
}

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class Shift:
    """A user holding a level over [start, end); end None: no known end."""

    user_id: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class LevelAnswer:
    """One escalation level at an instant: when it is notified and who holds it."""

    level: int
    delay_minutes: int
    minutes_until_notified: int
    renotified_at_minutes: tuple[int, ...]
    targets: tuple[PDTarget, ...]
    holders: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EscalationAnswer:
    """A policy's levels plus its loop: `passes` = 1 + num_loops, each `cycle_minutes` long."""

    policy_id: str
    levels: tuple[LevelAnswer, ...]
    num_loops: int
    cycle_minutes: int
    passes: int
    exhausted_after_minutes: int


@dataclass(frozen=True, slots=True)
class PageAnswer:
    """Whether an alert sent to a service at an instant pages a person, only notifies, or reaches nobody."""

    service_id: str
    at: datetime
    outcome: Outcome
    urgency: Urgency | None = None
    urgency_basis: str | None = None
    reason: str | None = None
    escalation_policy_id: str | None = None
    level: int | None = None
    people: tuple[str, ...] = ()
    minutes_until_level: int | None = None

    @property
    def pages(self) -> bool:
        return self.outcome == "pages"


# --------------------------------------------------------------------------- helpers


_aware = as_utc


def _span(e: PDOnCall) -> tuple[datetime, datetime]:
    return (_aware(e.start) if e.start else _EARLIEST, _aware(e.end) if e.end else _LATEST)


def _merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Union of half-open intervals; touching intervals are joined."""
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def zone(name: str) -> ZoneInfo:
    """An IANA or common ActiveSupport time zone name as a ZoneInfo; ValueError when unknown."""
    for key in (name, RAILS_ZONES.get(name)):
        if not key:
            continue
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    raise ValueError(f"unknown time zone {name!r}")


def _time_of_day(v: Any) -> time:
    s = str(v)
    if "T" in s:  # "date portion is ignored"
        s = s.split("T", 1)[1]
    return time.fromisoformat(s[:8]).replace(tzinfo=None)


def in_support_hours(support_hours: dict[str, Any] | None, at: datetime) -> bool:
    """Whether `at` falls in `fixed_time_per_day` support hours (local wall clock, days 1=Monday..7=Sunday).

    [start_time, end_time) on each listed day; an end at or before the start runs past midnight into
    the next day (the listed day is the one the hours start on). No support hours: never inside.
    """
    if not support_hours:
        return False
    local = _aware(at).astimezone(zone(support_hours.get("time_zone") or "UTC"))
    days = {int(d) for d in support_hours.get("days_of_week") or []}
    start = _time_of_day(support_hours.get("start_time", "00:00:00"))
    end = _time_of_day(support_hours.get("end_time", "00:00:00"))
    now = local.time().replace(tzinfo=None)
    today = local.isoweekday()
    if start < end:
        return today in days and start <= now < end
    yesterday = 7 if today == 1 else today - 1
    return (today in days and now >= start) or (yesterday in days and now < end)


def _constant_urgency(rule: dict[str, Any] | None, severity: str | None) -> tuple[Urgency, str]:
    """(urgency, how it was chosen) for an `IncidentUrgencyType` of type constant."""
    u = (rule or {}).get("urgency") or "high"
    if u == "severity_based":
        if severity is None:
            return "high", "for an event without severity (severity-based)"
        return SEVERITY_URGENCY.get(severity, "high"), f"for severity {severity!r} (severity-based)"
    constant: dict[str, Urgency] = {"high": "high", "low": "low", "suppressed": "suppressed"}
    if u in constant:
        return constant[u], "constant"
    return "high", f"(unknown urgency {u!r} read as high)"


def _phrase(urgency: Urgency, basis: str) -> str:
    return f"constant {urgency} urgency" if basis == "constant" else f"{urgency} urgency {basis}"


def time_to_page(for_s: float, group_wait_s: float, *delays_before_minutes: float) -> float:
    """Seconds from the condition starting to a level being notified: the rule's `for`, the route's
    `group_wait`, and the escalation delays of the levels before it (or one cumulative figure)."""
    return float(for_s) + float(group_wait_s) + 60.0 * sum(delays_before_minutes)


# --------------------------------------------------------------------------- the index


class OnCallIndex:
    """PagerDuty facts indexed for on-call questions; every method is pure."""

    def __init__(self, pd: PagerDutyFacts):
        self.pd = pd
        self.services: dict[str, PDService] = {s.id: s for s in pd.services}
        self.by_key: dict[str, PDService] = {}
        for s in pd.services:
            for i in s.integrations:
                if i.key_fingerprint:
                    self.by_key.setdefault(i.key_fingerprint, s)
        self.policies: dict[str, PDEscalationPolicy] = {p.id: p for p in pd.escalation_policies}
        self.users: dict[str, PDUser] = {u.id: u for u in pd.users}
        self.entries: dict[tuple[str, int], list[PDOnCall]] = defaultdict(list)
        for o in pd.oncalls:
            self.entries[(o.escalation_policy_id, o.escalation_level)].append(o)
        self._entry_levels: dict[str, set[int]] = defaultdict(set)  # the levels on-call entries name, per policy
        for (pid, lvl), lst in self.entries.items():
            lst.sort(key=lambda o: (_span(o), o.user_id))
            self._entry_levels[pid].add(lvl)
        self.windows: dict[str, list[PDMaintenanceWindow]] = defaultdict(list)
        for w in pd.maintenance_windows:
            for sid in w.services:
                self.windows[sid].append(w)
        for ws in self.windows.values():
            ws.sort(key=lambda w: (w.start_time, w.id))
        # derived once, on first use: each entry's span; each policy's escalation at an instant (the paging
        # answer of every PagerDuty service of a policy, at every severity, reads the same one)
        self._spans: dict[tuple[str, int], list[tuple[datetime, datetime, str]]] = {}
        self._escalations: dict[tuple[str, datetime], EscalationAnswer | None] = {}

    # ---- lookups

    def service_for_key(self, fingerprint: str) -> PDService | None:
        """The service whose integration key has this fingerprint."""
        return self.by_key.get(fingerprint)

    def _level(self, policy_id: str, level: int) -> PDLevel | None:
        p = self.policies.get(policy_id)
        return next((lv for lv in p.levels if lv.level == level), None) if p else None

    def _direct_users(self, policy_id: str, level: int) -> list[str]:
        lv = self._level(policy_id, level)
        return [t.id for t in lv.targets if t.type == "user"] if lv else []

    def policy_levels(self, policy_id: str) -> list[int]:
        """The policy's levels: those it defines and those its on-call entries name, in order."""
        p = self.policies.get(policy_id)
        known = {lv.level for lv in p.levels} if p else set()
        return sorted(known | self._entry_levels.get(policy_id, set()))

    def _entry_spans(self, policy_id: str, level: int) -> list[tuple[datetime, datetime, str]]:
        """(start, end, user id) of the level's entries, in `entries` order."""
        key = (policy_id, level)
        got = self._spans.get(key)
        if got is None:
            got = self._spans[key] = [(*_span(e), e.user_id) for e in self.entries.get(key, [])]
        return got

    # ---- who holds a level

    def holders(self, policy_id: str, level: int, at: datetime) -> list[str]:
        """User ids holding the level at `at` (sorted)."""
        at = _aware(at)
        users = set(self._direct_users(policy_id, level))
        for s, end, user in self._entry_spans(policy_id, level):
            if s <= at < end:
                users.add(user)
        return sorted(users)

    def holders_over(self, policy_id: str, level: int, since: datetime, until: datetime) -> list[Shift]:
        """Shifts holding the level in [since, until), clipped, contiguous ones of a user merged."""
        since, until = _aware(since), _aware(until)
        per_user: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for u in self._direct_users(policy_id, level):
            per_user[u].append((since, until))
        for s, end, user in self._entry_spans(policy_id, level):
            s, end = max(s, since), min(end, until)
            if s < end:
                per_user[user].append((s, end))
        shifts = [Shift(u, s, e) for u, spans in per_user.items() for s, e in _merge(spans)]
        return sorted(shifts, key=lambda sh: (sh.start, sh.user_id))

    def next_shift(self, policy_id: str, level: int, at: datetime) -> Shift | None:
        """The first shift starting after `at` by a user not already holding the level just before it
        (a handoff, an override or a return after a gap; a continuation of the same user is skipped).
        None when the entries show no such change."""
        at = _aware(at)
        always = set(self._direct_users(policy_id, level))
        spans = [(user, s, e) for s, e, user in self._entry_spans(policy_id, level)]
        for user, s, _ in sorted(spans, key=lambda x: (x[1], x[0])):
            if s <= at or user in always:
                continue
            if any(u == user and s2 < s <= e2 for u, s2, e2 in spans):
                continue  # continues a shift of the same user
            end = s
            grown = True
            while grown:  # follow contiguous entries of the same user
                grown = False
                for u, s2, e2 in spans:
                    if u == user and s2 <= end < e2:
                        end, grown = e2, True
            return Shift(user, s, None if end == _LATEST else end)
        return None

    def coverage_gaps(self, policy_id: str, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """Intervals of [since, until) where no level of the policy has anyone."""
        since, until = _aware(since), _aware(until)
        covered: list[tuple[datetime, datetime]] = []
        for level in self.policy_levels(policy_id):
            covered += [(sh.start, sh.end or until) for sh in self.holders_over(policy_id, level, since, until)]
        gaps, cursor = [], since
        for s, e in _merge(covered):
            if s > cursor:
                gaps.append((cursor, s))
            cursor = max(cursor, e)
        if cursor < until:
            gaps.append((cursor, until))
        return gaps

    # ---- escalation timing

    def levels(self, policy_id: str, at: datetime) -> list[LevelAnswer]:
        """Each level in order with its delay, the minutes until it is notified, and who holds it now."""
        esc = self.escalation(policy_id, at)
        return list(esc.levels) if esc else []

    def escalation(self, policy_id: str, at: datetime) -> EscalationAnswer | None:
        """The policy's levels and loop: level n is notified after levels 1..n-1's delays, then again
        every `cycle_minutes` (the sum of all delays) for `num_loops` more passes."""
        key = (policy_id, at)
        try:
            return self._escalations[key]
        except KeyError:
            pass
        got = self._escalation(policy_id, at)
        if len(self._escalations) >= 100_000:
            self._escalations.clear()
        self._escalations[key] = got
        return got

    def _escalation(self, policy_id: str, at: datetime) -> EscalationAnswer | None:
        p = self.policies.get(policy_id)
        if p is None:
            return None
        ordered = sorted(p.levels, key=lambda lv: lv.level)
        cycle = sum(lv.escalation_delay_in_minutes for lv in ordered)
        loops = max(0, p.num_loops)
        answers, cum = [], 0
        for lv in ordered:
            answers.append(
                LevelAnswer(
                    level=lv.level,
                    delay_minutes=lv.escalation_delay_in_minutes,
                    minutes_until_notified=cum,
                    renotified_at_minutes=tuple(cum + k * cycle for k in range(1, loops + 1)),
                    targets=tuple(lv.targets),
                    holders=tuple(self.holders(policy_id, lv.level, at)),
                )
            )
            cum += lv.escalation_delay_in_minutes
        return EscalationAnswer(
            policy_id=policy_id,
            levels=tuple(answers),
            num_loops=loops,
            cycle_minutes=cycle,
            passes=loops + 1,
            exhausted_after_minutes=cycle * (loops + 1),
        )

    # ---- urgency and maintenance

    def urgency(self, service: PDService, at: datetime, severity: str | None = None) -> Urgency:
        """The urgency an incident created at `at` with this severity gets from the service's rule."""
        return self._urgency(service, at, severity)[0]

    def _urgency(self, service: PDService, at: datetime, severity: str | None) -> tuple[Urgency, str]:
        rule = service.incident_urgency_rule or {}
        if rule.get("type") == "use_support_hours":
            inside = in_support_hours(service.support_hours, at)
            u, how = _constant_urgency(
                rule.get("during_support_hours" if inside else "outside_support_hours"), severity
            )
            where = "during support hours" if inside else "outside support hours"
            return u, f"{u} urgency {where}" if how == "constant" else f"{u} urgency {how} {where}"
        u, how = _constant_urgency(rule, severity)
        return u, _phrase(u, how)

    def maintenance_window(self, service_id: str, at: datetime) -> PDMaintenanceWindow | None:
        """The maintenance window covering the service at `at` ([start_time, end_time))."""
        at = _aware(at)
        return next(
            (w for w in self.windows.get(service_id, []) if _aware(w.start_time) <= at < _aware(w.end_time)), None
        )

    def in_maintenance(self, service_id: str, at: datetime) -> bool:
        """Whether the service is in maintenance at `at`: a window covers it, or, when no window of the
        service is known, its status (read at collection time) is `maintenance`."""
        if self.maintenance_window(service_id, at) is not None:
            return True
        svc = self.services.get(service_id)
        return bool(svc and svc.status == "maintenance" and not self.windows.get(service_id))

    # ---- the answer

    def pages_at(self, service_id: str, at: datetime, severity: str | None = None) -> PageAnswer:
        """Whether an alert sent to the service at `at` pages a person, only notifies, or reaches nobody."""
        at = _aware(at)
        svc = self.services.get(service_id)
        if svc is None:
            return PageAnswer(service_id, at, "nobody", reason=f"unknown PagerDuty service {service_id}")
        pid = svc.escalation_policy_id
        nobody = PageAnswer(service_id, at, "nobody", escalation_policy_id=pid)
        if svc.status == "disabled":
            return replace(nobody, reason="service disabled")
        if self.in_maintenance(service_id, at):
            w = self.maintenance_window(service_id, at)
            if w is None:
                return replace(nobody, reason="service status is maintenance")
            return replace(nobody, reason=f"in maintenance window {w.id} until {_aware(w.end_time).isoformat()}")
        if severity is not None and severity not in SEVERITIES:
            why = f"severity {severity!r} is rejected by the Events API (critical, error, warning or info)"
            return replace(nobody, reason=why)
        esc = self.escalation(pid, at) if pid else None
        if esc is None:
            return replace(nobody, reason="no escalation policy")
        try:
            urg, basis = self._urgency(svc, at, severity)
        except ValueError as e:
            return replace(nobody, outcome="unknown", reason=f"support hours: {e}")
        nobody = replace(nobody, urgency=urg, urgency_basis=basis)
        if urg == "suppressed":
            return replace(nobody, reason="suppressed by the urgency rule: no incident")
        if urg == "low":  # low urgency does not escalate: level 1 only, low-urgency notification rules
            first = esc.levels[0] if esc.levels else None
            if first is None or not first.holders:
                return replace(nobody, reason=f"{basis}, and nobody on call at level 1")
            return replace(
                nobody, outcome="notifies", reason=basis, level=first.level, people=first.holders, minutes_until_level=0
            )
        held = next((lv for lv in esc.levels if lv.holders), None)
        if held is None:
            return replace(nobody, reason="nobody on call at any level")
        return replace(
            nobody,
            outcome="pages",
            level=held.level,
            people=held.holders,
            minutes_until_level=held.minutes_until_notified,
        )


__all__ = [
    "SEVERITIES",
    "SEVERITY_URGENCY",
    "EscalationAnswer",
    "LevelAnswer",
    "OnCallIndex",
    "PageAnswer",
    "Shift",
    "in_support_hours",
    "time_to_page",
    "zone",
]
