"""OWN000: a source failed or is stale; the answers that depend on it may be wrong."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity


class SourceStale:
    id: ClassVar[str] = "OWN000"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "a source failed or is stale: the answers that depend on it may be wrong"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        for res in ctx.graph.snapshot.sources:
            st = res.status
            if st.ok and not st.stale:
                continue
            what = "failed" if not st.ok else "is stale"
            kept = "its last good facts are kept" if res.facts is not None else "no earlier facts exist"
            yield Finding(
                check=self.id,
                severity="critical" if not st.ok and res.facts is None else self.severity,
                subject=st.name,
                summary=f"source {st.name} ({st.kind}) {what}: {st.error or st.detail}; {kept}",
                evidence=[
                    Evidence(
                        source=st.name,
                        kind=st.kind,
                        observed_at=st.last_success_at,
                        values={"ok": st.ok, "stale": st.stale, "error": st.error, "detail": st.detail},
                    )
                ],
                fix=Fix(
                    summary="make the source reachable again, or refresh its recording; "
                    "`ownership check-config` names the file and line of a bad input"
                ),
            )
