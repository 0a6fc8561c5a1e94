"""Alertmanager collector (files): alertmanager.yml, recorded silences and alerts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from agent.config import AlertmanagerSource
from agent.errors import InputError, SourceError
from collectors import Collected
from collectors.alertmanager_config import load_alertmanager_config
from collectors.facts import FiringAlert, Matcher, SilenceFact


def _ts(v: str) -> datetime:
    return datetime.fromisoformat(v.replace("Z", "+00:00"))


def silences_from_api(body: list[dict]) -> list[SilenceFact]:
    """The /api/v2/silences body -> active and pending silences."""
    out = []
    for s in body:
        if (s.get("status") or {}).get("state", "active") == "expired":
            continue
        ms = []
        for m in s["matchers"]:
            op = ("=~" if m.get("isRegex") else "=") if m.get("isEqual", True) else ("!~" if m.get("isRegex") else "!=")
            ms.append(Matcher(name=m["name"], op=op, value=m["value"]))  # type: ignore[arg-type]
        out.append(
            SilenceFact(
                id=s["id"],
                matchers=ms,
                starts_at=_ts(s["startsAt"]),
                ends_at=_ts(s["endsAt"]),
                created_by=s.get("createdBy"),
                comment=s.get("comment"),
            )
        )
    return out


def alerts_from_api(body: list[dict]) -> list[FiringAlert]:
    """The /api/v2/alerts body -> firing alerts with their receivers."""
    return [
        FiringAlert(
            labels=a["labels"],
            starts_at=_ts(a["startsAt"]) if a.get("startsAt") else None,
            receivers=[r["name"] for r in a.get("receivers") or []],
            state=(a.get("status") or {}).get("state", "active"),
        )
        for a in body
    ]


def _read_list(path: Path) -> list[dict]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", file=str(path), line=e.lineno) from None
    if not isinstance(body, list):
        raise InputError("expected the API's JSON list", file=str(path), line=1)
    return body


class AlertmanagerCollector:
    kind: ClassVar[str] = "alertmanager"
    config_model = AlertmanagerSource

    def __init__(self, config: AlertmanagerSource, base: Path, **io: Any):
        self.config = config
        self.name = config.name
        self.base = base

    def collect(self) -> Collected:
        if not self.config.config_file:
            raise SourceError("live Alertmanager collection is not implemented yet; set config_file", source=self.name)
        facts = load_alertmanager_config(self.base / self.config.config_file)
        try:
            if self.config.silences_file:
                facts.silences = silences_from_api(_read_list(self.base / self.config.silences_file))
            if self.config.alerts_file:
                facts.alerts = alerts_from_api(_read_list(self.base / self.config.alerts_file))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"malformed Alertmanager API body: {e}", source=self.name) from None
        detail = "routing keys joined through the config file"
        if facts.ignored_fields:
            detail += f"; newer fields read but not evaluated: {', '.join(sorted(set(facts.ignored_fields)))}"
        return Collected(facts, detail=detail)
