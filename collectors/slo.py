"""SLO collector: Sloth, PrometheusServiceLevel and OpenSLO files (files are the source of truth)."""

from __future__ import annotations

from typing import ClassVar

from agent.config import SLOSource
from collectors import Collected, SourceCollector, expand_globs
from collectors.facts import SLOFacts
from collectors.slo_specs import load_slo_file


class SLOCollector(SourceCollector):
    kind: ClassVar[str] = "slo"
    config_model = SLOSource

    def collect(self) -> Collected:
        facts = SLOFacts()
        for f in expand_globs(self.base, self.config.files):
            slos, rules = load_slo_file(f)
            facts.slos.extend(slos)
            facts.generated_rules.extend(rules)
        return Collected(facts, detail=f"{len(facts.slos)} SLOs")
