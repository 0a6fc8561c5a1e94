"""The PagerDuty export folder (one JSON file per endpoint, the API's list bodies) -> facts.

The same conversion serves the live collector: it receives the same objects from the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.errors import InputError
from collectors.facts import (
    PagerDutyFacts,
    PDEscalationPolicy,
    PDIncident,
    PDIntegration,
    PDLevel,
    PDLogEntry,
    PDMaintenanceWindow,
    PDOnCall,
    PDSchedule,
    PDScheduleLayer,
    PDService,
    PDTarget,
    PDTeam,
    PDUser,
)
from collectors.secrets import fingerprint
from collectors.timeutil import parse_instant

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
REQUIRED = ("services", "escalation_policies", "schedules", "oncalls", "users")


class _Missing(Exception):
    def __init__(self, field: str):
        self.field = field


def _get(obj: dict, *path: str) -> Any:
    cur: Any = obj
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            raise _Missing(".".join(path))
        cur = cur[k]
    return cur


_ts = parse_instant


def _ref_id(v: Any) -> str | None:
    return v.get("id") if isinstance(v, dict) else None


def service_from_api(s: dict) -> PDService:
    integ = []
    for i in s.get("integrations") or []:
        key = i.get("integration_key")
        integ.append(
            PDIntegration(
                id=_get(i, "id"),
                type=str(i.get("type", "")),
                name=i.get("name") or i.get("summary"),
                key_fingerprint=fingerprint(key) if key else None,
            )
        )
    return PDService(
        id=_get(s, "id"),
        name=_get(s, "name"),
        status=s.get("status", "active"),
        escalation_policy_id=_ref_id(_get(s, "escalation_policy")),
        teams=[t["id"] for t in s.get("teams") or []],
        integrations=integ,
        incident_urgency_rule=s.get("incident_urgency_rule") or {},
        support_hours=s.get("support_hours"),
        acknowledgement_timeout=s.get("acknowledgement_timeout"),
        auto_resolve_timeout=s.get("auto_resolve_timeout"),
    )


def policy_from_api(p: dict) -> PDEscalationPolicy:
    levels = []
    for n, r in enumerate(_get(p, "escalation_rules"), start=1):
        targets = []
        for t in _get(r, "targets"):
            typ = str(_get(t, "type")).replace("_reference", "")
            if typ in ("user", "schedule"):
                targets.append(PDTarget(type=typ, id=_get(t, "id")))  # type: ignore[arg-type]
        levels.append(
            PDLevel(level=n, escalation_delay_in_minutes=int(_get(r, "escalation_delay_in_minutes")), targets=targets)
        )
    return PDEscalationPolicy(
        id=_get(p, "id"),
        name=_get(p, "name"),
        num_loops=int(p.get("num_loops") or 0),
        levels=levels,
        teams=[t["id"] for t in p.get("teams") or []],
    )


def schedule_from_api(s: dict) -> PDSchedule:
    layers = []
    for la in s.get("schedule_layers") or []:
        layers.append(
            PDScheduleLayer(
                name=la.get("name"),
                start=_ts(_get(la, "start")),
                end=_ts(la.get("end")),  # type: ignore[arg-type]
                rotation_virtual_start=_ts(_get(la, "rotation_virtual_start")),  # type: ignore[arg-type]
                rotation_turn_length_seconds=int(_get(la, "rotation_turn_length_seconds")),
                users=[_get(u, "user", "id") for u in _get(la, "users")],
                restrictions=la.get("restrictions") or [],
            )
        )
    return PDSchedule(
        id=_get(s, "id"),
        name=s.get("name") or s.get("summary") or s["id"],
        time_zone=s.get("time_zone") or "UTC",
        users=[u["id"] for u in s.get("users") or []],
        teams=[t["id"] for t in s.get("teams") or []],
        layers=layers,
        escalation_policies=[e["id"] for e in s.get("escalation_policies") or []],
    )


def oncall_from_api(o: dict) -> PDOnCall:
    return PDOnCall(
        user_id=_get(o, "user", "id"),
        escalation_policy_id=_get(o, "escalation_policy", "id"),
        escalation_level=int(_get(o, "escalation_level")),
        schedule_id=_ref_id(o.get("schedule")),
        start=_ts(o.get("start")),
        end=_ts(o.get("end")),
    )


def user_from_api(u: dict) -> PDUser:
    return PDUser(
        id=_get(u, "id"),
        name=_get(u, "name"),
        email=u.get("email"),
        time_zone=u.get("time_zone"),
        teams=[t["id"] for t in u.get("teams") or []],
    )


def incident_from_api(i: dict) -> PDIncident:
    return PDIncident(
        id=_get(i, "id"),
        incident_number=i.get("incident_number"),
        title=i.get("title") or i.get("summary") or "",
        status=_get(i, "status"),
        urgency=i.get("urgency", "high"),
        service_id=_get(i, "service", "id"),
        escalation_policy_id=_ref_id(i.get("escalation_policy")),
        created_at=_ts(_get(i, "created_at")),  # type: ignore[arg-type]
        last_status_change_at=_ts(i.get("last_status_change_at")),
        resolved_at=_ts(i.get("resolved_at")),
        assignees=[a["assignee"]["id"] for a in i.get("assignments") or [] if a.get("assignee")],
    )


def log_entry_from_api(e: dict) -> PDLogEntry:
    agent = e.get("agent") or {}
    return PDLogEntry(
        id=_get(e, "id"),
        type=_get(e, "type"),
        created_at=_ts(_get(e, "created_at")),  # type: ignore[arg-type]
        incident_id=_ref_id(e.get("incident")),
        service_id=_ref_id(e.get("service")),
        agent_type=agent.get("type"),
        agent_id=agent.get("id"),
        assignees=[a["id"] for a in e.get("assignees") or []],
    )


def mw_from_api(m: dict) -> PDMaintenanceWindow:
    return PDMaintenanceWindow(
        id=_get(m, "id"),
        start_time=_ts(_get(m, "start_time")),
        end_time=_ts(_get(m, "end_time")),  # type: ignore[arg-type]
        services=[s["id"] for s in m.get("services") or []],
        description=m.get("description"),
    )


CONVERTERS = {
    "services": service_from_api,
    "escalation_policies": policy_from_api,
    "schedules": schedule_from_api,
    "oncalls": oncall_from_api,
    "users": user_from_api,
    "teams": lambda t: PDTeam(id=_get(t, "id"), name=_get(t, "name")),
    "incidents": incident_from_api,
    "log_entries": log_entry_from_api,
    "maintenance_windows": mw_from_api,
}


def facts_from_bodies(
    bodies: Mapping[str, list[dict]], source: str, files: dict[str, str] | None = None
) -> PagerDutyFacts:
    """Convert API objects, per endpoint, to facts; a missing required field names the item."""
    out: dict[str, list] = {}
    for ep, items in bodies.items():
        conv = CONVERTERS[ep]
        converted = []
        for n, obj in enumerate(items):
            try:
                converted.append(conv(obj))
            except _Missing as m:
                where = (files or {}).get(ep)
                ident = obj.get("id") if isinstance(obj, dict) else None
                raise InputError(
                    f"{ep}[{n}]{' ' + ident if ident else ''}: missing required field {m.field!r}",
                    file=where,
                    source=None if where else source,
                    line=_line_of_id(where, ident),
                ) from None
            except (TypeError, ValueError) as e:
                where = (files or {}).get(ep)
                raise InputError(f"{ep}[{n}]: {e}", file=where, source=None if where else source) from None
        out[ep] = converted
    # incidents: acknowledged_at from log entries
    acks: dict[str, datetime] = {}
    for le in out.get("log_entries", []):
        if le.type.startswith("acknowledge") and le.incident_id:
            prev = acks.get(le.incident_id)
            if prev is None or le.created_at < prev:
                acks[le.incident_id] = le.created_at
    for inc in out.get("incidents", []):
        if inc.acknowledged_at is None:
            inc.acknowledged_at = acks.get(inc.id)
    return PagerDutyFacts(**out)


def _line_of_id(file: str | None, ident: str | None) -> int | None:
    if not file or not ident:
        return None
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r'"id"\s*:\s*"' + re.escape(ident) + '"', text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def load_export_dir(path: Path | str, source: str = "pagerduty") -> PagerDutyFacts:
    d = Path(path)
    if not d.is_dir():
        raise InputError("PagerDuty export folder not found", file=str(d))
    files = {ep: str(d / f"{ep}.json") for ep in ENDPOINTS}
    for ep in REQUIRED:
        if not (d / f"{ep}.json").exists():
            raise InputError(f"missing {ep}.json in the export folder", file=str(d))
    return facts_from_bodies(_ExportBodies(d), source, files)


class _ExportBodies(Mapping[str, list[dict]]):
    """The export folder's list bodies, read one endpoint at a time as the conversion asks for them, so a
    large export's parsed JSON is not all in memory at once (an incidents file can be 100 MB)."""

    def __init__(self, d: Path):
        self.d = d

    def __getitem__(self, ep: str) -> list[dict]:
        if ep not in ENDPOINTS:
            raise KeyError(ep)
        f = self.d / f"{ep}.json"
        if not f.exists():
            return []
        try:
            body = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e.msg}", file=str(f), line=e.lineno) from None
        if not isinstance(body, dict) or not isinstance(body.get(ep), list):
            raise InputError(f'expected the API list body {{"{ep}": [...]}}', file=str(f), line=1)
        items: list[dict] = body[ep]
        return items

    def __iter__(self) -> Iterator[str]:
        return iter(ENDPOINTS)

    def __len__(self) -> int:
        return len(ENDPOINTS)
