"""JSON tokens as Newtonsoft.Json.Linq models them: JObject, JArray, JValue.

A token knows its parent, so that adding a token that already sits
somewhere else adds a copy (as Newtonsoft does), which also keeps trees
free of cycles.  Text is written as Newtonsoft writes it: compact for
``Formatting.None`` and ``JsonConvert.SerializeObject``; two-space indents
and ``"name": value`` for ``ToString()``, lines ending in `NEWLINE`.
Parsing is strict JSON (Newtonsoft also accepts comments and single
quotes) and refuses documents nested deeper than `MAX_DEPTH`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from . import dates, numbers
from .runtime import fail
from .types import EnumValue

# Newtonsoft writes Environment.NewLine; APIM's Linux gateways use "\n".
NEWLINE = "\n"
MAX_DEPTH = 64

_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\x85\u2028\u2029]')
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class JToken:
    """Any JSON token."""

    __slots__ = ("parent",)

    def __init__(self) -> None:
        self.parent: JContainer | None = None

    def children(self) -> list[JToken]:
        return []

    def clone(self) -> JToken:
        raise NotImplementedError

    def token_type(self) -> str:
        """The JTokenType member name: Object, Array, String, Integer, ..."""
        raise NotImplementedError

    def path(self) -> str:
        """The JSONPath Newtonsoft reports: ``messages[0].content``."""
        steps = [_name_step(self.name)] if isinstance(self, JProperty) else []
        node: JToken = self
        while node.parent is not None:
            parent = node.parent
            if isinstance(parent, JProperty):
                steps.append(_name_step(parent.name))
            elif isinstance(parent, JArray):
                steps.append(f"[{parent.index_of(node)}]")
            node = parent
        text = ""
        for step in reversed(steps):
            text += step if step.startswith("[") or not text else "." + step
        return text


def _name_step(name: str) -> str:
    plain = name and not any(c in name for c in " .[]()'\"")
    return name if plain else f"['{name}']"


class JValue(JToken):
    """A JSON scalar: string, integer, float, boolean, null, or a .NET value."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        super().__init__()
        self.value = value

    def token_type(self) -> str:
        return _value_type(self.value)

    def clone(self) -> JValue:
        return JValue(self.value)


class JContainer(JToken):
    """A token with children: JObject, JArray or JProperty."""

    __slots__ = ()

    def adopt(self, token: JToken) -> JToken:
        """``token`` ready to be placed here: copied if it has a home already."""
        if needs_copy(self, token):
            token = token.clone()
        token.parent = self
        return token

    def has_ancestor(self, token: JToken) -> bool:
        node = self.parent
        while node is not None:
            if node is token:
                return True
            node = node.parent
        return False


class JProperty(JContainer):
    """A name and its value inside a JObject."""

    __slots__ = ("name", "value")

    def token_type(self) -> str:
        return "Property"

    def __init__(self, name: str, value: JToken) -> None:
        super().__init__()
        self.name = name
        self.value = self.adopt(value)

    def set_value(self, value: JToken) -> None:
        self.value.parent = None
        self.value = self.adopt(value)

    def children(self) -> list[JToken]:
        return [self.value]

    def clone(self) -> JProperty:
        return JProperty(self.name, self.value.clone())


class JObject(JContainer):
    """A JSON object: properties in insertion order."""

    __slots__ = ("properties",)

    def token_type(self) -> str:
        return "Object"

    def __init__(self) -> None:
        super().__init__()
        self.properties: dict[str, JProperty] = {}

    def get(self, name: str) -> JToken | None:
        prop = self.properties.get(name)
        return prop.value if prop is not None else None

    def set(self, name: str, value: JToken) -> None:
        """Set a property's value, adding the property at the end if new."""
        prop = self.properties.get(name)
        if prop is None:
            self.add_property(JProperty(name, value))
        else:
            prop.set_value(value)

    def add_property(self, prop: JProperty) -> None:
        if prop.name in self.properties:
            fail(
                f"Can not add property {prop.name} to Newtonsoft.Json.Linq.JObject. "
                "Property with the same name already exists on object."
            )
        adopted = self.adopt(prop)
        assert isinstance(adopted, JProperty)
        self.properties[prop.name] = adopted

    def remove(self, name: str) -> bool:
        prop = self.properties.pop(name, None)
        if prop is None:
            return False
        prop.parent = None
        return True

    def children(self) -> list[JToken]:
        return list(self.properties.values())

    def clone(self) -> JObject:
        copy = JObject()
        for prop in self.properties.values():
            copy.add_property(prop.clone())
        return copy


class JArray(JContainer):
    """A JSON array."""

    __slots__ = ("items",)

    def token_type(self) -> str:
        return "Array"

    def __init__(self, items: list[JToken] | None = None) -> None:
        super().__init__()
        self.items: list[JToken] = []
        for item in items or ():
            self.append(item)

    def append(self, item: JToken) -> None:
        self.items.append(self.adopt(item))

    def insert(self, index: int, item: JToken) -> None:
        if not 0 <= index <= len(self.items):
            fail("Index must be within the bounds of the List. (Parameter 'index')")
        self.items.insert(index, self.adopt(item))

    def replace(self, index: int, item: JToken) -> None:
        self.items[index].parent = None
        self.items[index] = self.adopt(item)

    def remove_at(self, index: int) -> None:
        self.items.pop(index).parent = None

    def index_of(self, item: JToken) -> int:
        return next((i for i, x in enumerate(self.items) if x is item), -1)

    def children(self) -> list[JToken]:
        return list(self.items)

    def clone(self) -> JArray:
        return JArray([item.clone() for item in self.items])


def _value_type(value: object) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (str, "String"),
        (int, "Integer"),
        ((float, Decimal), "Float"),
        (datetime, "Date"),
        (uuid.UUID, "Guid"),
        (timedelta, "TimeSpan"),
        (bytes, "Bytes"),
    ]
    return next((name for kind, name in kinds if isinstance(value, kind)), "String")


def needs_copy(container: JContainer | None, token: JToken) -> bool:
    """Whether placing ``token`` in ``container`` (None: a new one) copies it.

    As in Newtonsoft, a token that already has a parent is copied; so is a
    token that contains the container, which keeps every tree acyclic.
    """
    if token.parent is not None:
        return True
    return container is not None and (
        token is container or container.has_ancestor(token)
    )


def remove(token: JToken) -> None:
    """``token.Remove()``: take it out of its parent."""
    parent = token.parent
    if parent is None:
        fail("The parent is missing.")
    if isinstance(parent, JProperty):
        owner = parent.parent
        if isinstance(owner, JObject):
            owner.remove(parent.name)
            return
        fail("Cannot add or remove items from Newtonsoft.Json.Linq.JProperty.")
    if isinstance(parent, JObject) and isinstance(token, JProperty):
        parent.remove(token.name)
    elif isinstance(parent, JArray):
        parent.remove_at(parent.index_of(token))


def count_nodes(token: JToken) -> int:
    """How many tokens a copy of ``token`` creates."""
    total, stack = 0, [token]
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node.children())
    return total


def parse(text: object) -> JToken:
    """Read JSON text into tokens, as ``JToken.Parse`` does."""
    if text is None:
        fail("Value cannot be null. (Parameter 'json')")
    try:
        data = json.loads(str(text), object_pairs_hook=_pairs, parse_constant=_constant)
    except RecursionError:
        fail(f"The reader's MaxDepth of {MAX_DEPTH} has been exceeded.")
    except ValueError as exc:
        fail(f"Unexpected character encountered while parsing value: {exc}")
    return from_json(data, 0)


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    return dict(pairs)


def _constant(name: str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def from_json(data: object, depth: int) -> JToken:
    """Tokens for what `json.loads` returned."""
    if depth > MAX_DEPTH:
        fail(f"The reader's MaxDepth of {MAX_DEPTH} has been exceeded.")
    if isinstance(data, dict):
        obj = JObject()
        for name, value in data.items():
            obj.add_property(JProperty(name, from_json(value, depth + 1)))
        return obj
    if isinstance(data, list):
        return JArray([from_json(item, depth + 1) for item in data])
    return JValue(data)


def escape(text: str) -> str:
    """A JSON string literal with Newtonsoft's default escaping."""
    if _NEEDS_ESCAPE.search(text) is None:
        return f'"{text}"'
    return '"' + _NEEDS_ESCAPE.sub(_escape_one, text) + '"'


def _escape_one(match: re.Match[str]) -> str:
    char = match.group(0)
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def scalar_json(value: object) -> str:
    """A .NET value as Newtonsoft writes it inside JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _number_json(value)
    if isinstance(value, datetime):
        return (
            '"'
            + dates.format_datetime(value, "yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFFK")
            + '"'
        )
    if isinstance(value, uuid.UUID):
        return f'"{value}"'
    if isinstance(value, timedelta):
        return '"' + dates.format_timespan(value) + '"'
    if isinstance(value, bytes):
        return '"' + base64.b64encode(value).decode() + '"'
    if isinstance(value, EnumValue):
        return str(value.value)
    return escape(str(value))


def _number_json(value: float | Decimal) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return escape(numbers.format_double(value))
    text = numbers.default_text(value)
    return text if any(c in text for c in ".E") else text + ".0"


# How `write` sees a value that is not a token: ("object", [(name, value)]),
# ("array", [value]) or ("scalar", json_text).
Shape = tuple[str, object]


def write(
    node: object,
    *,
    indented: bool,
    shape: Callable[[object], Shape] | None = None,
) -> str:
    """JSON text of a token, compact or indented as Newtonsoft writes it.

    Values that are not tokens (anonymous objects, lists) are written as
    ``shape`` describes them, so that serializing them needs no tokens.
    """
    out: list[str] = []
    try:
        _write(node, out, 0 if indented else -1, shape or _no_shape, 0)
    except RecursionError:
        fail("JSON nested too deeply to write.")
    return "".join(out)


def _no_shape(node: object) -> Shape:
    return "scalar", scalar_json(node)


def _token_shape(token: JToken) -> Shape:
    if isinstance(token, JObject):
        return "object", [(n, p.value) for n, p in token.properties.items()]
    if isinstance(token, JArray):
        return "array", token.items
    if isinstance(token, JProperty):
        return "object", [(token.name, token.value)]
    assert isinstance(token, JValue)
    return "scalar", scalar_json(token.value)


def _write(
    node: object,
    out: list[str],
    level: int,
    shape: Callable[[object], Shape],
    depth: int,
) -> None:
    if depth > MAX_DEPTH * 4:
        fail("JSON nested too deeply to write.")
    kind, content = _token_shape(node) if isinstance(node, JToken) else shape(node)
    if kind == "scalar":
        out.append(str(content))
        return
    if isinstance(node, JProperty):
        out.append(escape(node.name) + (": " if level >= 0 else ":"))
        _write(node.value, out, level, shape, depth + 1)
        return
    members = list(content)  # type: ignore[call-overload]
    brackets = "{}" if kind == "object" else "[]"
    if not members:
        out.append(brackets)
        return
    out.append(brackets[0])
    inner = level + 1 if level >= 0 else -1
    for i, member in enumerate(members):
        out.append("," if i else "")
        if level >= 0:
            out.append(NEWLINE + "  " * inner)
        if kind == "object":
            name, member = member
            out.append(escape(name) + (": " if level >= 0 else ":"))
        _write(member, out, inner, shape, depth + 1)
    if level >= 0:
        out.append(NEWLINE + "  " * level)
    out.append(brackets[1])


def to_text(token: JToken) -> str:
    """``token.ToString()``: indented JSON, or a scalar's own text."""
    if isinstance(token, JValue):
        return scalar_text(token.value)
    return write(token, indented=True)


def scalar_text(value: object) -> str:
    """A JValue's ``ToString()``: the .NET text of what it holds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float | Decimal):
        return numbers.default_text(value)
    if isinstance(value, datetime):
        return dates.format_datetime(value)
    if isinstance(value, timedelta):
        return dates.format_timespan(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def deep_equals(a: JToken | None, b: JToken | None) -> bool:
    """``JToken.DeepEquals``: same structure and values."""
    if a is None or b is None:
        return a is b
    if isinstance(a, JValue) and isinstance(b, JValue):
        return _same_value(a.value, b.value)
    if type(a) is not type(b):
        return False
    if isinstance(a, JObject) and isinstance(b, JObject):
        return a.properties.keys() == b.properties.keys() and all(
            deep_equals(a.get(k), b.get(k)) for k in a.properties
        )
    if isinstance(a, JProperty) and isinstance(b, JProperty):
        return a.name == b.name and deep_equals(a.value, b.value)
    ac, bc = a.children(), b.children()
    return len(ac) == len(bc) and all(
        deep_equals(x, y) for x, y in zip(ac, bc, strict=True)
    )


def _same_value(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def iterate(token: JToken) -> Iterator[JToken]:
    """What ``foreach`` meets in a token: array items or object properties."""
    if isinstance(token, JValue):
        fail("Cannot access child value on Newtonsoft.Json.Linq.JValue.")
    yield from token.children()
