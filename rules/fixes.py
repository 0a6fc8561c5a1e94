"""Rule-YAML generators for findings whose fix is a rule to add (pure; no I/O).

`slo_rules` writes what Sloth generates for an SLO with its default `google-30d` alert windows:
the SLI error-ratio recordings per window (`slo:sli_error:ratio_rate<window>`, labels `sloth_id`,
`sloth_service`, `sloth_slo`, `sloth_window`), the metadata recordings, and the multi-window
multi-burn-rate alerts (page: 1h/5m at 14.4x or 6h/30m at 6x; ticket: 1d/2h at 3x or 3d/6h at 1x),
each comparing the error ratio with a strict `>` against `factor * error budget`, where the error
budget is `(100 - objective) / 100`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from collectors.facts import SLO


@dataclass(frozen=True)
class BurnWindow:
    """One window pair of a multi-window burn-rate alert: both must exceed `factor` times the budget."""

    long: str
    short: str
    factor: float


# Sloth's default `google-30d` AlertWindows (The Site Reliability Workbook, table 5-8).
PAGE_WINDOWS: tuple[BurnWindow, ...] = (BurnWindow("1h", "5m", 14.4), BurnWindow("6h", "30m", 6))
TICKET_WINDOWS: tuple[BurnWindow, ...] = (BurnWindow("1d", "2h", 3), BurnWindow("3d", "6h", 1))
SLI_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
SLI_RECORD = "slo:sli_error:ratio_rate{window}"


def num(x: float) -> str:
    """A float as Go's `%v` prints it (shortest round-trip form, no trailing `.0`)."""
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def error_budget(objective: float) -> float:
    """The error budget ratio of an objective in percent, computed as Sloth does."""
    return (100 - objective) / 100


def sloth_id(slo: SLO) -> str:
    return f"{slo.service}-{slo.name}"


def _ids(slo: SLO) -> dict[str, str]:
    return {"sloth_id": sloth_id(slo), "sloth_service": slo.service, "sloth_slo": slo.name}


def _selector(slo: SLO) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in _ids(slo).items())


def _window(query: str, window: str) -> str:
    return query.replace("{{.window}}", window).replace("{{ .window }}", window).strip()


def sli_expr(slo: SLO, window: str) -> str | None:
    """The SLI error ratio over a window (None when the SLO has no usable query, e.g. a plugin SLI)."""
    if slo.raw_error_ratio_query:
        return f"({_window(slo.raw_error_ratio_query, window)})\n"
    if slo.error_query and slo.total_query:
        return f"({_window(slo.error_query, window)})\n/\n({_window(slo.total_query, window)})\n"
    return None


def burn_alert_expr(slo: SLO, windows: tuple[BurnWindow, ...]) -> str:
    """Sloth's alert expression: pairs joined by `or`, each pair's windows by `and`."""
    budget = num(error_budget(slo.objective))
    sel = _selector(slo)
    terms = []
    for w in windows:
        parts = [
            f"    max({SLI_RECORD.format(window=win)}{{{sel}}} > ({num(w.factor)} * {budget})) without (sloth_window)"
            for win in (w.short, w.long)
        ]
        terms.append("(\n" + "\n    and\n".join(parts) + "\n)")
    return "\nor\n".join(terms) + "\n"


def default_alert_name(slo: SLO) -> str:
    """`CheckoutRequestsAvailabilityBurnRate` for service checkout, SLO requests-availability."""
    words = [w for part in (slo.service, slo.name) for w in part.replace("_", "-").split("-") if w]
    return "".join(w[:1].upper() + w[1:] for w in words) + "BurnRate"


def sli_recordings(slo: SLO) -> list[dict[str, Any]]:
    """The SLI error-ratio recordings per window, and the 30d period one, as Sloth writes them."""
    base = {**slo.labels, **_ids(slo)}
    out: list[dict[str, Any]] = []
    for w in SLI_WINDOWS:
        expr = sli_expr(slo, w)
        if expr is None:
            return []
        out.append({"record": SLI_RECORD.format(window=w), "expr": expr, "labels": {**base, "sloth_window": w}})
    sel = _selector(slo)
    period = "30d"
    out.append(
        {
            "record": SLI_RECORD.format(window=period),
            "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[{period}])\n/ ignoring (sloth_window)\n"
            f"count_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[{period}])\n",
            "labels": {**base, "sloth_window": period},
        }
    )
    return out


def meta_recordings(slo: SLO) -> list[dict[str, Any]]:
    """Sloth's metadata recordings: objective, error budget, period, burn rates, budget remaining."""
    base = {**slo.labels, **_ids(slo)}
    sel = _selector(slo)
    objective = num(slo.objective / 100)
    on = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": dict(base)},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{objective})", "labels": dict(base)},
        {"record": "slo:time_period:days", "expr": "vector(30)", "labels": dict(base)},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate5m{{{sel}}}\n{on}slo:error_budget:ratio{{{sel}}}\n",
            "labels": dict(base),
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate30d{{{sel}}}\n{on}slo:error_budget:ratio{{{sel}}}\n",
            "labels": dict(base),
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}",
            "labels": dict(base),
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {**base, "sloth_objective": num(slo.objective), "sloth_mode": "ownership-agent-fix"},
        },
    ]


def burn_alert(
    slo: SLO,
    severity: str,
    *,
    name: str | None = None,
    labels: dict[str, str] | None = None,
    for_: str | None = None,
    runbook_url: str | None = None,
) -> dict[str, Any]:
    """The page (`severity="page"`) or ticket burn-rate alert of an SLO."""
    windows = PAGE_WINDOWS if severity == "page" else TICKET_WINDOWS
    rule: dict[str, Any] = {"alert": name or default_alert_name(slo), "expr": burn_alert_expr(slo, windows)}
    if for_:
        rule["for"] = for_
    rule["labels"] = {**(labels or {}), "sloth_severity": severity}
    annotations = {
        "summary": f"{slo.service} is burning its {slo.name} error budget too fast",
        "title": f"({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast.",
    }
    if runbook_url:
        annotations["runbook_url"] = runbook_url
    rule["annotations"] = annotations
    return rule


def slo_rules(
    slo: SLO,
    *,
    alert_name: str | None = None,
    page_labels: dict[str, str] | None = None,
    ticket_labels: dict[str, str] | None = None,
    page_for: str | None = None,
    runbook_url: str | None = None,
    recordings: bool = True,
    meta: bool = True,
    page: bool = True,
    ticket: bool = True,
) -> dict[str, Any]:
    """A Prometheus rule file (as data) with the SLO's recordings and burn-rate alerts, grouped as Sloth does."""
    sid = sloth_id(slo)
    groups: list[dict[str, Any]] = []
    if recordings:
        rec = sli_recordings(slo)
        if rec:
            groups.append({"name": f"sloth-slo-sli-recordings-{sid}", "rules": rec})
    if meta:
        groups.append({"name": f"sloth-slo-meta-recordings-{sid}", "rules": meta_recordings(slo)})
    alerts = []
    if page:
        alerts.append(
            burn_alert(slo, "page", name=alert_name, labels=page_labels, for_=page_for, runbook_url=runbook_url)
        )
    if ticket:
        alerts.append(burn_alert(slo, "ticket", name=alert_name, labels=ticket_labels, runbook_url=runbook_url))
    if alerts:
        groups.append({"name": f"sloth-slo-alerts-{sid}", "rules": alerts})
    return {"groups": groups}


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


# libyaml's emitter when PyYAML has it: the same text, about 10x faster (large organisations have
# thousands of fixes); the representers stay in Python either way
class SafeDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML's safe dumper with a shorter path for the plain `dict`, `list` and `str` a fix is made of.

    `represent_data` below builds the very nodes SafeRepresenter builds (same tags, styles, flow style
    and aliasing of a repeated dict or list) without its per-object MRO walk and representer lookup,
    which was most of the time of writing the ~1,200 fixes of a large organisation (L: 0.45 s of
    0.75 s). Anything else, a repeated container (an alias) or `default_flow_style=None` (whose
    best-style choice is not reproduced here), takes PyYAML's own path.
    """

    # whether a multi-line string is written as a literal block (`|`); see _Dumper
    literal_multiline = False

    def represent_data(self, data: Any) -> Any:
        t = type(data)
        if t is str:
            style = "|" if self.literal_multiline and "\n" in data else self.default_style
            return yaml.ScalarNode(_STR_TAG, data, style=style)
        if (t is dict or t is list) and self.default_flow_style is not None:
            key = id(data)
            if key not in self.represented_objects:
                self.object_keeper.append(data)
                if t is dict:
                    pairs: list[Any] = []
                    node: Any = yaml.MappingNode(_MAP_TAG, pairs, flow_style=self.default_flow_style)
                    self.represented_objects[key] = node
                    items = list(data.items())
                    if self.sort_keys:
                        try:
                            items = sorted(items)
                        except TypeError:
                            pass
                    for k, v in items:
                        pairs.append((self.represent_data(k), self.represent_data(v)))
                else:
                    seq: list[Any] = []
                    node = yaml.SequenceNode(_SEQ_TAG, seq, flow_style=self.default_flow_style)
                    self.represented_objects[key] = node
                    for item in data:
                        seq.append(self.represent_data(item))
                return node
        return super().represent_data(data)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """The resolver's answer for a scalar, remembered: the same keys and values recur in every fix,
        and the implicit-tag regexes were a quarter of writing them. Pure for a scalar: the safe
        resolver has no path resolvers."""
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        return _scalar_tag(value, implicit)


class _Dumper(SafeDumper):
    """`rules_yaml`'s: multi-line strings (expressions) as literal blocks."""

    literal_multiline = True


_RESOLVED: dict[tuple[Any, Any], Any] = {}


def _str(dumper: yaml.SafeDumper, s: str) -> yaml.ScalarNode:
    if "\n" in s:
        return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", s)


_Dumper.add_representer(str, _str)


# --------------------------------------------------------------------------- a shorter writer
#
# `block_yaml` writes the text `yaml.dump(doc, Dumper=SafeDumper or _Dumper, sort_keys=False,
# default_flow_style=False, width=...)` writes (libyaml's emitter), for the documents a fix is made of:
# a mapping of str keys holding mappings, lists of mappings and str values, every str printable ASCII
# (and, for a literal block, line breaks). For anything else (another type, an empty or repeated
# container, a string libyaml would double-quote, fold or give a block indicator) it answers None and
# the caller asks PyYAML. Why: building PyYAML's nodes and resolving every scalar's tag twice in the
# serializer was the largest part of the checks' fixes on a large organisation (L's 1,195 fixes: 0.21 s
# through PyYAML, 0.06 s here, every one of them the same text). tests/rules/checks/test_fixes_block_yaml.py
# compares both writers on the fixes the checks make and on thousands of random tricky documents.
#
# The style rules are libyaml's (emitter.c: yaml_emitter_analyze_scalar, yaml_emitter_select_scalar_style)
# restricted to printable ASCII and `\n`, in block context: plain when allowed and the resolver reads the
# plain text back as a str, else single-quoted when allowed (one line only here), else None.

_OUTSIDE = re.compile(r"[^\n\x20-\x7e]")  # (tabs, CR, non-ASCII: left to PyYAML)
_FIRST_INDICATOR = frozenset("#,[]{}&*!|>'\"%@`")
_COLON_BLOCK = re.compile(r":(?:[ \n]|\Z)")  # `:` followed by whitespace (searched from index 1)
_PLAIN = object()  # a scalar's style: its text as it is
_RESOLVER = yaml.resolver.Resolver()
# text -> (style, text written), for values of `rules_yaml` (multi-line ones as literal blocks) and for
# the others; text -> text written for keys: the same keys and values recur across fixes
_KEYS: dict[str, str] = {}
_LITERAL_VALUES: dict[str, tuple[object, str]] = {}
_VALUES: dict[str, tuple[object, str]] = {}


class _Unsupported(Exception):
    """A document (part) `block_yaml` leaves to PyYAML."""


def _plain_implicit(s: str) -> bool:
    """Whether the safe resolver reads the plain text `s` as a str (the serializer's `implicit[0]`)."""
    return bool(_scalar_tag(s, (True, False)) == _STR_TAG)


def _scalar_tag(value: str, implicit: Any) -> Any:
    """The safe resolver's tag for a scalar, remembered (the same keys and values recur in every fix). Pure
    for a scalar: the safe resolver has no path resolvers, so one resolver answers for every dumper."""
    key = (value, implicit)
    tag = _RESOLVED.get(key)
    if tag is None:
        if len(_RESOLVED) >= 100_000:
            _RESOLVED.clear()
        tag = _RESOLVED[key] = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)
    return tag


def _scalar_style(s: str, literal: bool, key: bool) -> tuple[object, str] | None:
    """(`_PLAIN`, text) or ("'", quoted text) or ("|", s) as libyaml writes `s`, or None (left to PyYAML)."""
    if _OUTSIDE.search(s) is not None:
        return None
    if not s:  # libyaml: an empty plain scalar is allowed in a block value, but it reads back as null
        return ("'", "''")
    multiline = "\n" in s
    if key and (multiline or len(s) > 120):  # not a simple key (libyaml: 128 and one line)
        return None
    first, last = s[0], s[-1]
    leading_space, leading_break = first == " ", first == "\n"
    trailing_space, trailing_break = last == " ", last == "\n"
    break_space, space_break = "\n " in s, " \n" in s
    followed_by_ws = len(s) == 1 or s[1] in " \n"
    block_indicators = (
        s.startswith(("---", "..."))
        or first in _FIRST_INDICATOR
        or (first in "?:-" and followed_by_ws)
        or _COLON_BLOCK.search(s, 1) is not None
        or " #" in s
        or "\n#" in s
    )
    block_plain = not (
        leading_space
        or leading_break
        or trailing_space
        or trailing_break
        or break_space
        or space_break
        or multiline
        or block_indicators
    )
    single_quoted = not (break_space or space_break)
    block = not (trailing_space or space_break)
    if literal and not key:
        # a literal block without indentation or chomping indicators: no leading space or break, and
        # exactly one line break at the end (libyaml's "|" with hints otherwise, or double quotes)
        if block and not leading_space and not leading_break and trailing_break and not s.endswith("\n\n"):
            return ("|", s)
        return None
    if block_plain and _plain_implicit(s):
        return (_PLAIN, s)
    if single_quoted and not multiline:
        return ("'", "'" + s.replace("'", "''") + "'")
    return None


def _remember(cache: dict[str, Any], s: str, got: tuple[object, str] | None) -> Any:
    """`got` (a scalar's style and text) kept for `s` (a key's text only, in `_KEYS`); None (left to
    PyYAML) raises `_Unsupported`."""
    if got is None:
        raise _Unsupported
    if len(cache) >= 50_000:
        cache.clear()
    kept = cache[s] = got[1] if cache is _KEYS else got
    return kept


class _Writer:
    def __init__(self, literal_multiline: bool, width: int):
        self.literal_multiline = literal_multiline
        self.width = width
        self.out: list[str] = []
        self.seen: set[int] = set()  # containers written (a repeated one is an alias: PyYAML's)
        self.values = _LITERAL_VALUES if literal_multiline else _VALUES  # value text -> (style, text)

    def _container(self, c: Any) -> None:
        if not c or id(c) in self.seen:
            raise _Unsupported  # `{}`/`[]` in flow style, or `&id001`: PyYAML's
        self.seen.add(id(c))

    def mapping(self, m: Any, indent: int, first: str | None) -> None:
        """The block mapping `m` at `indent`; `first`: the text before its first key (a sequence's dash).
        Each value follows its key: a scalar on the key's line (a literal block below it), a mapping
        indented below it, a list of mappings below it with its dashes at the key's indentation."""
        if type(m) is not dict:
            raise _Unsupported
        self._container(m)
        pad = " " * indent
        out, values = self.out, self.values
        for k, v in m.items():
            if type(k) is not str:
                raise _Unsupported
            # (a key's text does not depend on `literal_multiline`: a key of several lines is refused)
            ktext = _KEYS.get(k) or _remember(_KEYS, k, _scalar_style(k, False, True))
            line = f"{pad if first is None else first}{ktext}:"
            first = None
            t = type(v)
            if t is str:
                style, text = values.get(v) or _remember(
                    values, v, _scalar_style(v, self.literal_multiline and "\n" in v, False)
                )
                if style == "|":
                    cpad = pad + "  "
                    out.append(line + " |\n")
                    out.extend(cpad + x + "\n" if x else "\n" for x in text[:-1].split("\n"))
                elif len(line) + 1 + len(text) >= self.width:  # libyaml may fold a long line at a space
                    raise _Unsupported
                else:
                    out.append(f"{line} {text}\n")
            elif t is dict:
                out.append(line + "\n")
                self.mapping(v, indent + 2, None)
            elif t is list:
                out.append(line + "\n")
                self.sequence(v, indent)  # indentless, under a mapping key
            else:
                raise _Unsupported

    def sequence(self, s: Any, indent: int) -> None:
        """The block sequence `s` whose dashes are at `indent`; its items must be mappings."""
        self._container(s)
        dash = " " * indent + "- "
        for item in s:
            self.mapping(item, indent + 2, dash)


def block_yaml(doc: Any, *, literal_multiline: bool, width: int) -> str | None:
    """`doc` as `yaml.dump(doc, Dumper=_Dumper if literal_multiline else SafeDumper, sort_keys=False,
    default_flow_style=False, width=width)` writes it (also with `allow_unicode`: the text is ASCII),
    or None where this writer does not know that text for sure (see above)."""
    if width <= 20:
        return None  # (libyaml's width rules for narrow widths are not reproduced)
    w = _Writer(literal_multiline, width)
    try:
        w.mapping(doc, 0, None)
    except _Unsupported:
        return None
    return "".join(w.out)


def dump_yaml(doc: Any, *, literal_multiline: bool, width: int, allow_unicode: bool = False) -> str:
    """`doc` as PyYAML writes it (`_Dumper`: multi-line strings as literal blocks, else SafeDumper; keys in
    insertion order): by `block_yaml` when it knows the text, else by `yaml.dump`."""
    text = block_yaml(doc, literal_multiline=literal_multiline, width=width)
    if text is not None:
        return text
    dumper = _Dumper if literal_multiline else SafeDumper
    return yaml.dump(
        doc, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=allow_unicode, width=width
    )


def rules_yaml(doc: dict[str, Any], header: str | None = None) -> str:
    """A rule file as YAML (multi-line expressions as literal blocks, keys in insertion order)."""
    text = dump_yaml(doc, literal_multiline=True, width=10_000)
    if header:
        text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + text
    return text


__all__ = [
    "PAGE_WINDOWS",
    "SLI_WINDOWS",
    "TICKET_WINDOWS",
    "BurnWindow",
    "SafeDumper",
    "burn_alert",
    "burn_alert_expr",
    "default_alert_name",
    "dump_yaml",
    "error_budget",
    "meta_recordings",
    "num",
    "rules_yaml",
    "sli_expr",
    "sli_recordings",
    "slo_rules",
    "sloth_id",
]
