"""PostgreSQL collector: pg_stat_statements rows (recording; live connection: later issue)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from agent.config import PostgresSource
from agent.errors import SourceError
from collectors import Collected
from collectors.recordings import load_statements


class PostgresCollector:
    kind: ClassVar[str] = "postgres"
    config_model = PostgresSource

    def __init__(self, config: PostgresSource, base: Path, **io: Any):
        self.config = config
        self.name = config.name
        self.base = base

    def collect(self) -> Collected:
        if not self.config.recording:
            raise SourceError(
                "live pg_stat_statements collection is not implemented yet; set recording", source=self.name
            )
        facts, at = load_statements(self.base / self.config.recording)
        return Collected(facts, observed_at=at, detail=f"{len(facts.statements)} statements")
