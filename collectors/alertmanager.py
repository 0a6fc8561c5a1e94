"""Alertmanager collector: a live Alertmanager's API v2, or alertmanager.yml with recorded silences and alerts.

A running Alertmanager shows routing keys as `<secret>`: the join to PagerDuty then goes through
the config file (when also configured), the key files the running config names, or the catalog
annotation `pagerduty.com/integration-key`; the source status says which.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from agent.config import AlertmanagerSource
from agent.errors import InputError, SourceError
from collectors import Collected, SourceCollector
from collectors.alertmanager_config import load_alertmanager_config
from collectors.facts import AlertmanagerFacts, FiringAlert, Matcher, PagerDutyTarget, SilenceFact
from collectors.http import JsonApi, SourceBadAnswer
from collectors.secrets import fingerprint
from collectors.source_cache import collect_cached
from collectors.timeutil import parse_instant

# what the collected facts of Alertmanager files depend on (collectors.source_cache)
CACHED_CODE = (
    "collectors/alertmanager.py",
    "collectors/alertmanager_config.py",
    "collectors/secrets.py",
    "collectors/timeutil.py",
    "collectors/durations.py",
)


def _ts(v: str) -> datetime:
    t = parse_instant(v)
    if t is None:
        raise ValueError("empty timestamp")
    return t


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


def _am_version(status: dict) -> str:
    v = (status.get("versionInfo") or {}).get("version")
    return f"Alertmanager {v}" if v else "Alertmanager"


class AlertmanagerCollector(SourceCollector):
    kind: ClassVar[str] = "alertmanager"
    config_model = AlertmanagerSource

    def collect(self) -> Collected:
        if self.config.url:
            return self._collect_live()
        if not self.config.config_file:
            raise SourceError("set url (live) or config_file", source=self.name)
        files = [
            self.base / f for f in (self.config.config_file, self.config.silences_file, self.config.alerts_file) if f
        ]
        return collect_cached(self, files, self._collect_files, CACHED_CODE)  # (a live Alertmanager never is)

    def _collect_files(self, reads: list[Path]) -> Collected:
        """The config file's facts with the recorded silences and alerts; the routing key files the config
        names are added to `reads`."""
        assert self.config.config_file is not None
        facts = load_alertmanager_config(self.base / self.config.config_file, reads=reads)
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

    # -- live ------------------------------------------------------------------------
    def _api(self) -> JsonApi:
        token = self.config.auth.resolve(self.base, f"{self.name}.auth") if self.config.auth else None
        assert self.config.url is not None
        return JsonApi(
            self.config.url,
            source=self.name,
            timeout_s=self.config.timeout_s,
            retries=self.config.retries,
            token=token,
            transport=self.transport,
        )

    def _collect_live(self) -> Collected:
        with self._api() as api:
            status = api.get_json("/api/v2/status")
            try:
                original = status["config"]["original"]
                if not isinstance(original, str):
                    raise TypeError("config.original is not a string")
            except (KeyError, TypeError) as e:
                raise api.bad_answer("/api/v2/status", f"no config.original ({e})") from None
            try:
                facts = load_alertmanager_config(f"{self.name}:/api/v2/status", text=original)
            except InputError as e:
                raise SourceBadAnswer(f"running config: {e}", source=self.name) from None
            alerts = api.get_json("/api/v2/alerts")
            silences = api.get_json("/api/v2/silences")
            requests = api.requests
        if not isinstance(alerts, list) or not isinstance(silences, list):
            raise SourceBadAnswer("/api/v2/alerts and /api/v2/silences must answer JSON lists", source=self.name)
        try:
            facts.alerts = alerts_from_api(alerts)
            facts.silences = silences_from_api(silences)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SourceBadAnswer(
                f"malformed Alertmanager API body: {type(e).__name__}: {e}", source=self.name
            ) from None
        facts.config_file = None
        parts = [
            f"live: running config of {_am_version(status)}",
            f"{len(facts.alerts)} alerts, {len(facts.silences)} silences",
        ]
        parts.append(self._join_keys(facts))
        if facts.ignored_fields:
            parts.append(f"newer fields read but not evaluated: {', '.join(sorted(set(facts.ignored_fields)))}")
        return Collected(facts, detail="; ".join(parts) + f" ({requests} requests)")

    def _join_keys(self, facts: AlertmanagerFacts) -> str:
        """Fill routing key fingerprints the running config hides; say how each PagerDuty target was joined."""
        how: dict[str, int] = {}
        file_targets: dict[tuple[str, int], PagerDutyTarget] = {}
        differs: list[str] = []
        if self.config.config_file:
            path = self.base / self.config.config_file
            from_file = load_alertmanager_config(path)
            for r in from_file.receivers:
                for i, t in enumerate(r.pagerduty):
                    file_targets[(r.name, i)] = t
            live_names = {r.name for r in facts.receivers}
            file_names = {r.name for r in from_file.receivers}
            if live_names != file_names:
                differs = sorted(live_names ^ file_names)
        keys_dir = Path(self.config.key_files_dir) if self.config.key_files_dir else None
        if keys_dir is not None and not keys_dir.is_absolute():
            keys_dir = self.base / keys_dir
        for r in facts.receivers:
            for i, t in enumerate(r.pagerduty):
                via = "hidden"
                ft = file_targets.get((r.name, i))
                if ft is not None and ft.key_fingerprint:
                    t.key_fingerprint = ft.key_fingerprint
                    via = "config file"
                elif t.key_fingerprint and t.key_file:
                    via = "key file"  # the loader read the file at the path Alertmanager uses
                elif t.key_file and keys_dir is not None:
                    key = _read_key(keys_dir / Path(t.key_file).name)
                    if key:
                        t.key_fingerprint = fingerprint(key)
                        via = "key file"
                elif t.key_fingerprint:
                    via = "running config"
                how[via] = how.get(via, 0) + 1
        if not how:
            return "no PagerDuty receivers"
        words = {
            "config file": f"through the config file {self.config.config_file}",
            "key file": "through the key files it names",
            "running config": "from the running config",
            "hidden": "hidden as <secret>: joined through the catalog annotation pagerduty.com/integration-key",
        }
        text = "PagerDuty keys: " + ", ".join(f"{n} {words[k]}" for k, n in how.items())
        if differs:
            text += f"; the config file and the running config differ (receivers {', '.join(differs)})"
        return text


def _read_key(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
