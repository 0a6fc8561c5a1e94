"""What the rules read from a PromQL expression, from one parse per distinct text (pure, memoised).

Parsing is the dominant cost of a large organisation's analysis (promql_parser builds a full Python
object tree, about 0.15 ms and 25 KB per expression), and the collector's validation, label
inference, OWN002, OWN007 and OWN009 all read the same expressions. The first reader of a text
parses it once and derives everything any of them needs; the tree itself is not kept.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser as pp

MAX_ENTRIES = 500_000  # a bound for a long-running server whose rules change over weeks


@dataclass(frozen=True)
class ExprFacts:
    """Derived from one parse of an expression (`error` set: it does not parse, nothing else is known)."""

    error: str | None
    # each None when its reader failed on the tree: the reader then parses again and fails as it always did
    labels: Any = None  # rules.labelsets.LabelSet (shared: read, never change)
    metrics: frozenset[str] | None = None  # collectors.promql_metrics.selected_metrics
    queue_selectors: tuple[Any, ...] | None = None  # rules.checks.own009_queue_unwatched.selectors
    sloth_refs: tuple[frozenset[str], frozenset[tuple[str, str]]] | None = None  # OWN002


_MEMO: dict[str, ExprFacts] = {}


def facts(expr: str) -> ExprFacts:
    """The expression's facts, parsing it on first use."""
    hit = _MEMO.get(expr)
    if hit is not None:
        return hit
    try:
        node = pp.parse(expr)
    except Exception as e:  # promql_parser raises ValueError / RuntimeError
        got = ExprFacts(error=str(e) or type(e).__name__)
    else:
        got = derive(node, expr)
    remember(expr, got)
    return got


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


# ---- on disk: the facts of a whole rule set, for a process that analyses a stored snapshot


def _bundle_file(texts: list[str]) -> Path | None:
    from collectors.prometheus_rules import cache_root, code_salt

    root = cache_root()
    if root is None or not texts:
        return None
    h = hashlib.sha256(code_salt().encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return root / "exprs" / f"{h.hexdigest()}.pickle"


def preload(texts: list[str]) -> Path | None:
    """Take the facts of these (sorted, distinct) texts from the disk cache when an earlier process saved
    them; otherwise return where `persist` should save them once they are known."""
    f = _bundle_file(texts)
    if f is None:
        return None
    missing = [t for t in texts if t not in _MEMO]
    if not missing:  # all known (the collector parsed them): save them for the next process if not yet
        return None if f.exists() else f
    try:
        with f.open("rb") as fh:
            got = pickle.load(fh)  # noqa: S301 - our own files, in the user's own cache folder
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return f
    if not isinstance(got, dict):
        return f
    for t in missing:
        hit = got.get(t)
        if isinstance(hit, ExprFacts):
            remember(t, hit)
    return None


def persist(f: Path, texts: list[str]) -> None:
    """Save the facts of these texts (parsing those not known yet); a cache that cannot be written is skipped."""
    got = {t: facts(t) for t in texts}
    try:
        f.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=f.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(got, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, f)
    except OSError:
        pass
