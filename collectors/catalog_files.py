"""The catalog: the project's own `catalog.yaml` and Backstage `catalog-info.yaml` -> facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.errors import InputError
from collectors.facts import CatalogFacts, Location, Person, Queue, Service, Team, WorkingHours
from collectors.secrets import fingerprint
from collectors.validate import validate
from collectors.yamlfile import Document, load_documents

API_VERSION = "ownership-agent/v1"
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
ANNOTATION_PD_SERVICE = "pagerduty.com/service-id"
ANNOTATION_PD_KEY = "pagerduty.com/integration-key"
ANNOTATION_ALERT_LABELS = "ownership-agent.io/alert-labels"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _weekdays() -> list[Day]:
    return ["mon", "tue", "wed", "thu", "fri"]


class _Hours(_Strict):
    days: list[Day] = Field(default_factory=_weekdays, description="working days")
    start: str = Field("09:00", pattern=r"^\d{2}:\d{2}$", description="start of the working day, HH:MM local")
    end: str = Field("18:00", pattern=r"^\d{2}:\d{2}$", description="end of the working day, HH:MM local")


class _TeamPD(_Strict):
    team_id: str | None = Field(None, description="PagerDuty team id")
    escalation_policies: list[str] = Field(default_factory=list, description="PagerDuty escalation policy ids")
    schedules: list[str] = Field(default_factory=list, description="PagerDuty schedule ids")


class CatalogTeam(_Strict):
    name: str = Field(description="unique team name")
    display_name: str | None = Field(None, description="human name")
    description: str | None = Field(None, description="one line")
    timezone: str = Field("UTC", description="IANA time zone of the team's working hours")
    working_hours: _Hours = Field(default_factory=_Hours, description="off-hours are outside these")
    pagerduty: _TeamPD = Field(default_factory=_TeamPD, description="the team's PagerDuty objects")

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        """An IANA zone the system's tz database has (`Europe/Berlin`, `UTC`): `Mars/Olympus` was accepted and
        working hours were then read in no zone at all."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA zone such as Europe/Berlin is expected)") from None
        return value


class CatalogPerson(_Strict):
    id: str = Field(description="unique handle")
    name: str | None = Field(None, description="full name")
    email: str | None = Field(None, description="email, as in PagerDuty")
    teams: list[str] = Field(default_factory=list, description="team names")
    pagerduty_user_id: str | None = Field(None, description="PagerDuty user id")


class CatalogQueue(_Strict):
    name: str = Field(description="topic, queue or queue URL name")
    kind: Literal["kafka", "rabbitmq", "sqs", "celery", "redis", "other"] = Field("other", description="broker")
    consumer_group: str | None = Field(None, description="Kafka consumer group")


class _ServicePD(_Strict):
    service_ids: list[str] = Field(default_factory=list, description="PagerDuty service ids")


class CatalogService(_Strict):
    name: str = Field(description="unique service name")
    team: str | None = Field(None, description="owning team; omitted means unowned")
    tier: int | None = Field(None, description="1 is most critical")
    system: str | None = Field(None, description="system it belongs to")
    description: str | None = Field(None, description="one line")
    alerts: list[dict[str, str]] = Field(default_factory=list, description="label sets attributing alerts (any one)")
    pagerduty: _ServicePD = Field(default_factory=_ServicePD, description="PagerDuty services it pages through")
    databases: list[str] = Field(default_factory=list, description="PostgreSQL database names it owns")
    queues: list[CatalogQueue] = Field(default_factory=list, description="queues it consumes")
    runbook_base_url: str | None = Field(None, description="where its runbooks live")


class CatalogFile(_Strict):
    apiVersion: Literal["ownership-agent/v1"] = Field(description="file format version")
    kind: Literal["Catalog"] = Field(description="always Catalog")
    teams: list[CatalogTeam] = Field(default_factory=list, description="teams")
    people: list[CatalogPerson] = Field(default_factory=list, description="people")
    services: list[CatalogService] = Field(default_factory=list, description="services")


def _hours(h: _Hours) -> WorkingHours:
    return WorkingHours(days=[_DAYS[d] for d in h.days], start=h.start, end=h.end)


def _entity_ref(ref: str | None, default_kind: str) -> tuple[str, str] | None:
    if not ref:
        return None
    kind, _, rest = ref.rpartition(":") if ":" in ref else (default_kind, "", ref)
    name = rest.rpartition("/")[2]
    return (kind.lower() or default_kind), name


class CatalogBuilder:
    """Accumulates catalog files, then validates cross references."""

    def __init__(self) -> None:
        self.teams: dict[str, Team] = {}
        self.people: dict[str, Person] = {}
        self.services: dict[str, Service] = {}
        self._team_refs: list[tuple[str, str, Location, str]] = []

    def add_file(self, path: Path | str) -> None:
        for doc in load_documents(path):
            if not isinstance(doc.data, dict):
                raise InputError("a catalog document must be a mapping", file=doc.file, line=doc.start_line)
            api = str(doc.data.get("apiVersion", ""))
            if api.startswith("backstage.io/"):
                self._add_backstage(doc)
            elif api == API_VERSION or doc.data.get("kind") == "Catalog":
                self._add_own(doc)
            else:
                raise InputError(
                    f"unknown catalog document (apiVersion {api or 'missing'!r}): expected {API_VERSION} kind: Catalog "
                    "or a Backstage entity",
                    file=doc.file,
                    line=doc.start_line,
                )

    def add_backstage_entity(self, entity: dict[str, Any], where: str) -> None:
        """One entity as the Backstage catalog API answers it; `where` names it in errors and locations."""
        if not isinstance(entity, dict):
            raise InputError("a Backstage entity must be a JSON object", file=where)
        self._add_backstage(Document(data=entity, file=where, start_line=1, text=""))

    def _loc(self, doc: Document, *path: str | int) -> Location:
        return Location(file=doc.file, line=doc.line_of(*path))

    def _add_team(self, team: Team) -> None:
        if team.name in self.teams:
            prev = self.teams[team.name].location
            raise InputError(
                f'team "{team.name}": defined twice (first at {prev.file}:{prev.line})',
                file=team.location.file,
                line=team.location.line,
            )
        self.teams[team.name] = team

    def _add_person(self, p: Person) -> None:
        if p.id in self.people:
            raise InputError(f'person "{p.id}": defined twice', file=p.location.file, line=p.location.line)
        self.people[p.id] = p

    def _add_service(self, s: Service) -> None:
        if s.name in self.services:
            prev = self.services[s.name].location
            raise InputError(
                f'service "{s.name}": defined twice (first at {prev.file}:{prev.line})',
                file=s.location.file,
                line=s.location.line,
            )
        self.services[s.name] = s

    def _add_own(self, doc: Document) -> None:
        cat = validate(CatalogFile, doc)

        def at(key: str, i: int, sub: str | None = None) -> Location:
            """Where the i-th entry of `key` (or its key `sub`) is (read off the text, see Document.entry_line)."""
            return self._loc(doc, key, i) if sub is None else self._loc(doc, key, i, sub)

        for i, t in enumerate(cat.teams):
            self._add_team(
                Team(
                    name=t.name,
                    display_name=t.display_name,
                    timezone=t.timezone,
                    working_hours=_hours(t.working_hours),
                    pagerduty_team_id=t.pagerduty.team_id,
                    escalation_policies=t.pagerduty.escalation_policies,
                    schedules=t.pagerduty.schedules,
                    location=at("teams", i),
                )
            )
        for i, p in enumerate(cat.people):
            loc = at("people", i)
            self._add_person(
                Person(
                    id=p.id,
                    name=p.name,
                    email=p.email,
                    teams=p.teams,
                    pagerduty_user_id=p.pagerduty_user_id,
                    location=loc,
                )
            )
            for tname in p.teams:
                self._team_refs.append((f'person "{p.id}"', tname, loc, "team"))
        for i, s in enumerate(cat.services):
            loc = at("services", i)
            self._add_service(
                Service(
                    name=s.name,
                    team=s.team,
                    tier=s.tier,
                    system=s.system,
                    description=s.description,
                    alert_selectors=s.alerts or [{"service": s.name}],
                    pagerduty_service_ids=s.pagerduty.service_ids,
                    databases=s.databases,
                    runbook_base_url=s.runbook_base_url,
                    queues=[Queue(name=q.name, kind=q.kind, consumer_group=q.consumer_group) for q in s.queues],
                    location=loc,
                )
            )
            if s.team:
                self._team_refs.append((f'service "{s.name}"', s.team, at("services", i, "team"), "team"))

    def _add_backstage(self, doc: Document) -> None:
        d: dict[str, Any] = doc.data
        kind = d.get("kind")
        meta = d.get("metadata") or {}
        spec = d.get("spec") or {}
        name = meta.get("name")
        if not name:
            raise InputError(f"Backstage {kind} without metadata.name", file=doc.file, line=doc.start_line)
        ann = meta.get("annotations") or {}
        loc = self._loc(doc)
        if kind == "Component":
            owner = _entity_ref(spec.get("owner"), "group")
            team = owner[1] if owner and owner[0] == "group" else None
            selectors: list[dict[str, str]] = []
            if ann.get(ANNOTATION_ALERT_LABELS):
                sel = {}
                for part in str(ann[ANNOTATION_ALERT_LABELS]).split(","):
                    k, _, v = part.partition("=")
                    sel[k.strip()] = v.strip().strip('"')
                selectors.append(sel)
            tier = (meta.get("labels") or {}).get("tier")
            key = ann.get(ANNOTATION_PD_KEY)
            self._add_service(
                Service(
                    name=name,
                    team=team,
                    description=meta.get("description"),
                    system=_entity_ref(spec.get("system"), "system")[1] if spec.get("system") else None,  # type: ignore[index]
                    tier=int(tier) if tier and str(tier).isdigit() else None,
                    alert_selectors=selectors or [{"service": name}],
                    pagerduty_service_ids=[ann[ANNOTATION_PD_SERVICE]] if ann.get(ANNOTATION_PD_SERVICE) else [],
                    integration_key_fingerprints=[fingerprint(str(key))] if key else [],
                    location=loc,
                )
            )
            if team:
                self._team_refs.append((f'service "{name}"', team, self._loc(doc, "spec", "owner"), "team"))
        elif kind == "Group":
            profile = spec.get("profile") or {}
            members = [m.rpartition(":")[2] for m in spec.get("members") or []]
            existing = self.teams.get(name)
            if existing is not None:  # the same team described in both catalogs: merge, don't refuse
                existing.members.extend(m for m in members if m not in existing.members)
                existing.display_name = existing.display_name or profile.get("displayName")
            else:
                self._add_team(Team(name=name, display_name=profile.get("displayName"), location=loc, members=members))
        elif kind == "User":
            profile = spec.get("profile") or {}
            teams = [m.rpartition(":")[2].rpartition("/")[2] for m in spec.get("memberOf") or []]
            known = self.people.get(name)
            if known is not None:  # the same person in both catalogs: merge
                known.teams.extend(t for t in teams if t not in known.teams)
                known.email = known.email or profile.get("email")
                known.name = known.name or profile.get("displayName")
            else:
                self._add_person(
                    Person(
                        id=name,
                        name=profile.get("displayName"),
                        email=profile.get("email"),
                        teams=teams,
                        pagerduty_user_id=ann.get("pagerduty.com/user-id"),
                        location=loc,
                    )
                )
            for t in teams:
                self._team_refs.append((f'user "{name}"', t, self._loc(doc, "spec", "memberOf"), "team"))
        # System, Domain, API, Resource, Location: nothing the ownership graph needs

    def build(self) -> CatalogFacts:
        for what, team, loc, _ in self._team_refs:
            if team not in self.teams:
                raise InputError(f'{what}: unknown team "{team}"', file=loc.file, line=loc.line)
        for p in self.people.values():
            for t in p.teams:
                if p.id not in self.teams[t].members:
                    self.teams[t].members.append(p.id)
        return CatalogFacts(
            services=list(self.services.values()), teams=list(self.teams.values()), people=list(self.people.values())
        )
