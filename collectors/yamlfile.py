"""Fast YAML reading with exact line numbers for errors.

yaml-rs parses about 20x faster than PyYAML's C loader; PyYAML's composer is used only on
the error path (and where line numbers of nested keys are needed), so a large organisation's
rule files load fast while every error still names its file and line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml_rs

from agent.errors import InputError

_DOC_SEP = re.compile(r"^(---|\.\.\.)([ \t].*)?$", re.M)
_LINE_RE = re.compile(r"line (\d+)")
# libyaml's composer when PyYAML has it (the same nodes and marks, about 10x faster than the Python one)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Document:
    """One YAML document of a file: its data, the file and the line it starts on (1-based)."""

    data: Any
    file: str
    start_line: int
    text: str

    def line_of(self, *path: str | int) -> int | None:
        """Line (1-based, in the whole file) of the key or item at `path`, or None."""
        if 2 <= len(path) <= 3 and self._node is None:  # an entry of a top-level list, or one of its keys
            line = self.entry_line(*path)
            if line is not None:
                return line
        if self._node is None:
            try:
                self._node = yaml.compose(self.text, Loader=_LOADER) or False
            except yaml.YAMLError:
                self._node = False
        return _line_of(self._node or None, path, self.start_line)

    def found_path(self, *path: str | int) -> tuple[str | int, ...]:
        """The elements of `path` that exist in the document (see `resolve_path`)."""
        self.line_of()
        return resolve_path(self._node or None, path)[1]

    def entry_line(self, key: Any, i: Any, sub: Any = None) -> int | None:
        """`line_of(key, i)` or `line_of(key, i, sub)` read off the text (see `block_index`), or None when the text
        does not tell (then ask `line_of`): one pass over the text instead of the composer's node tree (1,250 Sloth
        files of the large benchmark: 0.5 s of composing for one line each)."""
        if self._entries is None:
            self._entries = block_index(self) or {}
        items = self._entries.get(key) if isinstance(key, str) else None
        if items is None or not isinstance(i, int) or not 0 <= i < len(items):
            return None
        entry = items[i]
        if entry is None:
            return None
        return next(iter(entry.values())) if sub is None else entry.get(sub) if isinstance(sub, str) else None

    def text_of(self, value: Any, *path: str | int) -> Any:
        """`value` (what yaml-rs gave at `path`) as Go's yaml decodes it into a string field: every scalar as its
        source text. yaml-rs resolves plain scalars (01 -> 1, 0x1F -> 31, 1.50 -> 1.5, True -> True, 1e3 -> 1000.0,
        2001-12-14 -> a date) where Prometheus and Alertmanager keep the text of a label value, a name, a routing
        key. A string, None (null: Go's zero value, left to the caller), a mapping or a list of only strings and
        nulls come back as they are, at no cost; anything else comes back read off the text (scalars as their
        text, null as None, mappings and lists of them), from one more parse of the document, done once."""
        t = type(value)
        if t is str or value is None:
            return value
        if t is dict:
            if all(type(k) is str for k in value) and all(type(v) is str or v is None for v in value.values()):
                return value
        elif t is list and all(type(v) is str or v is None for v in value):
            return value
        if self._source is None:
            source = yaml.load(self.text, Loader=_SourceLoader)
            self._source = (merge_keys(source) if self._merged else source,)
        got = self._source[0]
        for key in path:
            if isinstance(got, dict) and isinstance(key, str) and key in got:
                got = got[key]
            elif isinstance(got, list) and isinstance(key, int) and 0 <= key < len(got):
                got = got[key]
            else:  # not where yaml-rs had it (cannot happen: the same text): what yaml-rs gave
                return value
        return got

    def merge(self) -> None:
        """Apply the YAML merge keys of the document (`merge_keys`) to its data, and to what `text_of` reads."""
        self.data = merge_keys(self.data)
        self._merged = True
        self._source = None

    # what line_of / entry_line / text_of worked out, once: not the document's content (no part of == or repr)
    _node: Any = field(default=None, repr=False, compare=False)
    _entries: dict[str, ItemLines] | None = field(default=None, repr=False, compare=False)
    _source: tuple[Any] | None = field(default=None, repr=False, compare=False)
    _merged: bool = field(default=False, repr=False, compare=False)


def _source_node(loader: Any, _suffix: str, node: Any) -> Any:
    """Any node, whatever its tag, as `Document.text_of` reads it: a scalar's text (None for null), mappings and
    lists of those; `<<` is a key like any other (yaml-rs does not merge either)."""
    if isinstance(node, yaml.ScalarNode):
        return None if node.tag == _NULL_TAG else node.value
    if isinstance(node, yaml.SequenceNode):
        return yaml.constructor.BaseConstructor.construct_sequence(loader, node, deep=True)
    return yaml.constructor.BaseConstructor.construct_mapping(loader, node, deep=True)


_NULL_TAG = "tag:yaml.org,2002:null"


class _SourceLoader(_LOADER):  # type: ignore[misc,valid-type]
    """The fast parser and the YAML resolver (to tell null), every node built by `_source_node`."""

    yaml_constructors: dict[Any, Any] = {}  # noqa: RUF012 (PyYAML's registry, read by construct_object)
    yaml_multi_constructors: dict[Any, Any] = {"": _source_node}  # noqa: RUF012


def read_text(path: Path) -> str:
    """A UTF-8 text file, newlines as Python's text mode reads them; an InputError naming the file when it is
    missing, unreadable or not UTF-8."""
    return _text(_bytes(path), path)


def read_text_digest(path: Path) -> tuple[str, str]:
    """`read_text` (the same text, the same errors) and the sha256 of the bytes read (`file_digest`): hashing
    what was parsed, not a second read that could see another content."""
    data = _bytes(path)
    return _text(data, path), hashlib.sha256(data).hexdigest()


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=str(path)) from None


def _text(data: bytes, path: Path) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(_not_utf8(data, e), file=str(path), line=_line_at(data, e.start)) from None
    if "\r" in text:  # what text mode's universal newlines make of \r\n and \r
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _not_utf8(data: bytes, e: UnicodeDecodeError) -> str:
    """What is wrong, without the bytes (they may be a secret's): UTF-16 and UTF-32 told by their byte order mark."""
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    ):
        if data.startswith(bom):
            return f"not UTF-8 text: {name} (its byte order mark starts the file)"
    bol = max(data.rfind(b"\n", 0, e.start), data.rfind(b"\r", 0, e.start)) + 1
    col = len(data[bol : e.start].decode("utf-8")) + 1  # valid UTF-8 up to the bad byte
    return f"not UTF-8 text: {e.reason} at column {col}"


def _line_at(data: bytes, offset: int) -> int:
    """The (1-based) line of the byte at `offset`, lines ended as text mode ends them (\\n, \\r\\n, \\r)."""
    head = data[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks (OSError when it cannot be read)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _split(text: str) -> list[tuple[int, str]]:
    """Split a multi-document stream into (start_line, chunk) pairs."""
    # `_DOC_SEP.search` alone tries its pattern at every character (0.16 s for the large benchmark's rule files):
    # a separator starts a line, which `in` finds at C speed
    if not (text.startswith(("---", "...")) or "\n---" in text or "\n..." in text) or not _DOC_SEP.search(text):
        return [(1, text)]
    chunks: list[tuple[int, str]] = []
    start = 0
    start_line = 1
    for m in _DOC_SEP.finditer(text):
        if m.group(1) == "---" and _only_directives(text[start : m.start()]):
            continue  # `%YAML 1.1` / `%TAG` lines belong to the document this `---` starts: kept with it
        chunks.append((start_line, text[start : m.start()]))
        start_line = text.count("\n", 0, m.end()) + 2
        start = m.end() + 1
        if m.group(2) and m.group(1) == "---" and m.group(2).strip():
            # content on the separator line itself ("--- !tag" or "--- {a: 1}"): keep it
            start = m.start() + 3
            start_line -= 1
    chunks.append((start_line, text[start:]))
    return [(ln, c) for ln, c in chunks if c.strip() and not _only_comments(c)]


def _only_directives(chunk: str) -> bool:
    lines = [ln for ln in chunk.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return bool(lines) and all(ln.startswith("%") for ln in lines)


def _only_comments(chunk: str) -> bool:
    return all(not ln.strip() or ln.lstrip().startswith("#") for ln in chunk.splitlines())


def _pyyaml_error(text: str, file: str, line_offset: int, reason: Exception | None = None) -> InputError:
    """The error of a text yaml-rs refused, as PyYAML's parser words and places it. What PyYAML's parser accepts
    and yaml-rs refuses: a key given twice in one mapping (Prometheus and Alertmanager refuse it too), placed by
    `_duplicate_key`; a scalar its explicit tag does not fit (`!!int abc`), placed by `_bad_tag`; else yaml-rs's
    own words (`reason`, see `_safe_reason`).

    No message quotes a scalar's value: values may be secrets (a routing key), and the error goes to the log,
    the sources table, a finding and the store."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = (mark.line + line_offset) if mark else None
        problem = e.problem or str(e)
        if e.context:
            problem = f"{e.context}: {problem}"
        return InputError(f"YAML syntax error: {problem}", file=file, line=line)
    except yaml.YAMLError as e:
        return InputError(f"YAML syntax error: {e}", file=file, line=line_offset or None)
    dup = _duplicate_key(nodes)
    if dup is not None:
        key, line, first = dup
        msg = f"YAML syntax error: mapping key {key!r} given twice (first on line {first + line_offset})"
        return InputError(msg, file=file, line=line + line_offset)
    bad = _bad_tag(text)
    if bad is not None:
        msg, line = bad
        return InputError(f"YAML syntax error: {msg}", file=file, line=line + line_offset)
    why = _safe_reason(reason) if reason is not None else ""
    return InputError(f"YAML syntax error{f': {why}' if why else ''}", file=file, line=line_offset or None)


_CORE_TAG = "tag:yaml.org,2002:"
_TAG = re.compile(r"'!![\w:.-]*'")
_QUOTED_SPAN = re.compile(r"['`].*['`]")  # greedy: from the first quote to the last one


def _safe_reason(e: Exception) -> str:
    """yaml-rs's message without what could be a value: its first line (the next ones show the line of text),
    everything from its first quote to its last elided, tags kept (`Invalid value '...' for '!!int' tag`).
    One span, not each quoted part: a value holding a quote (`'it's SECRET'`) would leave a piece out."""
    first = str(e).split("\n", 1)[0].strip()
    tags = _TAG.findall(first)
    masked = _TAG.sub("\0", first)
    masked = _QUOTED_SPAN.sub("'...'", masked)
    for tag in tags:  # the tags outside the elided span come back, in order
        masked = masked.replace("\0", tag, 1)
    return masked.replace("\0", "")


def _bad_tag(text: str) -> tuple[str, int] | None:
    """The first scalar whose explicit YAML tag yaml-rs refuses (`!!int abc`, `!!null abc`, `!!bool yes`, any
    `!!timestamp`, `!!map abc`): what to say (without the value, unlike Alertmanager's
    "cannot decode !!str `abc` as a !!int") and its 0-based line, or None."""
    for ev in yaml.parse(text, Loader=_LOADER):
        tag = getattr(ev, "tag", None)
        if not isinstance(ev, yaml.ScalarEvent) or not tag or not tag.startswith(_CORE_TAG):
            continue
        short = "!!" + tag[len(_CORE_TAG) :]
        quoted = ev.value.replace("'", "''")
        try:
            yaml_rs.loads(f"{short} '{quoted}'")
        except Exception as e:  # yaml_rs.YAMLDecodeError
            if str(e).startswith("Invalid tag"):
                return f"the tag {short} is not supported here", ev.start_mark.line
            return f"cannot decode !!str as a {short} (the value is not shown)", ev.start_mark.line
    return None


def _duplicate_key(nodes: list[Any]) -> tuple[str, int, int] | None:
    """The first scalar key given twice in one mapping of the composed documents: (key, its 0-based line, the
    first one's), or None."""
    todo: list[Any] = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        return k.value, k.start_mark.line, seen[k.value]
                    seen[k.value] = k.start_mark.line
                todo.append(v)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return None


def load_documents(path: Path | str, text: str | None = None) -> list[Document]:
    """Every non-empty document of a YAML file, each with the line it starts on."""
    p = Path(path)
    if text is None:
        text = read_text(p)
    if text.startswith("\ufeff"):  # a UTF-8 byte order mark: Go's yaml (promtool, amtool) reads past it
        text = text[1:]
    docs: list[Document] = []
    for start_line, chunk in _split(text):
        try:
            data = yaml_rs.loads(chunk)
        except Exception as e:  # yaml_rs.YAMLDecodeError; PyYAML has the better message
            err = _pyyaml_error(chunk, str(p), start_line, e)
            if err.line is None:
                m = _LINE_RE.search(str(e))
                if m:
                    err.line = int(m.group(1)) + start_line - 1
            raise err from None
        if data is None:
            continue
        docs.append(Document(data=data, file=str(p), start_line=start_line, text=chunk))
    return docs


def merge_keys(value: Any) -> Any:
    """`value` with YAML merge keys applied as Go's yaml applies them (yaml-rs keeps `<<` as a key): `<<: *m` or
    `<<: [*a, *b]` gives the mapping the keys of those it does not have itself (of a list, the first one's first).
    A `<<` whose value is no mapping or list of mappings is left as a key (then refused as an unknown field)."""
    if isinstance(value, list):
        return [merge_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: merge_keys(v) for k, v in value.items()}
    src = out.get("<<")
    srcs = [src] if isinstance(src, dict) else src if isinstance(src, list) else None
    if srcs is None or not all(isinstance(m, dict) for m in srcs):
        return out
    merged: dict[Any, Any] = {}
    for m in reversed(srcs):
        merged.update(m)
    del out["<<"]
    merged.update(out)
    return merged


def load_one(path: Path | str, text: str | None = None) -> Document:
    """A file that must hold exactly one YAML document (an empty file is an error)."""
    docs = load_documents(path, text)
    if not docs:
        raise InputError("empty file", file=str(path))
    if len(docs) > 1:
        raise InputError(f"expected one YAML document, found {len(docs)}", file=str(path), line=docs[1].start_line)
    return docs[0]


def _line_of(node: Any, path: tuple[str | int, ...], start_line: int) -> int | None:
    line, _ = resolve_path(node, path)
    return None if line is None else line + start_line


def resolve_path(node: Any, path: tuple[str | int, ...]) -> tuple[int | None, tuple[str | int, ...]]:
    """0-based line of the deepest node on `path`, and the path elements found in the file.

    Elements that are not keys of the document (a union's tag in a validation error) are skipped.
    """
    if node is None:
        return None, ()
    line = node.start_mark.line
    found: list[str | int] = []
    for key in path:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            for k, v in node.value:
                if k.value == key:
                    line = k.start_mark.line
                    node = v
                    found.append(key)
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line
            found.append(key)
    return line, tuple(found)


# --------------------------------------------------------------------------- lines without the composer
#
# A 13,000-entry catalog.yaml asked the composer for every entry's line: 2.6 s of PyYAML for a file yaml-rs
# parses in 0.12 s. The plain block style such files are written in gives the same lines from one pass over the
# text; `block_index` reads them only where the text is exactly that style and agrees with the parsed data, and
# answers None otherwise (then ask `Document.line_of`, as before).

_PLAIN_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]*):(?: |$)")
# libyaml also breaks lines at these; tabs can only be a syntax error or a value's content, but keep it simple
_ODD_CHARS = ("\r", "\t", "\x85", "\u2028", "\u2029")

ItemLines = list[dict[str, int] | None]


def block_index(doc: Document) -> dict[str, ItemLines] | None:
    """For every top-level key whose value is a block sequence of block mappings: per item, the (1-based) line of
    each of its keys in order (the first key's line is the item's: `- key: ...`). What `doc.line_of(key, i)` and
    `doc.line_of(key, i, item_key)` answer. An item written any other way is None; the whole answer is None when
    the document is not a plain block mapping that matches the parsed data key for key.
    """
    data = doc.data
    if not isinstance(data, dict) or not doc.text or any(c in doc.text for c in _ODD_CHARS):
        return None
    top: list[str] = []
    seqs: dict[str, list[list[tuple[str, int]] | None]] = {}
    items: list[list[tuple[str, int]] | None] | None = None  # the current top-level key's items (a sequence)
    in_value = False  # inside the current top-level key's value, not a sequence: its lines are not read
    seq_col = key_col = -1
    item: list[tuple[str, int]] | None = None
    plain_key = _PLAIN_KEY.match
    for n, line in enumerate(doc.text.split("\n")):
        body = line.lstrip(" ")
        if not body or body[0] == "#":  # blank, or a comment
            continue
        col = len(line) - len(body)
        dash = body[0] == "-" and (len(body) == 1 or body[1] == " ")
        if dash:
            rest = body[1:].lstrip(" ")
            m = plain_key(rest)
            dash_len = len(body) - len(rest)
        else:
            m = plain_key(body)
        key = m.group(1) if m else None
        if col == 0 and not dash:  # a top-level key
            if not key:
                return None
            top.append(key)
            items, in_value, item = None, False, None
            continue
        if not top:
            return None
        if items is None and not in_value:  # the value's first line: a sequence, or anything else
            if not dash:
                in_value = True
                continue
            items = seqs[top[-1]] = []
            seq_col = col
        if in_value:
            if col == 0:
                return None
            continue
        assert items is not None
        if col == seq_col and dash:  # the next item
            item = [(key, n)] if key else None
            key_col = col + dash_len
            items.append(item)
        elif col <= seq_col:
            return None
        elif item is None:  # an item written otherwise (`- value`, `-` alone, `- &anchor ...`): not read
            continue
        elif col == key_col and not dash:  # the item's next key
            if not key:
                return None
            item.append((key, n))
        elif col < key_col:
            return None
        # deeper lines (and a key's indentless sequence at key_col) belong to the item's values
    # the text as read must be the data as parsed: the same keys in the same order, the same items
    if top != list(data):
        return None
    out: dict[str, ItemLines] = {}
    for key, got in seqs.items():
        value = data[key]
        if not isinstance(value, list) or len(value) != len(got):
            return None
        lines: ItemLines = []
        for scanned, parsed in zip(got, value, strict=True):
            if scanned is None:
                lines.append(None)
                continue
            if not isinstance(parsed, dict) or [k for k, _ in scanned] != list(parsed):
                return None
            lines.append({k: ln + doc.start_line for k, ln in scanned})
        out[key] = lines
    return out
