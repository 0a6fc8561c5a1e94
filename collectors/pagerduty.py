"""PagerDuty collector: the export folder (the live API through the official client: later issue)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from agent.config import PagerDutySource
from agent.errors import SourceError
from collectors import Collected
from collectors.pagerduty_export import load_export_dir


class PagerDutyCollector:
    kind: ClassVar[str] = "pagerduty"
    config_model = PagerDutySource

    def __init__(self, config: PagerDutySource, base: Path, **io: Any):
        self.config = config
        self.name = config.name
        self.base = base

    def collect(self) -> Collected:
        if not self.config.export_dir:
            raise SourceError("live PagerDuty collection is not implemented yet; set export_dir", source=self.name)
        facts = load_export_dir(self.base / self.config.export_dir, self.name)
        return Collected(facts, detail=f"{len(facts.services)} services, {len(facts.incidents)} incidents")
