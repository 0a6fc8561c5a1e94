"""The on-disk cache of collected PagerDuty export folders: a hit gives the facts a parse gives, exactly."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent.errors import InputError
from collectors import pagerduty_export as pe
from collectors.pagerduty_export import ExportCache, load_export_dir
from collectors.yamlfile import read_text, read_text_digest

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = [
    ROOT / "agent" / "demo" / "org" / "pagerduty",
    ROOT / "tests" / "rules" / "checks" / "testdata" / "OWN008" / "bad" / "pagerduty",
    ROOT / "tests" / "rules" / "checks" / "testdata" / "OWN008" / "good" / "pagerduty",
]


def _same(a: Any, b: Any, where: str = "facts") -> None:
    """Equal all the way down: the same types, values, fields-sets and timezones."""
    assert type(a) is type(b), where
    if isinstance(a, BaseModel):
        assert a.model_fields_set == b.model_fields_set, where
        for name in type(a).model_fields:
            _same(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif hasattr(type(a), "__pydantic_fields__"):  # the slotted dataclasses
        for name in type(a).__pydantic_fields__:
            _same(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{n}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, datetime):
        assert (a, a.tzinfo, a.fold) == (b, b.tzinfo, b.fold), where
    else:
        assert a == b, where


def _shared(facts: Any) -> list[tuple[bool, bool]]:
    """Which datetimes are one object with another's, as `_finish` makes them."""
    created = {id(le.created_at) for le in facts.log_entries}
    return [(i.last_status_change_at is i.resolved_at, id(i.acknowledged_at) in created) for i in facts.incidents]


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("parsed although the folder is in the cache")

    monkeypatch.setattr(pe, "_fast_items", boom)
    monkeypatch.setattr(pe, "_convert", boom)


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_hit_gives_the_facts_of_a_parse(export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ExportCache(tmp_path / "cache")
    parsed = load_export_dir(export)
    first = load_export_dir(export, "pagerduty", cache)  # a miss: parsed, then written
    assert list((tmp_path / "cache").rglob("*.pickle"))
    with monkeypatch.context() as m:
        _no_parsing(m)
        hit = load_export_dir(export, "pagerduty", cache)
    for facts in (first, hit):
        _same(facts, parsed)
        assert facts.model_dump_json() == parsed.model_dump_json()
        assert [i.model_dump() for i in facts.incidents] == [i.model_dump() for i in parsed.incidents]
        assert _shared(facts) == _shared(parsed)
    assert any(a for a, _ in _shared(hit)) or not any(i.resolved_at for i in parsed.incidents)


def test_odd_values_come_back_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Datetimes in another timezone (a column pickled as it is), an incident the fast path leaves to the
    converters (the whole file then goes through them), nulls, an empty log."""
    d = tmp_path / "pd"
    shutil.copytree(EXPORTS[0], d)
    body = json.loads((d / "incidents.json").read_text())
    body["incidents"][0]["created_at"] = "2026-01-02T03:04:05.123456+02:00"
    body["incidents"][1]["title"] = ""  # `title or summary`: the converters
    body["incidents"][1]["summary"] = "from the summary"
    body["incidents"][2]["resolved_at"] = None
    (d / "incidents.json").write_text(json.dumps(body), encoding="utf-8")
    (d / "log_entries.json").write_text('{"log_entries": []}', encoding="utf-8")
    cache = ExportCache(tmp_path / "cache")
    parsed = load_export_dir(d)
    assert parsed.incidents[1].title == "from the summary"
    created = pe._encode({ep: getattr(parsed, ep) for ep in pe.ENDPOINTS})[1]["incidents"][7]
    assert created[0] == "as is"  # (the test's point: not only timezone.utc)
    load_export_dir(d, "pagerduty", cache)
    with monkeypatch.context() as m:
        _no_parsing(m)
        hit = load_export_dir(d, "pagerduty", cache)
    _same(hit, parsed)
    assert hit.model_dump_json() == parsed.model_dump_json()


def test_a_changed_file_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "pd"
    shutil.copytree(EXPORTS[0], d)
    cache = ExportCache(tmp_path / "cache")
    before = load_export_dir(d, "pagerduty", cache)
    body = json.loads((d / "incidents.json").read_text())
    body["incidents"][0]["title"] = "changed since"
    (d / "incidents.json").write_text(json.dumps(body), encoding="utf-8")
    after = load_export_dir(d, "pagerduty", cache)
    assert after.incidents[0].title == "changed since" != before.incidents[0].title
    _same(after, load_export_dir(d))
    (d / "teams.json").unlink()  # a file gone: a miss too
    assert load_export_dir(d, "pagerduty", cache).teams == []
    with monkeypatch.context() as m:  # the entry replaced: the new content is a hit
        _no_parsing(m)
        assert load_export_dir(d, "pagerduty", cache).incidents[0].title == "changed since"
    assert len(list((tmp_path / "cache").rglob("*.pickle"))) == 1  # one entry per folder


def test_a_malformed_entry_is_a_miss(tmp_path: Path) -> None:
    cache = ExportCache(tmp_path / "cache")
    parsed = load_export_dir(EXPORTS[0], "pagerduty", cache)
    (entry,) = (tmp_path / "cache").rglob("*.pickle")
    key = entry.read_bytes()[:200]
    for junk in (b"", b"not a pickle", key[: len(key) // 2]):
        entry.write_bytes(junk)
        _same(load_export_dir(EXPORTS[0], "pagerduty", cache), parsed)
    got = pe.pickle.loads(entry.read_bytes())  # rewritten: the key of a good entry
    assert got == (str(EXPORTS[0]), pe._digests(EXPORTS[0]))


def test_a_bad_export_is_the_same_error_and_never_cached(tmp_path: Path) -> None:
    d = tmp_path / "pd"
    shutil.copytree(EXPORTS[0], d)
    body = json.loads((d / "incidents.json").read_text())
    body["incidents"][1]["assignments"] = [1]
    (d / "incidents.json").write_text(json.dumps(body, indent=1), encoding="utf-8")
    cache = ExportCache(tmp_path / "cache")
    with pytest.raises(InputError) as without:
        load_export_dir(d)
    with pytest.raises(InputError) as cached:
        load_export_dir(d, "pagerduty", cache)
    assert (str(cached.value), cached.value.file, cached.value.line) == (
        str(without.value),
        without.value.file,
        without.value.line,
    )
    assert not list((tmp_path / "cache").rglob("*.pickle"))
    (d / "users.json").write_bytes(b'{"users": ["\xff"]}')
    with pytest.raises(InputError, match="UTF-8"):
        load_export_dir(d, "pagerduty", cache)


def test_read_text_digest_reads_as_read_text(tmp_path: Path) -> None:
    f = tmp_path / "f.json"
    for data in (b'{"a": 1}\r\n', b"a\rb\r\nc\n", "\ufeff{}\n".encode(), b""):
        f.write_bytes(data)
        text, digest = read_text_digest(f)
        assert text == read_text(f) and digest == pe.hashlib.sha256(data).hexdigest()
        assert text == f.read_text(encoding="utf-8")  # as Python's text mode reads it
    for bad in (b"\xff", b"ok \xe2\x82"):
        f.write_bytes(bad)
        with pytest.raises(InputError) as a:
            read_text(f)
        with pytest.raises(InputError) as b:
            read_text_digest(f)
        assert str(a.value) == str(b.value)
        with pytest.raises(UnicodeDecodeError) as c:
            f.read_text(encoding="utf-8")
        assert c.value.reason in str(a.value)
    with pytest.raises(InputError) as a:
        read_text(tmp_path)
    with pytest.raises(InputError) as b:
        read_text_digest(tmp_path)
    assert str(a.value) == str(b.value)


def test_default_folder_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path))
    c = ExportCache.default()
    assert c is not None and c.dir == tmp_path / "pagerduty"
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", "")
    assert ExportCache.default() is None


needs_fork = pytest.mark.skipif(
    not hasattr(pe.os, "fork") or (pe.os.cpu_count() or 1) < 2, reason="no fork, or one core (agent.forks)"
)


@needs_fork
def test_a_large_export_is_parsed_in_a_child_that_writes_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above FORK_MIN_BYTES a miss is parsed by a forked child into the cache, and this process reads the entry
    (it never parses); a bad export fails in the child and is parsed here: the same error, nothing cached."""
    monkeypatch.delenv("OWNERSHIP_FORK", raising=False)
    parsed = load_export_dir(EXPORTS[0])
    monkeypatch.setattr(pe, "FORK_MIN_BYTES", 0)
    forks: list[int] = []
    real_fork = pe.os.fork

    def counting_fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(pe.os, "fork", counting_fork)
    parses: list[str] = []  # counted in this process only: the child's count stays in the child
    real_fast_items = pe._fast_items

    def counting_fast_items(ep: str, text: str) -> Any:
        parses.append(ep)
        return real_fast_items(ep, text)

    monkeypatch.setattr(pe, "_fast_items", counting_fast_items)
    cache = ExportCache(tmp_path / "cache")
    got = load_export_dir(EXPORTS[0], "pagerduty", cache)
    assert len(forks) == 1 and parses == []  # the child parsed; this process read the entry
    _same(got, parsed)
    assert got.model_dump_json() == parsed.model_dump_json()

    d = tmp_path / "pd"
    shutil.copytree(EXPORTS[0], d)
    body = json.loads((d / "incidents.json").read_text())
    body["incidents"][1]["assignments"] = [1]
    (d / "incidents.json").write_text(json.dumps(body, indent=1), encoding="utf-8")
    with pytest.raises(InputError) as without:
        load_export_dir(d, fork=False)
    with pytest.raises(InputError) as forked:
        load_export_dir(d, "pagerduty", ExportCache(tmp_path / "cache2"))
    assert len(forks) == 2
    assert (str(forked.value), forked.value.line) == (str(without.value), without.value.line)
    assert not list((tmp_path / "cache2").rglob("*.pickle"))
    monkeypatch.setenv("OWNERSHIP_FORK", "0")
    load_export_dir(EXPORTS[0], "pagerduty", ExportCache(tmp_path / "cache3"))
    assert len(forks) == 2  # no fork when turned off


@needs_fork
def test_the_child_writes_the_stores_text_of_the_facts_and_the_store_saves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forked parse also writes the store's text of the facts (ExportCache.put_text): the collector hands
    a reader of it on with the facts (SourceResult.stored_text), and the store saves it instead of serialising
    the facts; a text for another key (the files changed since) is not read as these facts' text."""
    from agent.config import load_config
    from agent.pipeline import collect
    from agent.store import Store, codec

    monkeypatch.delenv("OWNERSHIP_FORK", raising=False)
    monkeypatch.setattr(pe, "FORK_MIN_BYTES", 0)
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    org = tmp_path / "org"
    shutil.copytree(Path(__file__).parents[1] / "testdata" / "org-small", org)
    loaded = load_config(org / "ownership.yaml")
    snap = collect(loaded, datetime.fromisoformat("2026-11-16T09:30:00+00:00"))
    pd = next(s for s in snap.sources if s.status.kind == "pagerduty")
    assert pd.facts is not None and pd.stored_text() == codec.dumps(pd.facts)
    assert all(s.stored_text() is None for s in snap.sources if s is not pd)
    dumped: list[str] = []
    real_dumps = codec.dumps
    monkeypatch.setattr(codec, "dumps", lambda facts: dumped.append(facts.kind) or real_dumps(facts))
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    store.save(snap)
    assert "pagerduty" not in dumped and "catalog" in dumped  # read from the child's text, the others serialised
    back = store.latest()
    assert back is not None
    got = next(s for s in back.sources if s.status.kind == "pagerduty").facts
    assert got == pd.facts and got.model_dump_json() == pd.facts.model_dump_json()
    [text_file] = (tmp_path / "cache" / "pagerduty").rglob("*.store.json")
    key, _, text = text_file.read_bytes().partition(b"\n")
    assert text.decode() == real_dumps(pd.facts)
    cache = ExportCache(tmp_path / "cache" / "pagerduty")
    folder = str(org / "pagerduty")  # the small organisation's export_dir
    assert cache.text_reader(folder, key.decode())() == text.decode()
    assert cache.text_reader(folder, "0" * 64)() is None  # another content's key


@needs_fork
def test_a_child_that_hangs_is_killed_and_the_export_parsed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forked child that never finishes (blocked on a lock another thread held at the fork) is killed after
    FORK_WAIT_S, and this process parses the export itself."""
    monkeypatch.delenv("OWNERSHIP_FORK", raising=False)
    monkeypatch.setattr(pe, "FORK_MIN_BYTES", 0)
    monkeypatch.setattr(pe, "FORK_WAIT_S", 0.5)
    parent = pe.os.getpid()
    real_fast_items = pe._fast_items

    def hangs_in_the_child(ep: str, text: str) -> Any:
        if pe.os.getpid() != parent:
            pe.time.sleep(3600)
        return real_fast_items(ep, text)

    monkeypatch.setattr(pe, "_fast_items", hangs_in_the_child)
    got = load_export_dir(EXPORTS[0], "pagerduty", ExportCache(tmp_path / "cache"))
    _same(got, load_export_dir(EXPORTS[0]))
