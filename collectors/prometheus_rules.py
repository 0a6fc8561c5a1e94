"""Prometheus rule files and `PrometheusRule` custom resources -> `Rule` facts with file and line.

Validation follows Prometheus's rulefmt (what `promtool check rules` rejects is rejected here,
with the file and line of the offending rule).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

from agent.errors import InputError
from collectors import gotemplate
from collectors.disk_cache import cache_folder, code_salt, read_cached, write_cached
from collectors.durations import parse_go_duration
from collectors.facts import Rule
from collectors.yamlfile import Document, content_hash, load_documents, read_text

log = logging.getLogger("ownership.collect")

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RULE_START = re.compile(r"^[ \t]*(?:-[ \t]+)?(alert|record)[ \t]*:", re.M)  # [ \t]: \s would span blank lines
# Prometheus 2.42's rulefmt.RuleGroup (the installed promtool's): query_offset and labels came later, and it refuses them
_GROUP_KEYS = {"name", "interval", "rules", "limit"}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}

# Parsed files by content hash: an unchanged file is not parsed again within a process.
_CACHE: dict[tuple[str, str], list[Rule]] = {}


# the code an entry's content depends on: an edit to any of them (not only a release) starts afresh (also
# the expression bundle's, rules.exprs; collectors.prometheus adds its own modules for the key of its facts)
CACHED_CODE = (
    "collectors/prometheus_rules.py",
    "collectors/facts.py",
    "collectors/yamlfile.py",
    "collectors/gotemplate.py",
    "collectors/prometheus_config.py",
    "collectors/go_regexp.py",
    "collectors/promql_metrics.py",
    "rules/exprs.py",
    "rules/labelsets.py",
    "rules/checks/own002_slo_no_page.py",
    "rules/checks/own009_queue_unwatched.py",
)


class RuleFileCache:
    """Parsed rule files on disk, keyed by path and content hash: across processes, an unchanged file is
    read and hashed but not parsed or validated again (a restart, or a collection where 1 % changed).

    An entry holds the file's rules, the warnings its parse logged (replayed on a hit) and what the rules
    engine derived from each expression (rules.exprs), so the analysis does not parse them either. The
    key includes the versions of the agent, promql-parser and pydantic and the source of the modules
    the entry depends on: an upgrade or an edit starts afresh.
    """

    # 2: rules as rows of plain values (pickling pydantic models cost 15 us a rule, loading 23 us), and
    # expression facts as shape and values (rules.exprs.export) with the shapes' facts in a file of their own
    FORMAT = 2

    def __init__(self, directory: Path | str):
        self.dir = Path(directory)
        self._salt = f"{self.FORMAT}|{code_salt(CACHED_CODE)}"
        self._shapes: dict[str, Any] | None = None  # the shapes file, read once

    def _shapes_file(self) -> Path:
        return self.dir / "shapes" / f"{hashlib.sha256(self._salt.encode()).hexdigest()}.pickle"

    def shapes(self) -> dict[str, Any]:
        """The facts of the expression shapes the entries name (rules.exprs.export), by shape."""
        if self._shapes is None:
            from rules import exprs

            got = read_cached(self._shapes_file())
            self._shapes = exprs.adopt_shapes(got) if isinstance(got, dict) else {}
        return self._shapes

    def _add_shapes(self, shapes: dict[str, Any]) -> None:
        known = self.shapes()
        if all(s in known for s in shapes):
            return
        on_disk = read_cached(self._shapes_file())  # another process may have added some meanwhile
        if isinstance(on_disk, dict):
            known.update({k: v for k, v in on_disk.items() if k not in known})
        known.update(shapes)
        write_cached(self._shapes_file(), known)

    @classmethod
    def default(cls) -> RuleFileCache | None:
        """`$OWNERSHIP_CACHE_DIR`, else `$XDG_CACHE_HOME/ownership-agent/rules` (~/.cache/...); None when the
        variable is set empty."""
        folder = cache_folder("rules")
        return cls(folder) if folder else None

    def _file(self, path: str, digest: str) -> Path:
        h = hashlib.sha256(f"{self._salt}|{path}|{digest}".encode()).hexdigest()
        return self.dir / h[:2] / f"{h}.pickle"

    def get(self, path: str, digest: str) -> tuple[list[Rule], list[str]] | None:
        """(rules, warnings) of the file with this content, or None; the facts of its expressions are
        remembered (rules.exprs)."""
        from rules import exprs

        got = read_cached(self._file(path, digest))
        if not isinstance(got, tuple) or len(got) != 4 or got[0] != (path, digest) or not isinstance(got[3], dict):
            return None
        try:
            rules = [Rule.checked(*row) for row in got[1]]  # our own rows, checked when the file was parsed
        except TypeError:
            return None
        if not exprs.load(got[3], self.shapes()):
            return None
        return rules, got[2]

    def put(self, path: str, digest: str, rules: list[Rule], warnings: list[str]) -> None:
        """Write an entry atomically; a cache that cannot be written is skipped, never an error."""
        from rules import exprs

        facts, shapes = exprs.export({r.expr: exprs.facts(r.expr) for r in rules})
        self._add_shapes(shapes)
        write_cached(self._file(path, digest), ((path, digest), _rows(rules), warnings, facts))


def _rows(rules: list[Rule]) -> list[tuple[Any, ...]]:
    """The rules as the arguments of `Rule.checked`."""
    return [
        (
            r.type,
            r.name,
            r.expr,
            r.group,
            r.group_interval_s,
            r.for_s,
            r.keep_firing_for_s,
            r.labels,
            r.annotations,
            r.location.file,
            r.location.line,
        )
        for r in rules
    ]


def is_prometheus_rule_resource(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == "PrometheusRule" and "spec" in data


def check_expr(expr: str) -> str | None:
    """None when PromQL parses, else the parser's message."""
    # the rules read the same expressions again: parse once, keeping what they need (rules.exprs)
    from rules.exprs import facts

    return facts(expr).error


def load_rule_file(
    path: Path | str, cache: RuleFileCache | None = None, digests: list[tuple[str, str]] | None = None
) -> list[Rule]:
    """Every rule in a plain rule file or PrometheusRule resources (multi-document).

    Unchanged files come from the in-process cache, then from `cache` on disk when given. `digests`: where to
    append (path, content hash) of the text parsed."""
    p = Path(path)
    text = read_text(p)
    key = (str(p), content_hash(text))
    if digests is not None:
        digests.append(key)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    if cache is not None:
        hit = cache.get(*key)
        if hit is not None:
            rules, logged = hit
            for w in logged:
                log.warning("%s", w)
            _CACHE[key] = rules
            return rules
    warnings: list[str] = []
    rules = _parse_rule_file(p, text, warnings)
    _CACHE[key] = rules
    if cache is not None:
        cache.put(*key, rules, warnings)
    return rules


def load_rule_files(
    paths: list[Path], cache: RuleFileCache | None = None, digests: list[tuple[str, str]] | None = None
) -> list[Rule]:
    """The rules of every file, in order (each through the caches of `load_rule_file`).

    Parsing is not spread over worker processes: measured on 13,000 rules, starting them and moving the
    parsed rules back cost more than the parsing they shared (PromQL parsing holds the GIL, so threads
    do not help either)."""
    out: list[Rule] = []
    for p in paths:
        out.extend(load_rule_file(p, cache, digests))
    return out


def _parse_rule_file(p: Path, text: str, warnings: list[str]) -> list[Rule]:
    rules: list[Rule] = []
    docs = load_documents(p, text)
    if len(docs) > 1 and not is_prometheus_rule_resource(docs[0].data):
        # Prometheus (rulefmt, hence `promtool check rules`) decodes only the first YAML document
        # of a plain rule file and silently ignores the rest: so do we, but say so.
        msg = (
            f"{p}:{docs[1].start_line}: {len(docs)} YAML documents in a plain rule file; "
            "Prometheus reads only the first, the rest are ignored"
        )
        log.warning("%s", msg)
        warnings.append(msg)
        docs = docs[:1]
    if "<<" in text:  # YAML merge keys, which Go's yaml applies (yaml-rs keeps `<<` as a key)
        for doc in docs:
            doc.merge()
    per_doc = [_rules_of_document(doc) for doc in docs]
    for doc, got in zip(docs, per_doc, strict=True):
        lines = _checked_starts(doc, got)
        if lines is None:  # flow style, a block scalar with a line `alert: ...`, odd indentation: ask the composer
            got[:] = _rules_of_document(doc, exact_lines=True)
        else:
            for rule, line in zip(got, lines, strict=True):
                rule.location.__dict__["line"] = line  # `line` is set already (None): the same as assigning it
        rules.extend(got)
    return rules


def rule_lines(text: str, first_line: int) -> list[int]:
    """The line of every `alert:` / `record:` key of a document (`_RULE_START` at a line's start), in order."""
    return _lines(text, first_line, _rule_keys(text))


def _rule_keys(text: str) -> list[tuple[int, int, int]]:
    """Every `alert:` / `record:` key at a line's start (`_RULE_START`), in order: the offsets of the word, of
    its line's start and just after the colon.

    Not `_RULE_START.finditer(text)`: a pattern that may start anywhere is tried at every character
    (1 s for L's 27 MB of rule files, as long as parsing their YAML); the two words are found by
    `str.find` and only their lines tried (0.1 s). tests/collectors/test_rule_lines.py compares both."""
    found: list[tuple[int, int, int]] = []
    match = _RULE_START.match
    for word in ("alert", "record"):
        i = text.find(word)
        while i >= 0:
            bol = text.rfind("\n", 0, i) + 1
            m = match(text, bol)
            if m is not None and m.start(1) == i:
                found.append((i, bol, m.end()))
            i = text.find(word, i + len(word))
    found.sort()
    return found


def _lines(text: str, first_line: int, keys: list[tuple[int, int, int]]) -> list[int]:
    lines: list[int] = []
    line, pos = first_line, 0
    for i, _, _ in keys:  # counting on from the previous one (from the start for each was quadratic)
        line += text.count("\n", pos, i)
        pos = i
        lines.append(line)
    return lines


def _checked_starts(doc: Document, rules: list[Rule]) -> list[int] | None:
    """The line of each of `rules` (those of `doc`, in order) read off the text by `rule_lines`, or None when
    the text is not the plain block style that scan assumes: one `alert:` / `record:` line per rule, at the same
    column for every rule, in the order of the rules, `- ` on it exactly where it is the rule's first key, and the
    rule's own name after it. A rule in flow style (`- {alert: A, ...}`) or a block scalar with a line
    `alert: ...` fails one of these (then the composer gives the lines)."""
    text = doc.text
    keys = _rule_keys(text)
    if len(keys) != len(rules):
        return None
    if not rules:
        return []
    data = doc.data
    if is_prometheus_rule_resource(data):
        data = data.get("spec")
    if len({i - bol for i, bol, _ in keys}) != 1:  # one column for every rule's key
        return None
    # `- ` on the key's line exactly where it is the rule's first key (else it is under the item's first key)
    raws = [raw for g in data.get("groups") or () if g is not None for raw in g.get("rules") or () if raw is not None]
    find = text.find
    if [find("-", bol, i) >= 0 for i, bol, _ in keys] != [k in _NAME_KEYS for k in map(next, map(iter, raws))]:
        return None
    # the rule's name after it: plain (as generators write it), else quoted or with a comment
    ends = [end for _, _, end in keys]
    if not all(map(text.startswith, [f" {r.name}\n" for r in rules], ends)):
        for end, rule in zip(ends, rules, strict=True):
            eol = find("\n", end)
            if not _is_scalar(text[end:] if eol < 0 else text[end:eol], rule.name):
                return None
    return _lines(text, doc.start_line, keys)


_NAME_KEYS = ("alert", "record")


def _is_scalar(rest: str, name: str) -> bool:
    """Whether `rest` (a line's text after `alert:`) is `name` as a plain or simply quoted scalar, maybe with a
    comment after it."""
    got = rest.strip()
    if got == name:
        return True
    if " #" in got:
        got = got.split(" #", 1)[0].rstrip()
        if got == name:
            return True
    if len(got) >= 2 and got[0] == got[-1] and got[0] in "'\"":
        inner = got[1:-1]
        return "\\" not in inner and "'" not in inner and '"' not in inner and inner == name
    return False


def _rules_of_document(doc: Document, exact_lines: bool = False) -> list[Rule]:
    data = doc.data
    prefix: tuple[str | int, ...] = ()
    if is_prometheus_rule_resource(data):
        spec = data.get("spec") or {}
        if not isinstance(spec, dict):
            raise InputError("PrometheusRule spec must be a mapping", file=doc.file, line=doc.line_of("spec"))
        data = spec
        prefix = ("spec",)
    if not isinstance(data, dict):
        raise InputError("a rule file must be a mapping with `groups:`", file=doc.file, line=doc.start_line)
    extra = set(data) - {"groups"}
    if extra and not prefix:
        k = sorted(extra)[0]
        raise InputError(f"field {k} not found in type rulefmt.RuleGroups", file=doc.file, line=doc.line_of(k))
    groups = data.get("groups") or []
    if not isinstance(groups, list):
        raise InputError("`groups` must be a list", file=doc.file, line=doc.line_of(*prefix, "groups"))
    out: list[Rule] = []
    seen: set[str] = set()
    for gi, group in enumerate(groups):
        gpath: tuple[str | int, ...] = (*prefix, "groups", gi)
        if group is None:  # Go's yaml drops a null item of a list of structs: promtool reads no group there
            continue
        if not isinstance(group, dict):
            raise InputError("a rule group must be a mapping", file=doc.file, line=doc.line_of(*gpath))
        unknown = set(group) - _GROUP_KEYS
        if unknown:
            k = sorted(unknown)[0]
            raise InputError(
                f"field {k} not found in type rulefmt.RuleGroup", file=doc.file, line=doc.line_of(*gpath, k)
            )
        name, limit = group.get("name"), group.get("limit")
        if type(name) in (dict, list) or type(group.get("interval")) in (dict, list) or limit is not None:
            for k, kind in (("name", "string"), ("interval", "string"), ("limit", "int")):
                v = group.get(k)
                bad = isinstance(v, dict | list) or (
                    kind == "int" and v is not None and (type(v) is bool or not isinstance(v, int | float) or v % 1)
                )
                if bad:
                    raise InputError(
                        f"{k}: cannot unmarshal {_yaml_kind(v)} into {kind}", file=doc.file, line=doc.line_of(*gpath, k)
                    )
        if not isinstance(group.get("rules"), list | None):
            raise InputError(
                f"rules: cannot unmarshal {_yaml_kind(group['rules'])} into []rulefmt.RuleNode",
                file=doc.file,
                line=doc.line_of(*gpath, "rules"),
            )
        name = doc.text_of(group.get("name"), *gpath, "name")  # a Go string: its text (`name: 01` is "01")
        if not name:
            raise InputError("rule group has no name", file=doc.file, line=doc.line_of(*gpath))
        name = str(name)
        if name in seen:
            raise InputError(f"{name!r}: repeated in the same file", file=doc.file, line=doc.line_of(*gpath, "name"))
        seen.add(name)
        interval = None
        if group.get("interval") is not None:
            try:
                interval = parse_go_duration(group["interval"])
            except ValueError as e:
                raise InputError(
                    f"group {name!r}: interval: {e}", file=doc.file, line=doc.line_of(*gpath, "interval")
                ) from None
        for ri, raw in enumerate(group.get("rules") or []):
            if raw is None:  # dropped by Go's yaml, as a null group
                continue
            out.append(_rule(doc, (*gpath, "rules", ri), name, interval, raw, exact_lines))
    return out


def _rule(
    doc: Document, rpath: tuple[str | int, ...], group: str, interval: float | None, raw: Any, exact_lines: bool
) -> Rule:
    def fail(msg: str, *key: str) -> InputError:
        return InputError(f"group {group!r}, {msg}", file=doc.file, line=doc.line_of(*rpath, *key))

    if not isinstance(raw, dict):
        raise fail("rule must be a mapping")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        k = sorted(unknown)[0]
        raise fail(f"field {k} not found in type rulefmt.Rule", k)
    alert, record, expr = raw.get("alert"), raw.get("record"), raw.get("expr")
    if type(alert) is not str and alert is not None:  # a Go string: its text (`alert: 01` is "01", not 1)
        alert = doc.text_of(alert, *rpath, "alert")
    if type(record) is not str and record is not None:
        record = doc.text_of(record, *rpath, "record")
    if type(expr) is not str and expr is not None:  # `expr: 1.50` is "1.50"
        expr = doc.text_of(expr, *rpath, "expr")
    if alert and record:
        raise fail("only one of 'record' and 'alert' must be set")
    if not alert and not record:
        raise fail("one of 'record' or 'alert' must be set")
    name = str(alert or record)
    if expr is None or str(expr).strip() == "":
        raise fail(f"rule {name!r}: field 'expr' must be set in rule")
    expr = str(expr)
    err = check_expr(expr)
    if err:
        raise fail(f"rule {name!r}: could not parse expression: {err}", "expr")
    if record:
        if not _METRIC_NAME.match(name):
            raise fail(f"rule {name!r}: invalid recording rule name", "record")
        for k in ("for", "keep_firing_for", "annotations"):
            if raw.get(k):
                raise fail(f"rule {name!r}: invalid field '{k}' in recording rule", k)
    labels = _str_map(doc, rpath, "labels", raw.get("labels"), lambda m: fail(f"rule {name!r}: {m}", "labels"))
    annotations = _str_map(
        doc, rpath, "annotations", raw.get("annotations"), lambda m: fail(f"rule {name!r}: {m}", "annotations")
    )
    for ln in labels:
        if ln not in _GOOD_NAMES:
            if not _LABEL_NAME.match(ln) or ln == "__name__":
                raise fail(f"rule {name!r}: invalid label name: {ln}", "labels")
            _good_name(ln)
    for an in annotations:
        if an not in _GOOD_NAMES:
            if not _LABEL_NAME.match(an):
                raise fail(f"rule {name!r}: invalid annotation name: {an}", "annotations")
            _good_name(an)
    # rulefmt parses an alerting rule's labels and annotations as Go templates (testTemplateParsing); most have none
    if alert and (
        (annotations and "{{" in "\x00".join(annotations.values())) or (labels and "{{" in "\x00".join(labels.values()))
    ):
        _check_templates(doc, rpath, group, name, labels, annotations)
    durations = {}
    for k in ("for", "keep_firing_for"):
        try:
            durations[k] = _duration(raw[k]) if raw.get(k) is not None else 0.0
        except ValueError as e:
            raise fail(f"rule {name!r}: {k}: {e}", k) from None
    # every field checked above (strings, float seconds, maps of strings): not validated again
    return Rule.checked(
        "alerting" if alert else "recording",
        name,
        expr,
        group,
        interval,
        durations["for"],
        durations["keep_firing_for"],
        labels,
        annotations,
        doc.file,
        doc.line_of(*rpath, "alert" if alert else "record") if exact_lines else None,
    )


def _check_templates(
    doc: Document, rpath: tuple[str | int, ...], group: str, name: str, labels: dict, annotations: dict
) -> None:
    for what, key, values in (("label", "labels", labels), ("annotation", "annotations", annotations)):
        for k, v in values.items():
            if "{{" in v:
                bad = gotemplate.check(v, f"__alert_{name}")
                if bad:
                    raise InputError(
                        f"group {group!r}, rule {name!r}: {what} {k!r}: template: __alert_{name}:{bad}",
                        file=doc.file,
                        line=doc.line_of(*rpath, key, k),
                    )


def _yaml_kind(v: Any) -> str:
    """Go yaml's name for the kind of a value (never the value: it is not shown)."""
    if isinstance(v, dict):
        return "!!map"
    if isinstance(v, list):
        return "!!seq"
    if isinstance(v, bool):
        return "!!bool"
    if isinstance(v, float):
        return "!!float"
    if isinstance(v, int):
        return "!!int"
    return "!!str"


# label and annotation names seen valid: the same few on every rule (`__name__`, a valid annotation name
# but not a rule label's, is never added)
_GOOD_NAMES: set[str] = set()


def _good_name(n: str) -> None:
    if n != "__name__" and len(_GOOD_NAMES) < 100_000:
        _GOOD_NAMES.add(n)


# seconds of duration strings seen (the same few `for:` values on every rule; errors are not kept)
_DURATIONS: dict[str, float] = {}


def _duration(value: Any) -> float:
    if type(value) is not str:
        return parse_go_duration(value)
    got = _DURATIONS.get(value)
    if got is None:
        got = parse_go_duration(value)
        if len(_DURATIONS) < 10_000:
            _DURATIONS[value] = got
    return got


def _str_map(doc: Document, rpath: tuple[str | int, ...], key: str, value: Any, fail: Any) -> dict[str, str]:
    """A map[string]string of rulefmt (labels, annotations) as Prometheus reads it: every key and value the text
    written (`priority: 01` is "01", `x: True` is "True"; yaml-rs gives 1 and True), a null value empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail("must be a mapping of strings")
    if all(type(v) is str for v in value.values()) and all(type(k) is str for k in value):
        return dict(value)  # the usual case, what the loop below gives for it
    value = doc.text_of(value, *rpath, key)
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, dict | list):
            raise fail(f"{k}: value must be a string")
        out["" if k is None else str(k)] = "" if v is None else str(v)
    return out
