"""`ownership.yaml` (`apiVersion: ownership-agent/v1`, `kind: Config`): typed, documented, secret-safe."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from agent.errors import ConfigError, InputError
from collectors.validate import validate
from collectors.yamlfile import load_one

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


class _Source(_Section):
    name: str = Field(description="unique name of this source, e.g. prom-eu", pattern=r"^[A-Za-z0-9_.-]+$")
    timeout_s: float = Field(30.0, gt=0, description="give up on the source after this many seconds")
    retries: int = Field(3, ge=0, description="retries on 429 and 5xx, honouring Retry-After")
    stale_after: str = Field("1d", description="facts older than this are stale (Prometheus duration)")


class CatalogSource(_Source):
    kind: Literal["catalog"] = Field(description="the service catalog")
    files: list[str] = Field(default_factory=list, description="globs of catalog.yaml or Backstage catalog-info.yaml")
    url: str | None = Field(None, description="Backstage base URL (live; later issue)")
    auth: SecretRef | None = Field(None, description="Backstage token")


class PrometheusSource(_Source):
    kind: Literal["prometheus"] = Field(description="a Prometheus server")
    config_file: str | None = Field(
        None, description="prometheus.yml: external_labels, alert_relabel_configs, rule_files"
    )
    rule_files: list[str] = Field(default_factory=list, description="extra rule file globs (PrometheusRule allowed)")
    url: str | None = Field(None, description="Prometheus base URL (live; later issue)")


class AlertmanagerSource(_Source):
    kind: Literal["alertmanager"] = Field(description="an Alertmanager")
    config_file: str | None = Field(None, description="alertmanager.yml")
    silences_file: str | None = Field(None, description="recorded /api/v2/silences body")
    alerts_file: str | None = Field(None, description="recorded /api/v2/alerts body")
    url: str | None = Field(None, description="Alertmanager base URL (live; later issue)")


class PagerDutySource(_Source):
    kind: Literal["pagerduty"] = Field(description="a PagerDuty account")
    export_dir: str | None = Field(None, description="export folder: one JSON list body per endpoint")
    base_url: str = Field("https://api.pagerduty.com", description="REST API base URL (api.eu.pagerduty.com for EU)")
    auth: SecretRef | None = Field(None, description="REST API token")


class SLOSource(_Source):
    kind: Literal["slo"] = Field(description="SLO specs")
    files: list[str] = Field(
        default_factory=list, description="globs of Sloth, PrometheusServiceLevel or OpenSLO files"
    )


class SignalsSource(_Source):
    kind: Literal["prometheus_signals"] = Field(description="queue lag, alert history, metric names")
    recording: str | None = Field(None, description="RecordedSignals JSON")
    url: str | None = Field(None, description="Prometheus base URL (live; later issue)")


class PostgresSource(_Source):
    kind: Literal["postgres"] = Field(description="pg_stat_statements")
    recording: str | None = Field(None, description="RecordedStatements JSON")
    url: str | None = Field(None, description="read-only connection URL without password (live; later issue)")
    password: SecretRef | None = Field(None, description="database password")


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

    @field_validator("url")
    @classmethod
    def _no_inline_password(cls, v: str) -> str:
        from sqlalchemy.engine import make_url

        try:
            u = make_url(v)
        except Exception:
            raise ValueError("not a valid SQLAlchemy URL") from None
        if u.password:
            raise ValueError("put the password in password.token_env or password.token_file, not in the URL")
        return v


class Config(_Section):
    apiVersion: Literal["ownership-agent/v1"] = Field(description="file format version")
    kind: Literal["Config"] = Field(description="always Config")
    now: datetime | None = Field(None, description="fixed instant answers are computed for (recorded organisations)")
    store: StoreConfig = Field(default_factory=StoreConfig, description="where snapshots are kept")
    sources: list[SourceConfig] = Field(default_factory=list, description="every source, each with a unique name")

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
    return LoadedConfig(validate(Config, doc), p.resolve())


def default_config_path() -> Path:
    return Path(os.environ.get("OWNERSHIP_CONFIG", "ownership.yaml"))
