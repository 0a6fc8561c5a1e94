"""One entry to the PromQL parser (promql-parser), for what it reads differently from Prometheus 2.x."""

from __future__ import annotations

import re
from typing import Any

import promql_parser as pp

# Prometheus 2.x's `holt_winters` is the parser's `double_exponential_smoothing` (its name from Prometheus 3.0:
# the same function, arguments and result); promql-parser knows only the new name, promtool 2.42 only the old
_HOLT_WINTERS = re.compile(r"\bholt_winters(\s*\()")


def parse(expr: str) -> Any:
    """`promql_parser.parse`, reading `holt_winters(...)` as Prometheus 2.x does."""
    if "holt_winters" in expr:
        expr = _HOLT_WINTERS.sub(r"double_exponential_smoothing\1", expr)
    return pp.parse(expr)
