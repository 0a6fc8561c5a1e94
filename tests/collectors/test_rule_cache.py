"""The on-disk parse cache of rule files: keyed by path and content, shared across processes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import collectors.prometheus_rules as pr
from collectors.prometheus_rules import RuleFileCache, load_rule_file
from rules import exprs

RULES = """groups:
- name: g
  rules:
  - alert: Down
    expr: up{job="api"} == 0
    for: 5m
    labels:
      severity: critical
  - record: job:up:sum
    expr: sum by (job) (up)
"""


def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What another process starts with: no in-process caches."""
    monkeypatch.setattr(pr, "_CACHE", {})
    monkeypatch.setattr(exprs, "_MEMO", {})
    monkeypatch.setattr(exprs, "_TEMPLATES", {})


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("parsed although the file is in the cache")

    monkeypatch.setattr(pr, "_parse_rule_file", boom)
    monkeypatch.setattr(exprs, "parse_promql", boom)


def test_unchanged_file_comes_from_the_cache_with_its_expression_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = RuleFileCache(tmp_path / "cache")
    f = tmp_path / "rules.yml"
    f.write_text(RULES, encoding="utf-8")
    _fresh_process(monkeypatch)
    first = load_rule_file(f, cache)
    assert [r.name for r in first] == ["Down", "job:up:sum"]
    assert list((tmp_path / "cache").rglob("*.pickle"))

    _fresh_process(monkeypatch)
    with monkeypatch.context() as m:
        _no_parsing(m)
        again = load_rule_file(f, cache)
        assert [r.model_dump() for r in again] == [r.model_dump() for r in first]
        assert exprs.facts('up{job="api"} == 0').labels.fixed == {"job": "api"}  # seeded, not parsed


def test_a_changed_file_is_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = RuleFileCache(tmp_path / "cache")
    f = tmp_path / "rules.yml"
    f.write_text(RULES, encoding="utf-8")
    _fresh_process(monkeypatch)
    load_rule_file(f, cache)
    f.write_text(RULES.replace("for: 5m", "for: 10m"), encoding="utf-8")
    _fresh_process(monkeypatch)
    assert load_rule_file(f, cache)[0].for_s == 600
    # the same content under another path is another entry (rules carry their file)
    g = tmp_path / "other.yml"
    g.write_text(RULES, encoding="utf-8")
    _fresh_process(monkeypatch)
    assert load_rule_file(g, cache)[0].location.file == str(g)


def test_warnings_are_replayed_and_bad_entries_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RuleFileCache(tmp_path / "cache")
    f = tmp_path / "two.yml"
    f.write_text(RULES + "---\n" + RULES, encoding="utf-8")
    _fresh_process(monkeypatch)
    load_rule_file(f, cache)
    _fresh_process(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="ownership.collect"):
        with monkeypatch.context() as m:
            _no_parsing(m)
            assert len(load_rule_file(f, cache)) == 2
    assert any("reads only the first" in r.getMessage() for r in caplog.records)
    for entry in (tmp_path / "cache").rglob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    _fresh_process(monkeypatch)
    assert len(load_rule_file(f, cache)) == 2  # a bad entry is a miss, then rewritten


def test_an_entry_whose_expression_shapes_are_lost_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = RuleFileCache(tmp_path / "cache")
    f = tmp_path / "rules.yml"
    f.write_text(RULES, encoding="utf-8")
    _fresh_process(monkeypatch)
    first = load_rule_file(f, cache)
    shapes = list((tmp_path / "cache" / "shapes").glob("*.pickle"))
    assert len(shapes) == 1
    shapes[0].unlink()
    _fresh_process(monkeypatch)
    again = load_rule_file(f, RuleFileCache(tmp_path / "cache"))  # parsed again, shapes written again
    assert [r.model_dump() for r in again] == [r.model_dump() for r in first]
    assert exprs.facts('up{job="api"} == 0').labels.fixed == {"job": "api"}
    assert list((tmp_path / "cache" / "shapes").glob("*.pickle"))


def test_default_folder_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path))
    c = RuleFileCache.default()
    assert c is not None and c.dir == tmp_path / "rules"
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", "")
    assert RuleFileCache.default() is None
    monkeypatch.delenv("OWNERSHIP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    c = RuleFileCache.default()
    assert c is not None and c.dir == tmp_path / "xdg" / "ownership-agent" / "rules"
