"""Validate a YAML document against a pydantic model, or the YAML kinds of its values against the Go structs
Prometheus and Alertmanager read it into; errors name the file, line and field."""

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


# --------------------------------------------------------------------------- YAML shapes of Go config structs
#
# Prometheus and Alertmanager read their YAML into Go structs (gopkg.in/yaml.v2): a value of the wrong YAML kind
# for its field is refused at its line ("cannot unmarshal !!str `x` into []string"). `check_shape` refuses the same
# values, naming the file, line and field, before the loaders read them: a string where a list is expected is not
# read char by char, a list where a mapping is expected does not raise AttributeError.
#
# A shape is STR (any scalar: Go's string, and what is read from one: durations, URLs, regexps, secrets), BOOL,
# INT, MAPPING (any mapping, not looked into), [shape] (a list of them), MapOf(shape) (a mapping of any keys to
# them) or a dict of field -> shape (a struct: the fields it names are checked, other keys are left to the loader,
# which refuses unknown ones in Alertmanager's words). null is accepted everywhere (Go's zero value).


class _Kind:
    def __init__(self, name: str, expected: str):
        self.name = name
        self.expected = expected

    def __repr__(self) -> str:
        return self.name


STR = _Kind("STR", "a string")
BOOL = _Kind("BOOL", "a boolean (true or false)")
INT = _Kind("INT", "an integer")
MAPPING = _Kind("MAPPING", "a mapping")


class MapOf:
    """A mapping of any keys (Go's map[string]T) to values of one shape."""

    def __init__(self, value: Any):
        self.value = value


class Strict:
    """A Go struct read with yaml.UnmarshalStrict (Alertmanager): its fields' shapes, and any other key refused at its
    line in Go's words, `field KEY not found in type TYPE` (the key is named, its value never shown)."""

    def __init__(self, fields: dict[str, Any], type_name: str = "config.plain"):
        self.fields = fields
        self.type_name = type_name


Shape = Any  # _Kind | list | MapOf | Strict | dict[str, Shape]

# the plain scalars yaml.v2 reads as booleans (YAML 1.1); yaml-rs reads most of them as strings
_GO_BOOLS = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}


def go_bool(value: Any) -> bool:
    """A field `check_shape` accepted as BOOL: a bool, or a plain YAML 1.1 boolean word (`yes`, `off`)."""
    if isinstance(value, str):
        return _GO_BOOLS[value]
    return bool(value)


def _expected(shape: Shape) -> str:
    if isinstance(shape, _Kind):
        return shape.expected
    if isinstance(shape, list):
        item = shape[0]
        if item is STR:
            return "a list of strings"
        if isinstance(item, dict | MapOf | Strict) or item is MAPPING:
            return "a list of mappings"
        return "a list"
    if isinstance(shape, MapOf) and shape.value is STR:
        return "a mapping of strings"
    return "a mapping"


def _found(value: Any) -> str:
    """The YAML kind of `value`, never the value itself: it may be a secret (a routing key), and the error goes to
    the log, the sources table and the store."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"  # a date or timestamp


def _plain_scalar(doc: Document, path: tuple[str | int, ...]) -> bool:
    """Whether the value at `path` is written as a plain (unquoted) scalar: the error path only."""
    import yaml

    try:
        node = yaml.compose(doc.text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return False
    for key in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
        else:
            return False
    return isinstance(node, yaml.ScalarNode) and not node.style  # libyaml says "", PyYAML None


def check_shape(doc: Document, shape: Shape, data: Any = None, path: tuple[str | int, ...] = ()) -> None:
    """Raise an InputError at the first value of `data` (default: the document's; found at `path` in it) whose YAML
    kind is not what `shape` asks for: `FILE:LINE: field.path: expected a list of strings, found a string`."""
    todo: list[tuple[Shape, Any, tuple[str | int, ...]]] = [(shape, doc.data if data is None else data, path)]
    while todo:
        shape, value, at = todo.pop()
        if value is None:
            continue
        if shape is STR:
            ok = not isinstance(value, dict | list)
        elif shape is BOOL:
            ok = isinstance(value, bool) or (isinstance(value, str) and value in _GO_BOOLS and _plain_scalar(doc, at))
        elif shape is INT:
            ok = not isinstance(value, bool) and (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            )
        elif isinstance(shape, list):
            ok = isinstance(value, list)
            if ok:
                todo.extend(reversed([(shape[0], v, (*at, i)) for i, v in enumerate(value)]))
        else:
            ok = isinstance(value, dict)
            if ok and isinstance(shape, MapOf):
                todo.extend(reversed([(shape.value, v, (*at, k)) for k, v in value.items()]))
            elif ok and isinstance(shape, dict):
                todo.extend(reversed([(shape[k], v, (*at, k)) for k, v in value.items() if k in shape]))
            elif ok and isinstance(shape, Strict):
                for k in value:
                    if k not in shape.fields:
                        raise InputError(
                            f"field {k} not found in type {shape.type_name}", file=doc.file, line=doc.line_of(*at, k)
                        )
                todo.extend(reversed([(shape.fields[k], v, (*at, k)) for k, v in value.items()]))
        if not ok:
            field = ".".join(str(x) for x in at) or "document"
            raise InputError(
                f"{field}: expected {_expected(shape)}, found {_found(value)}", file=doc.file, line=doc.line_of(*at)
            )
