"""Arrays, lists, dictionaries, header collections and LINQ over them.

Arrays and ``List<T>`` are Python lists; ``IReadOnlyDictionary`` values
(``context.Variables``, ``MatchedParameters``) are dicts; headers and query
parameters are `Headers`.  LINQ methods run eagerly and return lists.
Everything that builds a collection counts its items against the
evaluation's budget.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from collections.abc import Sequence as Sequence_
from datetime import datetime, timedelta
from decimal import Decimal
from typing import overload

from ..context import Headers
from . import dates, jtoken
from .conversions import cast, default_value
from .lib_common import int_of, method, prop, with_common
from .operators import binary, comparison, equals, require_bool, type_name
from .runtime import (
    ITEM_COST,
    OUT_OF_RANGE,
    Evaluation,
    Lambda,
    check_items,
    fail,
    null_reference,
)
from .types import Char, CsType, EnumValue, Indexer, KeyValuePair, Sequence


class Chars(Sequence_[object]):
    """A string's characters, made one at a time (strings can be long)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __len__(self) -> int:
        return len(self.text)

    @overload
    def __getitem__(self, index: int) -> object: ...

    @overload
    def __getitem__(self, index: slice) -> list[object]: ...

    def __getitem__(self, index: int | slice) -> object:
        if isinstance(index, slice):
            return [Char(c) for c in self.text[index]]
        return Char(self.text[index])


def iterate(value: object) -> Sequence_[object]:
    """What ``foreach`` meets in a value (a snapshot of a mutable collection)."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return Chars(str(value))
    if isinstance(value, bytes):
        return list(value)
    if isinstance(value, jtoken.JObject):
        return [KeyValuePair(n, p.value) for n, p in value.properties.items()]
    if isinstance(value, jtoken.JToken):
        return list(jtoken.iterate(value))
    if isinstance(value, dict):
        return [KeyValuePair(k, v) for k, v in value.items()]
    if isinstance(value, Headers):
        return [KeyValuePair(n, value.get_all(n)) for n in value.names()]
    if isinstance(value, Sequence):
        return value.elements()
    if value is None:
        null_reference("enumerating")
    fail(f"foreach cannot enumerate a value of type '{type_name(value)}'")


def _predicate(fn: object) -> Callable[[object], bool]:
    if not callable(fn):
        fail("expected a lambda such as 'x => x.Length > 0'")
    return lambda item: require_bool(fn(item))


def _selector(fn: object) -> Callable[..., object]:
    if not callable(fn):
        fail("expected a lambda such as 'x => x.Name'")
    return fn


def _counted(ev: Evaluation, items: list[object]) -> list[object]:
    """A collection built from an existing one (so already of bounded size)."""
    ev.make_room(len(items))
    return items


def _copy(ev: Evaluation, items: Sequence_[object], step: int = 1) -> list[object]:
    ev.make_room(len(items))
    return list(items[::step])


def _any(items: object, fn: object = None) -> bool:
    if fn is None:
        return bool(iterate(items))
    test = _predicate(fn)
    return any(test(item) for item in iterate(items))


def _all(items: object, fn: object) -> bool:
    test = _predicate(fn)
    return all(test(item) for item in iterate(items))


def _count(items: object, fn: object = None) -> int:
    if fn is None:
        return len(iterate(items))
    test = _predicate(fn)
    return sum(1 for item in iterate(items) if test(item))


def _where(ev: Evaluation, items: object, fn: object) -> list[object]:
    test = _predicate(fn)
    if isinstance(fn, Lambda) and fn.arity == 2:
        return _counted(
            ev, [x for i, x in enumerate(iterate(items)) if require_bool(fn(x, i))]
        )
    return _counted(ev, [item for item in iterate(items) if test(item)])


def _select(ev: Evaluation, items: object, fn: object) -> list[object]:
    project = _selector(fn)
    if isinstance(fn, Lambda) and fn.arity == 2:
        return _counted(ev, [project(x, i) for i, x in enumerate(iterate(items))])
    return _counted(ev, [project(item) for item in iterate(items)])


def _first(default: bool, last: bool) -> Callable[..., object]:
    def run(items: object, fn: object = None) -> object:
        values = iterate(items)
        if fn is not None:
            test = _predicate(fn)
            values = [item for item in values if test(item)]
        if values:
            return values[-1] if last else values[0]
        if default:
            return None
        fail(
            "Sequence contains no matching element"
            if fn
            else "Sequence contains no elements"
        )

    return run


def _element_at(default: bool) -> Callable[[object, object], object]:
    def run(items: object, index: object) -> object:
        values, at = iterate(items), int_of(index, "index")
        if 0 <= at < len(values):
            return values[at]
        if default:
            return None
        fail(OUT_OF_RANGE)

    return run


def _contains(items: object, value: object) -> bool:
    return any(equals(item, value) for item in iterate(items))


def _distinct(ev: Evaluation, items: object) -> list[object]:
    """``Distinct()`` with .NET's ``Equals``: values by value, objects by identity."""
    kept: dict[object, object] = {}
    for item in iterate(items):
        kept.setdefault(_identity(item), item)
    return _counted(ev, list(kept.values()))


_BY_VALUE = (
    str,
    int,
    float,
    Decimal,
    bool,
    timedelta,
    uuid.UUID,
    EnumValue,
    KeyValuePair,
)


def _identity(value: object) -> object:
    """A hashable key equal for values .NET's ``Equals`` finds equal."""
    if isinstance(value, datetime):
        return datetime, dates.naive(value)
    if isinstance(value, _BY_VALUE):
        key = (type(value), value)
        try:
            hash(key)
        except TypeError:
            return id(value)
        return key
    return id(value)


def _compare_keys(a: object, b: object) -> int:
    if a is None or b is None:
        return (a is not None) - (b is not None)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return -1 if comparison("<")(a, b) else (1 if comparison(">")(a, b) else 0)


def _compare_pairs(p: tuple[object, object], q: tuple[object, object]) -> int:
    return _compare_keys(p[0], q[0])


_pair_key = functools.cmp_to_key(_compare_pairs)


def _order(descending: bool) -> Callable[..., list[object]]:
    def run(ev: Evaluation, items: object, fn: object = None) -> list[object]:
        key = _selector(fn) if fn is not None else (lambda x: x)
        pairs: list[tuple[object, object]] = [
            (key(item), item) for item in iterate(items)
        ]
        ordered = sorted(pairs, key=_pair_key, reverse=descending)
        return _counted(ev, [item for _, item in ordered])

    return run


def _aggregate(
    pick: Callable[[list[object]], object], empty_ok: bool
) -> Callable[..., object]:
    def run(items: object, fn: object = None) -> object:
        values = iterate(items)
        if fn is not None:
            project = _selector(fn)
            values = [project(item) for item in values]
        values = [v for v in values if v is not None]
        if not values:
            if empty_ok:
                return 0
            fail("Sequence contains no elements")
        return pick(values)

    return run


def _sum(values: list[object]) -> object:
    add = binary("+", None, None)
    total = _numeric_item(values[0])
    for value in values[1:]:
        total = add(total, _numeric_item(value))
    return total


def _numeric_item(value: object) -> object:
    if type(value) not in (int, float, Decimal):
        fail(f"Sum and Average need numbers, not '{type_name(value)}'")
    return value


def _extreme(op: str) -> Callable[[list[object]], object]:
    better = comparison(op)
    return lambda values: functools.reduce(
        lambda a, b: b if better(b, a) else a, values
    )


def _average(values: list[object]) -> object:
    total = _sum(values)
    if isinstance(total, Decimal):
        return total / len(values)
    return float(total) / len(values)  # type: ignore[arg-type]


def _slice(ev: Evaluation, items: object, start: int, stop: int | None) -> list[object]:
    values = iterate(items)
    ev.make_room(len(range(len(values))[start:stop]))
    return list(values[start:stop])


def _concat(ev: Evaluation, items: object, other: object) -> list[object]:
    first, second = iterate(items), iterate(other)
    ev.make_room(len(first) + len(second))
    return [*first, *second]


def _sequence_equal(items: object, other: object) -> bool:
    a, b = iterate(items), iterate(other)
    return len(a) == len(b) and all(equals(x, y) for x, y in zip(a, b, strict=True))


SEQUENCE_METHODS = {
    "Any": method(_any, "predicate", required=0, lambdas=True, returns="bool"),
    "All": method(_all, "predicate", lambdas=True, returns="bool"),
    "Count": method(_count, "predicate", required=0, lambdas=True, returns="int"),
    "Where": method(_where, "predicate", lambdas=True, budget=True, returns="E[]"),
    "Select": method(_select, "selector", lambdas=True, budget=True),
    "First": method(
        _first(False, False), "predicate", required=0, lambdas=True, returns="E"
    ),
    "FirstOrDefault": method(
        _first(True, False), "predicate", required=0, lambdas=True, returns="E"
    ),
    "Last": method(
        _first(False, True), "predicate", required=0, lambdas=True, returns="E"
    ),
    "LastOrDefault": method(
        _first(True, True), "predicate", required=0, lambdas=True, returns="E"
    ),
    "ElementAt": method(_element_at(False), "index", returns="E"),
    "ElementAtOrDefault": method(_element_at(True), "index", returns="E"),
    "Contains": method(_contains, "value", returns="bool"),
    "Distinct": method(_distinct, budget=True, returns="E[]"),
    "OrderBy": method(
        _order(False), "keySelector", lambdas=True, budget=True, returns="E[]"
    ),
    "OrderByDescending": method(
        _order(True), "keySelector", lambdas=True, budget=True, returns="E[]"
    ),
    "Reverse": method(
        lambda ev, xs: _copy(ev, iterate(xs), -1), budget=True, returns="E[]"
    ),
    "Skip": method(
        lambda ev, xs, n: _slice(ev, xs, max(int_of(n), 0), None),
        "count",
        budget=True,
        returns="E[]",
    ),
    "Take": method(
        lambda ev, xs, n: _slice(ev, xs, 0, max(int_of(n), 0)),
        "count",
        budget=True,
        returns="E[]",
    ),
    "Sum": method(_aggregate(_sum, True), "selector", required=0, lambdas=True),
    "Min": method(
        _aggregate(_extreme("<"), False), "selector", required=0, lambdas=True
    ),
    "Max": method(
        _aggregate(_extreme(">"), False), "selector", required=0, lambdas=True
    ),
    "Average": method(
        _aggregate(_average, False),
        "selector",
        required=0,
        lambdas=True,
        returns="double",
    ),
    "ToArray": method(
        lambda ev, xs: _copy(ev, iterate(xs)), budget=True, returns="E[]"
    ),
    "ToList": method(
        lambda ev, xs: _copy(ev, iterate(xs)), budget=True, returns="List<E>"
    ),
    "Concat": method(_concat, "second", budget=True, returns="E[]"),
    "SequenceEqual": method(_sequence_equal, "second", returns="bool"),
}


def sequence_type(
    name: str, full: str, test: Callable[[object], bool], **members: object
) -> CsType:
    """A collection type: its own members plus LINQ, ToString and Equals."""
    cs_type = CsType(name, full, test, **members)  # type: ignore[arg-type]
    for member_name, member in SEQUENCE_METHODS.items():
        cs_type.methods.setdefault(member_name, member)
    return with_common(cs_type)


# Arrays and List<T>


def _list_get(items: list[object], index: object) -> object:
    at = int_of(index, "index")
    if not 0 <= at < len(items):
        fail("Index was outside the bounds of the array.")
    return items[at]


def _list_set(items: list[object], index: object, value: object) -> None:
    at = int_of(index, "index")
    if not 0 <= at < len(items):
        fail("Index was outside the bounds of the array.")
    items[at] = value


def _add(ev: Evaluation, items: list[object], value: object) -> None:
    check_items(len(items) + 1)
    ev.charge(ITEM_COST)
    items.append(value)


def _add_range(ev: Evaluation, items: list[object], values: object) -> None:
    more = iterate(values)
    check_items(len(items) + len(more))
    ev.make_room(len(more))
    items.extend(more)


def _remove(items: list[object], value: object) -> bool:
    for i, item in enumerate(items):
        if equals(item, value):
            del items[i]
            return True
    return False


def _insert(ev: Evaluation, items: list[object], index: object, value: object) -> None:
    at = int_of(index, "index")
    if not 0 <= at <= len(items):
        fail("Index must be within the bounds of the List. (Parameter 'index')")
    check_items(len(items) + 1)
    ev.charge(ITEM_COST)
    items.insert(at, value)


def _remove_at(items: list[object], index: object) -> None:
    del items[_checked_index(items, index)]


def _index_of(items: list[object], value: object) -> int:
    return next((i for i, item in enumerate(items) if equals(item, value)), -1)


_LIST_INDEXER = Indexer(_list_get, "E", lambda ev, xs, i, v: _list_set(xs, i, v))

ARRAY = sequence_type(
    "Array",
    "System.Array",
    lambda v: isinstance(v, list),
    properties={"Length": prop(len, "int")},
    indexer=_LIST_INDEXER,
)
LIST = sequence_type(
    "List",
    "System.Collections.Generic.List`1",
    lambda v: isinstance(v, list),
    properties={"Count": prop(len, "int"), "Length": prop(len, "int")},
    methods={
        "Add": method(_add, "item", budget=True, returns="void"),
        "AddRange": method(_add_range, "collection", budget=True, returns="void"),
        "Remove": method(_remove, "item", returns="bool"),
        "RemoveAt": method(_remove_at, "index", returns="void"),
        "Insert": method(_insert, "index", "item", budget=True, returns="void"),
        "Clear": method(lambda xs: xs.clear(), returns="void"),
        "IndexOf": method(_index_of, "item", returns="int"),
    },
    constructor=method(
        lambda ev, items=None: _copy(ev, iterate(items)) if items is not None else [],
        "collection",
        required=0,
        budget=True,
    ),
    indexer=_LIST_INDEXER,
)


def _range(ev: Evaluation, start: object, count: object) -> list[object]:
    first, size = int_of(start, "start"), int_of(count, "count")
    if size < 0:
        fail("Count is less than zero. (Parameter 'count')")
    ev.make_room(size)
    return list(range(first, first + size))


def _repeat(ev: Evaluation, element: object, count: object) -> list[object]:
    size = max(int_of(count, "count"), 0)
    ev.make_room(size)
    return [element] * size


ENUMERABLE = CsType(
    "Enumerable",
    "System.Linq.Enumerable",
    lambda v: False,
    static_methods={
        "Range": method(_range, "start", "count", budget=True, returns="int[]"),
        "Repeat": method(_repeat, "element", "count", budget=True),
        "Empty": method(lambda t: [], generic=True, returns="T[]"),
    },
)


def _checked_index(items: list[object], index: object) -> int:
    at = int_of(index, "index")
    if not 0 <= at < len(items):
        fail(OUT_OF_RANGE)
    return at


BYTES = sequence_type(
    "byte[]",
    "System.Byte[]",
    lambda v: isinstance(v, bytes),
    properties={"Length": prop(len, "int")},
    indexer=Indexer(lambda b, i: _list_get(list(b), i), "int"),
)


# Dictionaries


def _missing_key(key: object) -> None:
    fail(f"The given key '{key}' was not present in the dictionary.")


def _dict_get(items: dict[str, object], key: object) -> object:
    if not isinstance(key, str) or key not in items:
        _missing_key(key)
    return items[str(key)]


def _get_or_default(
    items: dict[str, object], target: CsType | None, key: object, default: object = None
) -> object:
    if key is None:
        fail("Value cannot be null. (Parameter 'key')")
    if target is None:
        return items.get(key, default) if isinstance(key, str) else default
    if not isinstance(key, str) or key not in items:
        return default_value(target) if default is None else cast(default, target)
    return cast(items[key], target)


DICTIONARY = sequence_type(
    "IReadOnlyDictionary",
    "System.Collections.Generic.IReadOnlyDictionary`2",
    lambda v: isinstance(v, dict),
    properties={
        "Count": prop(len, "int"),
        "Keys": prop(lambda d: list(d.keys()), "string[]"),
        "Values": prop(lambda d: list(d.values())),
    },
    methods={
        "ContainsKey": method(
            lambda d, k: isinstance(k, str) and k in d, "key", returns="bool"
        ),
        "GetValueOrDefault": method(
            _get_or_default,
            "key",
            "defaultValue",
            required=1,
            generic=True,
            returns="T",
        ),
    },
    indexer=Indexer(_dict_get),
)


def _header_get(headers: Headers, name: object) -> list[str]:
    if not isinstance(name, str) or name not in headers:
        _missing_key(name)
    return headers.get_all(str(name))


def _header_default(headers: Headers, name: object, default: object = None) -> object:
    if name is None:
        fail("Value cannot be null. (Parameter 'key')")
    return headers.get(str(name), default)  # type: ignore[arg-type]


HEADERS = sequence_type(
    "IReadOnlyDictionary<string, string[]>",
    "System.Collections.Generic.IReadOnlyDictionary`2[System.String,System.String[]]",
    lambda v: isinstance(v, Headers),
    properties={
        "Count": prop(len, "int"),
        "Keys": prop(lambda h: h.names(), "string[]"),
        "Values": prop(lambda h: [h.get_all(n) for n in h.names()]),
    },
    methods={
        "ContainsKey": method(lambda h, k: k in h, "key", returns="bool"),
        "GetValueOrDefault": method(
            _header_default, "key", "defaultValue", required=1, returns="string"
        ),
    },
    indexer=Indexer(_header_get, "string[]"),
)
KEY_VALUE_PAIR = with_common(
    CsType(
        "KeyValuePair",
        "System.Collections.Generic.KeyValuePair`2",
        lambda v: isinstance(v, KeyValuePair),
        properties={"Key": prop(lambda p: p.key), "Value": prop(lambda p: p.value)},
        value_type=True,
    )
)

TYPES = [ARRAY, LIST, ENUMERABLE, BYTES, DICTIONARY, HEADERS, KEY_VALUE_PAIR]
ALIASES = {
    "IEnumerable": "Array",
    "IList": "List",
    "IReadOnlyList": "List",
    "Dictionary": "IReadOnlyDictionary",
    "IDictionary": "IReadOnlyDictionary",
}
