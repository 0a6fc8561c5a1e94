"""Which metrics a PromQL expression selects, and whether it stays empty while some have no series.

`absent()` and `absent_over_time()` are the exception: they fire *because* a metric has no
series, so what they select is never needed. `a or b` is empty only when both sides are;
`a and b` when either is; `a unless b` when `a` is.
"""

from __future__ import annotations

from typing import Any

from collectors.promql import parse as parse_promql

_INVERTED = {"absent", "absent_over_time"}
_NO_VECTOR = {"time", "pi", "vector"}  # vector(scalar) always has one sample


def _name(vs: Any) -> str | None:
    if vs.name:
        return str(vs.name)
    for m in vs.matchers.matchers:
        if m.name == "__name__" and str(m.op).endswith("Equal") and "Not" not in str(m.op):
            return str(m.value)
    return None


def _children(n: Any) -> list[Any]:
    t = type(n).__name__
    if t == "MatrixSelector":
        return [n.vector_selector]
    if t in ("ParenExpr", "UnaryExpr", "SubqueryExpr", "AggregateExpr"):
        kids = [n.expr]
        if t == "AggregateExpr" and getattr(n, "param", None) is not None:
            kids.append(n.param)
        return kids
    if t == "BinaryExpr":
        return [n.lhs, n.rhs]
    if t == "Call":
        return list(n.args)
    return []


def selected_metrics(expr: str | Any) -> set[str]:
    """Metric names the expression selects outside absent()/absent_over_time()."""
    node = parse_promql(expr) if isinstance(expr, str) else expr
    out: set[str] = set()

    def walk(n: Any) -> None:
        t = type(n).__name__
        if t == "VectorSelector":
            name = _name(n)
            if name:
                out.add(name)
            return
        if t == "Call" and n.func.name in _INVERTED:
            return
        for c in _children(n):
            walk(c)

    walk(node)
    return out


def _is_scalar(n: Any) -> bool:
    t = type(n).__name__
    if t in ("NumberLiteral", "StringLiteral"):
        return True
    if t in ("ParenExpr", "UnaryExpr"):
        return _is_scalar(n.expr)
    if t == "Call":
        return n.func.name in ("scalar", "time", "pi")
    if t == "BinaryExpr":
        return _is_scalar(n.lhs) and _is_scalar(n.rhs)
    return False


def stays_empty(expr: str | Any, missing: set[str]) -> bool:
    """True when the expression returns nothing as long as every metric in `missing` has no series."""
    node = parse_promql(expr) if isinstance(expr, str) else expr

    def empty(n: Any) -> bool:
        t = type(n).__name__
        if t == "VectorSelector":
            name = _name(n)
            return name is not None and name in missing
        if t == "MatrixSelector":
            return empty(n.vector_selector)
        if t in ("ParenExpr", "UnaryExpr", "SubqueryExpr", "AggregateExpr"):
            return empty(n.expr)
        if t in ("NumberLiteral", "StringLiteral"):
            return False
        if t == "Call":
            fn = n.func.name
            if fn in _INVERTED or fn in _NO_VECTOR or fn == "scalar":  # scalar() of nothing is NaN, not empty
                return False
            vec = [a for a in n.args if not _is_scalar(a)]
            return bool(vec) and empty(vec[0])
        if t == "BinaryExpr":
            op = str(n.op).strip()
            if _is_scalar(n.lhs) and _is_scalar(n.rhs):
                return False
            if _is_scalar(n.lhs):
                return empty(n.rhs)
            if _is_scalar(n.rhs):
                return empty(n.lhs)
            if op == "or":
                return empty(n.lhs) and empty(n.rhs)
            if op == "unless":
                return empty(n.lhs)
            return empty(n.lhs) or empty(n.rhs)  # and, arithmetic, comparison: both sides must match
        return False  # unknown node: assume it can answer

    return empty(node)


def selectors(expr: str | Any) -> list[str]:
    """The vector selectors the expression reads (as PromQL text, offsets dropped), outside absent()."""
    node = parse_promql(expr) if isinstance(expr, str) else expr
    out: list[str] = []

    def walk(n: Any) -> None:
        t = type(n).__name__
        if t == "Call" and n.func.name in _INVERTED:
            return
        if t == "VectorSelector":
            text = str(n).split(" offset ")[0].split(" @ ")[0]
            if text not in out:
                out.append(text)
            return
        for c in _children(n):
            walk(c)

    walk(node)
    return out
