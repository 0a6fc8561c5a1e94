"""CheckContext.settings: a check no override names takes the pack's settings for every service without
a merge per service (the shortcut); the answers are those of the merge."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.facts import CatalogFacts, Service, Snapshot, SourceResult, SourceStatus
from rules.engine import CheckContext, CheckSettings, Override, RulePack
from rules.graph import OwnershipGraph

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def _ctx(pack: RulePack) -> CheckContext:
    status = SourceStatus(name="catalog", kind="catalog", ok=True, collected_at=NOW, last_success_at=NOW)
    services = [Service(name="a", team="t1"), Service(name="b", team="t2"), Service(name="c")]
    snap = Snapshot(taken_at=NOW, now=NOW, sources=[SourceResult(status=status, facts=CatalogFacts(services=services))])
    return CheckContext(graph=OwnershipGraph.build(snap), now=NOW, pack=pack)


def _merged(ctx: CheckContext, check_id: str, service: str | None) -> tuple[object, ...]:
    """The settings the merge of `_scoped` gives (what `settings` answered before the shortcut)."""
    params: dict[str, object] = {}
    enabled, severity = True, None
    for s in ctx._scoped(check_id, service):
        params.update(s.params)
        enabled = s.enabled if s.enabled is not None else enabled
        severity = s.severity if s.severity is not None else severity
    return params, enabled, severity


def test_settings_with_and_without_overrides() -> None:
    pack = RulePack(
        apiVersion="ownership-agent/v1",
        kind="RulePack",
        checks={"OWN011": CheckSettings(params={"min_for": "1m"}), "OWN013": CheckSettings(severity="info")},
        overrides=[
            Override(team="t1", checks={"OWN011": CheckSettings(params={"min_for": "5m"})}),
            Override(service="b", checks={"OWN011": CheckSettings(enabled=False)}),
        ],
    )
    ctx = _ctx(pack)
    for check_id in ("OWN011", "OWN013", "OWN004"):
        for service in (None, "a", "b", "c", "unknown"):
            r = ctx.settings(check_id, service)
            assert (r.params, r.enabled, r.severity) == _merged(ctx, check_id, service), (check_id, service)
    # no override names OWN013 or OWN004: one object for every service (checks key derived work on it)
    assert len({id(ctx.settings("OWN013", s)) for s in (None, "a", "b", "c")}) == 1
    assert len({id(ctx.settings("OWN004", s)) for s in (None, "a", "b", "c")}) == 1
    assert ctx.settings("OWN011", "a").params == {"min_for": "5m"}
    assert ctx.settings("OWN011", "b").enabled is False
    assert ctx.settings("OWN011", "c") is ctx.settings("OWN011", None)
    assert not ctx.same_for_every_service("OWN011")
    assert ctx.same_for_every_service("OWN013") and ctx.same_for_every_service("OWN004")
