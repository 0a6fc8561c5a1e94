"""What the rules read from a PromQL expression, from one parse per distinct text (pure, memoised).

Parsing is the dominant cost of a large organisation's analysis (promql_parser builds a full Python
object tree, about 0.15 ms and 25 KB per expression), and the collector's validation, label
inference, OWN002, OWN007 and OWN009 all read the same expressions. The first reader of a text
parses it once and derives everything any of them needs; the tree itself is not kept. Expressions that
differ only in the values of their matchers share one parse of their shape (see `template`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from collectors.facts import Matcher, trusted
from collectors.promql import parse as parse_promql

MAX_ENTRIES = 500_000  # a bound for a long-running server whose rules change over weeks


_UNSET: Any = object()


class ExprFacts:
    """Derived from one parse of an expression (`error` set: it does not parse, nothing else is known).

    Read-only. Each of the four facts is None when its reader failed on the tree: the reader then parses
    again and fails as it always did. Facts of an expression taken from its shape (see `template`) are
    made from the shape's on first read of each: the collector only asks whether an expression parses,
    and each check reads only what it needs (labels of alerting rules, not of recording rules; measured
    on L: the four facts of 56,000 expressions cost about 3 s to make at once)."""

    __slots__ = ("error", "_labels", "_metrics", "_queue_selectors", "_sloth_refs", "_shape", "_values", "_text")

    def __init__(
        self,
        error: str | None,
        labels: Any = None,  # rules.labelsets.LabelSet (shared: read, never change)
        metrics: frozenset[str] | None = None,  # collectors.promql_metrics.selected_metrics
        queue_selectors: tuple[Any, ...] | None = None,  # rules.checks.own009_queue_unwatched.selectors
        sloth_refs: tuple[frozenset[str], frozenset[tuple[str, str]]] | None = None,  # OWN002
    ):
        self.error = error
        self._labels = labels
        self._metrics = metrics
        self._queue_selectors = queue_selectors
        self._sloth_refs = sloth_refs
        self._shape: ExprFacts | None = None
        self._values: dict[str, str] | None = None
        self._text: str | None = None  # a shape's facts: the shape

    @classmethod
    def of_shape(cls, shape: ExprFacts, values: dict[str, str]) -> ExprFacts:
        """The facts of the expression with these values in the placeholders of `shape` (made when read)."""
        f = cls(None, _UNSET, _UNSET, _UNSET, _UNSET)
        f._shape, f._values = shape, values
        return f

    @property
    def shape_text(self) -> str | None:
        """The text of the shape these facts were made from (placeholders for matcher values), if any."""
        return self._shape._text if self._shape is not None else None

    def shape_parts(self) -> tuple[ExprFacts, dict[str, str]]:
        """(the shape's facts, placeholder -> value) when these were made from a shape, else (self, {}):
        the labels of `self` are those of the first with the placeholders of its fixed labels and
        constraints replaced by their values (what `_labels_of` makes)."""
        if self._shape is not None:
            return self._shape, self._values  # type: ignore[return-value]
        return self, {}

    @property
    def labels(self) -> Any:
        if self._labels is _UNSET:
            self._labels = _labels_of(self._shape, self._values)
        return self._labels

    @property
    def metrics(self) -> frozenset[str] | None:
        if self._metrics is _UNSET:
            self._metrics = _metrics_of(self._shape, self._values)
        return self._metrics  # type: ignore[no-any-return]

    @property
    def queue_selectors(self) -> tuple[Any, ...] | None:
        if self._queue_selectors is _UNSET:
            self._queue_selectors = _queue_selectors_of(self._shape, self._values)
        return self._queue_selectors  # type: ignore[no-any-return]

    @property
    def sloth_refs(self) -> tuple[frozenset[str], frozenset[tuple[str, str]]] | None:
        if self._sloth_refs is _UNSET:
            self._sloth_refs = _sloth_refs_of(self._shape, self._values)
        return self._sloth_refs  # type: ignore[no-any-return]

    def _fields(self) -> tuple[Any, ...]:
        return (self.error, self.labels, self.metrics, self.queue_selectors, self.sloth_refs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExprFacts) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # holds mutable facts, as the dataclass it replaces

    def __repr__(self) -> str:
        return "ExprFacts(error={!r}, labels={!r}, metrics={!r}, queue_selectors={!r}, sloth_refs={!r})".format(
            *self._fields()
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as made (a shape's facts once per pickle, then the values): small and quick to load
        if self._shape is not None:
            return (ExprFacts.of_shape, (self._shape, self._values))
        return (_restore, (*self._fields(), self._text))


def _restore(*fields: Any) -> ExprFacts:
    """An unpickled ExprFacts (a shape's keeps its shape, for `export`)."""
    f = ExprFacts(*fields[:5])
    f._text = fields[5]
    return f


_MEMO: dict[str, ExprFacts] = {}


def facts(expr: str) -> ExprFacts:
    """The expression's facts, parsing it (or its template, see `_from_template`) on first use."""
    hit = _MEMO.get(expr)
    if hit is not None:
        return hit
    got = _from_template(expr)
    if got is None:
        got = _parse(expr)
    remember(expr, got)
    return got


def _parse(expr: str) -> ExprFacts:
    try:
        node = parse_promql(expr)
    except Exception as e:  # promql_parser raises ValueError / RuntimeError
        return ExprFacts(error=str(e) or type(e).__name__)
    return derive(node, expr)


# ---- templates: expressions that differ only in matcher values share one parse
#
# Rule sets are generated from templates (one alert per service, Sloth's rules per SLO): on the large
# benchmark organisation 61,000 distinct expressions have about 5,000 shapes once the values of their
# `label="value"` / `label!="value"` matchers are set aside. Such a value never changes whether an
# expression parses or its tree: every reader only copies it into what it derives. So the expression is
# parsed once per shape with each value replaced by a placeholder, and its facts are the shape's facts
# with the placeholders replaced by the values (measured on L: the parse and the walks of 61,000
# trees, about 12 s, become about 5,000 of them plus a substitution per expression).
#
# The shortcut is taken only where that is certain, otherwise the text is parsed as it is:
# - only double- or single-quoted strings without escapes (no backslash, backtick, newline or comment in
#   the expression), so a string's value is its text;
# - only non-empty values of `=` / `!=` (an empty value selects series without the label; regular
#   expressions are checked by the parser), and not a value that also occurs as another string of the
#   expression (readers compare values: `a{x="v"} and label_replace(..., "v", ...)`); equal values
#   share one placeholder, so the readers' comparisons between them come out the same;
# - the shape parses, and every placeholder is found as the value of a `=` / `!=` matcher in its tree
#   (any parse error is the real text's own: a message may quote a value).

_PH = "\x01"  # placeholders are "\x01<n>": never in an expression the shortcut takes
_SPECIAL = re.compile(r"[\"'#\\`\x01]")  # quotes, and what rules the shortcut out (comment, escape, raw string)
_TEMPLATES: dict[str, ExprFacts | None] = {}  # shape -> its facts; None: the shortcut does not apply


def template(expr: str) -> tuple[str, dict[str, str]] | None:
    """(shape, placeholder -> value), or None when the expression has no value the shortcut can set aside."""
    names: dict[str, str] = {}  # value -> placeholder (quoted)
    kept: set[str] = set()  # every other string
    parts: list[str] = []
    pos = 0
    search = _SPECIAL.search
    m = search(expr)
    while m is not None:
        start = m.start()
        q = expr[start]
        if q != '"' and q != "'":
            return None  # a comment, an escape, a raw string, our marker
        end = expr.find(q, start + 1)
        if end < 0:
            return None
        value = expr[start + 1 : end]
        if "\\" in value or "\n" in value or _PH in value:
            return None
        j = start - 1  # `=` or `!=` before it (not `==`, `<=`, `>=`): a matcher's value
        while j >= 0 and expr[j] in " \t\r\n":
            j -= 1
        if value and j >= 1 and expr[j] == "=" and expr[j - 1] not in "=<>":
            ph = names.get(value)
            if ph is None:
                ph = names[value] = f'"{_PH}{len(names)}"'
            parts.append(expr[pos:start])
            parts.append(ph)
            pos = end + 1
        else:
            kept.add(value)
        m = search(expr, end + 1)
    if not names or not kept.isdisjoint(names):
        return None  # nothing to set aside, or a value that is also another string: parse as it is
    try:
        expr.encode()  # the parser refuses text that is not valid UTF-8 (lone surrogates)
    except UnicodeEncodeError:
        return None
    parts.append(expr[pos:])
    return "".join(parts), {ph[1:-1]: value for value, ph in names.items()}


def _from_template(expr: str) -> ExprFacts | None:
    t = template(expr)
    if t is None:
        return None
    shape, values = t
    if shape in _TEMPLATES:
        tf = _TEMPLATES[shape]
    else:
        tf = _shape_facts(shape, len(values))
        if len(_TEMPLATES) >= MAX_ENTRIES:
            _TEMPLATES.clear()
        _TEMPLATES[shape] = tf
    return None if tf is None else ExprFacts.of_shape(tf, values)


def _shape_facts(shape: str, n: int) -> ExprFacts | None:
    try:
        node = parse_promql(shape)
    except Exception:  # noqa: BLE001 - the real text is parsed and reports its own error
        return None
    if _placeholder_matchers(node) != n:
        return None
    got = derive(node, shape)
    if got.labels is None or got.metrics is None or got.queue_selectors is None or got.sloth_refs is None:
        return None  # a reader failed: let it fail on the real tree, as it always did
    got._text = shape
    return got


# ---- on disk, in the rule file cache (collectors.prometheus_rules): each expression's facts as its shape
# and values, the shapes' facts once in a file of their own (measured on L: the facts of 61,000
# expressions with a copy of their shapes' in each of 967 files took 1.6 s to load, this 0.05 s)


def export(known: dict[str, ExprFacts]) -> tuple[dict[str, Any], dict[str, ExprFacts]]:
    """({expr: (shape, values) or its facts}, the facts of those shapes by shape)."""
    out: dict[str, Any] = {}
    shapes: dict[str, ExprFacts] = {}
    for expr, f in known.items():
        shape = f._shape
        if shape is not None and shape._text is not None:
            assert f._values is not None
            out[expr] = (shape._text, tuple(f._values.values()))
            shapes[shape._text] = shape
        else:
            out[expr] = f
    return out, shapes


def load(exported: dict[str, Any], shapes: dict[str, ExprFacts]) -> bool:
    """Remember facts from `export` (shapes known in this process, else in `shapes`); False when a shape
    is missing (nothing is remembered then)."""
    keys = _PH_KEYS
    got: list[tuple[str, ExprFacts]] = []
    for expr, e in exported.items():
        if isinstance(e, tuple) and len(e) == 2:
            text, values = e
            shape = _TEMPLATES.get(text) or shapes.get(text)
            if shape is None or not isinstance(values, tuple):
                return False
            if len(values) > len(keys):
                keys = _ph_keys(len(values))
            got.append((expr, ExprFacts.of_shape(shape, dict(zip(keys, values, strict=False)))))  # keys: >= values
        elif isinstance(e, ExprFacts):
            got.append((expr, e))
        else:
            return False
    # at once, not `remember` per text (L: 61,000 texts, a call each)
    if len(_MEMO) + len(got) > MAX_ENTRIES:
        _MEMO.clear()
    _MEMO.update(got)
    return True


def adopt_shapes(shapes: dict[str, Any]) -> dict[str, ExprFacts]:
    """The shapes' facts read from disk, kept for this process too (wrong entries are skipped)."""
    out: dict[str, ExprFacts] = {}
    for text, f in shapes.items():
        if isinstance(text, str) and isinstance(f, ExprFacts):
            f._text = text
            out[text] = f
            _TEMPLATES.setdefault(text, f)
    return out


def _ph_keys(n: int) -> list[str]:
    return [f"{_PH}{i}" for i in range(n)]


_PH_KEYS = _ph_keys(16)


def _placeholder_matchers(node: Any) -> int:
    """How many distinct placeholders are values of `=` / `!=` matchers; -1 when one is anywhere else."""
    from collectors.promql_metrics import _children

    found: set[str] = set()
    todo = [node]
    while todo:
        n = todo.pop()
        t = type(n).__name__
        if t == "VectorSelector":
            for m in n.matchers.matchers:
                v = m.value
                if _PH in m.name:
                    return -1
                if _PH in v:
                    if str(m.op) not in ("MatchOp.Equal", "MatchOp.NotEqual"):
                        return -1
                    found.add(v)
            if n.name and _PH in str(n.name):
                found.add(str(n.name))  # `{__name__="..."}`: the value may be read as the name
        elif t == "StringLiteral":
            if _PH in n.val:
                return -1
        else:
            todo.extend(_children(n))
    return len(found)


def _matcher(name: str, op: str, value: str) -> Matcher:
    """`Matcher(name=name, op=op, value=value)` for a shape's name and op (already valid) and a string value:
    not validated again (measured 2 us vs 4 us; 125,000 of them on the large benchmark organisation)."""
    return trusted(Matcher, {"name": name, "op": op, "value": value})


def _ms(lst: list[Matcher], values: dict[str, str]) -> list[Matcher]:
    return [_matcher(m.name, m.op, values[m.value]) if m.value in values else m for m in lst]


def _labels_of(shape: Any, values: Any) -> Any:
    from rules.labelsets import LabelSet

    ls: LabelSet = shape.labels
    get = values.get
    return LabelSet(
        {k: get(x, x) for k, x in ls.fixed.items()},
        set(ls.open),
        {k: _ms(lst, values) for k, lst in ls.constraints.items()},
        ls.any_other,
        set(ls.absent),
    )


def _metrics_of(shape: Any, values: Any) -> frozenset[str]:
    metrics: frozenset[str] = shape.metrics
    if metrics.isdisjoint(values):
        return metrics  # immutable: shared
    return frozenset(values.get(x, x) for x in metrics)


def _queue_selectors_of(shape: Any, values: Any) -> tuple[Any, ...]:
    get = values.get
    return tuple((get(name, name), _ms(lst, values)) for name, lst in shape.queue_selectors)


def _sloth_refs_of(shape: Any, values: Any) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    refs: tuple[frozenset[str], frozenset[tuple[str, str]]] = shape.sloth_refs
    ids, pairs = refs
    if not ids and not pairs:
        return refs  # immutable: shared
    get = values.get
    return frozenset(get(x, x) for x in ids), frozenset((get(a, a), get(b, b)) for a, b in pairs)


def remember(expr: str, got: ExprFacts) -> None:
    """Keep facts computed elsewhere (another process, the on-disk parse cache)."""
    if len(_MEMO) >= MAX_ENTRIES:
        _MEMO.clear()
    _MEMO[expr] = got


def derive(node: Any, expr: str | None = None) -> ExprFacts:
    """Everything the readers need from a parsed tree (`expr`: its text, to skip walks that cannot find
    anything: Sloth's labels are tested only where their names are written)."""
    from collectors.promql_metrics import selected_metrics
    from rules.checks.own002_slo_no_page import sloth_refs_of
    from rules.checks.own009_queue_unwatched import selectors_of
    from rules.labelsets import infer

    def attempt(fn: Any) -> Any:
        try:
            return fn(node)
        except Exception:  # noqa: BLE001 - the reader parses again and raises where it always did
            return None

    return ExprFacts(
        error=None,
        labels=attempt(infer),
        metrics=attempt(lambda n: frozenset(selected_metrics(n))),
        queue_selectors=attempt(selectors_of),
        sloth_refs=(frozenset(), frozenset()) if expr is not None and "sloth_" not in expr else attempt(sloth_refs_of),
    )


def clear() -> None:
    _MEMO.clear()
    _TEMPLATES.clear()


# ---- on disk: the facts of a whole rule set, for a process that analyses a stored snapshot


def _bundle_file(texts: list[str]) -> Path | None:
    from collectors.disk_cache import cache_folder, code_salt
    from collectors.prometheus_rules import CACHED_CODE

    folder = cache_folder("exprs")
    if folder is None or not texts:
        return None
    h = hashlib.sha256(code_salt(CACHED_CODE).encode())
    h.update(("\0".join(texts) + "\0").encode())  # each text then a NUL: one update, not two per text
    return folder / f"{h.hexdigest()}.pickle"


def preload(texts: list[str]) -> Path | None:
    """Take the facts of these (sorted, distinct) texts from the disk cache when an earlier process saved
    them; otherwise return where `persist` should save them once they are known."""
    f = _bundle_file(texts)
    if f is None:
        return None
    missing = [t for t in texts if t not in _MEMO]
    if not missing:  # all known (the collector parsed them): save them for the next process if not yet
        return None if f.exists() else f
    from collectors.disk_cache import read_cached

    got = read_cached(f)
    if not (isinstance(got, tuple) and len(got) == 3 and got[0] == _BUNDLE_FORMAT):
        return f
    exported, shapes = got[1], got[2]
    if not (isinstance(exported, dict) and isinstance(shapes, dict)):
        return f
    # all of them or none (a bundle is written whole: a shape missing from it means another bundle)
    return None if load({t: exported.get(t) for t in missing}, adopt_shapes(shapes)) else f


# the bundle: `export`'s form (each text's shape and values, the shapes' facts once), not each text's facts
# pickled through their `__reduce__` (measured on L: written in ~0.1 s instead of ~0.4 s)
_BUNDLE_FORMAT = "shapes-1"


def persist(f: Path, texts: list[str]) -> None:
    """Save the facts of these texts (parsing those not known yet); a cache that cannot be written is skipped."""
    from collectors.disk_cache import write_cached

    exported, shapes = export({t: facts(t) for t in texts})
    write_cached(f, (_BUNDLE_FORMAT, exported, shapes))
