"""Prometheus collector: a live server's HTTP API, or prometheus.yml and its rule files.

Live: rules from `/api/v1/rules` (file = the rule's group file, line unknown unless the same
rule files are also configured), `external_labels` and `alert_relabel_configs` from
`/api/v1/status/config`, the Alertmanagers it sends to from `/api/v1/alertmanagers`.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from agent.config import PrometheusSource
from agent.errors import InputError
from collectors import Collected, SourceCollector, expand_globs
from collectors.disk_cache import code_salt, content_key
from collectors.facts import Location, PrometheusFacts, Rule
from collectors.http import JsonApi, SourceBadAnswer
from collectors.prometheus_config import load_prometheus_config
from collectors.prometheus_rules import CACHED_CODE as RULES_CODE
from collectors.prometheus_rules import RuleFileCache, load_rule_files
from collectors.yamlfile import read_text_digest

log = logging.getLogger("ownership.collect")

# the code the facts read from files depend on (their content key, `_facts_key`): the rule cache's and this
FACTS_FORMAT = 1
_FACTS_CODE = (
    *RULES_CODE,
    "collectors/prometheus.py",
    "collectors/prometheus_config.py",
    "collectors/__init__.py",
    "collectors/durations.py",
    "agent/config.py",
    "agent/errors.py",
)


def api_data(api: JsonApi, path: str, params: Any = None) -> Any:
    """The `data` member of a Prometheus API answer (`{"status": "success", "data": ...}`)."""
    body = api.get_json(path, params)
    if not isinstance(body, dict) or "status" not in body:
        raise api.bad_answer(path, "not a Prometheus API envelope (no `status`)")
    if body["status"] != "success":
        raise api.bad_answer(path, f"{body.get('errorType', 'error')}: {body.get('error', '?')}")
    if "data" not in body:
        raise api.bad_answer(path, "no `data`")
    return body["data"]


def rules_from_api(data: Any, source: str) -> list[Rule]:
    """The `/api/v1/rules` data -> Rule facts (file = the group's file, line unknown)."""
    try:
        groups = data["groups"]
        out: list[Rule] = []
        for g in groups:
            for r in g.get("rules") or []:
                out.append(
                    Rule(
                        type="alerting" if r["type"] == "alerting" else "recording",
                        name=r["name"],
                        expr=r["query"],
                        group=g["name"],
                        group_interval_s=float(g["interval"]) if g.get("interval") is not None else None,
                        for_s=float(r.get("duration") or 0.0),
                        keep_firing_for_s=float(r.get("keepFiringFor") or 0.0),
                        labels={str(k): str(v) for k, v in (r.get("labels") or {}).items()},
                        annotations={str(k): str(v) for k, v in (r.get("annotations") or {}).items()},
                        location=Location(file=g.get("file") or None, line=None),
                    )
                )
        return out
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SourceBadAnswer(f"malformed /api/v1/rules answer: {type(e).__name__}: {e}", source=source) from None


def _common_tail(reversed_parts: tuple[str, ...], file: str | None) -> int:
    """How many trailing path parts `file` shares with the path whose parts are `reversed_parts` (reversed)."""
    n = 0
    for a, b in zip(reversed_parts, PurePosixPath(file or "").parts[::-1], strict=False):
        if a != b:
            break
        n += 1
    return n


class PrometheusCollector(SourceCollector):
    kind: ClassVar[str] = "prometheus"
    config_model = PrometheusSource

    def collect(self) -> Collected:
        if self.config.url:
            return self._collect_live()  # (no facts_key: what a server answers is not in a file)
        cache = RuleFileCache.default()
        digests: list[tuple[str, str]] | None = [] if cache is not None else None
        facts, files, config_digest = self._from_files(cache, digests)
        detail = f"{len(facts.rules)} rules in {len(files)} files"
        return Collected(facts, detail=detail, facts_key=self._facts_key(digests, config_digest))

    # -- files -----------------------------------------------------------------------
    def _facts_key(self, digests: list[tuple[str, str]] | None, config_digest: str | None) -> str | None:
        """The facts' content key (SourceStatus.facts_key) with the rule file cache on: the code, the config
        (hashed: it may name a secret), the folder, prometheus.yml's digest and every rule file's path and
        content hash as parsed (in order). None without the cache."""
        if digests is None:
            return None
        parts = [f"{FACTS_FORMAT}|{code_salt(_FACTS_CODE)}", self.config.model_dump_json(), str(self.base)]
        if self.config.config_file:
            assert config_digest is not None
            parts.append(config_digest)
        return content_key(*parts, repr(digests))

    def _from_files(
        self, cache: RuleFileCache | None = None, digests: list[tuple[str, str]] | None = None
    ) -> tuple[PrometheusFacts, list[Path], str | None]:
        """The facts of the files, the files, and the digest of the prometheus.yml bytes parsed when `digests`
        are collected (else None)."""
        facts = PrometheusFacts()
        files: list[Path] = []
        config_digest: str | None = None
        if self.config.config_file:
            cfg_path = self.base / self.config.config_file
            text, digest = read_text_digest(cfg_path)  # the digest of the very bytes parsed
            cfg = load_prometheus_config(cfg_path, text=text)
            if digests is not None:
                config_digest = digest
            facts.external_labels = cfg.external_labels
            facts.alert_relabel_configs = cfg.alert_relabel_configs
            facts.alertmanagers = cfg.alertmanagers
            facts.evaluation_interval_s = cfg.evaluation_interval_s
            files.extend(expand_globs(cfg_path.parent, cfg.rule_files))
        files.extend(expand_globs(self.base, self.config.rule_files))
        files = list(dict.fromkeys(files))
        facts.rules.extend(load_rule_files(files, cache, digests))
        facts.rule_files.extend(str(f) for f in files)
        return facts, files, config_digest

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
            rules = rules_from_api(api_data(api, "/api/v1/rules"), self.name)
            cfg_data = api_data(api, "/api/v1/status/config")
            if not isinstance(cfg_data, dict) or not isinstance(cfg_data.get("yaml"), str):
                raise api.bad_answer("/api/v1/status/config", "no `yaml` member")
            try:
                cfg = load_prometheus_config(f"{self.name}:/api/v1/status/config", text=cfg_data["yaml"], strict=False)
            except InputError as e:
                raise SourceBadAnswer(f"running config: {e}", source=self.name) from None
            series, over_cap = self._series_labels(api, rules) if self.config.series_label_values else ({}, 0)
            ams = api_data(api, "/api/v1/alertmanagers")
            active = [a.get("url", "") for a in (ams or {}).get("activeAlertmanagers") or [] if isinstance(a, dict)]
            requests = api.requests
        facts = PrometheusFacts(
            external_labels=cfg.external_labels,
            alert_relabel_configs=cfg.alert_relabel_configs,
            alertmanagers=[u for u in active if u] or cfg.alertmanagers,
            evaluation_interval_s=cfg.evaluation_interval_s,
            rules=rules,
            rule_files=sorted({r.location.file for r in rules if r.location.file}),
            series_labels=series,
        )
        detail = f"live: {len(rules)} rules in {len(facts.rule_files)} files ({requests} requests)"
        if over_cap:
            detail += (
                f"; {over_cap} labels of selected series have more than max_label_values "
                f"({self.config.max_label_values}) values: those are resolved symbolically"
            )
        if self.config.config_file or self.config.rule_files:
            detail += "; " + self._add_lines(facts)
        return Collected(facts, detail=detail)

    def _series_labels(self, api: Any, rules: list[Rule]) -> tuple[dict[str, dict[str, list[str]]], int]:
        """Label values of the series each alerting rule's selectors match now, and how many labels were left
        out for having more than `max_label_values` values: a label's values are kept whole or not at all (the
        paging answers take them as every value the label has; the first 50 of 60 would make the others page
        nobody), and a label left out is resolved symbolically."""
        from collectors.promql_metrics import selectors

        wanted: list[str] = []
        for r in rules:
            if r.type != "alerting":
                continue
            try:
                for sel in selectors(r.expr):
                    if sel not in wanted:
                        wanted.append(sel)
            except (ValueError, RuntimeError):
                continue
        out: dict[str, dict[str, list[str]]] = {}
        over_cap = 0
        cap = self.config.max_label_values
        for sel in wanted[: self.config.max_selectors]:
            data = api_data(api, "/api/v1/series", {"match[]": sel})
            values: dict[str, set[str]] = {}
            for series in data or []:
                for k, v in series.items():
                    if k != "__name__":
                        values.setdefault(k, set()).add(v)
            out[sel] = {k: sorted(v) for k, v in sorted(values.items()) if len(v) <= cap}
            over_cap += sum(1 for v in values.values() if len(v) > cap)
        return out, over_cap

    def _add_lines(self, facts: PrometheusFacts) -> str:
        """Line numbers from the same rule files read locally, matched by group and name, and among rules of one
        group and name in several files by the file Prometheus names (most trailing path parts in common: the
        server's paths may be mounted elsewhere here), then in order.

        Not by expr: Prometheus answers each expr re-printed from its syntax tree.
        """
        try:
            local, _, _ = self._from_files()
        except InputError as e:
            log.warning("source=%s rule files for line numbers unreadable: %s", self.name, e)
            return f"line numbers unavailable: {e}"
        where: dict[tuple[str, str], list[Location]] = {}
        for r in local.rules:
            where.setdefault((r.group, r.name), []).append(r.location)
        found = 0
        for r in facts.rules:
            locs = where.get((r.group, r.name))
            if locs:
                live = PurePosixPath(r.location.file or "").parts[::-1]
                best = max(range(len(locs)), key=lambda i: (_common_tail(live, locs[i].file), -i))
                r.location = locs.pop(best).model_copy()
                found += 1
        return f"{found} of {len(facts.rules)} rules found in the local rule files"
