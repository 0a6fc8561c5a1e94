"""The on-disk cache of collected file-based sources (collectors.source_cache): a hit gives exactly what a
collection gives; a changed, added or removed input is a miss; a live source or a failed one is never cached."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.errors import InputError, SourceError
from agent.pipeline import make_collectors
from collectors import Collected, alertmanager, catalog, postgres, prometheus_signals, slo, source_cache
from collectors.source_cache import SourceCache
from tests.collectors.test_pagerduty_export_cache import _same

ROOT = Path(__file__).resolve().parents[2]
ORGS = [ROOT / "tests" / "testdata" / "org-small", ROOT / "agent" / "demo" / "org"]
CACHED = ("catalog", "alertmanager", "slo", "prometheus_signals", "postgres")
# the method each cached collector parses through: a hit must not call it
PARSE = {
    "catalog": (catalog.CatalogCollector, "_collect"),
    "alertmanager": (alertmanager.AlertmanagerCollector, "_collect_files"),
    "slo": (slo.SLOCollector, "_collect"),
    "prometheus_signals": (prometheus_signals.SignalsCollector, "_collect_recording"),
    "postgres": (postgres.PostgresCollector, "_collect_recording"),
}


def _collectors(org: Path, **io: Any) -> list[Any]:
    loaded = load_config(org / "ownership.yaml")
    return [c for c in make_collectors(loaded, loaded.config.now, **io) if c.kind in CACHED]


def _no_parsing(m: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("collected although the source is in the cache")

    for cls, method in PARSE.values():
        m.setattr(cls, method, boom)


def _assert_same(a: Collected, b: Collected) -> None:
    _same(a.facts, b.facts)
    assert a.facts.model_dump_json() == b.facts.model_dump_json()
    assert (a.observed_at, a.detail) == (b.observed_at, b.detail)


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*.pickle"))


@pytest.mark.parametrize("org", ORGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_hit_gives_what_a_collection_gives(org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", "")
    plain = [c.collect() for c in _collectors(org)]
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path))
    collectors = _collectors(org)
    assert {c.kind for c in collectors} >= {"catalog", "alertmanager", "slo"}
    missed = [c.collect() for c in collectors]
    assert len(_entries(tmp_path / "sources")) == len(collectors)
    with monkeypatch.context() as m:
        _no_parsing(m)
        hits = [c.collect() for c in _collectors(org)]
    for a, b, c in zip(plain, missed, hits, strict=True):
        _assert_same(b, a)
        _assert_same(c, a)


def _copy(org: Path, tmp_path: Path) -> Path:
    d = tmp_path / "org"
    shutil.copytree(org, d, ignore=shutil.ignore_patterns(".ownership"))
    return d


def _one(org: Path, kind: str) -> Any:
    return next(c for c in _collectors(org) if c.kind == kind)


def _hit(org: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> Collected:
    with monkeypatch.context() as m:
        _no_parsing(m)
        return _one(org, kind).collect()


def _miss(org: Path, kind: str) -> Collected:
    """A collection that parses (the cache's entry is then replaced: the next one is a hit)."""
    cls, method = PARSE[kind]
    calls: list[int] = []
    real = getattr(cls, method)

    def spy(self: Any, *a: Any) -> Collected:
        calls.append(1)
        got: Collected = real(self, *a)
        return got

    with pytest.MonkeyPatch.context() as m:
        m.setattr(cls, method, spy)
        got = _one(org, kind).collect()
    assert calls, "a hit although an input changed"
    return got


def _fresh(org: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> Collected:
    with monkeypatch.context() as m:
        m.setenv("OWNERSHIP_CACHE_DIR", "")
        return _one(org, kind).collect()


def test_a_changed_added_or_removed_file_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    org = _copy(ORGS[1], tmp_path)
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    for kind in CACHED:
        _miss(org, kind)
        _hit(org, kind, monkeypatch)

    # the catalog: a changed file (and the Backstage file, the second of its list)
    cat = org / "catalog.yaml"
    cat.write_text(cat.read_text().replace("display_name:", "display_name: x", 1) + "\n")
    _assert_same(_miss(org, "catalog"), _fresh(org, "catalog", monkeypatch))
    _hit(org, "catalog", monkeypatch)
    bs = org / "backstage" / "catalog-info.yaml"
    bs.write_text(bs.read_text() + "\n# changed\n")
    _miss(org, "catalog")

    # SLOs: a file added to the glob, then removed, then one changed
    slos = sorted((org / "slos").glob("*.yaml"))
    before = _hit(org, "slo", monkeypatch)
    shutil.copy(slos[0], org / "slos" / "zz-added.yaml")
    added = _miss(org, "slo")
    assert len(added.facts.slos) > len(before.facts.slos)
    _assert_same(added, _fresh(org, "slo", monkeypatch))
    (org / "slos" / "zz-added.yaml").unlink()
    _assert_same(_miss(org, "slo"), before)
    moved = slos[-1].rename(tmp_path / slos[-1].name)
    fewer = _miss(org, "slo")
    assert len(fewer.facts.slos) < len(before.facts.slos)
    _assert_same(fewer, _fresh(org, "slo", monkeypatch))
    moved.rename(slos[-1])
    _miss(org, "slo")
    slos[0].write_text(slos[0].read_text() + "\n")
    _miss(org, "slo")

    # Alertmanager: the config, the silences, a routing key file it names (changed, then gone)
    key = org / "alertmanager" / "secrets" / "notifications.key"
    before = _hit(org, "alertmanager", monkeypatch)
    key.write_text("another-key\n")
    changed = _miss(org, "alertmanager")
    assert changed.facts.model_dump_json() != before.facts.model_dump_json()
    _assert_same(changed, _fresh(org, "alertmanager", monkeypatch))
    key.unlink()
    _assert_same(_miss(org, "alertmanager"), _fresh(org, "alertmanager", monkeypatch))
    _hit(org, "alertmanager", monkeypatch)
    sil = org / "alertmanager" / "silences.json"
    sil.write_text(sil.read_text() + "\n")
    _miss(org, "alertmanager")

    # the recordings
    for kind, f in (("prometheus_signals", "signals/prometheus-eu.json"), ("postgres", "signals/postgres-orders.json")):
        (org / f).write_text((org / f).read_text() + "\n")
        _miss(org, kind)
        _hit(org, kind, monkeypatch)


def test_the_config_and_the_code_are_in_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    org = _copy(ORGS[0], tmp_path)
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    _miss(org, "slo")
    _hit(org, "slo", monkeypatch)
    monkeypatch.setattr(slo, "CACHED_CODE", (*slo.CACHED_CODE, "collectors/durations.py", "README.md"))
    _miss(org, "slo")
    cfg = org / "ownership.yaml"
    cfg.write_text(cfg.read_text().replace("files: [slos/*.yaml]", "files: [slos/*.yaml]\n    timeout_s: 7"))
    _miss(org, "slo")


def test_warnings_are_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    org = _copy(ORGS[0], tmp_path)
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    real = slo.load_slo_file

    def warning(path: Any) -> Any:
        logging.getLogger("ownership.collect").warning("%s: something odd", Path(path).name)
        return real(path)

    monkeypatch.setattr(slo, "load_slo_file", warning)
    with caplog.at_level(logging.WARNING, logger="ownership"):
        _miss(org, "slo")
    logged = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert logged and all(m.endswith("something odd") for _, _, m in logged)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ownership"):
        _hit(org, "slo", monkeypatch)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == logged


def test_an_empty_cache_dir_disables_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", "")
    assert SourceCache.default() is None
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    calls: list[int] = []
    real = SourceCache.collect

    def spy(*a: Any) -> Collected:
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(SourceCache, "collect", spy)
    for c in _collectors(ORGS[1]):
        c.collect()
    assert not calls
    assert not list(tmp_path.rglob("*.pickle"))


def test_a_failure_is_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    org = _copy(ORGS[0], tmp_path)
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    am = org / "alertmanager.yml"
    am.write_text(am.read_text() + "\nbogus_key: 1\n")
    errors = []
    for _ in range(2):
        with pytest.raises(InputError) as e:
            _one(org, "alertmanager").collect()
        errors.append(str(e.value))
    assert errors[0] == errors[1] and f"{am}:" in errors[0]
    with monkeypatch.context() as m:
        m.setenv("OWNERSHIP_CACHE_DIR", "")
        with pytest.raises(InputError) as e:
            _one(org, "alertmanager").collect()
    assert str(e.value) == errors[0]
    assert not _entries(tmp_path / "cache")


def test_a_malformed_entry_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    _miss(ORGS[0], "catalog")
    for entry in _entries(tmp_path / "cache"):
        entry.write_bytes(entry.read_bytes()[:100])
    _assert_same(_miss(ORGS[0], "catalog"), _fresh(ORGS[0], "catalog", monkeypatch))
    _hit(ORGS[0], "catalog", monkeypatch)


@pytest.mark.parametrize(
    ("module", "kind", "extra"),
    [
        (catalog, "catalog", {"files": ["catalog.yaml"], "url": "http://127.0.0.1:9"}),
        (alertmanager, "alertmanager", {"config_file": "alertmanager.yml", "url": "http://127.0.0.1:9"}),
        (prometheus_signals, "prometheus_signals", {"url": "http://127.0.0.1:9"}),
        (postgres, "postgres", {"url": "postgresql://reader@127.0.0.1:9/orders"}),
    ],
)
def test_a_live_source_is_never_cached(
    module: Any, kind: str, extra: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("a live source went through the cache")

    monkeypatch.setattr(module, "collect_cached", boom)
    monkeypatch.setattr(source_cache, "collect_cached", boom)
    from collectors import registry

    cls = registry()[kind]
    config = cls.config_model(name="live", kind=kind, retries=0, timeout_s=2, **extra)
    with pytest.raises(SourceError):  # unreachable: what a live collection gives, not the cache's
        cls(config, ORGS[0]).collect()
    assert not _entries(tmp_path / "cache")
