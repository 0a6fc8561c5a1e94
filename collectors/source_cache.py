"""An on-disk cache of what a file-based source collected: an unchanged source costs hashing its files and
loading a pickle, not parsing and validating them again (the rule files and the PagerDuty export have caches of
their own: prometheus_rules.RuleFileCache, pagerduty_export.ExportCache).

For the catalog, Alertmanager, SLO, recorded signals and recorded pg_stat_statements sources read from files
(never their live variants: what a server answers is not in a file). Measured on the L benchmark organisation,
CPU per collection, parsed -> a hit: catalog 0.31 -> 0.07 s, alertmanager 0.29 -> 0.05 s, slos (1,250 files)
0.23 -> 0.06 s, signals 0.05 -> 0.015 s, pg_stat_statements 0.08 -> 0.05 s; a miss costs 0.02-0.07 s more than
a parse (the pickle written, the files hashed before and after).

An entry is keyed by the source's kind, its config (as JSON, hashed: it may name secrets), the folder its paths
are relative to, the code it depends on (`code_salt`, the entry format, the Python version) and the sha256 of
every input file the collector names before collecting (globs expanded: a file added or removed changes the
list). Files a collector reads because of what it parsed (Alertmanager's routing key files) are listed in the
entry with their digests (None: missing or unreadable) and checked on a hit, like a compiler's dependency file:
the list is a function of the named files' content, which the key already covers.

An entry holds everything the collection gave: the facts (pickled as they are: they load in a fifth of the
time of a parse), `observed_at`, `detail`, and the warnings the collector logged while collecting, replayed on
a hit. Nothing here depends on `now` or the previous facts (the file variants do not read them). A collection
that fails is never cached (its error is raised again the next time, the same InputError); one whose named
files changed while it ran is not written. One entry per source (a new content replaces the old entry).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from collectors import Collected
from collectors.disk_cache import CACHE_ERRORS, cache_folder, code_salt, content_key, used, write_cached
from collectors.facts import SourceFacts
from collectors.yamlfile import file_digest

log = logging.getLogger("ownership.collect")

# the code every entry depends on, whatever its kind (each collector adds its own modules)
BASE_CODE = (
    "collectors/source_cache.py",
    "collectors/__init__.py",
    "collectors/facts.py",
    "collectors/yamlfile.py",
    "agent/errors.py",
    "agent/config.py",
)

Digests = tuple[tuple[str, str | None], ...]


def digests(files: Sequence[Path]) -> Digests:
    """Each file's sha256, None when it cannot be read (missing, a folder, no permission)."""
    out: list[tuple[str, str | None]] = []
    for f in files:
        try:
            out.append((str(f), file_digest(f)))
        except OSError:
            out.append((str(f), None))
    return tuple(out)


class SourceCache:
    """Collected file-based sources on disk, one entry per source."""

    FORMAT = 1

    def __init__(self, directory: Path | str):
        self.dir = Path(directory)

    @classmethod
    def default(cls) -> SourceCache | None:
        """`$OWNERSHIP_CACHE_DIR/sources`, else under ~/.cache/ownership-agent; None when the variable is set
        empty (see disk_cache.cache_root)."""
        folder = cache_folder("sources")
        return cls(folder) if folder else None

    def _file(self, kind: str, name: str, base: Path) -> Path:
        h = hashlib.sha256(f"{self.FORMAT}|{kind}|{name}|{base}".encode()).hexdigest()
        return self.dir / h[:2] / f"{h}.pickle"

    def collect(
        self,
        collector: Any,
        inputs: Sequence[Path],
        collect: Callable[[list[Path]], Collected],
        code: tuple[str, ...],
    ) -> Collected:
        """What `collect(reads)` gives, from the entry when the source's config, `inputs` and the files the
        entry lists in `reads` have not changed (and the code either); else collected and written.

        `collect` appends to `reads` every other file it read (their content may change its result)."""
        kind, name, base = collector.kind, collector.name, Path(collector.base)
        before = digests(inputs)
        key = self._key(kind, collector.config.model_dump_json(), base, code, before)
        file = self._file(kind, name, base)
        hit = self._get(file, key)
        if hit is not None:
            collected, logged, read = hit
            for logger, level, msg in logged:
                logging.getLogger(logger).log(level, "%s", msg)
            collected.facts_key = facts_key(key, read)
            return collected
        reads: list[Path] = []
        with _Warnings() as captured:
            collected = collect(reads)  # an error goes up: nothing is written
        if digests(inputs) == before:  # (else a file changed while it was read: the entry could be either)
            entry = (collected.facts, collected.observed_at, collected.detail, captured.records)
            read = digests(reads)
            write_cached(file, (key, read), entry)
            collected.facts_key = facts_key(key, read)
        return collected

    def _key(self, kind: str, config: str, base: Path, code: tuple[str, ...], inputs: Digests) -> str:
        salt = f"{self.FORMAT}|{sys.version_info[:2]}|{code_salt(BASE_CODE + code)}"
        return content_key(salt, kind, config, str(base), repr(inputs))

    def _get(self, file: Path, key: str) -> tuple[Collected, list[tuple[str, int, str]], Digests] | None:
        """The entry's collection, warnings and the further files it lists when its key is `key` and those
        files are unchanged; else None (no entry, another key, a malformed entry: a miss, never an error)."""
        try:
            with file.open("rb") as f:
                head = pickle.load(f)  # noqa: S301 - our own files, in the user's own cache folder
                if not isinstance(head, tuple) or len(head) != 2 or head[0] != key:
                    return None
                reads = head[1]
                if not isinstance(reads, tuple) or digests([Path(p) for p, _ in reads]) != reads:
                    return None
                facts, observed_at, detail, logged = pickle.load(f)  # noqa: S301
        except (*CACHE_ERRORS, IndexError, KeyError):
            return None
        if (
            not isinstance(facts, SourceFacts)
            or not isinstance(observed_at, datetime | None)
            or not isinstance(detail, str | None)
            or not isinstance(logged, list)
        ):
            return None
        used(file)
        return Collected(facts, observed_at=observed_at, detail=detail), logged, reads


def facts_key(key: str, reads: Digests) -> str:
    """The content key of an entry's facts (Collected.facts_key): its key (code, config, named files) and the
    digests of the further files the collection read."""
    return content_key(key, repr(reads))


class _Warnings(logging.Handler):
    """The warnings logged by this thread (the collector's: each runs in a thread of its own, agent.pipeline)
    under the agent's loggers while the block runs, as (logger, level, message) to replay."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.records.append((record.name, record.levelno, record.getMessage()))

    def __enter__(self) -> _Warnings:
        logging.getLogger("ownership").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("ownership").removeHandler(self)


def collect_cached(
    collector: Any, inputs: Sequence[Path], collect: Callable[[list[Path]], Collected], code: tuple[str, ...]
) -> Collected:
    """`collect(reads)` through the default cache (`SourceCache.collect`); straight when it is disabled."""
    cache = SourceCache.default()
    if cache is None:
        return collect([])
    return cache.collect(collector, inputs, collect, code)
