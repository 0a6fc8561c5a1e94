"""Label sets an alert can fire with: what its PromQL pins, then its static labels, external labels
and `alert_relabel_configs`, as Prometheus sends them to Alertmanager (pure, no I/O).

A label the expression leaves open is kept symbolically (`open`), with the matchers that
constrain it; a set whose other labels are unknown is marked `any_other`.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from typing import Any

from collectors.facts import Matcher, Rule
from collectors.promql import parse as parse_promql
from rules.exprs import _ms
from rules.exprs import facts as _expr_facts  # (rules.exprs imports this module only inside functions)

COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
SET_OPS = {"and", "or", "unless"}
# functions whose output has no labels at all
NO_LABELS = {
    "vector",
    "time",
    "scalar",
    "pi",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
}
KEEP_NAME = {"last_over_time", "first_over_time"}  # everything else drops __name__ (close enough for alerts)


@dataclass
class LabelSet:
    """Labels a series of an expression's result carries."""

    fixed: dict[str, str] = field(default_factory=dict)  # label -> value, certain
    open: set[str] = field(default_factory=set)  # present, value unknown
    constraints: dict[str, list[Matcher]] = field(default_factory=dict)  # on open labels
    any_other: bool = True  # other labels may be present (unknown set)
    absent: set[str] = field(default_factory=set)  # certainly not present

    def names(self) -> set[str]:
        return set(self.fixed) | self.open

    def copy(self) -> LabelSet:
        return LabelSet(
            dict(self.fixed),
            set(self.open),
            {k: list(v) for k, v in self.constraints.items()},
            self.any_other,
            set(self.absent),
        )

    def keep(self, names: set[str]) -> LabelSet:
        """Only `names` survive (`by`, `on`)."""
        out = LabelSet(
            fixed={k: v for k, v in self.fixed.items() if k in names},
            open={
                k for k in names if k not in self.fixed and k not in self.absent and (k in self.open or self.any_other)
            },
            any_other=False,
        )
        out.constraints = {k: v for k, v in self.constraints.items() if k in out.open}
        return out

    def drop(self, names: set[str]) -> LabelSet:
        """`names` are removed (`without`, `ignoring`)."""
        out = self.copy()
        for n in names:
            out.fixed.pop(n, None)
            out.open.discard(n)
            out.constraints.pop(n, None)
            out.absent.add(n)
        return out


def _op(x: Any) -> str:
    return str(x).strip()


def _matchers(vs: Any) -> LabelSet:
    ls = LabelSet()
    for m in vs.matchers.matchers:
        name, op, value = m.name, _op(m.op), m.value
        opname = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}.get(op, op)
        if name == "__name__":
            continue
        if opname == "=":
            if value == "":
                ls.absent.add(name)  # `label=""` selects series without it
            else:
                ls.fixed[name] = value
        else:
            ls.open.add(name) if _may_be_set(opname, value) else ls.absent.add(name)
            ls.constraints.setdefault(name, []).append(Matcher(name=name, op=opname, value=value))  # type: ignore[arg-type]
    for n in ls.fixed:
        ls.open.discard(n)
    return ls


def _may_be_set(op: str, value: str) -> bool:
    if op == "=~":
        return not re.fullmatch(value, "") or value not in ("", "^$")
    return True


def infer(expr: str | Any) -> LabelSet:
    """The label set of an expression's result series."""
    if isinstance(expr, str):
        known = _expr_facts(expr).labels
        if known is not None:
            return known  # type: ignore[no-any-return]
    node = parse_promql(expr) if isinstance(expr, str) else expr
    return _infer(node)


def _infer(n: Any) -> LabelSet:
    t = type(n).__name__
    if t == "VectorSelector":
        return _matchers(n)
    if t == "MatrixSelector":
        return _matchers(n.vector_selector)
    if t in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
        return _infer(n.expr)
    if t in ("NumberLiteral", "StringLiteral"):
        return LabelSet(any_other=False)
    if t == "Call":
        return _call(n)
    if t == "AggregateExpr":
        return _aggregate(n)
    if t == "BinaryExpr":
        return _binary(n)
    return LabelSet()  # unknown node: anything possible


def _vector_args(n: Any) -> list[Any]:
    return [a for a in n.args if type(a).__name__ not in ("StringLiteral", "NumberLiteral")]


def _call(n: Any) -> LabelSet:
    name = n.func.name
    if name in NO_LABELS:
        return LabelSet(any_other=False)
    if name in ("absent", "absent_over_time"):
        inner = _infer(n.args[0]) if n.args else LabelSet()
        return LabelSet(fixed=dict(inner.fixed), any_other=False)
    if name == "label_replace" and len(n.args) == 5:
        base = _infer(n.args[0])
        dst, repl = n.args[1].val, n.args[2].val
        out = base.copy()
        out.constraints.pop(dst, None)
        if "$" not in repl:
            if repl:
                out.fixed[dst] = repl
            out.open.discard(dst)
        else:
            out.fixed.pop(dst, None)
            out.open.add(dst)
        return out
    if name == "label_join" and len(n.args) >= 3:
        out = _infer(n.args[0]).copy()
        dst = n.args[1].val
        out.fixed.pop(dst, None)
        out.open.add(dst)
        return out
    if name == "histogram_quantile" and len(n.args) == 2:
        return _infer(n.args[1]).drop({"le"})
    vec = _vector_args(n)
    if not vec:
        return LabelSet(any_other=False)
    return _infer(vec[0])


def _aggregate(n: Any) -> LabelSet:
    inner = _infer(n.expr)
    op = _op(n.op)
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        return inner
    mod = n.modifier
    if mod is None:
        out = LabelSet(any_other=False)
    elif "By" in _op(mod.type):
        out = inner.keep(set(mod.labels))
    else:
        out = inner.drop(set(mod.labels))
    if op == "count_values" and n.param is not None and type(n.param).__name__ == "StringLiteral":
        out.open.add(n.param.val)
    return out


def _binary(n: Any) -> LabelSet:
    op = _op(n.op)
    lhs_is_vec = _is_vector(n.lhs)
    rhs_is_vec = _is_vector(n.rhs)
    lhs, rhs = _infer(n.lhs), _infer(n.rhs)
    if not lhs_is_vec and not rhs_is_vec:
        return LabelSet(any_other=False)
    if not rhs_is_vec:
        return lhs
    if not lhs_is_vec:
        return rhs
    mod = n.modifier
    matching = getattr(mod, "matching", None) if mod else None
    on = matching is not None and "Include" in _op(matching.type)
    mlabels = set(matching.labels) if matching is not None else set()
    card = _op(getattr(mod, "card", "")) if mod else ""
    if op == "or":
        out = LabelSet(
            fixed={k: v for k, v in lhs.fixed.items() if rhs.fixed.get(k) == v},
            open=(lhs.names() | rhs.names()) - {k for k, v in lhs.fixed.items() if rhs.fixed.get(k) == v},
            any_other=lhs.any_other or rhs.any_other,
        )
        return out
    # labels both sides share when matched
    shared = dict(rhs.fixed)
    if on:
        shared = {k: v for k, v in shared.items() if k in mlabels}
    else:
        shared = {k: v for k, v in shared.items() if k not in mlabels}
    if op in SET_OPS:  # and, unless: the lhs series, as they are
        out = lhs.copy()
        if op == "and":
            for k, v in shared.items():
                out.fixed.setdefault(k, v)
                out.open.discard(k)
        return out
    one_to_one = "OneToOne" in card or card == ""
    out = lhs.copy() if "OneToMany" not in card else rhs.copy()
    if one_to_one:
        out = out.keep(mlabels) if on else out.drop(mlabels)
        for k, v in shared.items():
            if (on and k in mlabels) or (not on and k not in mlabels):
                out.fixed.setdefault(k, v)
                out.open.discard(k)
    else:
        other = rhs if "ManyToOne" in card else lhs
        for g in getattr(mod, "group_labels", []) or []:
            if g in other.fixed:
                out.fixed[g] = other.fixed[g]
                out.open.discard(g)
            else:
                out.fixed.pop(g, None)
                out.open.add(g)
    return out


def _is_vector(n: Any) -> bool:
    t = type(n).__name__
    if t in ("NumberLiteral", "StringLiteral"):
        return False
    if t in ("ParenExpr", "UnaryExpr"):
        return _is_vector(n.expr)
    if t == "Call":
        return n.func.name not in ("scalar", "time", "pi")
    if t == "BinaryExpr":
        return _is_vector(n.lhs) or _is_vector(n.rhs)
    return True


# --------------------------------------------------------------------------- relabelling


_Step = tuple[str, "re.Pattern[str]", str, list[str], Any, str, dict[str, Any]]
_NAME_ONLY = frozenset(("labeldrop", "labelkeep"))  # actions that read label names, never values


class _Plan:
    """A config list's relabelling steps (settings read, regexes compiled), the labels they read, and,
    when every step only reads label names (`labeldrop`, `labelkeep`: the large benchmark organisation's
    `labeldrop prometheus_replica`), the names each list of names loses, remembered per list of names."""

    __slots__ = ("configs", "steps", "reads", "gone_by_names")

    def __init__(self, configs: list[dict[str, Any]]):
        self.configs = configs
        self.steps: list[_Step] = [
            (
                str(cfg.get("action", "replace")).lower(),
                re.compile(f"^(?:{cfg.get('regex', '(.*)')})$"),
                str(cfg.get("separator", ";")),
                list(cfg.get("source_labels") or []),
                cfg.get("target_label"),
                str(cfg.get("replacement", "$1")),
                cfg,
            )
            for cfg in configs
        ]
        self.reads = {s for c in configs for s in c.get("source_labels") or []}
        name_only = all(step[0] in _NAME_ONLY for step in self.steps)
        self.gone_by_names: dict[tuple[str, ...], tuple[str, ...]] | None = {} if name_only else None


# the plan of the last config list seen (the same list, never changed in place, for every alert of a
# snapshot): reading each step's settings and compiling its regex once instead of once per alert
_LAST_PLAN: _Plan | None = None


def _plan(configs: list[dict[str, Any]]) -> _Plan:
    global _LAST_PLAN
    last = _LAST_PLAN
    if last is not None and last.configs is configs and len(last.steps) == len(configs):
        return last
    _LAST_PLAN = plan = _Plan(configs)
    return plan


def _gone_by_names(plan: _Plan, names: tuple[str, ...]) -> tuple[str, ...]:
    """The labels a plan of name-only steps (`plan.gone_by_names` not None) drops from a set with these names,
    worked out once per tuple of names on stand-in values."""
    memo = plan.gone_by_names
    assert memo is not None
    gone = memo.get(names)
    if gone is None:
        kept = _relabel(dict.fromkeys(names, "x"), plan.steps)
        assert kept is not None  # name-only steps never drop the set
        gone = tuple(k for k in names if k not in kept)
        if len(memo) >= 100_000:
            memo.clear()
        memo[names] = gone
    return gone


def relabel(labels: dict[str, str], configs: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus relabelling on a concrete label set; None when the set is dropped."""
    plan = _plan(configs)
    gone_by_names = plan.gone_by_names
    if gone_by_names is None:
        return _relabel(labels, plan.steps)
    # Only names are read: which labels go depends on the names alone, so work it out once per list of
    # names (alerts of one template share theirs) on stand-in values, then drop those from the real set.
    # (Measured on L: 50,000 alerts with 8 labels each, 8 regex matches and two dict copies per alert.)
    gone = _gone_by_names(plan, tuple(labels))
    out = dict(labels)
    for k in gone:
        del out[k]
    if "" in out.values():
        return {k: v for k, v in out.items() if v != ""}
    return out


def _relabel(labels: dict[str, str], steps: list[_Step]) -> dict[str, str] | None:
    lb = dict(labels)
    for action, regex, sep, sources, target, repl, cfg in steps:
        src = sep.join(lb.get(s, "") for s in sources)
        if action == "replace":
            m = regex.match(src)
            if m and target:
                value = _expand(m, repl)
                tgt = _expand(m, str(target))
                if value:
                    lb[tgt] = value
                else:
                    lb.pop(tgt, None)
        elif action == "keep":
            if not regex.match(src):
                return None
        elif action == "drop":
            if regex.match(src):
                return None
        elif action == "keepequal":
            if src != lb.get(str(target), ""):
                return None
        elif action == "dropequal":
            if src == lb.get(str(target), ""):
                return None
        elif action == "labeldrop":
            lb = {k: v for k, v in lb.items() if not regex.match(k)}
        elif action == "labelkeep":
            lb = {k: v for k, v in lb.items() if regex.match(k)}
        elif action == "labelmap":
            for k, v in list(lb.items()):
                m = regex.match(k)
                if m:
                    lb[_expand(m, repl)] = v
        elif action in ("lowercase", "uppercase") and target:
            lb[str(target)] = src.lower() if action == "lowercase" else src.upper()
        elif action == "hashmod" and target:
            import hashlib

            mod = int(cfg.get("modulus", 1))
            h = int.from_bytes(hashlib.md5(src.encode()).digest()[8:], "big")
            lb[str(target)] = str(h % mod)
    return {k: v for k, v in lb.items() if v != ""}


def _expand(m: re.Match[str], template: str) -> str:
    def sub(x: re.Match[str]) -> str:
        key = x.group(1) or x.group(2)
        try:
            return m.group(int(key)) if key.isdigit() else (m.group(key) or "")
        except (IndexError, re.error):
            return ""

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, template)


@dataclass(slots=True)
class AlertLabels:
    """The labels an alerting rule's alerts reach Alertmanager with.

    (slots: the paging resolver keeps one per alerting rule, 50,000 on L; 72 B instead of 168 B each)"""

    fixed: dict[str, str]
    open: set[str]
    constraints: dict[str, list[Matcher]]
    any_other: bool
    dropped: bool = False  # alert_relabel_configs drop it whatever its open labels


def alert_labels(
    rule: Rule, external_labels: dict[str, str] | None = None, alert_relabel_configs: list[dict[str, Any]] | None = None
) -> AlertLabels:
    """Expr labels, then the rule's static labels and alertname, external labels, then relabelling."""
    ls = infer(rule.expr)
    fixed = dict(ls.fixed)
    open_ = set(ls.open)
    for k, v in rule.labels.items():
        if "{{" in v:  # templated label: value known only at evaluation
            fixed.pop(k, None)
            open_.add(k)
        else:
            fixed[k] = v
            open_.discard(k)
    fixed["alertname"] = rule.name
    open_.discard("alertname")
    for k, v in (external_labels or {}).items():
        if k not in fixed and k not in open_:
            fixed[k] = v
    dropped = False
    if alert_relabel_configs:
        if open_ and not _plan(alert_relabel_configs).reads.isdisjoint(open_):
            # relabelling reads a label we do not know: keep the fixed part as it is, say it is uncertain
            pass
        else:
            out = relabel(fixed, alert_relabel_configs)
            if out is None:
                dropped = True
            else:
                if open_:
                    open_ -= set(fixed) - set(out)  # a label relabelling removed is not there at all
                fixed = out
    constraints = {k: v for k, v in ls.constraints.items() if k in open_}
    return AlertLabels(fixed=fixed, open=open_, constraints=constraints, any_other=ls.any_other, dropped=dropped)


# --------------------------------------------------------------------------- many rules at once


class _Recipe:
    """Where each label of `alert_labels`' answer comes from, for rules whose expressions share a shape
    (rules.exprs.template) and whose static labels have the same names in the same order (none templated,
    none empty): their answers differ only in values, and every value is a placeholder's value, a literal of
    the shape, one of the rule's label values, the rule's name or an external label's value."""

    __slots__ = ("shape", "keys", "phs", "consts", "pick", "open", "constraints", "any_other")

    def __init__(
        self,
        shape: Any,
        keys: tuple[str, ...],
        phs: tuple[str, ...],
        consts: tuple[str, ...],
        idx: list[int],
        open_: frozenset[str],
        constraints: tuple[tuple[str, list[Matcher]], ...],
        any_other: bool,
    ):
        self.shape = shape  # kept: the memo is keyed by its id
        self.keys = keys
        self.phs = phs
        self.consts = consts
        # the values in answer order from [*placeholder values, *rule label values, rule name, *consts]
        if len(idx) > 1:
            self.pick: Any = operator.itemgetter(*idx)
        elif idx:
            i = idx[0]
            self.pick = lambda seq: (seq[i],)
        else:
            self.pick = lambda seq: ()
        self.open = open_
        self.constraints = constraints
        self.any_other = any_other


_NO_RECIPE: Any = object()


class AlertLabeller:
    """`alert_labels` for the rules of one Prometheus (its external labels and `alert_relabel_configs`).

    The large benchmark organisation's 50,000 alerting rules have 14 expression shapes and one layout of
    static labels per shape: the label analysis (expression labels, static labels, alertname, external
    labels, name-only relabelling) is worked out once per (shape, label names) as a `_Recipe`, and each
    rule's answer is filled in from its values (measured on L: 1.9 s of 7.3 s of resolution under
    cProfile before). Anything the recipe does not cover (a templated or empty label value, an empty
    name, relabelling that reads values, an expression whose labels were not inferred) takes
    `alert_labels` itself; tests/rules/test_labelsets_prometheus.py checks both agree."""

    def __init__(
        self, external_labels: dict[str, str] | None = None, alert_relabel_configs: list[dict[str, Any]] | None = None
    ):
        self.external_labels = external_labels or {}
        self.configs = alert_relabel_configs or []
        self._recipes: dict[tuple[Any, ...], Any] = {}

    def __call__(self, rule: Rule) -> AlertLabels:
        f = _expr_facts(rule.expr)
        shape, values = f.shape_parts()
        label_values = list(rule.labels.values())
        name = rule.name
        # (a "{{" in the joined values is in one of them: "\0" cannot be half of one)
        if not name or "" in label_values or "{{" in "\0".join(label_values):
            return alert_labels(rule, self.external_labels, self.configs)
        names = tuple(rule.labels)
        ls = shape.labels
        owner: Any = shape  # what the recipe is of (kept in it: its id is in the key)
        if shape is f and ls is not None and not ls.constraints:
            # not from a shape (L: 5,000 `sum(rate(svc_N_jobs_failed_total[10m])) > 1`): expressions whose
            # labels agree share a recipe (there is no placeholder: the recipe reads only the label set)
            key: tuple[Any, ...] = (tuple(ls.fixed.items()), frozenset(ls.open), ls.any_other, names)
            owner = None
        else:
            key = (id(shape), names)
        r = self._recipes.get(key)
        if r is None or (r is not _NO_RECIPE and r.shape is not owner):
            r = self._recipe(owner, ls, names, values)
            if len(self._recipes) >= 100_000:
                self._recipes.clear()
            self._recipes[key] = r
        if r is _NO_RECIPE:
            return alert_labels(rule, self.external_labels, self.configs)
        phs = r.phs
        fixed = dict(zip(r.keys, r.pick([*map(values.get, phs, phs), *label_values, name, *r.consts]), strict=True))
        constraints = {k: _ms(lst, values) for k, lst in r.constraints} if r.constraints else {}
        return AlertLabels(fixed=fixed, open=set(r.open), constraints=constraints, any_other=r.any_other)

    def _recipe(self, shape: Any, ls: LabelSet | None, names: tuple[str, ...], values: dict[str, str]) -> Any:
        """`alert_labels` step by step on where values come from instead of values (see `_Recipe`)."""
        if ls is None:
            return _NO_RECIPE
        # a source: ("ph", placeholder) | ("rule", position) | ("name", None) | ("const", value)
        src: dict[str, tuple[str, Any]] = {k: ("ph", x) if x in values else ("const", x) for k, x in ls.fixed.items()}
        open_ = set(ls.open)
        for i, k in enumerate(names):  # none templated (the caller checks)
            src[k] = ("rule", i)
            open_.discard(k)
        src["alertname"] = ("name", None)
        open_.discard("alertname")
        for k, v in self.external_labels.items():
            if k not in src and k not in open_:
                src[k] = ("const", v)
        if any(kind == "const" and v == "" for kind, v in src.values()):
            return _NO_RECIPE  # relabelling drops empty values: leave those to `alert_labels`
        plan = _plan(self.configs) if self.configs else None
        if plan is not None and not (open_ and not plan.reads.isdisjoint(open_)):
            if plan.gone_by_names is None:
                return _NO_RECIPE  # relabelling reads values
            for k in _gone_by_names(plan, tuple(src)):
                del src[k]
                open_.discard(k)
        phs = tuple(x for kind, x in src.values() if kind == "ph")
        consts = tuple(x for kind, x in src.values() if kind == "const")
        base_rule, base_name, base_const = len(phs), len(phs) + len(names), len(phs) + len(names) + 1
        idx: list[int] = []
        n_ph = n_const = 0
        for kind, x in src.values():
            if kind == "ph":
                idx.append(n_ph)
                n_ph += 1
            elif kind == "rule":
                idx.append(base_rule + x)
            elif kind == "name":
                idx.append(base_name)
            else:
                idx.append(base_const + n_const)
                n_const += 1
        constraints = tuple((k, v) for k, v in ls.constraints.items() if k in open_)
        return _Recipe(shape, tuple(src), phs, consts, idx, frozenset(open_), constraints, ls.any_other)
