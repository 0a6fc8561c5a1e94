"""Validate a YAML document against a pydantic model; errors name the file, line and field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agent.errors import InputError
from collectors.yamlfile import Document

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], doc: Document, data: Any = None, prefix: tuple[str | int, ...] = ()) -> M:
    """`model` from the document (or from `data`, found at `prefix` inside it)."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        path = (*prefix, *loc)
        line = doc.line_of(*path)
        found = doc.found_path(*path)
        # a union's tag is not a key of the file: name the field as the user wrote it
        shown = [x for x in path if x in found or x == path[-1]]
        field = ".".join(str(x) for x in shown) or "document"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown field {field!r}"
        elif err["type"] == "missing":
            msg = f"missing required field {field!r}"
        else:
            msg = f"{field}: {msg}"
        raise InputError(msg, file=doc.file, line=line) from None
