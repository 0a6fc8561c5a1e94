"""Prometheus collector (files): prometheus.yml and its rule files, plus extra rule globs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from agent.config import PrometheusSource
from agent.errors import SourceError
from collectors import Collected, expand_globs
from collectors.facts import PrometheusFacts
from collectors.prometheus_config import load_prometheus_config
from collectors.prometheus_rules import load_rule_file


class PrometheusCollector:
    kind: ClassVar[str] = "prometheus"
    config_model = PrometheusSource

    def __init__(self, config: PrometheusSource, base: Path, **io: Any):
        self.config = config
        self.name = config.name
        self.base = base

    def collect(self) -> Collected:
        if self.config.url and not self.config.config_file:
            raise SourceError("live Prometheus collection is not implemented yet; use files", source=self.name)
        facts = PrometheusFacts()
        files: list[Path] = []
        if self.config.config_file:
            cfg_path = self.base / self.config.config_file
            cfg = load_prometheus_config(cfg_path)
            facts.external_labels = cfg.external_labels
            facts.alert_relabel_configs = cfg.alert_relabel_configs
            facts.alertmanagers = cfg.alertmanagers
            facts.evaluation_interval_s = cfg.evaluation_interval_s
            files.extend(expand_globs(cfg_path.parent, cfg.rule_files))
        files.extend(expand_globs(self.base, self.config.rule_files))
        for f in dict.fromkeys(files):
            facts.rules.extend(load_rule_file(f))
            facts.rule_files.append(str(f))
        return Collected(facts, detail=f"{len(facts.rules)} rules in {len(facts.rule_files)} files")
