"""block_index reads entry lines off the text; where it answers, it must answer what the YAML composer does."""

from __future__ import annotations

import pytest

from collectors.yamlfile import Document, block_index, load_documents

PLAIN = """\
# a catalog
apiVersion: ownership-agent/v1
kind: Catalog
teams:
- name: a
  timezone: UTC

  pagerduty:
    team_id: P1
    schedules: [S1, S2]
- name: b   # trailing comment
# a comment between items
  description: |
    - not an item
    team: not a key
    # not a comment
services:
  -   name: s1
      team: a
      alerts:
      - service: s1
      queues:
        - name: q
          kind: kafka
  - name: s2
    description: >-
      folded
      text
    team: b
  -
    name: odd1
  - {name: odd2, team: a}
  - &anchor
    name: odd3
people: []
"""

READ = [
    PLAIN,
    "teams:\n- name: a\n  x: 1\n- name: b\n",
    "services:\n  - name: s\n    team: t\n",
    "base: &b {x: 1}\nteams:\n- <<: *b\n  name: a\n",
    "teams: [{name: a}]\nmore:\n- name: b\n",
    "teams:\n- a\n- b\n",
    "x: 1\n\n\n# end\n",
]
DECLINED = [
    'teams:\n- name: a\n  "quoted": 1\n',  # a quoted key
    "teams:\n- name: a\n  ? complex\n  : key\n",
    "teams:\n- name: a\n  x: 1\t\n",
    "teams:\r\n- name: a\r\n  team: b\r\n",
    "teams:\n  name: a\n  team: b\n",  # not a sequence
    "1: a\nteams:\n- name: a\n",
]
SHAPES = READ + DECLINED


def _docs(text: str) -> list[Document]:
    return load_documents("f.yaml", text)


def _composer(doc: Document) -> Document:
    """The same document answering every line from the YAML composer (no entry lines read off the text)."""
    return Document(data=doc.data, file=doc.file, start_line=doc.start_line, text=doc.text, _entries={})


@pytest.mark.parametrize("text", SHAPES)
def test_line_of_answers_what_the_composer_does(text: str) -> None:
    """Document.line_of reads a top-level list's entries off the text: the same answers, found or not."""
    for doc in _docs(text):
        slow = _composer(doc)
        data = doc.data if isinstance(doc.data, dict) else {}
        for key in [*data, "missing"]:
            value = data.get(key)
            n = len(value) if isinstance(value, list) else 1
            for i in range(n + 1):
                item = value[i] if isinstance(value, list) and i < n else None
                subs = [*(item if isinstance(item, dict) else {}), "missing"]
                assert doc.line_of(key, i) == slow.line_of(key, i), (key, i)
                for sub in subs:
                    assert doc.line_of(key, i, sub) == slow.line_of(key, i, sub), (key, i, sub)
                    assert doc.found_path(key, i, sub) == slow.found_path(key, i, sub), (key, i, sub)


def test_line_of_reads_entries_without_the_composer() -> None:
    (doc,) = _docs(PLAIN)
    assert doc.line_of("services", 0, "queues") == 22
    assert doc.line_of("teams", 1) == 11
    assert doc._node is None  # answered from the text
    assert doc.line_of("services", 3) == _composer(doc).line_of("services", 3)  # `- {name: odd2...}`: composer
    assert doc._node is not None


@pytest.mark.parametrize("text", READ)
def test_block_index_agrees_with_the_composer(text: str) -> None:
    """Every shape of READ is read (what DECLINED shapes give: test_block_index_declines_what_it_does_not_read)."""
    for doc in _docs(text):
        fresh = _composer(doc)
        idx = block_index(doc)
        assert idx is not None
        for key, items in idx.items():
            for i, entry in enumerate(items):
                if entry is None:
                    continue
                assert next(iter(entry.values())) == fresh.line_of(key, i), (key, i)
                for sub, line in entry.items():
                    assert line == fresh.line_of(key, i, sub), (key, i, sub)


def test_block_index_reads_the_plain_catalog() -> None:
    (doc,) = _docs(PLAIN)
    idx = block_index(doc)
    assert idx is not None
    assert [e is not None for e in idx["services"]] == [True, True, False, False, False]
    assert idx["teams"][1] == {"name": 11, "description": 13}
    assert idx["services"][0] == {"name": 18, "team": 19, "alerts": 20, "queues": 22}


def test_block_index_in_a_later_document() -> None:
    docs = _docs("kind: X\n---\n# c\nteams:\n- name: a\n  team: b\n")
    idx = block_index(docs[1])
    assert idx == {"teams": [{"name": 5, "team": 6}]}
    assert docs[1].line_of("teams", 0, "team") == 6


@pytest.mark.parametrize("text", DECLINED)
def test_block_index_declines_what_it_does_not_read(text: str) -> None:
    for doc in _docs(text):
        idx = block_index(doc)
        assert idx is None or all(e is None for items in idx.values() for e in items)
