"""PagerDuty collector: the export folder when `export_dir` is set, else the live REST API (pagerduty_live).

I/O handed in (all optional): `now` (the instant the windows are computed from), `previous_facts`
(this source's last good facts, for an incremental read) and `pagerduty_transport` (an httpx2
transport, e.g. one that sends the https URL to a local fake).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from agent.config import PagerDutySource
from collectors import Collected
from collectors.disk_cache import content_key
from collectors.facts import PagerDutyFacts
from collectors.pagerduty_export import ExportCache, load_export_dir_keyed


class PagerDutyCollector:
    kind: ClassVar[str] = "pagerduty"
    config_model = PagerDutySource

    def __init__(self, config: PagerDutySource, base: Path, **io: Any):
        self.config = config
        self.name = config.name
        self.base = base
        self.now: datetime | None = io.get("now")
        prev = io.get("previous_facts")
        self.previous_facts: PagerDutyFacts | None = prev if isinstance(prev, PagerDutyFacts) else None
        self.transport = io.get("pagerduty_transport")

    def collect(self) -> Collected:
        if self.config.export_dir:
            folder, cache = self.base / self.config.export_dir, ExportCache.default()
            facts, key = load_export_dir_keyed(folder, self.name, cache)
            stored_text = None
            if key is not None and cache is not None:
                # the store's text of these facts when the forked parse wrote it (ExportCache.put_text)
                stored_text = cache.text_reader(str(folder), key)
                # the config too (hashed: it may name a token's file or variable)
                key = content_key(key, self.config.model_dump_json())
            detail = f"{len(facts.services)} services, {len(facts.incidents)} incidents"
            return Collected(facts, detail=detail, facts_key=key, stored_text=stored_text)
        from collectors.pagerduty_live import LiveReader

        reader = LiveReader(self.config, self.base, self.now or datetime.now(UTC), transport=self.transport)
        facts, detail = reader.collect(self.previous_facts)
        return Collected(facts, detail=detail)
