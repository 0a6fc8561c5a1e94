"""SLO collector: Sloth, PrometheusServiceLevel and OpenSLO files (files are the source of truth)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from agent.config import SLOSource
from collectors import Collected, SourceCollector, expand_globs
from collectors.facts import SLOFacts
from collectors.slo_specs import load_slo_file
from collectors.source_cache import collect_cached

# what the collected facts of SLO files depend on (collectors.source_cache); promql-parser's version is in the salt
CACHED_CODE = (
    "collectors/slo.py",
    "collectors/slo_specs.py",
    "collectors/prometheus_rules.py",
    "collectors/durations.py",
    "rules/exprs.py",
)


class SLOCollector(SourceCollector):
    kind: ClassVar[str] = "slo"
    config_model = SLOSource

    def collect(self) -> Collected:
        files = expand_globs(self.base, self.config.files)
        return collect_cached(self, files, lambda reads: self._collect(files), CACHED_CODE)

    def _collect(self, files: list[Path]) -> Collected:
        facts = SLOFacts()
        for f in files:
            slos, rules = load_slo_file(f)
            facts.slos.extend(slos)
            facts.generated_rules.extend(rules)
        return Collected(facts, detail=f"{len(facts.slos)} SLOs")
