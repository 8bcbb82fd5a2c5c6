"""Newtonsoft.Json for expressions: JToken and its kin, JsonConvert.

Values assigned into a token (``body["max_tokens"] = 100``) or serialized
(``JsonConvert.SerializeObject(new { … })``) are converted the way
``JToken.FromObject`` converts them: anonymous objects and dictionaries
become objects with their members in order, lists become arrays, enums
become numbers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from ..context import Headers
from . import jtoken as j
from .conversions import cast, default_value
from .lib_collections import KEY_VALUE_PAIR, sequence_type
from .lib_common import int_of, method, prop, text_of
from .operators import type_name
from .runtime import NODE_COST, OUT_OF_RANGE, Evaluation, fail
from .types import (
    AnonymousObject,
    Char,
    CsType,
    EnumValue,
    Indexer,
    KeyValuePair,
    make_enum,
)

FORMATTING = make_enum("Formatting", "Newtonsoft.Json", {"None": 0, "Indented": 1})
TOKEN_TYPE = make_enum(
    "JTokenType",
    "Newtonsoft.Json.Linq",
    {
        "None": 0,
        "Object": 1,
        "Array": 2,
        "Constructor": 3,
        "Property": 4,
        "Comment": 5,
        "Integer": 6,
        "Float": 7,
        "String": 8,
        "Boolean": 9,
        "Null": 10,
        "Undefined": 11,
        "Date": 12,
        "Raw": 13,
        "Bytes": 14,
        "Guid": 15,
        "Uri": 16,
        "TimeSpan": 17,
    },
)
_TYPE_NUMBERS = {name: p.get(None) for name, p in TOKEN_TYPE.statics.items()}
T = TypeVar("T", bound=j.JToken)
_SCALARS = (str, bool, int, float, Decimal, datetime, uuid.UUID, timedelta, bytes)


def to_token(ev: Evaluation | None, value: object, depth: int = 0) -> j.JToken:
    """``JToken.FromObject(value)`` (and the implicit conversions to JToken)."""
    if depth > j.MAX_DEPTH:
        fail(f"The serializer's MaxDepth of {j.MAX_DEPTH} has been exceeded.")
    if ev is not None:
        ev.tick()
    if isinstance(value, j.JToken):
        return value
    if value is None or isinstance(value, _SCALARS):
        return j.JValue(str(value) if type(value) is Char else value)
    if isinstance(value, EnumValue):
        return j.JValue(value.value)
    if isinstance(value, list):
        array = j.JArray()
        for item in value:
            array.append(placed(ev, array, to_token(ev, item, depth + 1)))
        return array
    pairs = _pairs(value)
    if pairs is None:
        fail(f"Could not convert a value of type '{type_name(value)}' to JSON.")
    obj = j.JObject()
    for name, item in pairs:
        obj.set(name, placed(ev, obj, to_token(ev, item, depth + 1)))
    return obj


def placed(ev: Evaluation | None, container: j.JContainer | None, token: T) -> T:
    """``token`` about to go into ``container``, counted (fully if it is copied)."""
    if ev is not None:
        copied = j.needs_copy(container, token)
        ev.make_room(j.count_nodes(token) if copied else 1, NODE_COST)
    return token


def _pairs(value: object) -> list[tuple[str, object]] | None:
    if isinstance(value, AnonymousObject):
        return value.items()
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, Headers):
        return [(n, value.get_all(n)) for n in value.names()]
    if isinstance(value, KeyValuePair):
        return [("Key", value.key), ("Value", value.value)]
    return None


# Reading tokens


def index(token: j.JToken, key: object) -> object:
    """``token[key]``: a property of an object, an item of an array."""
    if isinstance(token, j.JObject):
        if not isinstance(key, str):
            fail(
                f"Accessed JObject values with invalid key value: {key}. "
                "Object property name expected."
            )
        return token.get(str(key))
    if isinstance(token, j.JArray):
        if type(key) is not int:
            fail(
                f'Accessed JArray values with invalid key value: "{key}". '
                "Int32 array index expected."
            )
        if not 0 <= key < len(token.items):
            fail(OUT_OF_RANGE)
        return token.items[key]
    fail(f"Cannot access child value on Newtonsoft.Json.Linq.{type(token).__name__}.")


def set_index(ev: Evaluation, token: j.JToken, key: object, value: object) -> None:
    """``token[key] = value``."""
    item = to_token(ev, value)
    if isinstance(token, j.JObject) and isinstance(key, str):
        token.set(str(key), placed(ev, token, item))
    elif isinstance(token, j.JArray) and type(key) is int:
        if not 0 <= key < len(token.items):
            fail(OUT_OF_RANGE)
        token.replace(key, placed(ev, token, item))
    else:
        fail(f"Set JSON value with invalid key value: {key}.")


def _value(token: j.JToken, target: CsType | None, *key: object) -> object:
    found = index(token, key[0]) if key else token
    if target is None:
        return found
    return default_value(target) if found is None else cast(found, target)


def _to_object(token: j.JToken, target: CsType | None) -> object:
    if target is None:
        fail("ToObject needs a type argument, as in ToObject<string>()")
    return cast(token, target)


def _to_string(token: j.JToken, formatting: object = None, *converters: object) -> str:
    if isinstance(formatting, EnumValue) and formatting.value == 0:
        return (
            j.write(token, indented=False)
            if not isinstance(token, j.JValue)
            else j.to_text(token)
        )
    return j.to_text(token)


def _token_type(token: j.JToken) -> EnumValue:
    number = _TYPE_NUMBERS[token.token_type()]
    assert isinstance(number, EnumValue)
    return number


def _children(token: j.JToken) -> list[object]:
    return list(token.children())


def _edge(last: bool) -> Callable[[j.JToken], object]:
    def run(token: j.JToken) -> object:
        children = token.children()
        return (children[-1] if last else children[0]) if children else None

    return run


def _select_token(token: j.JToken, path: object, strict: object = False) -> object:
    """``SelectToken`` for plain paths: ``$.messages[0].content``, ``a['b c']``."""
    node: j.JToken | None = token
    for step in _path_steps(text_of(path, "path")):
        if node is None:
            return None
        if isinstance(step, int) and isinstance(node, j.JArray):
            node = node.items[step] if 0 <= step < len(node.items) else None
        elif isinstance(step, str) and isinstance(node, j.JObject):
            node = node.get(step)
        else:
            return None
    return node


def _path_steps(path: str) -> list[int | str]:
    steps: list[int | str] = []
    i = 1 if path.startswith("$") else 0
    while i < len(path):
        char = path[i]
        if char == ".":
            i += 1
            continue
        if char == "[":
            close = path.find("]", i)
            if close < 0:
                fail(f"Unterminated path: '{path}'")
            inner = path[i + 1 : close].strip()
            if inner[:1] in "'\"":
                steps.append(inner[1:-1])
            elif inner.isdigit():
                steps.append(int(inner))
            else:
                fail(
                    f"Unsupported JSON path '{path}': "
                    "only names and indexes are supported"
                )
            i = close + 1
            continue
        end = min(
            [k for k in (path.find(".", i), path.find("[", i)) if k >= 0],
            default=len(path),
        )
        steps.append(path[i:end])
        i = end
    return steps


def _deep_equals(a: object, b: object) -> bool:
    return j.deep_equals(_token_or_null(a), _token_or_null(b))


def _token_or_null(value: object) -> j.JToken | None:
    if value is not None and not isinstance(value, j.JToken):
        fail(f"JToken.DeepEquals compares JSON tokens, not '{type_name(value)}'")
    return value


def _deep_clone(ev: Evaluation, token: j.JToken) -> j.JToken:
    ev.make_room(j.count_nodes(token), NODE_COST)
    return token.clone()


def _remove(token: j.JToken) -> None:
    j.remove(token)


TOKEN_INDEXER = Indexer(index, "JToken", set_index)

_TOKEN_PROPERTIES = {
    "Type": prop(_token_type, "JTokenType"),
    "HasValues": prop(lambda t: bool(t.children()), "bool"),
    "Path": prop(lambda t: t.path(), "string"),
    "Parent": prop(lambda t: t.parent, "JToken"),
    "First": prop(_edge(False), "JToken"),
    "Last": prop(_edge(True), "JToken"),
}
_TOKEN_METHODS = {
    "Value": method(_value, "key", required=0, generic=True, returns="T"),
    "ToObject": method(_to_object, generic=True, returns="T"),
    "ToString": method(
        _to_string, "formatting", required=0, variadic=True, returns="string"
    ),
    "Children": method(_children, returns="JToken[]"),
    "SelectToken": method(
        _select_token, "path", "errorWhenNoMatch", required=1, returns="JToken"
    ),
    "DeepClone": method(_deep_clone, budget=True, returns="JToken"),
    "Remove": method(_remove, returns="void"),
}


def _parse_as(kind: type[j.JToken], name: str) -> Callable[..., j.JToken]:
    def run(text: object, settings: object = None) -> j.JToken:
        token = j.parse(text)
        if not isinstance(token, kind):
            fail(
                f"Error reading {name} from JsonReader. Current JsonReader item is not "
                f"{'an object' if name == 'JObject' else 'an array'}: "
                f"{token.token_type()}."
            )
        return token

    return run


def _from_object(kind: type[j.JToken], name: str) -> Callable[..., j.JToken]:
    def run(ev: Evaluation, value: object) -> j.JToken:
        if value is None:
            fail("Value cannot be null. (Parameter 'o')")
        token = to_token(ev, value)
        if not isinstance(token, kind):
            fail(
                f"Object serialized to {token.token_type()}. {name} instance expected."
            )
        return token

    return run


def _token_type_of(name: str, kind: type[j.JToken], **members: object) -> CsType:
    properties = {**_TOKEN_PROPERTIES, **members.pop("properties", {})}  # type: ignore[dict-item]
    methods = {**_TOKEN_METHODS, **members.pop("methods", {})}  # type: ignore[dict-item]
    return sequence_type(
        name,
        f"Newtonsoft.Json.Linq.{name}",
        lambda v: isinstance(v, kind),
        properties=properties,
        methods=methods,
        indexer=members.pop("indexer", TOKEN_INDEXER),
        **members,
    )


# JObject


def _new_object(ev: Evaluation, *content: object) -> j.JObject:
    obj = j.JObject()
    for item in content:
        _object_add(ev, obj, item)
    return obj


def _object_add(
    ev: Evaluation, obj: j.JObject, name: object, value: object = j.JValue
) -> None:
    if value is not j.JValue:
        item = placed(ev, None, to_token(ev, value))
        new = j.JProperty(text_of(name, "propertyName"), item)
        obj.add_property(placed(ev, obj, new))
    elif isinstance(name, j.JProperty):
        obj.add_property(placed(ev, obj, name))
    elif isinstance(name, j.JObject):
        for prop_ in list(name.properties.values()):
            obj.add_property(placed(ev, obj, prop_))
    elif isinstance(name, list):
        for item in name:
            _object_add(ev, obj, item)
    else:
        fail(f"Can not add {type_name(name)} to Newtonsoft.Json.Linq.JObject.")


def _get_value(obj: j.JObject, name: object, comparison: object = None) -> object:
    key = text_of(name, "propertyName")
    if key in obj.properties or not (
        isinstance(comparison, EnumValue) and comparison.value % 2
    ):
        return obj.get(key)
    folded = key.lower()
    return next(
        (p.value for n, p in obj.properties.items() if n.lower() == folded), None
    )


def _property(obj: j.JObject, name: object, comparison: object = None) -> object:
    value = _get_value(obj, name, comparison)
    return value.parent if isinstance(value, j.JToken) else None


JOBJECT = _token_type_of(
    "JObject",
    j.JObject,
    properties={"Count": prop(lambda o: len(o.properties), "int")},
    methods={
        "Properties": method(
            lambda o: list(o.properties.values()), returns="JProperty[]"
        ),
        "Property": method(
            _property, "name", "comparison", required=1, returns="JProperty"
        ),
        "GetValue": method(
            _get_value, "propertyName", "comparison", required=1, returns="JToken"
        ),
        "ContainsKey": method(
            lambda o, k: isinstance(k, str) and k in o.properties,
            "propertyName",
            returns="bool",
        ),
        "Remove": method(
            lambda o, k=None: (
                j.remove(o) if k is None else o.remove(text_of(k, "propertyName"))
            ),
            "propertyName",
            required=0,
            returns="bool",
        ),
        "Add": method(
            _object_add,
            "propertyName",
            "value",
            required=1,
            budget=True,
            returns="void",
        ),
    },
    static_methods={
        "Parse": method(
            _parse_as(j.JObject, "JObject"),
            "json",
            "settings",
            required=1,
            returns="JObject",
        ),
        "FromObject": method(
            _from_object(j.JObject, "JObject"), "o", budget=True, returns="JObject"
        ),
    },
    constructor=method(_new_object, required=0, variadic=True, budget=True),
)


# JArray


def _new_array(ev: Evaluation, *content: object) -> j.JArray:
    """``new JArray(other)`` copies ``other``; other arguments become items."""
    if len(content) == 1 and isinstance(content[0], j.JArray):
        ev.make_room(j.count_nodes(content[0]), NODE_COST)
        return content[0].clone()
    array = j.JArray()
    for item in content:
        _array_add(ev, array, item)
    return array


def _array_add(ev: Evaluation, array: j.JArray, item: object) -> None:
    """``array.Add(item)``: a list adds each of its items, as Newtonsoft does."""
    if isinstance(item, list):
        for element in item:
            _array_add(ev, array, element)
        return
    array.append(placed(ev, array, to_token(ev, item)))


def _array_remove(array: j.JArray, item: object) -> bool:
    at = next((i for i, x in enumerate(array.items) if x is item), -1)
    if at < 0:
        return False
    array.remove_at(at)
    return True


def _array_insert(ev: Evaluation, array: j.JArray, at: object, item: object) -> None:
    array.insert(int_of(at, "index"), placed(ev, array, to_token(ev, item)))


def _array_remove_at(array: j.JArray, at: object) -> None:
    position = int_of(at, "index")
    if not 0 <= position < len(array.items):
        fail("Index is equal to or greater than Count. (Parameter 'index')")
    array.remove_at(position)


def _array_clear(array: j.JArray) -> None:
    while array.items:
        array.remove_at(0)


JARRAY = _token_type_of(
    "JArray",
    j.JArray,
    properties={"Count": prop(lambda a: len(a.items), "int")},
    methods={
        "Add": method(_array_add, "item", budget=True, returns="void"),
        "Remove": method(_array_remove, "item", returns="bool"),
        "RemoveAt": method(_array_remove_at, "index", returns="void"),
        "Insert": method(_array_insert, "index", "item", budget=True, returns="void"),
        "Clear": method(_array_clear, returns="void"),
        "IndexOf": method(lambda a, x: a.index_of(x), "item", returns="int"),
    },
    static_methods={
        "Parse": method(
            _parse_as(j.JArray, "JArray"),
            "json",
            "settings",
            required=1,
            returns="JArray",
        ),
        "FromObject": method(
            _from_object(j.JArray, "JArray"), "o", budget=True, returns="JArray"
        ),
    },
    constructor=method(_new_array, required=0, variadic=True, budget=True),
    element=None,
)


# JToken, JProperty, JValue


JTOKEN = _token_type_of(
    "JToken",
    j.JToken,
    static_methods={
        "Parse": method(
            lambda text, settings=None: j.parse(text),
            "json",
            "settings",
            required=1,
            returns="JToken",
        ),
        "FromObject": method(
            _from_object(j.JToken, "JToken"), "o", budget=True, returns="JToken"
        ),
        "DeepEquals": method(_deep_equals, "t1", "t2", returns="bool"),
    },
)
JCONTAINER = _token_type_of(
    "JContainer",
    j.JContainer,
    properties={"Count": prop(lambda c: len(c.children()), "int")},
)


def _new_property(ev: Evaluation, name: object, *content: object) -> j.JProperty:
    value: object = content[0] if len(content) == 1 else list(content)
    return j.JProperty(text_of(name, "name"), placed(ev, None, to_token(ev, value)))


JPROPERTY = _token_type_of(
    "JProperty",
    j.JProperty,
    properties={
        "Name": prop(lambda p: p.name, "string"),
        "Value": prop(lambda p: p.value, "JToken"),
    },
    constructor=method(
        _new_property, "name", "content", required=1, variadic=True, budget=True
    ),
)


def _new_value(ev: Evaluation, value: object) -> j.JValue:
    token = to_token(ev, value)
    if not isinstance(token, j.JValue):
        fail(f"Could not create a JValue from a value of type '{type_name(value)}'.")
    return j.JValue(token.value)


JVALUE = _token_type_of(
    "JValue",
    j.JValue,
    properties={"Value": prop(lambda v: v.value)},
    static_methods={"CreateNull": method(lambda: j.JValue(None), returns="JValue")},
    constructor=method(
        lambda ev, value: _new_value(ev, value),
        "value",
        budget=True,
    ),
)
for _type in (JTOKEN, JARRAY, JPROPERTY, JVALUE, JCONTAINER):
    _type.element = JTOKEN
JOBJECT.element = KEY_VALUE_PAIR


# JsonConvert


def serialize(ev: Evaluation, value: object, *options: object) -> str:
    """``JsonConvert.SerializeObject(value[, Formatting.Indented])``.

    Values are written directly, as ``JToken.FromObject`` would convert
    them, without building tokens.
    """
    indented = any(
        isinstance(o, EnumValue) and o.enum == "Formatting" and o.value == 1
        for o in options
    )

    def shape(node: object) -> j.Shape:
        ev.tick()
        if isinstance(node, list):
            return "array", node
        pairs = _pairs(node)
        if pairs is not None:
            return "object", pairs
        if isinstance(node, EnumValue):
            return "scalar", str(node.value)
        if node is None or isinstance(node, _SCALARS):
            return "scalar", j.scalar_json(str(node) if type(node) is Char else node)
        fail(f"Could not convert a value of type '{type_name(node)}' to JSON.")

    text = j.write(value, indented=indented, shape=shape)
    ev.charge(len(text))
    return text


def deserialize(
    ev: Evaluation, target: CsType | None, text: object, *settings: object
) -> object:
    """``JsonConvert.DeserializeObject[<T>](text)``."""
    if text is None:
        fail("Value cannot be null. (Parameter 'value')")
    token = j.parse(text)
    ev.make_room(j.count_nodes(token), NODE_COST)
    if target is None or target.test(token):
        return token
    if isinstance(token, j.JValue):
        return cast(token, target)
    fail(
        f"Cannot deserialize the current JSON {token.token_type().lower()} "
        f"into type '{target.name}'."
    )


JSON_CONVERT = CsType(
    "JsonConvert",
    "Newtonsoft.Json.JsonConvert",
    lambda v: False,
    static_methods={
        "SerializeObject": method(
            serialize,
            "value",
            "formatting",
            "settings",
            required=1,
            budget=True,
            returns="string",
        ),
        "DeserializeObject": method(
            deserialize,
            "value",
            "settings",
            required=1,
            generic=True,
            budget=True,
            returns="T",
        ),
    },
)

TYPES = [
    JTOKEN,
    JCONTAINER,
    JOBJECT,
    JARRAY,
    JPROPERTY,
    JVALUE,
    JSON_CONVERT,
    FORMATTING,
    TOKEN_TYPE,
]
