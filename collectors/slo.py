"""SLO collector: Sloth, PrometheusServiceLevel and OpenSLO files (files are the source of truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from agent.config import SLOSource
from collectors import Collected, expand_globs
from collectors.facts import SLOFacts
from collectors.slo_specs import load_slo_file


class SLOCollector:
    kind: ClassVar[str] = "slo"
    config_model = SLOSource

    def __init__(self, config: SLOSource, base: Path, **io: Any):
        self.config = config
        self.name = config.name
        self.base = base

    def collect(self) -> Collected:
        facts = SLOFacts()
        for f in expand_globs(self.base, self.config.files):
            slos, rules = load_slo_file(f)
            facts.slos.extend(slos)
            facts.generated_rules.extend(rules)
        return Collected(facts, detail=f"{len(facts.slos)} SLOs")
