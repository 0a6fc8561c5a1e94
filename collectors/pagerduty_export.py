"""The PagerDuty export folder (one JSON file per endpoint, the API's list bodies) -> facts.

The same conversion serves the live collector: it receives the same objects from the API.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import pickle
import re
import signal
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from itertools import compress, count, repeat
from operator import attrgetter, itemgetter, methodcaller
from pathlib import Path
from typing import Any, cast, get_args, get_origin

from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from agent.errors import InputError
from agent.forks import fork_allowed
from agent.gcpause import release_freed_heap
from collectors.disk_cache import (
    CACHE_ERRORS,
    cache_folder,
    code_salt,
    content_key,
    used,
    write_atomically,
    write_cached,
)
from collectors.facts import (
    Fact,
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
    slotted_maker,
    trusted,
)
from collectors.secrets import fingerprint
from collectors.timeutil import parse_instant
from collectors.yamlfile import file_digest, read_text, read_text_digest

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


class _Bad(Exception):
    """A value of the wrong kind: where it is in the item (keys and list indices) and what is wrong with it."""

    def __init__(self, path: tuple[str | int, ...], msg: str):
        self.path = path
        self.msg = msg


def _as(fn: Callable[[Any], Any], obj: dict, key: str, at: tuple[str | int, ...] = (), optional: bool = False) -> Any:
    """`fn` of `obj[key]` (`obj.get(key)` when `optional`); a value `fn` refuses is a `_Bad` naming `at` + key."""
    v = obj.get(key) if optional else _get(obj, key)
    try:
        return fn(v)
    except (TypeError, ValueError) as e:
        raise _Bad((*at, key), str(e)) from None


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
        at = ("escalation_rules", n - 1)
        targets = []
        for t in _get(r, "targets"):
            typ = str(_get(t, "type")).replace("_reference", "")
            if typ in ("user", "schedule"):
                targets.append(PDTarget(type=typ, id=_get(t, "id")))  # type: ignore[arg-type]
        levels.append(
            PDLevel(
                level=n, escalation_delay_in_minutes=_as(int, r, "escalation_delay_in_minutes", at), targets=targets
            )
        )
    return PDEscalationPolicy(
        id=_get(p, "id"),
        name=_get(p, "name"),
        num_loops=_as(lambda v: int(v or 0), p, "num_loops", optional=True),
        levels=levels,
        teams=[t["id"] for t in p.get("teams") or []],
    )


def schedule_from_api(s: dict) -> PDSchedule:
    layers = []
    for k, la in enumerate(s.get("schedule_layers") or []):
        at = ("schedule_layers", k)
        layers.append(
            PDScheduleLayer(
                name=la.get("name"),
                start=_as(_ts, la, "start", at),
                end=_as(_ts, la, "end", at, optional=True),
                rotation_virtual_start=_as(_ts, la, "rotation_virtual_start", at),
                rotation_turn_length_seconds=_as(int, la, "rotation_turn_length_seconds", at),
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
        escalation_level=_as(int, o, "escalation_level"),
        schedule_id=_ref_id(o.get("schedule")),
        start=_as(_ts, o, "start", optional=True),
        end=_as(_ts, o, "end", optional=True),
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
        created_at=_as(_ts, i, "created_at"),
        last_status_change_at=_as(_ts, i, "last_status_change_at", optional=True),
        resolved_at=_as(_ts, i, "resolved_at", optional=True),
        assignees=[a["assignee"]["id"] for a in i.get("assignments") or [] if a.get("assignee")],
    )


def log_entry_from_api(e: dict) -> PDLogEntry:
    agent = e.get("agent") or {}
    return PDLogEntry(
        id=_get(e, "id"),
        type=_get(e, "type"),
        created_at=_as(_ts, e, "created_at"),
        incident_id=_ref_id(e.get("incident")),
        service_id=_ref_id(e.get("service")),
        agent_type=agent.get("type"),
        agent_id=agent.get("id"),
        assignees=[a["id"] for a in e.get("assignees") or []],
    )


def mw_from_api(m: dict) -> PDMaintenanceWindow:
    return PDMaintenanceWindow(
        id=_get(m, "id"),
        start_time=_as(_ts, m, "start_time"),
        end_time=_as(_ts, m, "end_time"),
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


def facts_from_bodies(bodies: Mapping[str, list[dict]], source: str) -> PagerDutyFacts:
    """Convert API objects, per endpoint, to facts; a missing required field names the item."""
    return _finish({ep: _convert(ep, items, source, None) for ep, items in bodies.items()})


def _convert(ep: str, items: list[dict], source: str, where: str | None) -> list:
    """Convert one endpoint's items; an item that is not what the API sends is an InputError naming it
    (and the file and line of its id, when read from `where`)."""
    conv = CONVERTERS[ep]
    converted = []
    for n, obj in enumerate(items):
        try:
            converted.append(conv(obj))
        except (_Bad, _Missing, TypeError, ValueError, AttributeError, KeyError) as e:
            ident = obj.get("id") if isinstance(obj, dict) else None
            ident = ident if isinstance(ident, str) else None
            path: tuple[str | int, ...] = ()
            if isinstance(e, _Bad):
                path = e.path
                what = f"{_dotted(e.path)}: {e.msg}"
            elif isinstance(e, _Missing):
                path = tuple(e.field.split("."))
                what = f"missing required field {e.field!r}"
            else:
                what = _item_error(e)
            raise InputError(
                f"{ep}[{n}]{' ' + ident if ident else ''}: {what}",
                file=where,
                source=None if where else source,
                line=_line_in_file(where, (ep, n, *path), ident),
            ) from None
    return converted


def _item_error(e: Exception) -> str:
    if isinstance(e, AttributeError | KeyError):  # an object where a list or mapping was expected, or the reverse
        return "a field has the wrong type (not as the PagerDuty API sends it)"
    return str(e)


def _finish(out: dict[str, list]) -> PagerDutyFacts:
    # incidents: acknowledged_at from log entries
    acks: dict[str, datetime] = {}
    for le in out.get("log_entries", []):
        if le.type.startswith("acknowledge") and le.incident_id:
            prev = acks.get(le.incident_id)
            if prev is None or le.created_at < prev:
                acks[le.incident_id] = le.created_at
    for inc in out.get("incidents", []):
        if acks and inc.acknowledged_at is None:
            ack = acks.get(inc.id)
            if ack is not None:  # (assigning None, as before, changed nothing but took a third of a second on L)
                inc.acknowledged_at = ack
        # a resolved incident's last change is its resolution: one datetime object for both (the same value,
        # same tzinfo object; datetimes are immutable). On L: 200,000 datetimes fewer, 9 MB, for ~0.05 s.
        last, res = inc.last_status_change_at, inc.resolved_at
        if last is not None and last == res and last.tzinfo is res.tzinfo:
            inc.last_status_change_at = res
    return PagerDutyFacts(**out)


def _dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def _line_in_file(file: str | None, path: tuple[str | int, ...], ident: str | None) -> int | None:
    """The line in a JSON file of the value at `path` (endpoint, index, then a field's path in the item), or of the
    deepest part of it there; where that is the item itself, its id's line when it has one. None without a file."""
    if not file:
        return None
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return None
    line, depth = json_line(text, path)
    if depth <= 2 and ident:
        line, depth = json_line(text, (*path[:2], "id"))
    return line


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def json_line(text: str, path: tuple[str | int, ...]) -> tuple[int | None, int]:
    """The (1-based) line where the value at `path` (object keys and array indices) starts in a JSON text, or that
    of the deepest value of `path` there is (None: not even the first), and how many elements of `path` were
    found. Values passed over are skipped by the json module's scanner, so a 100 MB export is walked at C speed;
    of a key given twice, the last (what `json.loads` keeps)."""
    ws = _WS.match
    skip = _DECODER.raw_decode
    scan = json.decoder.scanstring  # type: ignore[attr-defined]
    i = ws(text, 0).end()
    found: int | None = None
    depth = 0
    try:
        for key in path:
            if isinstance(key, str) and text[i] == "{":
                i = ws(text, i + 1).end()
                at = -1
                while text[i] == '"':
                    k, i = scan(text, i + 1)
                    i = ws(text, i).end()
                    if text[i] != ":":
                        break
                    i = ws(text, i + 1).end()
                    if k == key:
                        at = i
                    i = ws(text, skip(text, i)[1]).end()
                    if text[i] != ",":
                        break
                    i = ws(text, i + 1).end()
                if at < 0:
                    break
                i = at
            elif isinstance(key, int) and text[i] == "[":
                i = ws(text, i + 1).end()
                for _ in range(key):
                    i = ws(text, skip(text, i)[1]).end()
                    if text[i] != ",":
                        return found, depth
                    i = ws(text, i + 1).end()
                if text[i] == "]":
                    break
            else:
                break
            found = text.count("\n", 0, i) + 1
            depth += 1
    except (ValueError, IndexError):  # not JSON there (json.JSONDecodeError is a ValueError)
        pass
    return found, depth


# A large export is parsed in a forked child that writes the cache entry, and read from there: the collectors
# run in threads under one GIL, so the parse (L: 2.9 s of CPU, +0.8 s for the entry) otherwise takes its
# time from the rule files' parse beside it; the child has the second core. The parent polls waitpid
# (sleeping, without the GIL) and pays for a hit (0.6 s). Smaller exports are not worth a fork. A child that fails
# (a bad export) leaves no entry, and the parent parses as it always did: the same errors.
FORK_MIN_BYTES = 20 * 1024 * 1024
# A forked child of a threaded process could block on a lock another thread held at the fork (none is on the
# parse's path that we know of): past this wait the child is killed and the parent parses itself.
FORK_WAIT_S = 300.0


def _parsed_in_child(d: Path, source: str, cache: ExportCache) -> bool:
    """Parse the export in a forked child that writes its cache entry; whether the child succeeded."""
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:  # the child: parse, write the entry, leave without any of the parent's exit handlers
        code = 1
        try:
            # the entry, then the store's text of the facts (see `ExportCache.put_text`); not the heap handed
            # back: the process ends here
            out, digests = _parse_export(d, source, cache)
            cache.put(str(d), digests, _encode(out))
            from agent.store import codec

            cache.put_text(str(d), digests, codec.dumps(_finish(out)))
            code = 0
        except BaseException:  # noqa: BLE001, S110 - the parent parses again and reports the error
            pass
        finally:
            os._exit(code)
    deadline = time.monotonic() + FORK_WAIT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(0.02)


def _export_bytes(d: Path) -> int:
    return sum((d / f"{ep}.json").stat().st_size for ep in ENDPOINTS if (d / f"{ep}.json").is_file())


def load_export_dir(
    path: Path | str, source: str = "pagerduty", cache: ExportCache | None = None, *, fork: bool = True
) -> PagerDutyFacts:
    """The facts of an export folder; from `cache` (on disk) when its files are those of the cached entry.
    A large export missing from the cache is parsed in a forked child (`fork`, see FORK_MIN_BYTES)."""
    return load_export_dir_keyed(path, source, cache, fork=fork)[0]


def load_export_dir_keyed(
    path: Path | str, source: str = "pagerduty", cache: ExportCache | None = None, *, fork: bool = True
) -> tuple[PagerDutyFacts, str | None]:
    """`load_export_dir`, and the content key of the facts (`ExportCache.facts_key`) when they came from or
    were just written to `cache` (None without a cache)."""
    d = Path(path)
    if not d.is_dir():
        raise InputError("PagerDuty export folder not found", file=str(d))
    for ep in REQUIRED:
        if not (d / f"{ep}.json").exists():
            raise InputError(f"missing {ep}.json in the export folder", file=str(d))
    if cache is not None:
        hit = cache.get_keyed(str(d))
        if hit is not None:
            return hit
        if fork and fork_allowed() and _export_bytes(d) >= FORK_MIN_BYTES and _parsed_in_child(d, source, cache):
            hit = cache.get_keyed(str(d))
            if hit is not None:
                return hit
    out, digests = _parse_export(d, source, cache)
    entry = _encode(out) if cache is not None else None  # (before _finish sets the acknowledgements)
    facts = _finish(out)
    key = None
    if cache is not None and entry is not None:  # (only here: an export that fails is never cached)
        cache.put(str(d), digests, entry)
        key = cache.facts_key(str(d), digests)
        del entry
        release_freed_heap()  # what encoding and pickling the entry used: ~70 MB on L stayed resident
    return facts, key


def _parse_export(
    d: Path, source: str, cache: ExportCache | None
) -> tuple[dict[str, list], tuple[tuple[str, str | None], ...]]:
    """Each endpoint's facts as parsed (before `_finish`), and the digests of the bytes parsed (with a cache)."""
    # one endpoint's file at a time, so a large export's text and parsed JSON are not all in memory at once
    # (an incidents file can be 100 MB)
    out: dict[str, list] = {}
    digests: list[tuple[str, str | None]] = []
    for ep in ENDPOINTS:
        f = d / f"{ep}.json"
        if not f.exists():
            out[ep] = []
            digests.append((ep, None))
            continue
        # not UTF-8, a folder, unreadable: an InputError naming the file
        if cache is None:
            text = read_text(f)
        else:
            text, digest = read_text_digest(f)
            digests.append((ep, digest))
        fast = _fast_items(ep, text)
        out[ep] = fast if fast is not None else _convert(ep, _list_body(ep, f, text), source, str(f))
    return out, tuple(digests)


def _list_body(ep: str, f: Path, text: str) -> list[dict]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", file=str(f), line=e.lineno) from None
    if not isinstance(body, dict) or not isinstance(body.get(ep), list):
        raise InputError(f'expected the API list body {{"{ep}": [...]}}', file=str(f), line=1)
    items: list[dict] = body[ep]
    return items


# --------------------------------------------------------------------------- the large files, straight to facts
#
# An L-sized export holds 200,000 incidents and 92,701 log entries (113 MB of JSON). `json.loads` plus the
# converters above built a dict per object and ran Python per field, then a pydantic validation per fact.
# pydantic-core instead validates the file's text straight into the fact models (`validate_json`, no
# intermediate objects, aliases reaching into nested references): the whole export went from 4.5 to 3.2 s of
# CPU on a busy 2-core machine, about what unpickling the same facts costs, and 10 % less memory at the peak. Its schemas below say, field by field,
# what the converters do; where they cannot say it exactly they are stricter. Any failure, of any kind, sends
# the whole endpoint through the converters, which give the same facts or the error message as always
# (tests/collectors/test_pagerduty_export_fast.py compares both ways on normal and odd inputs).

# parse_instant is fromisoformat after `Z` -> `+00:00`. fromisoformat reads a final `Z` as +00:00 (the same
# timezone.utc), but also accepts `Z` as the date/time separator, which parse_instant refuses: only a final `Z`
# passes here. Calling the C function directly keeps the datetimes exactly the converters' (timezone.utc, not
# pydantic's TzInfo).
_INSTANT = cs.chain_schema(
    [cs.str_schema(strict=True, pattern=r"^[^Z]*Z?$"), cs.no_info_plain_validator_function(datetime.fromisoformat)]
)


_STR = cs.str_schema()  # the facts' own `str`: a JSON string, nothing else
# Strings that many facts repeat, made one object for all (sys.intern): pydantic-core's own string cache leaves
# L's 200,000 incident titles as 118,750 objects for 5,000 titles, the 96,306 assignee ids are 3,000, the 92,701
# log entries' agent types 2. Measured on L: the PagerDuty facts 196 -> 175 MiB, for ~0.2 s of CPU (a Python
# call per value; the ids of services and policies, already mostly shared by that cache, were not worth it).
_SHARED = cs.no_info_after_validator_function(sys.intern, _STR)


def _opt(schema: cs.CoreSchema) -> cs.CoreSchema:
    """A key that may be missing or null: None."""
    return cs.with_default_schema(cs.nullable_schema(schema), default=None)


def _ids(v: list[dict] | None) -> list[str]:
    return [sys.intern(a["id"]) for a in v] if v else []


def _ref_ids(id_path: Any) -> cs.CoreSchema:
    """The ids of a list of objects (each with its id at `id_path`); missing or null: [] (the converters'
    `x.get(key) or []`)."""
    item = cs.typed_dict_schema({"id": cs.typed_dict_field(_STR, validation_alias=id_path)}, extra_behavior="ignore")
    listed = cs.nullable_schema(cs.list_schema(item))
    return cs.with_default_schema(cs.no_info_after_validator_function(_ids, listed), default_factory=list)


def _td(**fields: cs.CoreSchema) -> cs.CoreSchema:
    """An object with these required keys (others ignored)."""
    return cs.typed_dict_schema({k: cs.typed_dict_field(v) for k, v in fields.items()}, extra_behavior="ignore")


# each fact field: (schema, validation alias: a key or a path of keys into the API object)
_Field = tuple[cs.CoreSchema, Any]

_INCIDENT: dict[str, _Field] = {
    "id": (_STR, None),
    "incident_number": (_opt(cs.int_schema()), None),
    # `title or summary or ""`: a non-empty title here; anything else through the converter
    "title": (cs.no_info_after_validator_function(sys.intern, cs.str_schema(min_length=1)), None),
    "status": (_STR, None),
    "urgency": (cs.with_default_schema(_STR, default="high"), None),
    # a path through a value that is not an object is simply not found: _get's missing, _ref_id's None
    "service_id": (_STR, [["service", "id"]]),
    "escalation_policy_id": (_opt(_STR), [["escalation_policy", "id"]]),
    "created_at": (_INSTANT, None),
    "last_status_change_at": (_opt(_INSTANT), None),
    # not read from the API object (set from the log entries afterwards): whatever the key holds, None
    "acknowledged_at": (
        cs.with_default_schema(cs.no_info_plain_validator_function(lambda v: None), default=None),
        None,
    ),
    "resolved_at": (_opt(_INSTANT), None),
    # every assignment with an assignee (the converter skips those without; here they fail)
    "assignees": (_ref_ids([["assignee", "id"]]), "assignments"),
}

_LOG_ENTRY: dict[str, _Field] = {
    "id": (_STR, None),
    "type": (_STR, None),
    "created_at": (_INSTANT, None),
    "incident_id": (_opt(_STR), [["incident", "id"]]),
    "service_id": (_opt(_STR), [["service", "id"]]),
    # `(agent or {}).get("type")`: an agent that is an object or null (the converter fails on any other truthy
    # value, so that must not pass here); the value then validated as the fact's `str | None`
    "agent_type": (
        cs.with_default_schema(
            cs.chain_schema(
                [
                    cs.nullable_schema(cs.dict_schema()),
                    cs.no_info_plain_validator_function(lambda a: a.get("type") if a else None),
                    cs.nullable_schema(_SHARED),
                ]
            ),
            default=None,
        ),
        "agent",
    ),
    "agent_id": (_opt(_STR), [["agent", "id"]]),
    "assignees": (_ref_ids("id"), None),
}


def _validator(ep: str, cls: type[Any], fields: dict[str, _Field]) -> SchemaValidator:
    """A validator of the API list body `{ep: [...]}` whose items become `cls` facts (a slotted pydantic dataclass,
    see collectors.facts)."""
    assert list(fields) == list(cls.__pydantic_fields__), f"{cls.__name__}: the fast schema must name every field"
    item = cs.dataclass_schema(
        cls,
        cs.dataclass_args_schema(
            cls.__name__,
            [
                cs.dataclass_field(name, schema, kw_only=True, validation_alias=alias)
                for name, (schema, alias) in fields.items()
            ],
            extra_behavior="ignore",
        ),
        list(fields),
        slots=True,
        config=cs.CoreConfig(extra_fields_behavior="ignore", validate_by_alias=True, validate_by_name=False),
    )
    body = _td(**{ep: cs.list_schema(item, fail_fast=True)})  # fail_fast: a failure costs one error, not 200,000
    # pydantic-core reuses a complete class's own validator (the fact shape) for any "dataclass" (or "model")
    # schema naming the class; it reads the mark `__pydantic_complete__` from the class itself, hence the moment
    # without it. (Done once, when this module is imported, before any collection runs.)
    was = cls.__pydantic_complete__
    cls.__pydantic_complete__ = False
    try:
        return SchemaValidator(body)
    finally:
        cls.__pydantic_complete__ = was


_FAST: dict[str, SchemaValidator] = {
    "incidents": _validator("incidents", PDIncident, _INCIDENT),
    "log_entries": _validator("log_entries", PDLogEntry, _LOG_ENTRY),
}


def _fast_items(ep: str, text: str) -> list | None:
    """The endpoint's facts straight from the file's text, or None: then the converters decide."""
    v = _FAST.get(ep)
    if v is None:
        return None
    try:
        items: list = v.validate_json(text)[ep]
    except Exception:  # noqa: BLE001 - any doubt at all (invalid JSON, an odd value): the converters decide
        return None
    finally:
        release_freed_heap()  # pydantic-core's tree of the whole text (~330 MB for L's incidents)
    return items


# --------------------------------------------------------------------------- the on-disk cache
#
# An unchanged export folder is not parsed again in the next process (the benchmark's warm run, a restart): its
# facts come from the agent's cache folder (collectors.disk_cache, which the rule files' cache uses too: the same
# `$OWNERSHIP_CACHE_DIR`, none when set empty, atomic writes, a malformed entry is a miss). One entry per export
# folder, replaced when a file changes (an export is 100 MB of JSON: not one entry per content). The entry is
# two pickles: the key (folder and the sha256 of each endpoint's file, read first) and the facts.
#
# The entry holds the endpoints' facts as parsed, before `_finish` (run again on a hit), as plain values, and
# they are rebuilt without validation (they were validated when the files were parsed): pickling the facts as
# they are cost 2.8 s to write and 0.9 s to read on L (a model pickles through its __dict__ and fields-set, a
# datetime through its __reduce_ex__, a Python call each way). Measured on L (CPU, a busy 2-core machine): a hit
# 0.6 s (hashing 113 MB 0.09, reading 0.13, rebuilding 0.32, `_finish` 0.08) instead of 2.8-3.0 s of parsing;
# a miss ~0.8 s more than a parse (hashing, `_encode` 0.45, writing 22 MB 0.27). A string shared by several
# facts (the interned titles and ids) is shared again (pickle's memo), so the facts take the same memory.

_CACHED_CODE = (
    "collectors/pagerduty_export.py",
    "agent/store/codec.py",  # the store's text beside the entry (put_text)
    "collectors/facts.py",
    "collectors/timeutil.py",
    "collectors/secrets.py",
    "collectors/yamlfile.py",
)
_LARGE = ("incidents", "log_entries")  # slotted dataclasses, by the hundred thousand
_MODELS: dict[str, type[Fact]] = {
    "services": PDService,
    "escalation_policies": PDEscalationPolicy,
    "schedules": PDSchedule,
    "oncalls": PDOnCall,
    "users": PDUser,
    "teams": PDTeam,
    "maintenance_windows": PDMaintenanceWindow,
}
assert set(_MODELS) | set(_LARGE) == set(ENDPOINTS)


class ExportCache:
    """Collected export folders on disk, keyed by folder and the content of its files."""

    # 1: models as rows (`_model_rows`), incidents and log entries as columns (`_encode`)
    FORMAT = 1

    def __init__(self, directory: Path | str):
        self.dir = Path(directory)
        self._salt = f"{self.FORMAT}|{code_salt(_CACHED_CODE)}"

    @classmethod
    def default(cls) -> ExportCache | None:
        """`$OWNERSHIP_CACHE_DIR/pagerduty`, else under ~/.cache/ownership-agent; None when the variable is set
        empty (see disk_cache.cache_root)."""
        folder = cache_folder("pagerduty")
        return cls(folder) if folder else None

    def _file(self, folder: str) -> Path:
        h = hashlib.sha256(f"{self._salt}|{folder}".encode()).hexdigest()
        return self.dir / h[:2] / f"{h}.pickle"

    def get_keyed(self, folder: str) -> tuple[PagerDutyFacts, str] | None:
        """The facts of the folder when its files have the content of the cached entry, and the entry's content
        key (`facts_key`); else None (no entry, another content, a malformed entry: a miss, never an error)."""
        file = self._file(folder)
        try:
            with file.open("rb") as f:
                key = pickle.load(f)  # noqa: S301 - our own files, in the user's own cache folder
                if not isinstance(key, tuple) or key != (folder, _digests(Path(folder))):
                    return None
                out = _decode(pickle.load(f))  # noqa: S301
        except (*CACHE_ERRORS, IndexError, KeyError):
            return None
        used(file)
        return _finish(out), self.facts_key(*key)

    def facts_key(self, folder: str, digests: tuple[tuple[str, str | None], ...]) -> str:
        """A digest of what an entry's facts depend on: the code (the salt), the folder and each file's digest
        (the store keeps it beside the facts: the same key, the same facts; see SourceStatus.facts_key)."""
        return content_key(self._salt, folder, repr(digests))

    def put(self, folder: str, digests: tuple[tuple[str, str | None], ...], entry: tuple) -> None:
        """Write the folder's entry (`_encode`) atomically; a cache that cannot be written is skipped, never an
        error."""
        write_cached(self._file(folder), (folder, digests), entry)

    # The store's text of an entry's facts (agent.store.codec), written by the forked child that parsed the
    # export, after the entry: the parent's store then reads the text instead of serialising the facts in its
    # save thread, which held the GIL ~0.5 s beside the analysis (L: cold graph 0.9 -> 0.3 s), for ~0.6 s more
    # in the child, beside the parent's collectors. One file per folder: its first line is the entry's content
    # key.

    def _text_file(self, folder: str) -> Path:
        return self._file(folder).with_suffix(".store.json")

    def put_text(self, folder: str, digests: tuple[tuple[str, str | None], ...], text: str) -> None:
        """Write the store's text of the facts of the folder's entry (skipped when it cannot be written)."""
        key = self.facts_key(folder, digests).encode()
        write_atomically(self._text_file(folder), lambda f: f.write(key + b"\n" + text.encode()))

    def text_reader(self, folder: str, key: str) -> Callable[[], str | None]:
        """A function reading the store's text of the facts whose content key is `key` (None: no such text)."""

        file = self._text_file(folder)

        def read() -> str | None:
            try:
                data = file.read_bytes()
            except OSError:
                return None
            head, sep, text = data.partition(b"\n")
            if not sep or head != key.encode():
                return None
            try:
                got = text.decode()
            except UnicodeDecodeError:
                return None
            used(file)
            return got

        return read


def _digests(d: Path) -> tuple[tuple[str, str | None], ...]:
    """Each endpoint's file digest, None when it does not exist (OSError when one cannot be read)."""
    out: list[tuple[str, str | None]] = []
    for ep in ENDPOINTS:
        f = d / f"{ep}.json"
        out.append((ep, file_digest(f) if f.exists() else None))
    return tuple(out)


def _encode(out: dict[str, list]) -> tuple:
    """The entry's facts: the endpoints' as parsed, before `_finish` (which is run again on a hit)."""
    models = {ep: _model_rows(cls, out[ep]) for ep, cls in _MODELS.items()}
    # the large endpoints as columns, a list per field (pickled and read back in half the time of rows as tuples)
    columns = {ep: [_column(out[ep], n, n in _TIMES[ep]) for n in _FIELDS[ep]] for ep in _LARGE}
    return models, columns


def _column(facts: list, name: str, times: bool) -> Any:
    col = list(map(attrgetter(name), facts))
    return _times_out(col) if times else col


def _decode(payload: tuple) -> dict[str, list]:
    models, columns = payload
    out: dict[str, list] = {ep: _models(cls, models[ep]) for ep, cls in _MODELS.items()}
    for ep in _LARGE:
        cols = [_times_in(c) if n in _TIMES[ep] else c for n, c in zip(_FIELDS[ep], columns[ep], strict=True)]
        if len({len(c) for c in cols}) > 1:
            raise ValueError("not the columns of the facts")
        out[ep] = list(map(_MAKE[ep], *cols))
    return out


# The large endpoints' datetimes (800,000 on L) as their pickled state, `datetime(10 bytes, tzinfo)`, a column's
# in one string (a filler where None, the Nones' places listed apart). Measured on 600,000: pickling the datetimes
# themselves (a __reduce_ex__ and pickle's memo each) 0.85 s to write, 0.12 s to read; this 0.21 s and 0.13 s (the
# loops in C, `map`); microseconds since the epoch 0.18 s and 0.31 s. For a column whose datetimes are all in
# timezone.utc (what an export's `Z` and `+00:00` give); another column is pickled as it is. (Parsed, before
# `_finish`, no two fields share a datetime object: there is no identity to keep.)
_STATE = 10  # bytes
_REDUCE = methodcaller("__reduce_ex__", 4)
_FILLER = datetime(1970, 1, 1, tzinfo=UTC)  # in place of None, to keep the loops in C
_FROM_STATE = cast(Callable[[bytes, Any], datetime | None], datetime)  # the constructor pickle calls


def _times_out(col: list[datetime | None]) -> tuple:
    nones = list(compress(count(), map(operator.is_, col, repeat(None))))
    if len(nones) == len(col):
        return ("none", len(col))
    filled = col
    if nones:
        filled = col.copy()
        for i in nones:
            filled[i] = _FILLER
    if set(map(type, filled)) != {datetime} or set(map(attrgetter("tzinfo"), filled)) != {UTC}:
        return ("as is", col)
    return ("utc", b"".join(map(itemgetter(0), map(itemgetter(1), map(_REDUCE, filled)))), nones)


def _times_in(enc: tuple) -> list[datetime | None]:
    if enc[0] == "none":
        return [None] * enc[1]
    if enc[0] == "as is":
        col: list[datetime | None] = enc[1]
        return col
    _, blob, nones = enc
    if len(blob) % _STATE:
        raise ValueError("not datetime states")
    states = [blob[i : i + _STATE] for i in range(0, len(blob), _STATE)]
    col = list(map(_FROM_STATE, states, repeat(UTC)))
    for i in nones:
        col[i] = None
    return col


def _nested(cls: type[Fact]) -> dict[int, type[Fact]]:
    """The fields (by position) that hold a list of facts; any other field must hold plain values."""
    out: dict[int, type[Fact]] = {}
    for n, f in enumerate(cls.model_fields.values()):
        args = get_args(f.annotation)
        if get_origin(f.annotation) is list and isinstance(args[0], type) and issubclass(args[0], Fact):
            out[n] = args[0]
        else:
            assert not _holds_facts(f.annotation), f"{cls.__name__}: a fact inside {f.annotation}, not as a list"
    return out


def _holds_facts(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, Fact):
        return True
    return any(_holds_facts(a) for a in get_args(annotation))


_NESTED: dict[type[Fact], dict[int, type[Fact]]] = {}


def _nested_of(cls: type[Fact]) -> dict[int, type[Fact]]:
    got = _NESTED.get(cls)
    if got is None:
        got = _NESTED[cls] = _nested(cls)
    return got


def _model_rows(cls: type[Fact], models: list[Any]) -> list[tuple]:
    """Each model as its field values (in declaration order; lists of facts as their rows) and its fields-set
    (None: every field, as the converters give them)."""
    names = list(cls.model_fields)
    every = set(names)
    nested = _nested_of(cls)
    rows = []
    for m in models:
        values = [m.__dict__[n] for n in names]
        for i, sub in nested.items():
            values[i] = _model_rows(sub, values[i])
        fields_set = m.model_fields_set
        rows.append((*values, None if fields_set == every else set(fields_set)))
    return rows


def _models(cls: type[Fact], rows: list[tuple]) -> list[Any]:
    """The models of `_model_rows`, not validated again (`facts.trusted`)."""
    names = list(cls.model_fields)
    nested = [(names[i], sub) for i, sub in _nested_of(cls).items()]
    out = []
    for row in rows:
        if len(row) != len(names) + 1:
            raise ValueError("not a row of this model")
        values = dict(zip(names, row, strict=False))
        for name, sub in nested:
            values[name] = _models(sub, values[name])
        out.append(trusted(cls, values, row[-1]))
    return out


_CLASSES: dict[str, Any] = {"incidents": PDIncident, "log_entries": PDLogEntry}
_FIELDS = {ep: list(cls.__pydantic_fields__) for ep, cls in _CLASSES.items()}
_MAKE = {ep: slotted_maker(cls) for ep, cls in _CLASSES.items()}
_TIMES = {
    ep: {n for n, f in cls.__pydantic_fields__.items() if datetime in (f.annotation, *get_args(f.annotation))}
    for ep, cls in _CLASSES.items()
}
