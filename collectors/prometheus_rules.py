"""Prometheus rule files and `PrometheusRule` custom resources -> `Rule` facts with file and line.

Validation follows Prometheus's rulefmt (what `promtool check rules` rejects is rejected here,
with the file and line of the offending rule).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import promql_parser

from agent.errors import InputError
from collectors.durations import parse_duration
from collectors.facts import Location, Rule
from collectors.yamlfile import Document, content_hash, load_documents, read_text

log = logging.getLogger("ownership.collect")

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RULE_START = re.compile(r"^[ \t]*(?:-[ \t]+)?(alert|record)[ \t]*:", re.M)  # [ \t]: \s would span blank lines
_GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset", "labels"}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}

# Parsed files by content hash: an unchanged file is not parsed again within a process.
_CACHE: dict[tuple[str, str], list[Rule]] = {}


def is_prometheus_rule_resource(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == "PrometheusRule" and "spec" in data


def check_expr(expr: str) -> str | None:
    """None when PromQL parses, else the parser's message."""
    try:
        promql_parser.parse(expr)
    except Exception as e:  # promql_parser raises ValueError / RuntimeError
        return str(e) or type(e).__name__
    return None


def load_rule_file(path: Path | str) -> list[Rule]:
    """Every rule in a plain rule file or PrometheusRule resources (multi-document)."""
    p = Path(path)
    text = read_text(p)
    key = (str(p), content_hash(text))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    rules: list[Rule] = []
    docs = load_documents(p, text)
    if len(docs) > 1 and not is_prometheus_rule_resource(docs[0].data):
        # Prometheus (rulefmt, hence `promtool check rules`) decodes only the first YAML document
        # of a plain rule file and silently ignores the rest: so do we, but say so.
        log.warning(
            "%s:%s: %d YAML documents in a plain rule file; Prometheus reads only the first, the rest are ignored",
            p,
            docs[1].start_line,
            len(docs),
        )
        docs = docs[:1]
    starts = [
        doc.start_line + doc.text.count("\n", 0, m.start()) for doc in docs for m in _RULE_START.finditer(doc.text)
    ]
    for doc in docs:
        rules.extend(_rules_of_document(doc))
    if len(starts) == len(rules):
        for rule, line in zip(rules, starts, strict=True):
            rule.location.line = line
    else:  # flow-style or unusual layout: ask the composer, once per document
        rules = []
        for doc in docs:
            rules.extend(_rules_of_document(doc, exact_lines=True))
    _CACHE[key] = rules
    return rules


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
        if not isinstance(group, dict):
            raise InputError("a rule group must be a mapping", file=doc.file, line=doc.line_of(*gpath))
        unknown = set(group) - _GROUP_KEYS
        if unknown:
            k = sorted(unknown)[0]
            raise InputError(
                f"field {k} not found in type rulefmt.RuleGroup", file=doc.file, line=doc.line_of(*gpath, k)
            )
        name = group.get("name")
        if not name:
            raise InputError("rule group has no name", file=doc.file, line=doc.line_of(*gpath))
        name = str(name)
        if name in seen:
            raise InputError(f"{name!r}: repeated in the same file", file=doc.file, line=doc.line_of(*gpath, "name"))
        seen.add(name)
        interval = None
        if group.get("interval") is not None:
            try:
                interval = parse_duration(group["interval"])
            except ValueError as e:
                raise InputError(
                    f"group {name!r}: interval: {e}", file=doc.file, line=doc.line_of(*gpath, "interval")
                ) from None
        for ri, raw in enumerate(group.get("rules") or []):
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
    alert, record = raw.get("alert"), raw.get("record")
    if alert and record:
        raise fail("only one of 'record' and 'alert' must be set")
    if not alert and not record:
        raise fail("one of 'record' or 'alert' must be set")
    name = str(alert or record)
    expr = raw.get("expr")
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
    labels = _str_map(raw.get("labels"), lambda m: fail(f"rule {name!r}: {m}", "labels"))
    annotations = _str_map(raw.get("annotations"), lambda m: fail(f"rule {name!r}: {m}", "annotations"))
    for ln in labels:
        if not _LABEL_NAME.match(ln) or ln == "__name__":
            raise fail(f"rule {name!r}: invalid label name: {ln}", "labels")
    for an in annotations:
        if not _LABEL_NAME.match(an):
            raise fail(f"rule {name!r}: invalid annotation name: {an}", "annotations")
    durations = {}
    for k in ("for", "keep_firing_for"):
        try:
            durations[k] = parse_duration(raw[k]) if raw.get(k) is not None else 0.0
        except ValueError as e:
            raise fail(f"rule {name!r}: {k}: {e}", k) from None
    return Rule(
        type="alerting" if alert else "recording",
        name=name,
        expr=expr,
        group=group,
        group_interval_s=interval,
        for_s=durations["for"],
        keep_firing_for_s=durations["keep_firing_for"],
        labels=labels,
        annotations=annotations,
        location=Location(
            file=doc.file, line=doc.line_of(*rpath, "alert" if alert else "record") if exact_lines else None
        ),
    )


def _str_map(value: Any, fail: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail("must be a mapping of strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, dict | list):
            raise fail(f"{k}: value must be a string")
        out[str(k)] = "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
    return out
