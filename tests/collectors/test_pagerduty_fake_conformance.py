"""The PagerDuty fake answers in the published API's shapes (../shared/reference-data/pagerduty/rest-openapiv3.json).

Every page of every endpoint the collector reads, with the parameters it sends (and the variants the
fake also serves), is validated against the 200 response schema of that path; error answers against
the spec's error shape. The published spec contradicts itself and PagerDuty's documented behaviour in
a few places (../shared/reference-data/README.md); each correction is applied by a named function
below, so a reader sees why.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fakes.pagerduty_fake import FakeOrg, FakePagerDuty, iso

openapi_schema_validator = pytest.importorskip("openapi_schema_validator")

SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference-data" / "pagerduty" / "rest-openapiv3.json"
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


# --------------------------------------------------------------------------- corrections to the spec


def channel_one_of_is_any_of(schemas: dict) -> None:
    """1. `LogEntry.channel` is a oneOf whose five shapes all accept {"type": "api"}: treat it as anyOf."""
    ch = schemas["Channel"]
    ch["anyOf"] = ch.pop("oneOf")


def acknowledge_entry_type(schemas: dict) -> None:
    """2. `AcknowledgeLogEntry` requires `acknowledgement_log_entry`; the real type (and LogEntry's) is `acknowledge_log_entry`."""
    props = schemas["AcknowledgeLogEntry"]["allOf"][1]["properties"]
    props["type"]["enum"] = [*props["type"]["enum"], "acknowledge_log_entry"]


def oncall_direct_user_nulls(schemas: dict) -> None:
    """3. `/oncalls`: a user placed directly on a level has `schedule`, `start` and `end` null (as the descriptions say)."""
    props = schemas["Oncall"]["properties"]
    props["schedule"] = {"anyOf": [props["schedule"], {"type": "object", "nullable": True, "enum": [None]}]}
    for key in ("start", "end"):
        props[key] = {**props[key], "nullable": True}


def service_full_integrations(schemas: dict) -> None:
    """4. `/services?include[]=integrations` returns full Integration objects, not only `*_reference` ones."""
    props = schemas["Service"]["allOf"][1]["properties"]
    props["integrations"]["items"] = {
        "anyOf": [{"$ref": "#/components/schemas/IntegrationReference"}, {"$ref": "#/components/schemas/Integration"}]
    }


def incident_open_resolved_at_null(schemas: dict) -> None:
    """5. (not in the README's list) `Incident.resolved_at` is null while the incident is open: the field's own
    description says "or `null` if the incident is not resolved", but its schema is a plain string."""
    props = schemas["Incident"]["allOf"][1]["properties"]
    props["resolved_at"] = {**props["resolved_at"], "nullable": True}


CORRECTIONS = (
    channel_one_of_is_any_of,
    acknowledge_entry_type,
    oncall_direct_user_nulls,
    service_full_integrations,
    incident_open_resolved_at_null,
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} not present (../shared is absent)")
    s = json.loads(SPEC.read_text())
    fixed = copy.deepcopy(s)
    for fix in CORRECTIONS:
        fix(fixed["components"]["schemas"])
    return fixed


@pytest.fixture(scope="module")
def fake():
    org = FakeOrg.generate(seed=7, now=NOW, services=60, incidents=300)
    with FakePagerDuty(org, token="t0ken") as pd:
        yield pd


def _validator(spec: dict, schema: dict) -> Any:
    root = {**schema, "components": spec["components"]}
    return openapi_schema_validator.OAS30ReadValidator(
        root, format_checker=openapi_schema_validator.oas30_format_checker
    )


def _response_schema(spec: dict, path: str, status: str) -> dict:
    resp = spec["paths"][path]["get"]["responses"][status]
    if "$ref" in resp:
        name = resp["$ref"].rsplit("/", 1)[-1]
        resp = spec["components"]["responses"][name]
    schema = resp["content"]["application/json"]["schema"]
    if "$ref" in schema and schema["$ref"].startswith("#/components/responses/"):
        name = schema["$ref"].split("/")[3]
        schema = spec["components"]["responses"][name]["content"]["application/json"]["schema"]
    return schema


def _errors(validator: Any, body: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(body)]


def _pages(client: httpx2.Client, path: str, params: list[tuple[str, str]]) -> list[dict]:
    """Every page of a list, as the client would read it."""
    pages, offset = [], 0
    while True:
        r = client.get(path, params=[*params, ("limit", "100"), ("offset", str(offset)), ("total", "true")])
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        body = r.json()
        pages.append(body)
        offset += len(body[path.strip("/")])
        if not body["more"]:
            return pages


def _client(fake: FakePagerDuty) -> httpx2.Client:
    return httpx2.Client(
        base_url="https://api.pagerduty.com",
        transport=fake.transport(),
        headers={"Authorization": "Token token=t0ken", "Accept": "application/vnd.pagerduty+json;version=2"},
    )


SINCE, UNTIL = iso(NOW - timedelta(days=90)), iso(NOW)
REQUESTS = [
    ("/services", [("include[]", "integrations")]),
    ("/services", []),
    ("/escalation_policies", []),
    ("/schedules", [("include[]", "schedule_layers")]),
    ("/schedules", []),
    ("/oncalls", [("since", iso(NOW - timedelta(days=30))), ("until", iso(NOW + timedelta(days=14)))]),
    ("/users", []),
    ("/teams", []),
    ("/incidents", [("since", SINCE), ("until", UNTIL)]),
    ("/incidents", [("since", SINCE), ("until", UNTIL), ("statuses[]", "triggered"), ("statuses[]", "acknowledged")]),
    ("/log_entries", [("since", SINCE), ("until", UNTIL), ("is_overview", "true")]),
    ("/log_entries", [("since", iso(NOW - timedelta(days=7))), ("until", UNTIL)]),
    ("/maintenance_windows", [("filter", "all")]),
]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize(("path", "params"), REQUESTS, ids=[f"{p}?{'&'.join(k for k, _ in q)}" for p, q in REQUESTS])
def test_every_page_matches_the_published_schema(spec: dict, fake: FakePagerDuty, path: str, params: list) -> None:
    validator = _validator(spec, _response_schema(spec, path, "200"))
    with _client(fake) as client:
        pages = _pages(client, path, params)
    key = path.strip("/")
    assert sum(len(p[key]) for p in pages) > 0
    # Every page's envelope, and up to 8 records of each kind (type, status) across the pages: validating
    # all ~1,000 log entries against the spec's 15-way oneOf would take seconds and prove nothing more.
    seen: Counter[str] = Counter()
    problems = []
    for n, page in enumerate(pages):
        sample = []
        for obj in page[key]:
            kind = f"{obj.get('type')}/{obj.get('status')}/{obj.get('schedule') is None}"
            seen[kind] += 1
            if seen[kind] <= 8:
                sample.append(obj)
        problems += [f"page {n}: {err}" for err in _errors(validator, {**page, key: sample})]
    assert problems == [], "\n".join(problems[:20])
    for page in pages:
        assert set(page) == {key, "limit", "offset", "more", "total"}


def test_fake_serves_what_it_claims(fake: FakePagerDuty) -> None:
    """Entry types, statuses and shapes the collector relies on are all present in the generated data."""
    with _client(fake) as client:
        entries = [
            e for p in _pages(client, "/log_entries", [("since", SINCE), ("until", UNTIL)]) for e in p["log_entries"]
        ]
        overview = [
            e
            for p in _pages(client, "/log_entries", [("since", SINCE), ("until", UNTIL), ("is_overview", "true")])
            for e in p["log_entries"]
        ]
        incidents = [
            i for p in _pages(client, "/incidents", [("since", SINCE), ("until", UNTIL)]) for i in p["incidents"]
        ]
        oncalls = [o for p in _pages(client, "/oncalls", []) for o in p["oncalls"]]
        services = _pages(client, "/services", [("include[]", "integrations")])[0]["services"]
    assert {e["type"] for e in entries} == {
        "trigger_log_entry",
        "notify_log_entry",
        "acknowledge_log_entry",
        "assign_log_entry",
        "escalate_log_entry",
        "delegate_log_entry",
        "urgency_change_log_entry",
        "resolve_log_entry",
    }
    assert all(e["assignees"] for e in entries if e["type"] in ("escalate_log_entry", "delegate_log_entry"))
    assert "notify_log_entry" not in {e["type"] for e in overview}
    assert {i["status"] for i in incidents} == {"triggered", "acknowledged", "resolved"}
    assert all(i["assignments"] == [] for i in incidents if i["status"] == "resolved")
    assert any(o["schedule"] is None and o["start"] is None for o in oncalls)
    assert all(len(s["integrations"][0]["integration_key"]) == 32 for s in services)


def test_error_answers_match_the_published_error_shape(spec: dict, fake: FakePagerDuty) -> None:
    error = _validator(spec, _response_schema(spec, "/incidents", "400"))
    with _client(fake) as client:
        cap = client.get("/incidents", params={"offset": 9950, "limit": 100})
        assert cap.status_code == 400 and cap.json()["error"]["code"] == 2002
        fake.throttle("users", times=1, retry_after=2)
        limited = client.get("/users")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        fake.fail("teams", times=1)
        failed = client.get("/teams")
        assert failed.status_code == 500 and failed.json()["error"]["code"] == 2000
        refused = client.get("/teams", headers={"Authorization": "Token token=wrong"})
        assert refused.status_code == 401
        fake.lacks_ability("teams", times=1)
        unpaid = client.get("/teams")
        assert unpaid.status_code == 402 and unpaid.json() == {
            "error": {
                "message": "Required abilities are unavailable",
                "code": 2014,
                "errors": ["The teams account ability is required to access teams"],
            }
        }
        assert _errors(_validator(spec, _response_schema(spec, "/teams", "402")), unpaid.json()) == []
        bad_status = client.get("/incidents", params=[("statuses[]", "open")])
        assert bad_status.status_code == 400 and bad_status.json()["error"]["code"] == 2001
        for r in (cap, limited, failed, refused, unpaid, bad_status):
            assert _errors(error, r.json()) == []
            assert set(r.json()) == {"error"} and {"message", "code"} <= set(r.json()["error"])
    fake.clear_faults()


@pytest.mark.parametrize("skipped", CORRECTIONS, ids=[f.__name__ for f in CORRECTIONS])
def test_each_correction_is_needed(skipped: Any) -> None:
    """Without any one correction, a real-shaped answer of the fake fails the published schema."""
    if not SPEC.exists():
        pytest.skip(f"{SPEC} not present (../shared is absent)")
    raw = json.loads(SPEC.read_text())
    schemas = raw["components"]["schemas"]
    for fix in CORRECTIONS:
        if fix is not skipped:
            fix(schemas)
    org = FakeOrg.generate(seed=7, now=NOW, services=60, incidents=300)
    bodies = org.expected_bodies(NOW)
    # a few records of each shape: log entries of two types, open and resolved incidents, both kinds of on-call
    bodies["log_entries"] = [
        next(e for e in bodies["log_entries"] if e["type"] == t) for t in ("trigger_log_entry", "acknowledge_log_entry")
    ]
    bodies["incidents"] = [i for i in bodies["incidents"] if i["status"] != "resolved"][:3] + bodies["incidents"][:3]
    bodies["oncalls"] = [o for o in bodies["oncalls"] if o["start"] is None][:3] + bodies["oncalls"][-3:]
    failing = set()
    for path in ("/services", "/oncalls", "/incidents", "/log_entries"):
        key = path.strip("/")
        validator = _validator(raw, _response_schema(raw, path, "200"))
        if _errors(validator, {key: bodies[key][:6]}):
            failing.add(path)
    assert failing, f"{skipped.__name__} changes nothing the fake serves"
