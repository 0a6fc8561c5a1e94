"""Alertmanager routing, time intervals and inhibition, evaluated exactly as Alertmanager does (pure, no I/O).

The spec is Alertmanager itself (`dispatch/route.go`, `pkg/labels`, `timeinterval`, `inhibit`);
the tests compare this module with `amtool config routes test`. Where Alertmanager has a quirk
we keep it (see docs in the function docstrings and the comments marked "as Alertmanager").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from collectors.facts import AlertmanagerFacts, InhibitRule, Matcher, Route, TimeInterval, TimeIntervalSpec
from collectors.go_regexp import check_alertmanager_regex
from collectors.timeutil import as_utc

# DefaultRouteOpts of dispatch/route.go: what the root inherits when it sets nothing.
DEFAULT_GROUP_WAIT_S = 30.0
DEFAULT_GROUP_INTERVAL_S = 300.0
DEFAULT_REPEAT_INTERVAL_S = 4 * 3600.0

Labels = Mapping[str, str]
Predicate = Callable[[Labels], bool]


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """One route an alert ends on, with the options Alertmanager resolves for it (inherited where unset)."""

    receiver: str
    path: tuple[int, ...] = ()
    file: str | None = None
    line: int | None = None
    group_by: tuple[str, ...] = ()
    group_by_all: bool = False
    group_wait_s: float = DEFAULT_GROUP_WAIT_S
    group_interval_s: float = DEFAULT_GROUP_INTERVAL_S
    repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    continue_: bool = False
    route: Route | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def path_text(self) -> str:
        """`root -> routes[0] -> routes[0].routes[1]`."""
        parts = ["root"]
        name = ""
        for i in self.path:
            name = f"{name}.routes[{i}]" if name else f"routes[{i}]"
            parts.append(name)
        return " -> ".join(parts)

    @property
    def where(self) -> str:
        """`file:line` of the route (what is known of it)."""
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or "?"


# --------------------------------------------------------------------------- regular expressions

_REGEX_META = frozenset("\\.^$*+?()[]{}|")


@lru_cache(maxsize=4096)
def compile_go_regex(pattern: str) -> re.Pattern[str]:
    """Compile an Alertmanager regex anchored as labels.NewMatcher does; test values with `.search`.

    Alertmanager anchors by concatenation, `^(?:` + re + `)$`, so `a)|(b` is valid there and means
    "starts with a, or ends with b"; we concatenate the same way rather than use fullmatch.
    ValueError (Go's message) when Alertmanager would refuse it.
    """
    return re.compile(check_alertmanager_regex(pattern))


def _literal_alternatives(pattern: str) -> frozenset[str] | None:
    """`a|b|c` with no metacharacters -> {"a","b","c"} (set membership instead of a regex)."""
    if any(ch in _REGEX_META for ch in pattern.replace("|", "")):
        return None
    return frozenset(pattern.split("|"))


_REGEX_CACHE_MAX = 8192


def _regex_test(pattern: str, negate: bool) -> Callable[[str], bool]:
    """value -> bool for `=~`/`!~`, remembering the answer for values seen before."""
    try:
        search = compile_go_regex(pattern).search
    except ValueError as e:  # the collectors refuse these; facts built by hand may not
        raise ValueError(f"regular expression {pattern!r} cannot be evaluated: {e}") from None
    cache: dict[str, bool] = {}

    def test(value: str) -> bool:
        ok = cache.get(value)
        if ok is None:  # (not try/except: once the cache is full, most values miss it)
            ok = (search(value) is None) if negate else (search(value) is not None)
            if len(cache) < _REGEX_CACHE_MAX:
                cache[value] = ok
        return ok

    return test


def compile_matchers(matchers: Sequence[Matcher]) -> Predicate | None:
    """All matchers must hold; a missing label is the empty string (as Alertmanager). None: always true."""
    if not matchers:
        return None
    checks: list[Callable[[Labels], bool]] = []
    for m in matchers:
        checks.append(_matcher_check(m))
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda ls: a(ls) and b(ls)
    tup = tuple(checks)
    return lambda ls: all(c(ls) for c in tup)


def _matcher_check(m: Matcher) -> Callable[[Labels], bool]:
    name, value = m.name, m.value
    if m.op == "=":
        return lambda ls: ls.get(name, "") == value
    if m.op == "!=":
        return lambda ls: ls.get(name, "") != value
    lits = _literal_alternatives(value)
    if lits is not None:
        if m.op == "=~":
            return lambda ls: ls.get(name, "") in lits
        return lambda ls: ls.get(name, "") not in lits
    test = _regex_test(value, negate=m.op == "!~")
    return lambda ls: test(ls.get(name, ""))


def matchers_match(matchers: Sequence[Matcher], labels: Labels) -> bool:
    """One-off check of a matcher list against a label set."""
    pred = compile_matchers(matchers)
    return pred is None or pred(labels)


def _equality_values(matchers: Sequence[Matcher], name: str) -> frozenset[str] | None:
    """The values of `name` the matchers allow when they pin it to a finite set, else None."""
    allowed: frozenset[str] | None = None
    for m in matchers:
        if m.name != name:
            continue
        vals: frozenset[str] | None = None
        if m.op == "=":
            vals = frozenset((m.value,))
        elif m.op == "=~":
            vals = _literal_alternatives(m.value)
        if vals is not None:
            allowed = vals if allowed is None else allowed & vals
    return allowed


# --------------------------------------------------------------------------- the compiled tree


class _Node:
    __slots__ = ("pred", "cont", "result", "children", "index_label", "index", "others")

    def __init__(self, pred: Predicate | None, cont: bool, result: RouteMatch) -> None:
        self.pred = pred
        self.cont = cont
        self.result = result
        self.children: tuple[_Node, ...] = ()
        self.index_label: str | None = None
        self.index: dict[str, tuple[_Node, ...]] = {}
        self.others: tuple[_Node, ...] = ()


_INDEX_MIN_CHILDREN = 4


class CompiledTree:
    """An Alertmanager routing tree compiled once; `match` for one alert, `match_many` for bulk."""

    def __init__(self, facts: AlertmanagerFacts, cache_size: int = 262_144) -> None:
        self.facts = facts
        self.file = facts.config_file
        self._cache: dict[tuple[Any, ...], tuple[RouteMatch, ...]] = {}
        self._cache_size = cache_size
        names: set[str] = set()
        self._root = self._compile(facts.route, None, (), names)
        self.label_names: tuple[str, ...] = tuple(sorted(names))
        self._key_specs = _key_specs(facts.route, self.label_names)

    # -- compile ------------------------------------------------------------------
    def _compile(self, route: Route, parent: RouteMatch | None, path: tuple[int, ...], names: set[str]) -> _Node:
        result = _effective(route, parent, path, self.file)
        names.update(m.name for m in route.matchers)
        node = _Node(compile_matchers(route.matchers), route.continue_, result)
        children = tuple(self._compile(c, result, (*path, i), names) for i, c in enumerate(route.routes))
        node.children = children
        if len(children) >= _INDEX_MIN_CHILDREN:
            _build_index(node, route.routes)
        return node

    # -- match --------------------------------------------------------------------
    def _walk(self, node: _Node, ls: Labels, out: list[RouteMatch]) -> None:
        # `node` matched: try its children in order, as Route.Match in dispatch/route.go.
        start = len(out)
        if node.index_label is not None:
            candidates = node.index.get(ls.get(node.index_label, ""), node.others)
        else:
            candidates = node.children
        for child in candidates:
            pred = child.pred
            if pred is None or pred(ls):
                self._walk(child, ls, out)
                if not child.cont:
                    break
        if len(out) == start:
            out.append(node.result)

    def match_uncached(self, labels: Labels) -> list[RouteMatch]:
        """The routes an alert with these labels ends on, in Alertmanager's order (no result cache)."""
        out: list[RouteMatch] = []
        self._walk(self._root, labels, out)
        return out

    def match(self, labels: Labels) -> list[RouteMatch]:
        """The routes an alert with these labels ends on, in Alertmanager's order."""
        return self.match_many((labels,))[0]

    def route_key(self, labels: Labels) -> tuple[Any, ...]:
        """What the walk reads of a label set: two label sets with the same key end on the same routes.

        Per label the tree reads: its value when some matcher or index compares it by equality (or
        a literal `a|b` list); otherwise only the outcomes of the tree's regular expressions on it.
        A value no equality matcher names fails every `=`, passes every `!=`, misses every literal
        list and every child index, so the walk reads nothing else of it. This lets alerts that
        differ only in, say, `alertname` (tested by a regex, not by value) share one walk: on the
        large benchmark organisation 50,000 alerts give 50,000 raw label keys but few route keys.
        """
        out: list[Any] = []
        get = labels.get
        for name, values, tests in self._key_specs:
            v = get(name, "")  # a missing label is "" everywhere in the walk
            if v in values:
                out.append(v)
            elif tests:
                out.append(tuple([t(v) for t in tests]))  # a tuple never equals a value (str)
            else:
                out.append(())
        return tuple(out)

    def match_many(self, label_sets: Iterable[Labels]) -> list[list[RouteMatch]]:
        """`match` for many label sets; alerts with the same `route_key` share one walk."""
        cache = self._cache
        route_key = self.route_key
        limit = self._cache_size
        walk = self._walk
        root = self._root
        results: list[list[RouteMatch]] = []
        append = results.append
        for ls in label_sets:
            key = route_key(ls)
            hit = cache.get(key)
            if hit is None:
                out: list[RouteMatch] = []
                walk(root, ls, out)
                hit = tuple(out)
                if limit:
                    if len(cache) >= limit:
                        cache.clear()
                    cache[key] = hit
            append(list(hit))
        return results

    def receivers(self, labels: Labels) -> list[str]:
        """Receiver names as `amtool config routes test` prints them (duplicates kept)."""
        return [m.receiver for m in self.match(labels)]

    def walk_routes(self) -> list[RouteMatch]:
        """Every route of the tree, depth first, with its effective options."""
        out: list[RouteMatch] = []

        def visit(n: _Node) -> None:
            out.append(n.result)
            for c in n.children:
                visit(c)

        visit(self._root)
        return out


def _key_specs(
    route: Route, names: Sequence[str]
) -> tuple[tuple[str, frozenset[str], tuple[Callable[[str], bool], ...]], ...]:
    """Per label name the tree reads: the values it compares by equality (`=`, `!=`, literal `=~`/`!~`
    lists, hence every child index key) and a test per distinct other regular expression on it."""
    values: dict[str, set[str]] = {n: set() for n in names}
    patterns: dict[str, dict[str, None]] = {n: {} for n in names}  # ordered, distinct

    def visit(r: Route) -> None:
        for m in r.matchers:
            if m.op in ("=", "!="):
                values[m.name].add(m.value)
                continue
            lits = _literal_alternatives(m.value)
            if lits is not None:
                values[m.name].update(lits)
            else:
                patterns[m.name][m.value] = None
        for c in r.routes:
            visit(c)

    visit(route)
    return tuple((n, frozenset(values[n]), tuple(_regex_test(p, negate=False) for p in patterns[n])) for n in names)


def _effective(route: Route, parent: RouteMatch | None, path: tuple[int, ...], file: str | None) -> RouteMatch:
    """NewRoute in dispatch/route.go: receiver, group_by and timers inherited; time intervals are not."""
    receiver = route.receiver or (parent.receiver if parent else "")
    group_by: tuple[str, ...] = parent.group_by if parent else ()
    group_by_all = parent.group_by_all if parent else False
    # Alertmanager's config turns `...` into GroupByAll and leaves GroupBy nil; an empty list is nil too.
    if route.group_by:
        labels = tuple(g for g in route.group_by if g != "...")
        if labels:
            group_by, group_by_all = labels, False
        elif "..." in route.group_by:
            group_by_all = True
    return RouteMatch(
        receiver=receiver,
        path=path,
        file=route.location.file or file,
        line=route.location.line,
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait_s=_pick(route.group_wait_s, parent.group_wait_s if parent else DEFAULT_GROUP_WAIT_S),
        group_interval_s=_pick(route.group_interval_s, parent.group_interval_s if parent else DEFAULT_GROUP_INTERVAL_S),
        repeat_interval_s=_pick(
            route.repeat_interval_s, parent.repeat_interval_s if parent else DEFAULT_REPEAT_INTERVAL_S
        ),
        mute_time_intervals=tuple(route.mute_time_intervals),
        active_time_intervals=tuple(route.active_time_intervals),
        continue_=route.continue_,
        route=route,
    )


def _pick(own: float | None, inherited: float) -> float:
    return inherited if own is None else own


def _build_index(node: _Node, routes: Sequence[Route]) -> None:
    """Index children by the label most of them pin with `=` (or a literal `=~` list); order is kept."""
    counts: dict[str, int] = {}
    for r in routes:
        for name in {m.name for m in r.matchers}:
            if _equality_values(r.matchers, name) is not None:
                counts[name] = counts.get(name, 0) + 1
    if not counts:
        return
    label = max(sorted(counts), key=lambda k: counts[k])
    if counts[label] < 2:
        return
    by_value: dict[str, list[int]] = {}
    others: list[int] = []
    for i, r in enumerate(routes):
        vals = _equality_values(r.matchers, label)
        if vals is None:
            others.append(i)
            continue
        for v in vals:  # an empty set (contradictory matchers) never matches: the child is left out
            by_value.setdefault(v, []).append(i)
    children = node.children
    node.index = {v: tuple(children[i] for i in sorted(idx + others)) for v, idx in by_value.items()}
    node.others = tuple(children[i] for i in others)
    node.index_label = label


# --------------------------------------------------------------------------- time intervals


def _zone(location: str) -> Any:
    if location == "UTC":
        return UTC
    if location == "Local":
        return None  # astimezone(None): the system's local zone, as Go's time.Local
    return ZoneInfo(location)


def _days_in_month(t: datetime) -> int:
    """As timeinterval.daysInMonth: whole 24 h periods between the 1st and the next 1st in t's zone.

    Go divides the elapsed hours by 24 and truncates, so a month with a spring-forward change
    (March in Europe/Berlin: 743 h) counts 30 days. Kept on purpose: it is what Alertmanager does.
    """
    start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    hours = (nxt.astimezone(UTC) - start.astimezone(UTC)) / timedelta(hours=1)
    return int(hours // 24)


def _clamp(n: int, lo: int, hi: int) -> int:
    return lo if n <= lo else hi if n >= hi else n


def interval_contains(spec: TimeIntervalSpec, at: datetime) -> bool:
    """timeinterval.ContainsTime: every field given must contain `at`; a spec with no fields always does."""
    t = _aware(at).astimezone(_zone(spec.location))
    if spec.times:
        minute = t.hour * 60 + t.minute
        if not any(r.start_minute <= minute < r.end_minute for r in spec.times):
            return False
    if spec.days_of_month:
        dim = _days_in_month(t)
        ok = False
        for begin, end in spec.days_of_month:
            b = dim + begin + 1 if begin < 0 else begin
            e = dim + end + 1 if end < 0 else end
            if b > dim:
                continue
            b, e = _clamp(b, -dim, dim), _clamp(e, -dim, dim)
            if b <= t.day <= e:
                ok = True
                break
        if not ok:
            return False
    if spec.months and not any(b <= t.month <= e for b, e in spec.months):
        return False
    if spec.weekdays:
        weekday = (t.weekday() + 1) % 7  # Go: 0 = Sunday
        if not any(b <= weekday <= e for b, e in spec.weekdays):
            return False
    if spec.years and not any(b <= t.year <= e for b, e in spec.years):
        return False
    return True


def interval_active(interval: TimeInterval, at: datetime) -> bool:
    """A named time interval holds at `at` when one of its entries contains it (none: never)."""
    return any(interval_contains(spec, at) for spec in interval.intervals)


def _any_active(names: Iterable[str], at: datetime, intervals: Mapping[str, TimeInterval]) -> bool:
    for name in names:
        ti = intervals.get(name)
        if ti is None:
            raise KeyError(f"time interval {name} doesn't exist in config")
        if interval_active(ti, at):
            return True
    return False


def muted_at(match: RouteMatch, at: datetime, intervals: Mapping[str, TimeInterval]) -> bool:
    """The route's `mute_time_intervals` hold at `at` (TimeMuteStage): its notifications are dropped."""
    return _any_active(match.mute_time_intervals, at, intervals)


def active_at(match: RouteMatch, at: datetime, intervals: Mapping[str, TimeInterval]) -> bool:
    """The route has no `active_time_intervals`, or one of them holds at `at` (TimeActiveStage)."""
    if not match.active_time_intervals:
        return True
    return _any_active(match.active_time_intervals, at, intervals)


def suppressed_at(match: RouteMatch, at: datetime, intervals: Mapping[str, TimeInterval]) -> bool:
    """Muted, or outside its active intervals: the route still ends matching but notifies nobody."""
    return muted_at(match, at, intervals) or not active_at(match, at, intervals)


def intervals_by_name(facts: AlertmanagerFacts) -> dict[str, TimeInterval]:
    """The config's time intervals (both `time_intervals` and the older `mute_time_intervals`) by name."""
    return {t.name: t for t in facts.time_intervals}


_aware = as_utc


# --------------------------------------------------------------------------- inhibition


def inhibitors(
    target_labels: Labels, firing: Sequence[Labels], rules: Sequence[InhibitRule]
) -> list[tuple[InhibitRule, Labels]]:
    """Every (rule, firing alert) that inhibits the target, as Inhibitor.Mutes in inhibit/inhibit.go.

    A source alert inhibits when it matches the rule's source matchers, the target matches the
    target matchers, and every `equal` label has the same value on both, a missing label being ""
    (so missing on both sides counts as equal). When the target also matches the source side,
    sources that also match the target side are ignored: an alert never inhibits itself.
    """
    out: list[tuple[InhibitRule, Labels]] = []
    for rule in rules:
        target_pred = compile_matchers(rule.target_matchers)
        if target_pred is not None and not target_pred(target_labels):
            continue
        source_pred = compile_matchers(rule.source_matchers)
        two_sided = source_pred is None or source_pred(target_labels)
        for alert in firing:
            if source_pred is not None and not source_pred(alert):
                continue
            if any(alert.get(n, "") != target_labels.get(n, "") for n in rule.equal):
                continue
            if two_sided and (target_pred is None or target_pred(alert)):
                continue
            out.append((rule, alert))
    return out


def inhibited(target_labels: Labels, firing: Sequence[Labels], rules: Sequence[InhibitRule]) -> bool:
    """True when some other firing alert inhibits the target through one of the rules."""
    return bool(inhibitors(target_labels, firing, rules))


__all__ = [
    "CompiledTree",
    "RouteMatch",
    "active_at",
    "compile_go_regex",
    "compile_matchers",
    "inhibited",
    "inhibitors",
    "interval_active",
    "interval_contains",
    "intervals_by_name",
    "matchers_match",
    "muted_at",
    "suppressed_at",
]
