"""`ownership.yaml` (`apiVersion: ownership-agent/v1`, `kind: Config`): typed, documented, secret-safe."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from agent.errors import ConfigError, InputError
from collectors.validate import validate
from collectors.yamlfile import load_one
from rules.engine import CheckSettings, Override, Snooze

API_VERSION = "ownership-agent/v1"
PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "token", "xxx", "placeholder", ""}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretRef(_Section):
    """A secret named by environment variable or file, never inline."""

    token_env: str | None = Field(None, description="environment variable holding the secret")
    token_file: str | None = Field(None, description="file holding the secret (Prometheus's *_file habit)")

    def resolve(self, base: Path, what: str) -> SecretStr | None:
        if self.token_env:
            value = os.environ.get(self.token_env)
            if value is None:
                raise ConfigError(f"{what}: environment variable {self.token_env} is not set")
            return SecretStr(value.strip())
        if self.token_file:
            p = Path(self.token_file)
            p = p if p.is_absolute() else base / p
            try:
                return SecretStr(p.read_text().strip())
            except OSError as e:
                raise ConfigError(f"{what}: cannot read token file: {e.strerror}", file=str(p)) from None
        return None


def _no_url_password(v: str | None) -> str | None:
    """Refuse `scheme://user:password@host` and a query string (`?access_token=...`): secrets go in
    token_env/token_file, never in a URL. A base URL has API paths appended, so it takes no query or
    fragment either (`http://h/?a=b` would become `http://h/?a=b/api/v1/rules`)."""
    if v is None:
        return v
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(v)
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.password is not None:
        raise ValueError("put the secret in auth.token_env or auth.token_file, not in the URL")
    if parts.query or parts.fragment or v.rstrip().endswith(("?", "#")):
        raise ValueError(
            "a base URL takes no query string or fragment (API paths are appended to it; "
            "a token goes in auth.token_env or auth.token_file)"
        )
    return v


class _Source(_Section):
    name: str = Field(description="unique name of this source, e.g. prom-eu", pattern=r"^[A-Za-z0-9_.-]+$")
    timeout_s: float = Field(30.0, gt=0, description="give up on the source after this many seconds")
    retries: int = Field(3, ge=0, description="retries on 429 and 5xx, honouring Retry-After")
    stale_after: str = Field("1d", description="facts older than this are stale (Prometheus duration)")


class CatalogSource(_Source):
    kind: Literal["catalog"] = Field(description="the service catalog")
    files: list[str] = Field(default_factory=list, description="globs of catalog.yaml or Backstage catalog-info.yaml")
    url: str | None = Field(
        None,
        description="Backstage backend base URL (live): Component, Group and User entities are read from "
        "URL/api/catalog/entities, page by page, and merged with `files`",
    )
    auth: SecretRef | None = Field(None, description="Backstage token, sent as a Bearer token")
    page_size: int = Field(500, ge=1, le=10000, description="entities per Backstage page (`limit`)")

    _url = field_validator("url")(_no_url_password)


class PrometheusSource(_Source):
    kind: Literal["prometheus"] = Field(description="a Prometheus server")
    config_file: str | None = Field(
        None, description="prometheus.yml: external_labels, alert_relabel_configs, rule_files"
    )
    rule_files: list[str] = Field(default_factory=list, description="extra rule file globs (PrometheusRule allowed)")
    url: str | None = Field(
        None,
        description="Prometheus base URL (live): rules from /api/v1/rules, external_labels and "
        "alert_relabel_configs from /api/v1/status/config; files, when also given, only add line numbers",
    )
    auth: SecretRef | None = Field(None, description="bearer token for the Prometheus HTTP API")
    series_label_values: bool = Field(
        True,
        description="live: read the label values of the series each alerting rule selects (/api/v1/series), "
        "so labels an expression leaves open are resolved from real values rather than symbolically",
    )
    max_selectors: int = Field(1000, ge=0, description="live: at most this many selectors are looked up")
    max_label_values: int = Field(
        50, ge=1, description="live: a label of a selector with more values than this is resolved symbolically"
    )

    _url = field_validator("url")(_no_url_password)


class AlertmanagerSource(_Source):
    kind: Literal["alertmanager"] = Field(description="an Alertmanager")
    config_file: str | None = Field(None, description="alertmanager.yml")
    silences_file: str | None = Field(None, description="recorded /api/v2/silences body")
    alerts_file: str | None = Field(None, description="recorded /api/v2/alerts body")
    url: str | None = Field(
        None,
        description="Alertmanager base URL (live): running config from /api/v2/status, firing alerts and "
        "silences; with config_file also set, routing key fingerprints come from the file",
    )
    auth: SecretRef | None = Field(None, description="bearer token for the Alertmanager API")
    key_files_dir: str | None = Field(
        None,
        description="folder holding the routing key files the running config names (matched by file name), "
        "when the agent cannot read them at the path Alertmanager uses",
    )

    _url = field_validator("url")(_no_url_password)


class PagerDutySource(_Source):
    kind: Literal["pagerduty"] = Field(description="a PagerDuty account")
    export_dir: str | None = Field(
        None,
        description="export folder: one JSON list body per endpoint; leave unset to read the live REST API "
        "with `auth` (through the official `pagerduty` client)",
    )
    base_url: str = Field(
        "https://api.pagerduty.com",
        pattern=r"^https://[^/@\s]+/?$",
        description="REST API base URL (https://api.eu.pagerduty.com for the EU region); https only",
    )
    auth: SecretRef | None = Field(None, description="REST API token (a read-only key is enough)")
    timeout_s: float = Field(
        300.0,
        gt=0,
        description="give up on the source after this many seconds; a full live collection makes about one "
        "request per 100 incidents or log entries, at most `rate_limit_per_minute` a minute",
    )
    request_timeout_s: float = Field(30.0, gt=0, description="HTTP timeout of one API request (live)")
    rate_limit_per_minute: int = Field(
        960,
        ge=1,
        description="requests a minute the collector allows itself (PagerDuty allows 960 per key); "
        "a 429 answer still pauses every request for its Retry-After",
    )
    concurrency: int = Field(8, ge=1, le=64, description="API requests in flight at once (threads; live)")
    incidents_window: str = Field(
        "90d", description="incidents and log entries created this far back (Prometheus duration, at most 180d)"
    )
    oncalls_past: str = Field("30d", description="on-call entries from this far back (Prometheus duration)")
    oncalls_future: str = Field("14d", description="on-call entries up to this far ahead (at most 90d)")

    @model_validator(mode="after")
    def _live_settings(self) -> PagerDutySource:
        from collectors.durations import parse_duration

        if self.export_dir is None and self.auth is None:
            raise ValueError("set export_dir (an export folder) or auth (a token for the live REST API)")
        for field, most in (("incidents_window", 180), ("oncalls_past", None), ("oncalls_future", 90)):
            seconds = parse_duration(getattr(self, field))
            if seconds <= 0 or (most is not None and seconds > most * 86400):
                raise ValueError(f"{field} must be more than 0{f' and at most {most}d' if most else ''}")
        return self


class SLOSource(_Source):
    kind: Literal["slo"] = Field(description="SLO specs")
    files: list[str] = Field(
        default_factory=list, description="globs of Sloth, PrometheusServiceLevel or OpenSLO files"
    )


QueueKind = Literal["kafka", "rabbitmq", "sqs", "celery", "redis", "other"]
BuiltinQueueKind = Literal["kafka", "rabbitmq", "sqs", "celery", "redis"]


class QueueQueryConfig(_Section):
    """A queue lag or backlog query the user adds, attributed to one service."""

    name: str = Field(description="unique name of the query, e.g. orders-backlog", pattern=r"^[A-Za-z0-9_.-]+$")
    service: str = Field(description="catalog service the queues of this query belong to")
    kind: QueueKind = Field("other", description="broker kind")
    query: str = Field(description="PromQL instant query answering one series per queue")
    queue_label: str = Field("queue", description="label naming the queue in the answer's series")
    unit: Literal["messages", "seconds"] = Field("messages", description="what the value counts")

    @field_validator("query")
    @classmethod
    def _promql(cls, v: str) -> str:
        from collectors.prometheus_rules import check_expr

        err = check_expr(v)
        if err:
            raise ValueError(f"could not parse PromQL: {err}")
        return v


class SignalsSource(_Source):
    kind: Literal["prometheus_signals"] = Field(description="queue lag, alert history, metric names")
    recording: str | None = Field(None, description="RecordedSignals JSON")
    url: str | None = Field(
        None,
        description="Prometheus base URL (live): queue lag queries, ALERTS history over query_range, metric "
        "names, and the alerting rules whose expr needs metrics without series",
    )
    auth: SecretRef | None = Field(None, description="bearer token for the Prometheus HTTP API")
    queue_kinds: list[BuiltinQueueKind] = Field(
        default_factory=lambda: list(get_args(BuiltinQueueKind)),
        description="built-in queue lag queries to run (kafka_exporter, RabbitMQ, SQS cloudwatch exporter, "
        "celery-exporter, redis_exporter)",
    )
    queries: list[QueueQueryConfig] = Field(
        default_factory=list, description="extra queue lag or backlog queries, each attributed to a service"
    )
    history_window: str = Field("30d", description="how far back ALERTS history is read (Prometheus duration)")
    history_step: str = Field("5m", description="query_range step for ALERTS history (widened to fit 11,000 points)")
    metric_names_window: str = Field(
        "30d", description="a metric counts as having series when it had one within this window"
    )

    _url = field_validator("url")(_no_url_password)

    @field_validator("history_window", "history_step", "metric_names_window")
    @classmethod
    def _duration(cls, v: str) -> str:
        from collectors.durations import parse_duration

        parse_duration(v)
        return v

    @model_validator(mode="after")
    def _unique_queries(self) -> SignalsSource:
        names = [q.name for q in self.queries]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"query name {sorted(dup)[0]!r} used twice")
        return self


class PostgresSource(_Source):
    kind: Literal["postgres"] = Field(description="pg_stat_statements")
    recording: str | None = Field(None, description="RecordedStatements JSON")
    url: str | None = Field(
        None,
        description="connection URL without password (live), e.g. postgresql://reader@db:5432/orders; the "
        "session is read-only and reads pg_stat_statements for every database the server tracks",
    )
    password: SecretRef | None = Field(None, description="database password")
    databases: list[str] = Field(default_factory=list, description="only these databases (empty: all)")
    top_n: int = Field(20, ge=1, le=1000, description="statements kept per database: top N by mean and by total time")
    min_calls: int = Field(1, ge=1, description="ignore statements called fewer times")

    @field_validator("url")
    @classmethod
    def _no_inline_password(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from sqlalchemy.engine import make_url

        try:
            u = make_url(v)
        except Exception:
            raise ValueError("not a valid PostgreSQL URL") from None
        if not u.drivername.startswith("postgresql"):
            raise ValueError("must be a postgresql:// URL")
        if u.password or "password" in u.query:  # libpq reads `?password=` too
            raise ValueError("put the password in password.token_env or password.token_file, not in the URL")
        return v


SourceConfig = Annotated[
    CatalogSource
    | PrometheusSource
    | AlertmanagerSource
    | PagerDutySource
    | SLOSource
    | SignalsSource
    | PostgresSource,
    Field(discriminator="kind"),
]


class StoreConfig(_Section):
    url: str = Field(
        "sqlite:///.ownership/ownership.db",
        description="SQLAlchemy URL; relative SQLite paths are relative to the config file",
    )
    password: SecretRef | None = Field(None, description="database password for a PostgreSQL URL")
    retention_full: str = Field(
        "7d",
        description="every snapshot is kept this long (Prometheus duration, from when it was taken); after a "
        "collection the collecting process deletes older ones but the last of each UTC day",
    )
    retention_daily: str | None = Field(
        "400d",
        description="those daily snapshots are kept this long, then deleted too; unset: kept for ever",
    )

    @field_validator("retention_full", "retention_daily")
    @classmethod
    def _retention(cls, v: str | None) -> str | None:
        from collectors.durations import parse_duration

        if v is not None:
            parse_duration(v)
        return v

    def retention_days(self) -> tuple[float, float | None]:
        """(days every snapshot is kept, days the daily ones are kept or None: for ever), as Store.prune takes them."""
        from collectors.durations import parse_duration

        daily = parse_duration(self.retention_daily) / 86400 if self.retention_daily is not None else None
        return parse_duration(self.retention_full) / 86400, daily

    @field_validator("url")
    @classmethod
    def _no_inline_password(cls, v: str) -> str:
        from sqlalchemy.engine import make_url

        try:
            u = make_url(v)
        except Exception:
            raise ValueError("not a valid SQLAlchemy URL") from None
        if u.password or "password" in u.query:  # libpq reads `?password=` too
            raise ValueError("put the password in password.token_env or password.token_file, not in the URL")
        return v


class ChecksConfig(_Section):
    """Thresholds, per-team and per-service overrides and snoozes, on top of the default rule pack."""

    pack: str | None = Field(None, description="a RulePack file replacing the built-in default pack")
    checks: dict[str, CheckSettings] = Field(default_factory=dict, description="check id -> enabled, severity, params")
    overrides: list[Override] = Field(default_factory=list, description="per team or service settings")
    snoozes: list[Snooze] = Field(default_factory=list, description="findings hidden until a date, with a reason")

    @model_validator(mode="after")
    def _known_ids(self) -> ChecksConfig:
        from rules.engine import check_ids

        known = set(check_ids())
        named = [*self.checks, *(c for o in self.overrides for c in o.checks), *(s.check for s in self.snoozes)]
        for cid in named:
            if cid not in known:
                raise ValueError(f"unknown check id {cid!r} (known: OWN000 to OWN013)")
        return self


class TracingConfig(_Section):
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; off when unset"
    )


class ServeConfig(_Section):
    """`ownership serve`: the HTTP API, /metrics and the collection schedule."""

    host: str = Field("127.0.0.1", description="address to listen on (--host overrides)")
    port: int = Field(8080, ge=1, le=65535, description="port to listen on (--port overrides)")
    interval: str = Field("5m", description="collect every source this often (Prometheus duration, at least 10s)")
    tokens: list[SecretRef] = Field(
        default_factory=list,
        description="API bearer tokens, each from token_env or token_file; $OWNERSHIP_API_TOKENS "
        "(comma-separated) adds more; outside the demo at least one is required",
    )
    metrics_auth: bool = Field(False, description="require a bearer token on /metrics too")
    engineer_label: Literal["pagerduty_user_id", "catalog_id", "email"] = Field(
        "pagerduty_user_id",
        description="what the `engineer` label of /metrics holds (falls back to the PagerDuty user id "
        "when the person has no catalog id or email)",
    )
    max_engineers: int = Field(
        200, ge=1, description='engineers with their own /metrics series; the rest are summed under engineer="other"'
    )
    max_services: int = Field(
        500, ge=1, description='services with their own /metrics series; the rest are summed under service="other"'
    )
    max_teams: int = Field(
        100, ge=1, description='teams with their own /metrics series; the rest are summed under team="other"'
    )
    max_queues: int = Field(
        500,
        ge=1,
        description='queues with their own ownership_queue_lag series; the rest are summed under queue="other"',
    )

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        from collectors.durations import parse_duration

        if parse_duration(v) < 10:
            raise ValueError("must be at least 10s")
        return v


class Config(_Section):
    apiVersion: Literal["ownership-agent/v1"] = Field(description="file format version")
    kind: Literal["Config"] = Field(description="always Config")
    now: datetime | None = Field(None, description="fixed instant answers are computed for (recorded organisations)")
    store: StoreConfig = Field(default_factory=StoreConfig, description="where snapshots are kept")
    sources: list[SourceConfig] = Field(default_factory=list, description="every source, each with a unique name")
    checks: ChecksConfig = Field(default_factory=ChecksConfig, description="rule pack settings for the checks")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="`ownership serve`: API, /metrics, schedule")
    tracing: TracingConfig = Field(default_factory=TracingConfig, description="OpenTelemetry traces (off by default)")

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for s in self.sources:
            if s.name in seen:
                raise ValueError(f"source name {s.name!r} used twice")
            seen.add(s.name)
        return self

    @field_validator("now")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("now must carry a UTC offset")
        return v


class LoadedConfig:
    """A validated config and the folder its relative paths are relative to."""

    def __init__(self, config: Config, path: Path):
        self.config = config
        self.path = path
        self.base = path.parent

    def resolve(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else self.base / q

    def pack(self) -> Any:
        """The effective rule pack: default (or the config's `checks.pack`) plus the config's settings."""
        from rules.engine import RulePack, load_pack, merge_packs

        c = self.config.checks
        base = load_pack(self.resolve(c.pack) if c.pack else None)
        extra = RulePack(
            apiVersion=API_VERSION, kind="RulePack", checks=c.checks, overrides=c.overrides, snoozes=c.snoozes
        )
        return merge_packs(base, extra)

    def store_url(self) -> str:
        from sqlalchemy.engine import make_url

        u = make_url(self.config.store.url)
        if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
            db = Path(u.database)
            if not db.is_absolute():
                db = self.base / db
            db.parent.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{db}"
        if self.config.store.password:
            secret = self.config.store.password.resolve(self.base, "store.password")
            if secret is not None:
                return u.set(password=secret.get_secret_value()).render_as_string(hide_password=False)
        return self.config.store.url


def load_config(path: Path | str) -> LoadedConfig:
    p = Path(path)
    if not p.exists():
        raise ConfigError(
            "config file not found (pass --config FILE, set $OWNERSHIP_CONFIG or use --demo)", file=str(p)
        )
    doc = load_one(p)
    if not isinstance(doc.data, dict):
        raise InputError("the config must be a mapping", file=str(p), line=doc.start_line)
    _unique_source_names(doc)
    return LoadedConfig(validate(Config, doc), p.resolve())


def _unique_source_names(doc: Any) -> None:
    """A source name given twice, at the line of the second (Config._unique_names, which says the same, has no
    line to give: its error is the whole document's)."""
    sources = doc.data.get("sources")
    if not isinstance(sources, list):
        return
    first: dict[str, int] = {}
    for i, s in enumerate(sources):
        name = s.get("name") if isinstance(s, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            raise InputError(
                f"sources.{i}.name: source name {name!r} used twice (first: sources.{first[name]})",
                file=doc.file,
                line=doc.line_of("sources", i, "name"),
            )
        first[name] = i


def default_config_path() -> Path:
    return Path(os.environ.get("OWNERSHIP_CONFIG", "ownership.yaml"))
