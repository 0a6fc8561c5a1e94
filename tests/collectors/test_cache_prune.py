"""Pruning the on-disk caches (collectors.disk_cache.prune_cache): entries nobody read for a month go,
at most once a day; reading an entry keeps it; nothing but the agent's own files is touched."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors import disk_cache as pr
from collectors import prometheus_rules

DAY = 86_400.0
SMALL_ORG = Path(__file__).parents[1] / "testdata" / "org-small"


def _file(path: Path, age_s: float, now: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    os.utime(path, (now - age_s, now - age_s))
    return path


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(pr.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    return tmp_path / "cache"


def test_entries_unread_for_a_month_and_stale_temporary_files_go(root: Path) -> None:
    now = time.time()
    old = [
        _file(root / "rules" / "ab" / "old.pickle", 31 * DAY, now),
        _file(root / "exprs" / "old.pickle", 40 * DAY, now),
        _file(root / "pagerduty" / "cd" / "old.store.json", 31 * DAY, now),
        _file(root / "sources" / "ef" / ".tmp-x1", 2 * 3600, now),  # a writer killed two hours ago
    ]
    kept = [
        _file(root / "rules" / "ab" / "new.pickle", 29 * DAY, now),
        _file(root / "pagerduty" / "cd" / "new.pickle", 1, now),
        _file(root / "rules" / ".tmp-writing", 60, now),  # being written
        _file(root / "rules" / "ab" / "notes.txt", 400 * DAY, now),  # not a file of ours
        _file(root / "old-but-not-ours.pickle", 400 * DAY, now),  # outside the agent's folders
        _file(root / "elsewhere" / "x.pickle", 400 * DAY, now),
    ]
    assert pr.prune_cache(now) == len(old)
    assert [p.exists() for p in old] == [False] * len(old)
    assert all(p.exists() for p in kept)
    again = _file(root / "rules" / "again.pickle", 31 * DAY, now)
    assert pr.prune_cache(now + DAY - 1) == 0 and again.exists()  # at most once a day
    assert pr.prune_cache(now + DAY + 1) == 3  # a day later: that one, and two that have aged past their limit
    assert not again.exists() and not kept[0].exists() and not kept[2].exists()
    assert all(p.exists() for p in kept[3:])


def test_reading_an_entry_keeps_it(root: Path) -> None:
    now = time.time()
    entry = root / "rules" / "ab" / "entry.pickle"
    pr.write_cached(entry, {"a": 1})
    os.utime(entry, (now - 31 * DAY, now - 31 * DAY))
    assert pr.read_cached(entry) == {"a": 1}  # a hit: used now
    assert pr.prune_cache(now) == 0 and entry.exists()


def test_no_cache_no_pruning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pr.CACHE_ENV, "")
    assert pr.prune_cache() == 0
    monkeypatch.setenv(pr.CACHE_ENV, str(tmp_path / "missing"))
    assert pr.prune_cache() == 0 and not (tmp_path / "missing").exists()


def test_a_collection_prunes_and_its_hits_keep_their_entries(root: Path, tmp_path: Path) -> None:
    """A collection prunes first (at most once a day); every entry its sources then read from the caches is
    marked as read, so what the agent keeps using is never pruned."""
    from agent.config import load_config
    from agent.pipeline import collect

    org = tmp_path / "org"
    shutil.copytree(SMALL_ORG, org, ignore=shutil.ignore_patterns(".ownership"))
    loaded = load_config(org / "ownership.yaml")
    at = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    collect(loaded, at)  # writes the entries
    entries = [p for p in root.rglob("*") if p.is_file() and p.name.endswith((".pickle", ".store.json"))]
    assert {p.relative_to(root).parts[0] for p in entries} >= {"rules", "pagerduty", "sources"}
    weeks_ago = time.time() - 20 * DAY
    for p in entries:
        os.utime(p, (weeks_ago, weeks_ago))
    stale = _file(root / "rules" / "zz" / "unread.pickle", 31 * DAY, time.time())
    (root / ".pruned").unlink()  # (the first collection pruned today)
    prometheus_rules._CACHE.clear()  # another process: no rule file parsed in this one (it would not read the entry)
    collect(loaded, at)  # prunes, then reads every entry again
    assert not stale.exists()
    read = [p for p in entries if p.stat().st_mtime > time.time() - 3_600]
    # every entry a collection reads (the export's store text is read by the store, not by a collection)
    assert sorted(map(str, read)) == sorted(str(p) for p in entries if not p.name.endswith(".store.json"))
