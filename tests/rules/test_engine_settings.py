"""CheckContext.settings: a check no override names takes the pack's settings for every service without
a merge per service (the shortcut); the answers are those of the merge."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.facts import CatalogFacts, Service, Snapshot, SourceResult, SourceStatus
from rules.checks.own011_no_for import PagingAlertWithoutFor
from rules.engine import CheckContext, CheckSettings, Override, RulePack
from rules.graph import OwnershipGraph
from rules.paging import AlertPaging, PagingPath

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


def _alert(name: str, service: str, for_s: float) -> AlertPaging:
    path = PagingPath(alertmanager="am", route_path="root", route_location="am.yml:1", receiver="pd", outcome="pages")
    return AlertPaging(
        alert=name,
        prometheus="prom",
        file=None,
        line=None,
        severity="critical",
        for_s=for_s,
        labels={"alertname": name},
        open_labels=[],
        services=[service],
        runbook=None,
        slo=None,
        paths=[path],
        pages=True,
        notifies_only=False,
    )


def test_own011_same_findings_with_one_limit_or_per_service() -> None:
    """OWN011 reads one min_for for every alert when no override names it, else one per service: an
    override that sets the pack's own value changes no finding."""
    alerts = [_alert(f"A{i}", s, f) for i, (s, f) in enumerate((("a", 0), ("b", 60), ("c", 600), ("a", 120)))]
    base = {"OWN011": CheckSettings(params={"min_for": "2m"})}
    plain = RulePack(apiVersion="ownership-agent/v1", kind="RulePack", checks=base)
    same = plain.model_copy(
        update={"overrides": [Override(team="t1", checks={"OWN011": CheckSettings(params={"min_for": "2m"})})]}
    )
    found = []
    for pack in (plain, same):
        ctx = _ctx(pack)
        ctx.resolved = alerts
        found.append([f.model_dump() for f in PagingAlertWithoutFor().run(ctx)])
    assert [f["subject"] for f in found[0]] == ["A0", "A1"]
    assert found[0] == found[1]
