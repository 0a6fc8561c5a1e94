"""One finding type, and the check protocol: facts (via the ownership graph) in, findings out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, Field

from agent.errors import NotFoundError

Severity = Literal["critical", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
SARIF_LEVEL: dict[str, str] = {"critical": "error", "warning": "warning", "info": "note"}


class Evidence(BaseModel):
    """A fact behind a finding: which source said what, when, and where."""

    source: str = Field(description="source name (from the config), e.g. prom-eu")
    kind: str = Field(description="source kind, e.g. prometheus")
    observed_at: datetime | None = Field(None, description="when the source said it")
    file: str | None = None
    line: int | None = None
    values: dict[str, Any] = Field(default_factory=dict, description="the measured values")


class Fix(BaseModel):
    """What to do; `rules_yaml` holds a Prometheus rule file when the fix is a rule to add."""

    summary: str
    rules_yaml: str | None = None
    suggestion: bool = Field(True, description="a suggestion, not a measured fact")


class Finding(BaseModel):
    check: str = Field(description="check id, e.g. OWN004")
    severity: Severity
    service: str | None = None
    team: str | None = None
    subject: str = Field(description="what the finding is about: an alert, a policy, a queue, a source...")
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    fix: Fix | None = None

    @property
    def key(self) -> tuple[str, str | None, str]:
        """Identity across snapshots (for `new since the last handoff`)."""
        return (self.check, self.service, self.subject)

    def primary_location(self) -> tuple[str | None, int | None]:
        for e in self.evidence:
            if e.file:
                return e.file, e.line
        return None, None


class Check(Protocol):
    """One check: a constant id, a severity, a one-line summary, a doc page, `run()`."""

    id: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]

    def run(self, ctx: Any) -> Iterable[Finding]:
        """Findings for the graph in `ctx` (a rules.engine.CheckContext)."""
        ...


def check_filters(graph: Any, items: list[Finding], service: str | None, team: str | None) -> None:
    """Raise NotFoundError for a service or team neither in the catalog nor named by a finding: a misspelt
    filter would otherwise answer "no findings" (and pass a `--fail-on` gate)."""
    if service is not None and graph.service(service) is None and not any(f.service == service for f in items):
        raise NotFoundError(f'unknown service "{service}"', source="catalog")
    if (
        team is not None
        and not any(t.name == team for t in graph.catalog.teams)
        and not any(f.team == team for f in items)
    ):
        raise NotFoundError(f'unknown team "{team}"', source="catalog")
