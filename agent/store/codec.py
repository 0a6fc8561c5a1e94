"""A source's facts as the store writes and reads them: their JSON, except the large lists of facts,
written as columns (a list per field): PagerDuty's incidents and log entries, Prometheus's rules.

Why: on the large benchmark organisation PagerDuty's facts were 93 MB of JSON in every snapshot, 200,000
incidents and 93,000 log entries whose field names took half of it; serialising them held the GIL for
~0.6 s beside the analysis, and reading them back took 1.1-1.5 s of pydantic-core's time. As columns the
text is about half as long; each column is still validated by pydantic-core straight from the text, with
the field's own type, and the objects are then made from the validated columns without a second
validation.

Only the store uses this form (`dumps`, `loads`); every other JSON of the facts (the API, the CLI,
caches) is the models' own. A text that does not start with a format's name (`store_format`) is the
facts' own JSON, as every snapshot stored before this form was: `loads` reads both.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from collectors.facts import (
    Location,
    PagerDutyFacts,
    PDIncident,
    PDLogEntry,
    PrometheusFacts,
    Rule,
    SourceFacts,
    slotted_maker,
    trusted,
)


@cache
def _facts_validator() -> TypeAdapter[SourceFacts]:
    """The validator of a facts JSON text (one of the facts models, chosen by its `kind`)."""
    return TypeAdapter(Annotated[SourceFacts, Field(discriminator="kind")])


@dataclass(frozen=True)
class _Columns:
    """A list field of a facts model stored as columns: each column's item type, how an item gives its value,
    how the values of an item, in column order, make it again (without a second validation), and the columns
    read as another type first then converted (`after`)."""

    types: dict[str, Any]
    take: dict[str, Any]  # column -> a function of an item (operator.attrgetter)
    make: Callable[..., Any]
    after: dict[str, tuple[Any, Callable[[list[Any]], list[Any]]]] = dataclasses.field(default_factory=dict)


# (each in C loops where the column allows: `map` over a column without None, an empty list kept as it is)


def _interned(col: list[Any]) -> list[Any]:
    if None not in col:
        return list(map(sys.intern, col))
    return [v if v is None else sys.intern(v) for v in col]


def _interned_lists(col: list[list[str]]) -> list[list[str]]:
    return [v and list(map(sys.intern, v)) for v in col]


def _instants(col: list[str | None]) -> list[datetime | None]:
    if None not in col:
        return list(map(_fromiso, col))  # type: ignore[arg-type]
    return [v if v is None else _fromiso(v) for v in col]


_fromiso = datetime.fromisoformat


def _slotted(cls: type[Any], interned: tuple[str, ...]) -> _Columns:
    """A slotted fact's fields (PDIncident, PDLogEntry), made as the export's parse makes them
    (collectors.pagerduty_export): datetimes by `datetime.fromisoformat` from their text (timezone.utc, not
    pydantic's TzInfo, one object per datetime), and the strings it interns (`interned`) interned."""
    fields = cls.__pydantic_fields__
    types = {n: f.annotation for n, f in fields.items()}
    after: dict[str, tuple[Any, Callable[[list[Any]], list[Any]]]] = {}
    for n, t in types.items():
        if t is datetime or datetime in get_args(t):
            after[n] = (str if t is datetime else str | None, _instants)  # a required one stays required
        elif n in interned:
            after[n] = (t, _interned_lists if get_origin(t) is list else _interned)
    return _Columns(types, {n: attrgetter(n) for n in fields}, slotted_maker(cls), after)


def _rules() -> _Columns:
    """A rule's fields, its location as two columns (file, line): what `Rule.checked` takes, in its order."""
    types = {n: f.annotation for n, f in Rule.model_fields.items() if n != "location"}
    types |= {n: f.annotation for n, f in Location.model_fields.items()}
    take = {n: attrgetter(n) for n in types} | {n: attrgetter(f"location.{n}") for n in Location.model_fields}
    return _Columns(types, take, Rule.checked)


# by facts model: the format's name (first in the text, the marker) and the fields stored as columns.
# On the large benchmark organisation PagerDuty's 93 MB become 51 MB (read 1.1-1.5 -> 0.5 s, written 0.6 ->
# 0.47 s); the rules' 38 MB become ~30 MB (read ~0.48 -> ~0.35 s, written 0.21 -> ~0.13 s).
_FORMATS: dict[type[BaseModel], tuple[str, dict[str, _Columns]]] = {
    PagerDutyFacts: (
        "pagerduty-columns-1",
        {
            "incidents": _slotted(PDIncident, ("title", "assignees")),
            "log_entries": _slotted(PDLogEntry, ("agent_type", "assignees")),
        },
    ),
    PrometheusFacts: ("prometheus-columns-1", {"rules": _rules()}),
}
_BY_NAME = {name: cls for cls, (name, _) in _FORMATS.items()}
_PREFIX = '{"store_format":"'


def _marker(name: str) -> str:
    return f'{_PREFIX}{name}"'


@cache
def _stored_model(cls: type[BaseModel], reading: bool = False) -> type[BaseModel]:
    """The facts model as stored: the format's name first, then its fields, those stored as columns as a
    model with a list per column (`reading`: the columns read as another type first, `_Columns.after`)."""
    name, lists = _FORMATS[cls]
    fields: dict[str, Any] = {"store_format": (Literal[name], ...)}  # type: ignore[valid-type]
    for field_name, info in cls.model_fields.items():
        spec = lists.get(field_name)
        if spec is None:
            fields[field_name] = (info.annotation, info)
            continue
        types = {n: spec.after[n][0] if reading and n in spec.after else t for n, t in spec.types.items()}
        columns: dict[str, Any] = {n: (list[t], ...) for n, t in types.items()}  # type: ignore[valid-type]
        model = create_model(f"{cls.__name__}_{field_name}", __config__=ConfigDict(extra="forbid"), **columns)
        fields[field_name] = (model, ...)
    return create_model(f"Stored{cls.__name__}", __config__=ConfigDict(extra="forbid"), **fields)


def dumps(facts: SourceFacts) -> str:
    """The text the store keeps for these facts."""
    cls = type(facts)
    if cls not in _FORMATS:
        return facts.model_dump_json(by_alias=True)
    name, lists = _FORMATS[cls]
    stored = _stored_model(cls)
    values: dict[str, Any] = {"store_format": name}
    for field in cls.model_fields:
        value = getattr(facts, field)
        spec = lists.get(field)
        if spec is not None:
            columns = stored.model_fields[field].annotation
            assert columns is not None
            value = columns.model_construct(**{n: list(map(take, value)) for n, take in spec.take.items()})
        values[field] = value
    text = stored.model_construct(**values).model_dump_json(by_alias=True)
    assert text.startswith(_marker(name))
    return text


def _format_of(text: str | bytes) -> str | None:
    """The format named first in a stored text, None for the facts' own JSON."""
    head = text[:80]
    if isinstance(head, bytes):
        head = head.decode("utf-8", "replace")
    if not head.startswith(_PREFIX):
        return None
    end = head.find('"', len(_PREFIX))
    return head[len(_PREFIX) : end] if end > 0 else None


def loads(text: str | bytes) -> SourceFacts:
    """The facts of a stored text (`dumps`' or the facts' own JSON); pydantic's ValidationError (a ValueError)
    when it is neither."""
    cls = _BY_NAME.get(_format_of(text) or "")
    if cls is None:
        return _facts_validator().validate_json(text)
    lists = _FORMATS[cls][1]
    got = _stored_model(cls, reading=True).model_validate_json(text)
    values: dict[str, Any] = {}
    for field in cls.model_fields:
        value = got.__dict__[field]
        spec = lists.get(field)
        if spec is not None:
            columns = [
                spec.after[n][1](value.__dict__[n]) if n in spec.after else value.__dict__[n] for n in spec.types
            ]
            if len({len(c) for c in columns}) > 1:
                raise ValueError(f"stored {cls.__name__}: the columns of {field} differ in length")
            value = list(map(spec.make, *columns))
        values[field] = value
    # every field is in the text, as in the facts' own JSON: every field counts as set
    return trusted(cls, values)  # type: ignore[return-value]


def text_for(facts: SourceFacts, text: str | None) -> str:
    """`text` when it is these facts' text as their collector wrote it (SourceResult.stored_text) and looks whole:
    this form's (its format's name first) and closed (a file cut short is not stored); else `dumps(facts)`."""
    if text is not None and _format_of(text) == _FORMATS.get(type(facts), ("",))[0] and text.endswith("}"):
        return text
    return dumps(facts)
