"""Live Backstage catalog: entities read page by page from a local app shaped like Backstage's catalog API.

Backstage is not packaged for Debian, so a small FastAPI app stands in for its catalog backend:
`GET /api/catalog/entities` answers a JSON array, honours `filter=kind=...`, `limit` and the
`after` cursor, and sends `Link: </entities?...&after=CURSOR>; rel="next"` relative to the
catalog router, as Backstage's catalog-backend router does.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn
from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from servers import free_port

from agent.config import CatalogSource
from collectors.catalog import CatalogCollector, next_link
from collectors.http import SourceAuthError
from collectors.secrets import fingerprint

TOKEN = "backstage-test-token-7f3a"
PD_KEY = "integration-key-checkout-0001"


def _component(name: str, owner: str, **ann: str) -> dict[str, Any]:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "namespace": "default",
            "name": name,
            "uid": f"uid-{name}",
            "etag": "e",
            "description": f"{name} service",
            "labels": {"tier": "1"},
            "annotations": ann,
        },
        "spec": {"type": "service", "lifecycle": "production", "owner": owner, "system": "system:default/shop"},
        "relations": [{"type": "ownedBy", "targetRef": owner}],
    }


ENTITIES: list[dict[str, Any]] = [
    _component(
        "checkout",
        "group:default/payments",
        **{"pagerduty.com/service-id": "PSV0001", "pagerduty.com/integration-key": PD_KEY},
    ),
    _component("search", "group:default/discovery", **{"pagerduty.com/service-id": "PSV0002"}),
    _component("ledger", "group:default/payments"),
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Group",
        "metadata": {"namespace": "default", "name": "payments"},
        "spec": {"type": "team", "profile": {"displayName": "Payments"}, "children": [], "members": ["alice"]},
    },
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Group",
        "metadata": {"namespace": "default", "name": "discovery"},
        "spec": {"type": "team", "children": []},
    },
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "User",
        "metadata": {"namespace": "default", "name": "alice", "annotations": {"pagerduty.com/user-id": "PU0001"}},
        "spec": {"profile": {"displayName": "Alice", "email": "alice@example.com"}, "memberOf": ["payments"]},
    },
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "User",
        "metadata": {"namespace": "default", "name": "bob"},
        "spec": {"profile": {"displayName": "Bob"}, "memberOf": ["group:default/discovery"]},
    },
    {  # filtered out by kind: a real catalog holds many more kinds
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "API",
        "metadata": {"namespace": "default", "name": "orders-api"},
        "spec": {"type": "openapi", "owner": "payments", "definition": "{}"},
    },
]


def backstage_app(requests: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/api/catalog/entities")
    def entities(
        request: Request,
        response: Response,
        filter: list[str] = Query(default=[]),  # noqa: A002 - Backstage's parameter name
        limit: int | None = None,
        offset: int = 0,
        after: str | None = None,
        authorization: str | None = Header(default=None),
    ) -> Any:
        requests.append(str(request.url))
        if authorization != f"Bearer {TOKEN}":
            return JSONResponse({"error": {"name": "AuthenticationError", "message": "Unauthorized"}}, status_code=401)
        kinds = {f.split("=", 1)[1].lower() for f in filter if f.lower().startswith("kind=")}
        items = [e for e in ENTITIES if not kinds or e["kind"].lower() in kinds]
        start = json.loads(base64.urlsafe_b64decode(after))["offset"] if after else offset
        page = items[start : start + limit] if limit else items[start:]
        if limit and start + limit < len(items):
            cursor = base64.urlsafe_b64encode(json.dumps({"offset": start + limit}).encode()).decode()
            params = [("filter", f) for f in filter] + [("limit", limit), ("after", cursor)]
            response.headers["link"] = f'</entities?{urlencode(params)}>; rel="next"'
        return page

    return app


@pytest.fixture(scope="module")
def backstage():
    requests: list[str] = []
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(backstage_app(requests), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", requests
    server.should_exit = True
    thread.join(timeout=5)


def test_entities_page_by_page_fill_the_catalog(backstage, monkeypatch: pytest.MonkeyPatch) -> None:
    url, requests = backstage
    requests.clear()
    monkeypatch.setenv("OWNERSHIP_TEST_BACKSTAGE_TOKEN", TOKEN)
    src = CatalogSource.model_validate(
        {
            "name": "backstage",
            "kind": "catalog",
            "url": url,
            "auth": {"token_env": "OWNERSHIP_TEST_BACKSTAGE_TOKEN"},
            "page_size": 2,
        }
    )
    got = CatalogCollector(src, Path(".")).collect()
    f = got.facts
    assert len(requests) == 4  # 7 entities of the three kinds, 2 per page
    assert all("filter=kind%3Dcomponent" in r and "limit=2" in r for r in requests)
    assert "after=" in requests[-1]
    services = {s.name: s for s in f.services}
    assert set(services) == {"checkout", "search", "ledger"}
    checkout = services["checkout"]
    assert checkout.team == "payments" and checkout.tier == 1 and checkout.system == "shop"
    assert checkout.pagerduty_service_ids == ["PSV0001"]
    assert checkout.integration_key_fingerprints == [fingerprint(PD_KEY)]
    assert checkout.alert_selectors == [{"service": "checkout"}]
    assert checkout.location.file == f"{url}/api/catalog/entities/by-name/component/default/checkout"
    teams = {t.name: t for t in f.teams}
    assert teams["payments"].display_name == "Payments" and teams["payments"].members == ["alice"]
    assert teams["discovery"].members == ["bob"]
    people = {p.id: p for p in f.people}
    assert people["alice"].pagerduty_user_id == "PU0001" and people["alice"].email == "alice@example.com"
    assert "live: 7 Backstage entities (4 requests)" in (got.detail or "")
    assert PD_KEY not in f.model_dump_json()


def test_entities_merge_with_catalog_files(backstage, tmp_path: Path) -> None:
    url, _ = backstage
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "catalog.yaml").write_text(
        """\
apiVersion: ownership-agent/v1
kind: Catalog
teams:
  - {name: payments, timezone: Europe/Berlin}
services:
  - {name: orders-db-jobs, team: payments, databases: [orders]}
"""
    )
    src = CatalogSource.model_validate(
        {"name": "catalog", "kind": "catalog", "url": url, "auth": {"token_file": "token"}, "files": ["catalog.yaml"]}
    )
    f = CatalogCollector(src, tmp_path).collect().facts
    teams = {t.name: t for t in f.teams}
    assert teams["payments"].timezone == "Europe/Berlin" and teams["payments"].members == ["alice"]
    assert {s.name for s in f.services} == {"checkout", "search", "ledger", "orders-db-jobs"}


def test_wrong_token_is_an_authentication_error(backstage, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = backstage
    monkeypatch.setenv("OWNERSHIP_TEST_BACKSTAGE_TOKEN", "not-the-token-1234")
    src = CatalogSource.model_validate(
        {"name": "backstage", "kind": "catalog", "url": url, "auth": {"token_env": "OWNERSHIP_TEST_BACKSTAGE_TOKEN"}}
    )
    with pytest.raises(SourceAuthError) as e:
        CatalogCollector(src, Path(".")).collect()
    assert "authentication failed: HTTP 401" in str(e.value) and "not-the-token-1234" not in str(e.value)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ('</entities?limit=2&after=abc>; rel="next"', "http://bs:7007/api/catalog/entities?limit=2&after=abc"),
        ('</api/catalog/entities?after=abc>; rel="next"', "http://bs:7007/api/catalog/entities?after=abc"),
        ('<http://other/api/catalog/entities?after=x>; rel="next"', "http://other/api/catalog/entities?after=x"),
        ('</entities?after=abc>; rel="prev"', None),
        (None, None),
    ],
)
def test_next_link(link: str | None, expected: str | None) -> None:
    assert next_link(link, "http://bs:7007") == expected


def test_url_with_a_password_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the URL"):
        CatalogSource.model_validate({"name": "c", "kind": "catalog", "url": "https://u:pw@backstage.example.com"})
