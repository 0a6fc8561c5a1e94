"""The agent's on-disk caches, shared by all of them (the rule files' `prometheus_rules.RuleFileCache`, the
PagerDuty export's `pagerduty_export.ExportCache`, the other file sources' `source_cache.SourceCache`, the
expression facts' bundle in `rules.exprs`): where they live, what their keys hold, atomic writes, reads that
never fail (a miss), and pruning the entries nobody reads any more.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("ownership.collect")

CACHE_ENV = "OWNERSHIP_CACHE_DIR"  # the on-disk caches' folder; empty: no disk cache


def cache_folder(name: str) -> Path | None:
    """The folder of one of the caches (`CACHE_FOLDERS`, what pruning walks) under `cache_root`; None when
    there is no disk cache."""
    assert name in CACHE_FOLDERS, name
    root = cache_root()
    return root / name if root else None


def cache_root() -> Path | None:
    """The agent's on-disk cache folder: `$OWNERSHIP_CACHE_DIR`, else `$XDG_CACHE_HOME/ownership-agent`
    (~/.cache/ownership-agent); None when the variable is set empty (no disk cache)."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return Path(env) if env else None
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ownership-agent"


def code_salt(code: tuple[str, ...]) -> str:
    """A digest of what a cache's entries depend on: the versions of the agent, promql-parser and pydantic and
    the source of the modules `code` (paths from the project's root); computed once per process."""
    salt = _SALTS.get(code)
    if salt is None:
        salt = _SALTS[code] = _salt(code)
    return salt


_SALTS: dict[tuple[str, ...], str] = {}


def _salt(code: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for dist in ("ownership-agent", "promql-parser", "pydantic"):
        try:
            h.update(f"{dist}={version(dist)};".encode())
        except PackageNotFoundError:
            h.update(f"{dist}=?;".encode())
    root = Path(__file__).resolve().parent.parent
    for rel in code:
        try:
            h.update((root / rel).read_bytes())
        except OSError:
            h.update(rel.encode())
    return h.hexdigest()


def content_key(*parts: str) -> str:
    """The sha256 of the parts, each followed by a NUL: the content key of what they name (an entry's key,
    SourceStatus.facts_key)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


# what reading a missing, truncated, foreign or outdated cache file can raise: a miss, never an error
CACHE_ERRORS = (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError)


def read_cached(file: Path) -> Any:
    """A pickle of the on-disk cache, or None when missing or unreadable (a miss, never an error)."""
    try:
        with file.open("rb") as f:
            got = pickle.load(f)  # noqa: S301 - our own files, in the user's own cache folder
    except CACHE_ERRORS:
        return None
    used(file)
    return got


# ---- pruning: entries nobody reads any more
#
# Every entry's key holds a digest of the agent's code, so an upgrade (or an edit of a module an entry depends
# on) leaves the older entries unread for good, and a changed input file its older entry: without pruning
# the folder grows with every version (L: ~120 MB a version). Reading an entry refreshes its modification
# time (`used`); at most once a day (`PRUNE_EVERY_S`) a collection deletes the entries of the agent's own
# cache folders that nobody read or wrote for CACHE_MAX_AGE_DAYS, and the temporary files of writes older
# than an hour (a process killed while writing). Only files of the agent's own names in its own subfolders
# are touched: `$OWNERSHIP_CACHE_DIR` may name a folder that holds other files too. (A long-running process
# reads an unchanged rule file's facts from memory, not from its entry: after a month of uptime that entry
# may go, and the next process parses the file once more and writes it again.)
CACHE_MAX_AGE_DAYS = 30
PRUNE_EVERY_S = 86_400
CACHE_FOLDERS = ("rules", "exprs", "pagerduty", "sources")
_ENTRY_SUFFIXES = (".pickle", ".store.json")
_PRUNED_MARK = ".pruned"


def used(file: Path) -> None:
    """Mark a cache entry as read now (pruning keeps it)."""
    try:
        os.utime(file)
    except OSError:
        pass


def prune_cache(now: float | None = None) -> int:
    """Delete the cache's entries unread for CACHE_MAX_AGE_DAYS (at most once every PRUNE_EVERY_S); how many.
    Never an error: what cannot be read or deleted is left."""
    root = cache_root()
    if root is None or not root.is_dir():
        return 0
    now = time.time() if now is None else now
    mark = root / _PRUNED_MARK
    try:
        if now - mark.stat().st_mtime < PRUNE_EVERY_S:
            return 0
    except FileNotFoundError:
        pass
    except OSError:
        return 0
    removed = 0
    for folder in CACHE_FOLDERS:
        for dirpath, _dirs, files in os.walk(root / folder):
            for name in files:
                if name.startswith(".tmp-"):
                    limit = 3_600.0
                elif name.endswith(_ENTRY_SUFFIXES):
                    limit = CACHE_MAX_AGE_DAYS * 86_400.0
                else:
                    continue  # not a file of ours
                path = os.path.join(dirpath, name)
                try:
                    if now - os.stat(path).st_mtime > limit:
                        os.unlink(path)
                        removed += 1
                except OSError:
                    continue
    try:
        mark.touch()
        os.utime(mark, (now, now))
    except OSError:
        pass
    if removed:
        log.info("removed %d cache entries unread for %d days from %s", removed, CACHE_MAX_AGE_DAYS, root)
    return removed


def write_cached(target: Path, data: Any, *more: Any) -> None:
    """Write a pickle of the on-disk cache atomically; a cache that cannot be written is skipped, never an error.
    `more`: further pickles after the first in the same file (a reader can stop after the first: a key)."""

    def dump(f: BinaryIO) -> None:
        for obj in (data, *more):
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)

    write_atomically(target, dump)


def write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """A cache file written by `write` into a temporary file then renamed (a reader sees the old file or the
    whole new one); one that cannot be written is skipped, never an error."""
    try:
        try:
            # the folder made by an earlier write, mostly (a `mkdir` per write: 970 system calls on L)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, target)
    except OSError as e:
        log.debug("parse cache not written: %s", e)
