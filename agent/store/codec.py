"""A source's facts as the store writes and reads them: their JSON, except PagerDuty's incidents and log
entries, which are written as columns (a list per field).

Why: on the large benchmark organisation PagerDuty's facts are 93 MB of JSON in every snapshot, 200,000
incidents and 93,000 log entries whose field names take half of it; serialising them held the GIL for
~0.75 s beside the analysis, and reading them back took ~1.4 s of pydantic-core's time. As columns the text
is about half as long; each column is still validated by pydantic-core straight from the text, with the
field's own type, and the objects are then made from the validated columns without a second validation.

Only the store uses this form (`dumps`, `loads`); every other JSON of the facts (the API, the CLI,
caches) is the models' own. A text without the marker (`_MARKER`, first in the text) is the facts' own
JSON, as every snapshot stored before this form was: `loads` reads both.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from operator import attrgetter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from collectors.facts import PagerDutyFacts, PDIncident, PDLogEntry, SourceFacts, slotted_maker, trusted

FORMAT = "pagerduty-columns-1"
_MARKER = '{"store_format":"' + FORMAT + '"'
_COLUMNAR: dict[str, type[Any]] = {"incidents": PDIncident, "log_entries": PDLogEntry}


@cache
def _facts_validator() -> TypeAdapter[SourceFacts]:
    """The validator of a facts JSON text (one of the facts models, chosen by its `kind`)."""
    return TypeAdapter(Annotated[SourceFacts, Field(discriminator="kind")])


def _columns_model(cls: type[Any]) -> type[BaseModel]:
    """A model with a list per field of the slotted fact `cls`, each item of the field's own type."""
    fields: dict[str, Any] = {n: (list[f.annotation], ...) for n, f in cls.__pydantic_fields__.items()}  # type: ignore[name-defined]
    return create_model(f"{cls.__name__}Columns", __config__=ConfigDict(extra="forbid"), **fields)


@cache
def _stored_model() -> type[BaseModel]:
    """PagerDutyFacts as stored: the marker first, then its fields, the columnar ones as `_columns_model`."""
    fields: dict[str, Any] = {"store_format": (Literal["pagerduty-columns-1"], ...)}
    for name, info in PagerDutyFacts.model_fields.items():
        cls = _COLUMNAR.get(name)
        fields[name] = (_columns_model(cls), ...) if cls is not None else (info.annotation, info)
    return create_model("StoredPagerDutyFacts", __config__=ConfigDict(extra="forbid"), **fields)


_MAKE = {name: slotted_maker(cls) for name, cls in _COLUMNAR.items()}
_FIELDS = {name: list(cls.__pydantic_fields__) for name, cls in _COLUMNAR.items()}


def dumps(facts: SourceFacts) -> str:
    """The text the store keeps for these facts."""
    if not isinstance(facts, PagerDutyFacts):
        return facts.model_dump_json(by_alias=True)
    stored = _stored_model()
    values: dict[str, Any] = {"store_format": FORMAT}
    for name in PagerDutyFacts.model_fields:
        value = getattr(facts, name)
        if name in _COLUMNAR:
            columns = stored.model_fields[name].annotation
            assert columns is not None
            value = columns.model_construct(**{n: list(map(attrgetter(n), value)) for n in _FIELDS[name]})
        values[name] = value
    text = stored.model_construct(**values).model_dump_json(by_alias=True)
    assert text.startswith(_MARKER)
    return text


def loads(text: str | bytes) -> SourceFacts:
    """The facts of a stored text (`dumps`' or the facts' own JSON); pydantic's ValidationError when it is
    neither."""
    head = text[: len(_MARKER)]
    if (head.decode("utf-8", "replace") if isinstance(head, bytes) else head) != _MARKER:
        return _facts_validator().validate_json(text)
    got = _stored_model().model_validate_json(text)
    values: dict[str, Any] = {}
    for name in PagerDutyFacts.model_fields:
        value = got.__dict__[name]
        if name in _COLUMNAR:
            columns = [value.__dict__[n] for n in _FIELDS[name]]
            if len({len(c) for c in columns}) > 1:
                raise ValueError(f"stored PagerDuty facts: the columns of {name} differ in length")
            value = list(map(_MAKE[name], *columns))
        values[name] = value
    # every field is in the text, as in the facts' own JSON: every field counts as set
    return trusted(PagerDutyFacts, values)


# Texts offered by a collector for facts of a content key (SourceStatus.facts_key: the same key, the same
# facts), read by the store instead of serialising the facts (see ExportCache.put_text); taken once.
_OFFERED: dict[str, Callable[[], str | None]] = {}


def offer(key: str, read: Callable[[], str | None]) -> None:
    """`read()` gives `dumps`' text of the facts whose content key is `key` (or None when it cannot)."""
    _OFFERED[key] = read


def text_for(facts: SourceFacts, key: str | None) -> str:
    """`dumps(facts)`, or the text offered for their content key when there is one and it reads back as this
    form's (its marker first)."""
    read = _OFFERED.pop(key, None) if key is not None else None
    if read is not None:
        text = read()
        if text is not None and text.startswith(_MARKER):
            return text
    return dumps(facts)


def forget(key: str | None) -> None:
    """Drop what was offered for this key (the store copied the text it already held)."""
    if key is not None:
        _OFFERED.pop(key, None)
