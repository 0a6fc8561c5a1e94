"""A PagerDuty REST API v2 fake for the live collector's tests and benchmark.

A FastAPI app serving exactly the list endpoints the collector reads, in the API's own shapes
(checked against the published OpenAPI description by test_pagerduty_fake_conformance.py), from an
organisation generated from a seed:

    org = FakeOrg.generate(seed=1, now=NOW, services=50, incidents=500)
    with FakePagerDuty(org, token="s3cret") as pd:      # uvicorn in a thread on 127.0.0.1:<free port>
        client = pagerduty.RestApiV2Client("s3cret", transport=pd.transport())
        pd.throttle("incidents", times=3, retry_after=1)  # faults on demand, from the test
        pd.count("incidents")                             # the request log

Behaviour: classic pagination (`limit` at most 100, `offset`, `more`, `total` when asked), the
10,000 cap on offset + limit (400, error code 2002), `since`/`until` windows (since inclusive,
until exclusive), `/incidents?statuses[]=...` and `date_range=all`, 429 with Retry-After and
ratelimit-* headers from a sliding one-minute rate limit or on demand, any status on demand (each
with PagerDuty's error body for it, ERRORS; a 402 for an account without an ability,
`pd.lacks_ability("teams")`), slow answers and invalid JSON on demand, a fixed latency per request.
Incidents change as they do in PagerDuty (`escalate`, `delegate`, `reassign`, `change_urgency`,
`acknowledge`, `resolve`), each with its log entry.
"""

from __future__ import annotations

import asyncio
import bisect
import http
import math
import random
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

BASE_URL = "https://api.pagerduty.com"
WEB_URL = "https://acme.pagerduty.com"
OFFSET_CAP = 10_000
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
ENDPOINTS = (
    "services",
    "escalation_policies",
    "schedules",
    "oncalls",
    "users",
    "teams",
    "incidents",
    "log_entries",
    "maintenance_windows",
)
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
INCIDENT_STATUSES = ("triggered", "acknowledged", "resolved")  # the `statuses[]` enum of GET /incidents

# The error body PagerDuty answers per HTTP status: {"error": {"message", "code"[, "errors"]}}, the
# spec's components/responses (ArgumentError, Unauthorized, PaymentRequired, Forbidden, NotFound,
# TooManyRequests, InternalServerError all share that schema) with the codes of PagerDuty's error
# table (developer docs, "Errors"): 2001 Invalid Input Provided, 2006 Authentication failed,
# 2010 Access Denied, 2014 Required abilities are unavailable (402: the account's plan lacks an
# ability, e.g. `teams`), 2100 Not Found, 2000 Internal Error. A status the spec lists for none of
# these paths (502, 503, 504: answered by the load balancer in front) gets its reason phrase only.
ERRORS: dict[int, tuple[str, int]] = {
    400: ("Invalid Input Provided", 2001),
    401: ("Unauthorized", 2006),
    402: ("Required abilities are unavailable", 2014),
    403: ("Access Denied", 2010),
    404: ("Not Found", 2100),
    429: ("Rate limit exceeded", 2020),
    500: ("Internal Server Error", 2000),
}


def _b36(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out.rjust(width, "0")


def pid(kind: str, n: int) -> str:
    """A PagerDuty-like 7-character id, unique per kind letter."""
    return "P" + kind + _b36(n, 5)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(v: str) -> datetime:
    t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


_PLURAL = {
    "service": "services",
    "escalation_policy": "escalation_policies",
    "schedule": "schedules",
    "user": "users",
    "team": "teams",
    "incident": "incidents",
}


def ref(kind: str, ident: str, summary: str) -> dict:
    plural = _PLURAL[kind]
    return {
        "id": ident,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{BASE_URL}/{plural}/{ident}",
        "html_url": f"{WEB_URL}/{plural}/{ident}",
    }


# --------------------------------------------------------------------------- the organisation


@dataclass(slots=True)
class Incident:
    id: str
    number: int
    title: str
    service: int
    created: datetime
    urgency: str
    status: str = "triggered"
    last_change: datetime | None = None
    resolved_at: datetime | None = None
    assignee: int | None = None
    assigned_at: datetime | None = None
    acknowledger: int | None = None
    acknowledged_at: datetime | None = None
    trigger_id: str = ""
    policy: int | None = None  # delegated to this escalation policy; None: the service's


@dataclass(slots=True)
class LogEntry:
    id: str
    type: str  # trigger, notify, acknowledge, assign, escalate, delegate, urgency_change, resolve (+ "_log_entry")
    created: datetime
    incident: Incident
    user: int | None = None  # the agent (or the notified user); None: the service triggered it
    assignees: tuple[int, ...] = ()

    @property
    def overview(self) -> bool:
        return self.type != "notify_log_entry"


@dataclass(slots=True)
class OnCall:
    policy: int
    level: int
    user: int
    schedule: int | None
    start: datetime | None
    end: datetime | None


@dataclass
class FakeOrg:
    """A generated organisation; `incidents` and `log_entries` are kept sorted by creation time."""

    now: datetime
    teams: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    schedules: list[dict] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    integration_keys: dict[str, str] = field(default_factory=dict)  # integration id -> key
    maintenance_windows: list[dict] = field(default_factory=list)
    direct_oncalls: list[OnCall] = field(default_factory=list)  # users placed directly on a level
    shifts: list[OnCall] = field(default_factory=list)  # schedule shifts, sorted by start
    incidents: list[Incident] = field(default_factory=list)
    log_entries: list[LogEntry] = field(default_factory=list)
    overview_entries: list[LogEntry] = field(default_factory=list)
    service_team: list[int] = field(default_factory=list)
    service_policy: list[int] = field(default_factory=list)
    team_users: list[list[int]] = field(default_factory=list)
    rnd: random.Random = field(default_factory=random.Random)
    _next_incident: int = 0
    _next_entry: int = 0
    _max_shift: timedelta = timedelta(days=7)

    # -- generation ----------------------------------------------------------------------
    @classmethod
    def generate(
        cls,
        seed: int = 1,
        now: datetime | None = None,
        services: int = 50,
        incidents: int = 500,
        days: int = 90,
    ) -> FakeOrg:
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        org = cls(now=now, rnd=random.Random(seed))
        rnd = org.rnd
        n_teams = max(2, services // 10)
        n_users = max(6, services // 2)
        n_policies = max(2, services // 5)
        zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]
        for t in range(n_teams):
            org.teams.append(
                {
                    "id": pid("T", t),
                    "type": "team",
                    "summary": f"Team {t}",
                    "self": f"{BASE_URL}/teams/{pid('T', t)}",
                    "html_url": f"{WEB_URL}/teams/{pid('T', t)}",
                    "name": f"Team {t}",
                    "description": f"Owns a tenth of everything ({t})",
                    "default_role": "manager",
                }
            )
        org.team_users = [[] for _ in range(n_teams)]
        for u in range(n_users):
            team = u % n_teams
            org.team_users[team].append(u)
            uid = pid("U", u)
            org.users.append(
                {
                    "id": uid,
                    "type": "user",
                    "summary": f"User {u}",
                    "self": f"{BASE_URL}/users/{uid}",
                    "html_url": f"{WEB_URL}/users/{uid}",
                    "name": f"User {u}",
                    "email": f"user{u}@example.com",
                    "time_zone": zones[team % len(zones)],
                    "color": "green",
                    "role": "user",
                    "avatar_url": f"https://secure.gravatar.com/avatar/{u:032x}.png",
                    "description": None,
                    "invitation_sent": False,
                    "job_title": "Engineer",
                    "teams": [org._team_ref(team)],
                    "contact_methods": [],
                    "notification_rules": [],
                }
            )
        for p in range(n_policies):
            team = p % n_teams
            members = org.team_users[team]
            daily = p % 5 == 4
            turn = 86400 if daily else 604800
            start = datetime(2024, 1, 1, 9, tzinfo=UTC) + timedelta(hours=p % 24)
            layer_users = [members[(p + k) % len(members)] for k in range(min(3, len(members)))]
            sid, eid = pid("S", p), pid("E", p)
            org.schedules.append(
                {
                    "id": sid,
                    "type": "schedule",
                    "summary": f"Primary {p}",
                    "self": f"{BASE_URL}/schedules/{sid}",
                    "html_url": f"{WEB_URL}/schedules/{sid}",
                    "name": f"Primary {p}",
                    "time_zone": zones[team % len(zones)],
                    "description": "Primary rotation",
                    "escalation_policies": [ref("escalation_policy", eid, f"Policy {p}")],
                    "users": [org._user_ref(u) for u in layer_users],
                    "teams": [org._team_ref(team)],
                    "schedule_layers": [
                        {
                            "id": pid("L", p),
                            "name": "Daily" if daily else "Weekly",
                            "start": iso(start),
                            "rotation_virtual_start": iso(start),
                            "rotation_turn_length_seconds": turn,
                            "users": [{"user": org._user_ref(u)} for u in layer_users],
                            "restrictions": (
                                [
                                    {
                                        "type": "daily_restriction",
                                        "start_time_of_day": "09:00:00",
                                        "duration_seconds": 32400,
                                    }
                                ]
                                if p % 7 == 3
                                else []
                            ),
                        }
                    ],
                }
            )
            backup = members[(p + 3) % len(members)]
            org.policies.append(
                {
                    "id": eid,
                    "type": "escalation_policy",
                    "summary": f"Policy {p}",
                    "self": f"{BASE_URL}/escalation_policies/{eid}",
                    "html_url": f"{WEB_URL}/escalation_policies/{eid}",
                    "name": f"Policy {p}",
                    "description": "",
                    "num_loops": p % 3,
                    "on_call_handoff_notifications": "if_has_services",
                    "escalation_rules": [
                        {
                            "id": pid("R", 2 * p),
                            "escalation_delay_in_minutes": 15,
                            "targets": [ref("schedule", sid, f"Primary {p}")],
                        },
                        {
                            "id": pid("R", 2 * p + 1),
                            "escalation_delay_in_minutes": 30,
                            "targets": [org._user_ref(backup)],
                        },
                    ],
                    "services": [],
                    "teams": [org._team_ref(team)],
                }
            )
            # on-calls: the backup user directly on level 2 (no schedule, no start, no end) ...
            org.direct_oncalls.append(OnCall(p, 2, backup, None, None, None))
        # ... and the level-1 shifts, generated over a span wide enough for any test window
        shifts = []
        span_start, span_end = now - timedelta(days=days + 60), now + timedelta(days=120)
        for p, sch in enumerate(org.schedules):
            layer = sch["schedule_layers"][0]
            turn = timedelta(seconds=layer["rotation_turn_length_seconds"])
            vstart = parse_time(layer["rotation_virtual_start"])
            users = [org._user_index(u["user"]["id"]) for u in layer["users"]]
            k = max(0, int((span_start - vstart) / turn))
            while vstart + k * turn < span_end:
                s = vstart + k * turn
                shifts.append(OnCall(p, 1, users[k % len(users)], p, s, s + turn))
                k += 1
        shifts.sort(key=lambda o: (o.start, o.policy))  # type: ignore[arg-type,return-value]
        org.shifts = shifts
        for s in range(services):
            team, policy = s % n_teams, (s * 7) % n_policies
            org.service_team.append(team)
            org.service_policy.append(policy)
            svc_id = pid("V", s)
            integrations = []
            for k in range(1 + (s % 3 == 0)):
                iid = pid("I", 2 * s + k)
                org.integration_keys[iid] = f"{rnd.getrandbits(128):032x}"
                integrations.append(iid)
            use_hours = s % 4 == 1
            svc = {
                "id": svc_id,
                "type": "service",
                "summary": f"service-{s}",
                "self": f"{BASE_URL}/services/{svc_id}",
                "html_url": f"{WEB_URL}/service-directory/{svc_id}",
                "name": f"service-{s}",
                "description": f"Service number {s}",
                "auto_resolve_timeout": 14400,
                "acknowledgement_timeout": 1800 if s % 5 else None,
                "created_at": iso(now - timedelta(days=400 - s % 300)),
                "status": "disabled" if s % 17 == 16 else "active",
                "alert_creation": "create_alerts_and_incidents",
                "escalation_policy": ref("escalation_policy", org.policies[policy]["id"], f"Policy {policy}"),
                "teams": [org._team_ref(team)],
                "integrations": integrations,  # ids; rendered per request
                "incident_urgency_rule": (
                    {
                        "type": "use_support_hours",
                        "during_support_hours": {"type": "constant", "urgency": "high"},
                        "outside_support_hours": {"type": "constant", "urgency": "low"},
                    }
                    if use_hours
                    else {"type": "constant", "urgency": "high" if s % 6 else "low"}
                ),
                "support_hours": (
                    {
                        "type": "fixed_time_per_day",
                        "time_zone": zones[team % len(zones)],
                        "days_of_week": [1, 2, 3, 4, 5],
                        "start_time": "09:00:00",
                        "end_time": "17:00:00",
                    }
                    if use_hours
                    else None
                ),
                "scheduled_actions": [],
            }
            if svc["acknowledgement_timeout"] is None:
                del svc["acknowledgement_timeout"]  # not nullable in the published schema: omitted
            if svc["support_hours"] is None:
                del svc["support_hours"]
            org.services.append(svc)
            org.policies[policy]["services"].append(ref("service", svc_id, f"service-{s}"))
        for m in range(max(2, services // 100)):
            start = now + timedelta(hours=(m * 37) % 200 - 24)
            mid = pid("M", m)
            org.maintenance_windows.append(
                {
                    "id": mid,
                    "type": "maintenance_window",
                    "summary": f"Maintenance {m}",
                    "self": f"{BASE_URL}/maintenance_windows/{mid}",
                    "html_url": f"{WEB_URL}/service-directory/maintenance-windows/{mid}",
                    "sequence_number": m + 1,
                    "start_time": iso(start),
                    "end_time": iso(start + timedelta(hours=2 + m % 5)),
                    "description": f"Planned work {m}",
                    "created_by": org._user_ref(m % n_users),
                    "services": [ref("service", org.services[(m * 13) % services]["id"], "svc")],
                    "teams": [org._team_ref(org.service_team[(m * 13) % services])],
                }
            )
        # incidents over `days`, with their log entries
        window = timedelta(days=days) - timedelta(hours=1)
        created = sorted(now - timedelta(minutes=1) - rnd.random() * window for _ in range(incidents))
        later = random.Random(seed * 7919 + 1)  # escalations, delegations, urgency changes: a stream of their own
        for t in created:
            inc = org._new_incident(rnd.randrange(services), t.replace(microsecond=0))
            roll = later.random()  # before any acknowledgement (at least a minute after the trigger)
            if roll < 0.03:
                org._escalate(inc, inc.created + timedelta(seconds=20))
            elif roll < 0.05:
                org._delegate(inc, (org._policy_of(inc) + 1) % n_policies, inc.created + timedelta(seconds=30))
            elif roll < 0.08:
                org._change_urgency(inc, inc.created + timedelta(seconds=40))
            ack_delay = timedelta(seconds=rnd.randrange(60, 1800))
            res_delay = ack_delay + timedelta(seconds=rnd.randrange(300, 14400))
            if rnd.random() < 0.1 and inc.created + timedelta(minutes=1) < now:  # reassigned
                org._assign(inc, org._team_user(inc, 1), inc.created + timedelta(minutes=1))
            if rnd.random() < 0.7 and inc.created + ack_delay < now:
                org._acknowledge(inc, inc.created + ack_delay)
            if rnd.random() < 0.94 and inc.created + res_delay < now:
                org._resolve(inc, inc.created + res_delay)
        org._sort_entries()
        return org

    # -- references -----------------------------------------------------------------------
    def _team_ref(self, t: int) -> dict:
        return ref("team", pid("T", t), f"Team {t}")

    def _user_ref(self, u: int) -> dict:
        return ref("user", pid("U", u), f"User {u}")

    def _user_index(self, user_id: str) -> int:
        return int(user_id[2:], 36)

    def _team_user(self, inc: Incident, k: int) -> int:
        members = self.team_users[self.service_team[inc.service]]
        return members[(inc.number + k) % len(members)]

    # -- changes (also used by the tests) ---------------------------------------------------
    def _entry(self, typ: str, at: datetime, inc: Incident, user: int | None, assignees: tuple[int, ...] = ()) -> str:
        self._next_entry += 1
        e = LogEntry("Q" + _b36(self._next_entry, 13), typ, at, inc, user, assignees)
        self.log_entries.append(e)
        if e.overview:
            self.overview_entries.append(e)
        return e.id

    def _sort_entries(self) -> None:
        self.log_entries.sort(key=lambda e: (e.created, e.id))
        self.overview_entries.sort(key=lambda e: (e.created, e.id))
        self.incidents.sort(key=lambda i: (i.created, i.id))

    def _new_incident(self, service: int, at: datetime) -> Incident:
        at = at.replace(microsecond=0)
        self._next_incident += 1
        n = self._next_incident
        urgency = "low" if self.services[service]["incident_urgency_rule"].get("urgency") == "low" else "high"
        inc = Incident(pid("Q", n), n, f"High error rate on service-{service} (#{n})", service, at, urgency)
        inc.last_change = at
        self.incidents.append(inc)
        first = self._team_user(inc, 0)
        inc.assignee, inc.assigned_at = first, at
        inc.trigger_id = self._entry("trigger_log_entry", at, inc, None)
        self._entry("notify_log_entry", at + timedelta(seconds=5), inc, first)
        return inc

    def _policy_of(self, inc: Incident) -> int:
        return self.service_policy[inc.service] if inc.policy is None else inc.policy

    def _reassigned(self, inc: Incident, user: int, at: datetime) -> None:
        """A new assignee; an acknowledged incident goes back to triggered (PagerDuty re-notifies)."""
        inc.assignee, inc.assigned_at = user, at
        if inc.status == "acknowledged":
            inc.status, inc.last_change = "triggered", at
            inc.acknowledger = inc.acknowledged_at = None

    def _assign(self, inc: Incident, user: int, at: datetime, agent: int | None = None) -> None:
        at = at.replace(microsecond=0)
        self._reassigned(inc, user, at)
        self._entry("assign_log_entry", at, inc, agent, (user,))

    def _escalate(self, inc: Incident, at: datetime) -> None:
        """Escalated (by hand) to the policy's second level: its backup user."""
        at = at.replace(microsecond=0)
        agent = inc.assignee
        backup = self._user_index(self.policies[self._policy_of(inc)]["escalation_rules"][1]["targets"][0]["id"])
        self._reassigned(inc, backup, at)
        self._entry("escalate_log_entry", at, inc, agent, (backup,))

    def _delegate(self, inc: Incident, policy: int, at: datetime) -> None:
        """Reassigned to another escalation policy: assigned to the first user of its schedule's layer."""
        at = at.replace(microsecond=0)
        agent = inc.assignee
        inc.policy = policy
        first = self._user_index(self.schedules[policy]["schedule_layers"][0]["users"][0]["user"]["id"])
        self._reassigned(inc, first, at)
        self._entry("delegate_log_entry", at, inc, agent, (first,))

    def _change_urgency(self, inc: Incident, at: datetime) -> None:
        """High to low or low to high; the log entry does not say which (the spec's UrgencyChangeLogEntry)."""
        at = at.replace(microsecond=0)
        inc.urgency = "low" if inc.urgency == "high" else "high"
        self._entry("urgency_change_log_entry", at, inc, inc.assignee)

    def _acknowledge(self, inc: Incident, at: datetime) -> None:
        at = at.replace(microsecond=0)
        inc.status, inc.last_change = "acknowledged", at
        inc.acknowledger, inc.acknowledged_at = inc.assignee, at
        self._entry("acknowledge_log_entry", at, inc, inc.assignee)

    def _resolve(self, inc: Incident, at: datetime) -> None:
        at = at.replace(microsecond=0)
        agent = inc.assignee
        inc.status, inc.last_change, inc.resolved_at = "resolved", at, at
        inc.assignee = inc.assigned_at = inc.acknowledger = inc.acknowledged_at = None
        self._entry("resolve_log_entry", at, inc, agent)

    def add_incidents(self, n: int, start: datetime, end: datetime) -> list[str]:
        """n new triggered incidents created in [start, end); returns their ids."""
        span = (end - start).total_seconds()
        times = sorted(start + timedelta(seconds=int(self.rnd.random() * span)) for _ in range(n))
        out = [self._new_incident(self.rnd.randrange(len(self.services)), t).id for t in times]
        self._sort_entries()
        return out

    def resolve(self, ids: list[str], at: datetime) -> None:
        """Resolve these incidents at `at` (adds their resolve log entries)."""
        self._each(ids, at, self._resolve)

    def acknowledge(self, ids: list[str], at: datetime) -> None:
        self._each(ids, at, self._acknowledge)

    def escalate(self, ids: list[str], at: datetime) -> None:
        """Escalate these open incidents to their policy's second level (an acknowledged one re-triggers)."""
        self._each(ids, at, self._escalate)

    def delegate(self, ids: list[str], at: datetime, policy: int | None = None) -> None:
        """Reassign these open incidents to escalation policy `policy` (default: the next one after theirs)."""
        n = len(self.policies)
        self._each(
            ids, at, lambda inc, t: self._delegate(inc, (self._policy_of(inc) + 1) % n if policy is None else policy, t)
        )

    def reassign(self, ids: list[str], at: datetime) -> None:
        """Assign these open incidents to another member of their team (an acknowledged one re-triggers)."""
        self._each(ids, at, lambda inc, t: self._assign(inc, self._team_user(inc, 2), t, agent=inc.assignee))

    def change_urgency(self, ids: list[str], at: datetime) -> None:
        """Flip these open incidents' urgency."""
        self._each(ids, at, self._change_urgency)

    def _each(self, ids: list[str], at: datetime, change: Any) -> None:
        by_id = {i.id: i for i in self.incidents}
        for k, ident in enumerate(ids):
            inc = by_id[ident]
            assert inc.status != "resolved", f"{ident} is resolved: it cannot change any more"
            change(inc, at + timedelta(seconds=k))
        self._sort_entries()

    # -- rendering ------------------------------------------------------------------------
    def render_service(self, s: dict, include_integrations: bool) -> dict:
        out = dict(s)
        integ = []
        for iid in s["integrations"]:
            r = {
                "id": iid,
                "type": "events_api_v2_inbound_integration",
                "summary": "Alertmanager",
                "self": f"{BASE_URL}/services/{s['id']}/integrations/{iid}",
                "html_url": f"{WEB_URL}/services/{s['id']}/integrations/{iid}",
            }
            if include_integrations:
                r.update(
                    name="Alertmanager",
                    service=ref("service", s["id"], s["name"]),
                    created_at=s["created_at"],
                    vendor={
                        "id": "PAM4FGS",
                        "type": "vendor_reference",
                        "summary": "Prometheus",
                        "self": f"{BASE_URL}/vendors/PAM4FGS",
                        "html_url": None,
                    },
                    integration_key=self.integration_keys[iid],
                )
            else:
                r["type"] += "_reference"
            integ.append(r)
        out["integrations"] = integ
        return out

    def render_schedule(self, s: dict, include_layers: bool) -> dict:
        out = dict(s)
        if not include_layers:
            del out["schedule_layers"]
        return out

    def render_oncall(self, o: OnCall) -> dict:
        policy = self.policies[o.policy]
        return {
            "escalation_policy": ref("escalation_policy", policy["id"], policy["name"]),
            "escalation_level": o.level,
            "schedule": None if o.schedule is None else ref("schedule", pid("S", o.schedule), f"Primary {o.schedule}"),
            "user": self._user_ref(o.user),
            "start": None if o.start is None else iso(o.start),
            "end": None if o.end is None else iso(o.end),
        }

    def render_incident(self, i: Incident) -> dict:
        svc = self.services[i.service]
        policy = self.policies[self._policy_of(i)]
        team = self.service_team[i.service]
        out: dict[str, Any] = {
            "id": i.id,
            "type": "incident",
            "summary": f"[#{i.number}] {i.title}",
            "self": f"{BASE_URL}/incidents/{i.id}",
            "html_url": f"{WEB_URL}/incidents/{i.id}",
            "incident_number": i.number,
            "title": i.title,
            "created_at": iso(i.created),
            "updated_at": iso(i.last_change or i.created),
            "status": i.status,
            "incident_key": f"{i.number:032x}",
            "service": ref("service", svc["id"], svc["name"]),
            "assignments": (
                []
                if i.assignee is None
                else [{"at": iso(i.assigned_at or i.created), "assignee": self._user_ref(i.assignee)}]
            ),
            "assigned_via": "escalation_policy",
            "last_status_change_at": iso(i.last_change or i.created),
            "first_trigger_log_entry": {
                "id": i.trigger_id,
                "type": "trigger_log_entry_reference",
                "summary": "Triggered through the API",
                "self": f"{BASE_URL}/log_entries/{i.trigger_id}?incident_id={i.id}",
                "html_url": f"{WEB_URL}/incidents/{i.id}/log_entries/{i.trigger_id}",
            },
            "alert_counts": {
                "all": 1,
                "triggered": int(i.status != "resolved"),
                "resolved": int(i.status == "resolved"),
            },
            "is_mergeable": True,
            "escalation_policy": ref("escalation_policy", policy["id"], policy["name"]),
            "teams": [self._team_ref(team)],
            "pending_actions": [],
            "acknowledgements": (
                []
                if i.acknowledger is None
                else [{"at": iso(i.acknowledged_at or i.created), "acknowledger": self._user_ref(i.acknowledger)}]
            ),
            "urgency": i.urgency,
        }
        if i.resolved_at is not None:
            out["resolved_at"] = iso(i.resolved_at)
        else:
            out["resolved_at"] = None  # as the API sends it (the field's description says so)
        return out

    def render_log_entry(self, e: LogEntry) -> dict:
        inc = e.incident
        svc = self.services[inc.service]
        summaries = {
            "trigger_log_entry": "Triggered through the API.",
            "notify_log_entry": f"Notified User {e.user} by push notification.",
            "acknowledge_log_entry": f"Acknowledged by User {e.user}.",
            "assign_log_entry": "Assigned to " + ", ".join(f"User {u}" for u in e.assignees) + ".",
            "escalate_log_entry": "Escalated to " + ", ".join(f"User {u}" for u in e.assignees) + ".",
            "delegate_log_entry": "Reassigned to " + ", ".join(f"User {u}" for u in e.assignees) + ".",
            "urgency_change_log_entry": f"Urgency changed by User {e.user}.",
            "resolve_log_entry": f"Resolved by User {e.user}.",
        }
        out: dict[str, Any] = {
            "id": e.id,
            "type": e.type,
            "summary": summaries[e.type],
            "self": f"{BASE_URL}/log_entries/{e.id}",
            "html_url": f"{WEB_URL}/incidents/{inc.id}/log_entries/{e.id}",
            "created_at": iso(e.created),
            "agent": ref("service", svc["id"], svc["name"]) if e.user is None else self._user_ref(e.user),
            "channel": {"type": "api"} if e.user is None else {"type": "website"},
            "service": ref("service", svc["id"], svc["name"]),
            "incident": ref("incident", inc.id, f"[#{inc.number}] {inc.title}"),
            "teams": [self._team_ref(self.service_team[inc.service])],
            "contexts": [],
        }
        if e.type == "trigger_log_entry":
            out["event_details"] = {"description": inc.title}
        elif e.type == "notify_log_entry":
            out["channel"] = {
                "type": "notification",
                "notification": {"type": "push_notification", "status": "success"},
            }
            out["agent"] = ref("service", svc["id"], svc["name"])
            out["user"] = self._user_ref(e.user or 0)
        elif e.type == "acknowledge_log_entry":
            out["acknowledgement_timeout"] = svc.get("acknowledgement_timeout")
            if out["acknowledgement_timeout"] is None:
                del out["acknowledgement_timeout"]
        elif e.type in ("assign_log_entry", "escalate_log_entry", "delegate_log_entry"):
            out["assignees"] = [self._user_ref(u) for u in e.assignees]
        return out

    def render_maintenance_window(self, m: dict) -> dict:
        return dict(m)

    # -- queries (what the endpoints answer, before pagination) ------------------------------
    def oncalls_between(self, since: datetime, until: datetime) -> list[OnCall]:
        shifts = self.shifts
        lo = bisect.bisect_left(shifts, since - self._max_shift, key=lambda o: o.start)  # type: ignore[arg-type,return-value]
        hi = bisect.bisect_left(shifts, until, key=lambda o: o.start)  # type: ignore[arg-type,return-value]
        return self.direct_oncalls + [o for o in shifts[lo:hi] if o.end is not None and o.end > since]

    def incidents_between(self, since: datetime, until: datetime) -> list[Incident]:
        lo = bisect.bisect_left(self.incidents, since, key=lambda i: i.created)
        hi = bisect.bisect_left(self.incidents, until, key=lambda i: i.created)
        return self.incidents[lo:hi]

    def log_entries_between(self, since: datetime, until: datetime, overview: bool) -> list[LogEntry]:
        entries = self.overview_entries if overview else self.log_entries
        lo = bisect.bisect_left(entries, since, key=lambda e: e.created)
        hi = bisect.bisect_left(entries, until, key=lambda e: e.created)
        return entries[lo:hi]

    def maintenance_windows_for(self, filt: str) -> list[dict]:
        def state(m: dict) -> str:
            s, e = parse_time(m["start_time"]), parse_time(m["end_time"])
            return "future" if s > self.now else "past" if e <= self.now else "ongoing"

        keep = {"all": None, "open": {"ongoing", "future"}}.get(filt, {filt})
        return [m for m in self.maintenance_windows if keep is None or state(m) in keep]

    def expected_bodies(
        self, now: datetime, incidents_days: int = 90, oncalls_past_days: int = 30, oncalls_future_days: int = 14
    ) -> dict[str, list[dict]]:
        """What a full read with the collector's default windows should return, per endpoint."""
        since = now - timedelta(days=incidents_days)
        return {
            "services": [self.render_service(s, True) for s in self.services],
            "escalation_policies": list(self.policies),
            "schedules": list(self.schedules),
            "oncalls": [
                self.render_oncall(o)
                for o in self.oncalls_between(
                    now - timedelta(days=oncalls_past_days), now + timedelta(days=oncalls_future_days)
                )
            ],
            "users": list(self.users),
            "teams": list(self.teams),
            "incidents": [self.render_incident(i) for i in self.incidents_between(since, now)],
            "log_entries": [self.render_log_entry(e) for e in self.log_entries_between(since, now, True)],
            "maintenance_windows": self.maintenance_windows_for("open"),
        }


# --------------------------------------------------------------------------- the server


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: int | None, errors: list[str] | None = None):
        self.status, self.message, self.code, self.errors = status, message, code, errors or []

    @classmethod
    def of(cls, status: int, errors: list[str] | None = None) -> ApiError:
        """The error PagerDuty answers with this status (ERRORS), e.g. for a fault injected by a test."""
        message, code = ERRORS.get(status, (http.HTTPStatus(status).phrase, None))
        return cls(status, message, code, errors)

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        err: dict[str, Any] = {"message": self.message}
        if self.code is not None:
            err["code"] = self.code
        if self.errors:
            err["errors"] = self.errors
        return JSONResponse({"error": err}, status_code=self.status, headers=headers)


@dataclass
class Fault:
    """Answer `kind` to the next `times` requests of an endpoint (None: every request)."""

    kind: str  # "status", "throttle", "slow", "invalid_json"
    times: int | None = None
    status: int = 500
    seconds: float = 0.0
    header: str = "retry-after"
    errors: list[str] = field(default_factory=list)  # the error body's `errors` (ERRORS gives the rest)


@dataclass
class RequestRecord:
    endpoint: str
    params: list[tuple[str, str]]
    status: int
    at: float


class FakePagerDuty:
    """The FastAPI app around a FakeOrg, with faults on demand, a rate limit and a request log."""

    def __init__(
        self,
        org: FakeOrg,
        token: str | None = None,
        latency_s: float = 0.0,
        rate_limit_per_minute: int | None = None,
    ):
        self.org = org
        self.token = token
        self.latency_s = latency_s
        self.rate_limit_per_minute = rate_limit_per_minute
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[RequestRecord] = []
        self._allowed: deque[float] = deque()
        self.app = self._make_app()
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- control (called from the test) ----------------------------------------------------
    def fail(self, endpoint: str, status: int = 500, times: int | None = None, errors: list[str] | None = None) -> None:
        """Answer `status` with PagerDuty's error body for it (ERRORS) to the next `times` requests."""
        self.faults.setdefault(endpoint, []).append(Fault("status", times, status=status, errors=errors or []))

    def lacks_ability(self, endpoint: str, ability: str = "teams", times: int | None = None) -> None:
        """402 as for an account whose plan lacks `ability` (GET /teams without `teams`), error code 2014."""
        self.fail(endpoint, 402, times, [f"The {ability} account ability is required to access {endpoint}"])

    def throttle(self, endpoint: str, times: int = 1, retry_after: float = 1, header: str = "retry-after") -> None:
        """429 for the next `times` requests, asking to wait `retry_after` seconds in `header`."""
        self.faults.setdefault(endpoint, []).append(Fault("throttle", times, seconds=retry_after, header=header))

    def slow(self, endpoint: str, seconds: float, times: int | None = None) -> None:
        self.faults.setdefault(endpoint, []).append(Fault("slow", times, seconds=seconds))

    def invalid_json(self, endpoint: str, times: int | None = None) -> None:
        self.faults.setdefault(endpoint, []).append(Fault("invalid_json", times))

    def clear_faults(self) -> None:
        self.faults.clear()

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        return sum(
            1
            for r in list(self.requests)
            if (endpoint is None or r.endpoint == endpoint) and (status is None or r.status == status)
        )

    def counts(self) -> Counter[str]:
        return Counter(r.endpoint for r in list(self.requests))

    def clear_log(self) -> None:
        self.requests.clear()

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> FakePagerDuty:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", backlog=1024)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="pagerduty-fake", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the PagerDuty fake did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakePagerDuty:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def transport(self) -> LocalTransport:
        """An httpx2 transport that sends the client's https://api.pagerduty.com requests here."""
        assert self.port is not None, "start the fake first"
        return LocalTransport(self.port)

    # -- the app -------------------------------------------------------------------------------
    def _make_app(self) -> FastAPI:
        app = FastAPI(title="PagerDuty REST API v2 (fake)", openapi_url=None, docs_url=None, redoc_url=None)
        handlers = {
            "services": self._services,
            "escalation_policies": self._policies,
            "schedules": self._schedules,
            "oncalls": self._oncalls,
            "users": self._users,
            "teams": self._teams,
            "incidents": self._incidents,
            "log_entries": self._log_entries,
            "maintenance_windows": self._maintenance_windows,
        }
        for ep, fn in handlers.items():
            app.add_api_route(f"/{ep}", self._endpoint(ep, fn), methods=["GET"])
        return app

    def _endpoint(self, ep: str, produce: Any) -> Any:
        async def handle(request: Request) -> Response:
            params = list(request.query_params.multi_items())
            response = await self._answer(ep, produce, request, params)
            self.requests.append(RequestRecord(ep, params, response.status_code, time.monotonic()))
            return response

        handle.__name__ = f"list_{ep}"
        return handle

    def _take_fault(self, ep: str, kinds: tuple[str, ...]) -> Fault | None:
        for f in self.faults.get(ep, []):
            if f.kind in kinds and (f.times is None or f.times > 0):
                if f.times is not None:
                    f.times -= 1
                return f
        return None

    def _rate_limited(self) -> dict[str, str] | None:
        """Headers of a 429 when the sliding one-minute window is full, else None (and count this one)."""
        limit = self.rate_limit_per_minute
        if not limit:
            return None
        now = time.monotonic()
        while self._allowed and self._allowed[0] <= now - 60:
            self._allowed.popleft()
        if len(self._allowed) >= limit:
            wait = self._allowed[0] + 60 - now
            return {
                "Retry-After": str(max(1, math.ceil(wait))),
                "ratelimit-limit": str(limit),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(max(1, math.ceil(wait))),
            }
        self._allowed.append(now)
        return None

    async def _answer(self, ep: str, produce: Any, request: Request, params: list[tuple[str, str]]) -> Response:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        slow = self._take_fault(ep, ("slow",))
        if slow:
            await asyncio.sleep(slow.seconds)
        if self.token is not None and request.headers.get("authorization") != f"Token token={self.token}":
            return ApiError.of(401).response()
        limited = self._rate_limited()
        if limited:
            return ApiError.of(429).response(limited)
        fault = self._take_fault(ep, ("throttle", "status", "invalid_json"))
        if fault and fault.kind == "throttle":
            wait = f"{fault.seconds:g}"
            return ApiError.of(429).response({fault.header: wait})
        if fault and fault.kind == "status":
            return ApiError.of(fault.status, fault.errors).response()
        if fault and fault.kind == "invalid_json":
            return Response(b'{"' + ep.encode() + b'": [{"id": ', media_type="application/json")
        try:
            q = _Query(params)
            items, render = produce(q)
            body = _paginate(ep, items, render, q)
        except ApiError as e:
            return e.response()
        headers = {}
        if self.rate_limit_per_minute:
            headers = {
                "ratelimit-limit": str(self.rate_limit_per_minute),
                "ratelimit-remaining": str(max(0, self.rate_limit_per_minute - len(self._allowed))),
                "ratelimit-reset": "60",
            }
        return JSONResponse(body, headers=headers)

    # -- endpoints: (records, render) -----------------------------------------------------------
    def _services(self, q: _Query) -> tuple[list, Any]:
        inc = "integrations" in q.all("include[]")
        return self.org.services, lambda s: self.org.render_service(s, inc)

    def _policies(self, q: _Query) -> tuple[list, Any]:
        return self.org.policies, dict

    def _schedules(self, q: _Query) -> tuple[list, Any]:
        layers = "schedule_layers" in q.all("include[]")
        return self.org.schedules, lambda s: self.org.render_schedule(s, layers)

    def _oncalls(self, q: _Query) -> tuple[list, Any]:
        since = q.time("since") or self.org.now
        until = q.time("until") or self.org.now
        if until < since:
            raise ApiError(400, "Invalid Input Provided", 2001, ["until must not be before since"])
        if until > self.org.now + timedelta(days=90):
            raise ApiError(400, "Invalid Input Provided", 2001, ["On-call shifts are limited to 90 days in the future"])
        return self.org.oncalls_between(since, until), self.org.render_oncall

    def _users(self, q: _Query) -> tuple[list, Any]:
        return self.org.users, dict

    def _teams(self, q: _Query) -> tuple[list, Any]:
        return self.org.teams, dict

    def _incidents(self, q: _Query) -> tuple[list, Any]:
        if q.get("date_range") == "all":
            records = list(self.org.incidents)
        else:
            until = q.time("until") or self.org.now
            since = q.time("since") or until - timedelta(days=30)
            if until - since > timedelta(days=180) or until < since:
                raise ApiError(400, "Invalid Input Provided", 2001, ["the date range may be at most 6 months"])
            records = self.org.incidents_between(since, until)
        statuses = q.all("statuses[]")
        unknown = [s for s in statuses if s not in INCIDENT_STATUSES]
        if unknown:
            raise ApiError(400, "Invalid Input Provided", 2001, [f"statuses[] has an unknown value {unknown[0]!r}"])
        if statuses:  # repeated to ask for several (`statuses[]=triggered&statuses[]=acknowledged`)
            records = [i for i in records if i.status in statuses]
        return records, self.org.render_incident

    def _log_entries(self, q: _Query) -> tuple[list, Any]:
        until = q.time("until") or self.org.now
        since = q.time("since") or until - timedelta(days=30)
        overview = q.get("is_overview") == "true"
        return self.org.log_entries_between(since, until, overview), self.org.render_log_entry

    def _maintenance_windows(self, q: _Query) -> tuple[list, Any]:
        filt = q.get("filter") or "all"
        if filt not in ("past", "future", "ongoing", "open", "all"):
            raise ApiError(400, "Invalid Input Provided", 2001, [f"unknown filter {filt!r}"])
        return self.org.maintenance_windows_for(filt), self.org.render_maintenance_window


class _Query:
    def __init__(self, params: list[tuple[str, str]]):
        self.params = params

    def get(self, name: str) -> str | None:
        for k, v in self.params:
            if k == name:
                return v
        return None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.params if k == name]

    def int(self, name: str, default: int) -> int:
        v = self.get(name)
        if v is None:
            return default
        try:
            return int(v)
        except ValueError:
            raise ApiError(400, "Invalid Input Provided", 2001, [f"{name} must be an integer"]) from None

    def time(self, name: str) -> datetime | None:
        v = self.get(name)
        if v is None:
            return None
        try:
            return parse_time(v)
        except ValueError:
            raise ApiError(400, "Invalid Input Provided", 2001, [f"{name} is not a date-time"]) from None


def _paginate(ep: str, records: list, render: Any, q: _Query) -> dict:
    limit = q.int("limit", DEFAULT_LIMIT)
    offset = q.int("offset", 0)
    if limit < 1 or offset < 0:
        raise ApiError(400, "Invalid Input Provided", 2001, ["limit and offset must be positive"])
    limit = min(limit, MAX_LIMIT)
    if offset + limit > OFFSET_CAP:
        raise ApiError(
            400,
            "Arguments Caused Error",
            2002,
            [f"Offset must be less than {OFFSET_CAP:,} minus the limit (classic pagination)"],
        )
    page = records[offset : offset + limit]
    return {
        ep: [render(r) for r in page],
        "limit": limit,
        "offset": offset,
        "more": offset + len(page) < len(records),
        "total": len(records) if q.get("total") == "true" else None,
    }


class LocalTransport(httpx2.BaseTransport):
    """Sends the client's https requests to the fake on 127.0.0.1 over plain HTTP (the client refuses http://)."""

    def __init__(self, port: int):
        self.port = port
        self._inner = httpx2.HTTPTransport(limits=httpx2.Limits(max_connections=64, max_keepalive_connections=64))

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
