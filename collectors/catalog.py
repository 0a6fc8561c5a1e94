"""Catalog collector: catalog.yaml and Backstage catalog-info.yaml files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from agent.config import CatalogSource
from agent.errors import SourceError
from collectors import Collected, expand_globs
from collectors.catalog_files import CatalogBuilder


class CatalogCollector:
    kind: ClassVar[str] = "catalog"
    config_model = CatalogSource

    def __init__(self, config: CatalogSource, base: Path, **io: Any):
        self.config = config
        self.name = config.name
        self.base = base

    def collect(self) -> Collected:
        if self.config.url:
            raise SourceError("live Backstage collection is not implemented yet; use files", source=self.name)
        b = CatalogBuilder()
        files = expand_globs(self.base, self.config.files)
        for f in files:
            b.add_file(f)
        return Collected(b.build(), detail=f"{len(files)} files")
