"""Catalog collector: catalog.yaml and Backstage catalog-info.yaml files, and a live Backstage catalog.

Live, Component, Group and User entities come from `GET /api/catalog/entities`, `limit` per page;
Backstage answers a JSON array and, when more remain, a `Link: <...>; rel="next"` header whose
URL carries the `after` cursor (relative to the catalog's router, `/api/catalog`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

from agent.config import CatalogSource
from agent.errors import InputError, SourceError
from collectors import Collected, SourceCollector, expand_globs
from collectors.catalog_files import CatalogBuilder
from collectors.http import JsonApi, SourceBadAnswer, redact_url
from collectors.source_cache import collect_cached

CATALOG_PATH = "/api/catalog"
KINDS = ("component", "group", "user")
MAX_PAGES = 100_000
# what the collected facts of catalog files depend on (collectors.source_cache)
CACHED_CODE = (
    "collectors/catalog.py",
    "collectors/catalog_files.py",
    "collectors/validate.py",
    "collectors/secrets.py",
)
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.I)


def next_link(header: str | None, base_url: str) -> str | None:
    """The absolute URL of Backstage's `rel="next"` link, or None on the last page."""
    if not header:
        return None
    m = _LINK_NEXT.search(header)
    if not m:
        return None
    target = m.group(1)
    if target.startswith(("http://", "https://")):
        return target
    root = base_url.rstrip("/")
    if target.startswith(CATALOG_PATH + "/"):  # already mounted: join to the origin
        parts = urlsplit(root)
        return f"{parts.scheme}://{parts.netloc}{target}"
    if target.startswith("/"):  # relative to the catalog router (what Backstage sends)
        return root + CATALOG_PATH + target
    return urljoin(root + CATALOG_PATH + "/entities", target)


def fetch_entities(api: JsonApi, page_size: int) -> list[dict[str, Any]]:
    """Every Component, Group and User entity, following the `after` cursor page by page."""
    params: list[tuple[str, Any]] | None = [("filter", f"kind={k}") for k in KINDS] + [("limit", page_size)]
    url: str | None = CATALOG_PATH + "/entities"
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        if url is None:
            return out
        resp = api.get(url, params)
        page = api.parse(resp)
        if not isinstance(page, list):
            raise api.bad_answer(CATALOG_PATH + "/entities", "expected a JSON array of entities")
        out.extend(page)
        url, params = next_link(resp.headers.get("link"), api.base_url), None
        if url is not None:
            if url in seen or not page:
                raise SourceBadAnswer(f"Backstage pagination does not advance ({redact_url(url)})", source=api.source)
            seen.add(url)
    raise SourceBadAnswer(f"more than {MAX_PAGES} pages of entities", source=api.source)


class CatalogCollector(SourceCollector):
    kind: ClassVar[str] = "catalog"
    config_model = CatalogSource

    def collect(self) -> Collected:
        if not self.config.url and not self.config.files:
            raise SourceError("set files, url (Backstage), or both", source=self.name)
        files = expand_globs(self.base, self.config.files)
        if not self.config.url:  # files only: through the on-disk cache (a live catalog is never cached)
            return collect_cached(self, files, lambda reads: self._collect(files), CACHED_CODE)
        return self._collect(files)

    def _collect(self, files: list[Path]) -> Collected:
        b = CatalogBuilder()
        for f in files:
            b.add_file(f)
        detail = f"{len(files)} files"
        if self.config.url:
            n, requests = self._add_backstage(b)
            detail = f"live: {n} Backstage entities ({requests} requests)" + (f" and {detail}" if files else "")
        return Collected(b.build(), detail=detail)

    def _add_backstage(self, b: CatalogBuilder) -> tuple[int, int]:
        assert self.config.url is not None
        token = self.config.auth.resolve(self.base, f"{self.name}.auth") if self.config.auth else None
        with JsonApi(
            self.config.url,
            source=self.name,
            timeout_s=self.config.timeout_s,
            retries=self.config.retries,
            token=token,
            transport=self.transport,
        ) as api:
            entities = fetch_entities(api, self.config.page_size)
            requests = api.requests
        root = redact_url(self.config.url).rstrip("/")
        for e in entities:
            meta = e.get("metadata") if isinstance(e, dict) else None
            if not isinstance(meta, dict):
                raise SourceBadAnswer("a Backstage entity without metadata", source=self.name)
            ref = f"{str(e.get('kind', '?')).lower()}/{meta.get('namespace', 'default')}/{meta.get('name', '?')}"
            try:
                b.add_backstage_entity(e, f"{root}{CATALOG_PATH}/entities/by-name/{ref}")
            except InputError as err:
                raise SourceBadAnswer(str(err), source=self.name) from None
        return len(entities), requests
