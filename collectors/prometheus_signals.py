"""Prometheus signals collector: queue lag, alert history, metric names (recording; live: later issue)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from agent.config import SignalsSource
from agent.errors import SourceError
from collectors import Collected
from collectors.recordings import load_signals


class SignalsCollector:
    kind: ClassVar[str] = "prometheus_signals"
    config_model = SignalsSource

    def __init__(self, config: SignalsSource, base: Path, **io: Any):
        self.config = config
        self.name = config.name
        self.base = base

    def collect(self) -> Collected:
        if not self.config.recording:
            raise SourceError("live signal queries are not implemented yet; set recording", source=self.name)
        facts, at = load_signals(self.base / self.config.recording)
        return Collected(
            facts, observed_at=at, detail=f"{len(facts.queue_lag)} queues, {len(facts.alert_history)} alert series"
        )
