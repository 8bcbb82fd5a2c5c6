"""``string`` and its helpers: StringComparison, StringSplitOptions, Encoding.

Comparisons are ordinal; the culture-sensitive forms (``CurrentCulture``,
``InvariantCulture``) behave as their ordinal counterparts, and ignoring
case compares lower-cased text.  Lengths and indexes count Python
characters (code points), where .NET counts UTF-16 units; the two differ
only for characters outside the Basic Multilingual Plane.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import runtime
from .formatting import format_composite, to_text
from .lib_collections import SEQUENCE_METHODS, iterate
from .lib_common import int_of, method, prop, text_of, with_common
from .lib_jwt import STRING_METHODS as JWT_METHODS
from .runtime import (
    OUT_OF_RANGE,
    Evaluation,
    bounded,
    check_items,
    check_length,
    fail,
)
from .types import Char, CsType, EnumValue, Indexer, constant, make_enum

COMPARISON = make_enum(
    "StringComparison",
    "System",
    {
        "CurrentCulture": 0,
        "CurrentCultureIgnoreCase": 1,
        "InvariantCulture": 2,
        "InvariantCultureIgnoreCase": 3,
        "Ordinal": 4,
        "OrdinalIgnoreCase": 5,
    },
)
SPLIT_OPTIONS = make_enum(
    "StringSplitOptions",
    "System",
    {"None": 0, "RemoveEmptyEntries": 1, "TrimEntries": 2},
)


def _ignore_case(comparison: object) -> bool:
    if isinstance(comparison, bool):
        return comparison
    return isinstance(comparison, EnumValue) and comparison.value % 2 == 1


def _fold(text: str, ignore: bool) -> str:
    return text.lower() if ignore else text


def _needle(value: object, what: str = "value") -> str:
    if isinstance(value, str):
        return str(value)
    return text_of(value, what)


def _equals(text: str, value: object, comparison: object = None) -> bool:
    if not isinstance(value, str) or type(value) is Char:
        return False
    ignore = _ignore_case(comparison)
    return _fold(text, ignore) == _fold(str(value), ignore)


def _static_equals(a: object, b: object, comparison: object = None) -> bool:
    if a is None or b is None:
        return a is b
    return _equals(text_of(a, "a"), b, comparison)


def _contains(text: str, value: object, comparison: object = None) -> bool:
    ignore = _ignore_case(comparison)
    return _fold(_needle(value), ignore) in _fold(text, ignore)


def _starts_with(
    text: str, value: object, comparison: object = None, culture: object = None
) -> bool:
    ignore = _ignore_case(comparison)
    return _fold(text, ignore).startswith(_fold(_needle(value), ignore))


def _ends_with(
    text: str, value: object, comparison: object = None, culture: object = None
) -> bool:
    ignore = _ignore_case(comparison)
    return _fold(text, ignore).endswith(_fold(_needle(value), ignore))


def _index_args(text: str, args: tuple[object, ...]) -> tuple[int, int, bool]:
    """(start, end, ignore case) from IndexOf's optional arguments."""
    numbers = [a for a in args if type(a) is int]
    ignore = any(_ignore_case(a) for a in args if isinstance(a, EnumValue))
    start = numbers[0] if numbers else 0
    end = start + numbers[1] if len(numbers) > 1 else len(text)
    if not 0 <= start <= len(text) or not start <= end <= len(text):
        fail(OUT_OF_RANGE)
    return start, end, ignore


def _index_of(text: str, value: object, *args: object) -> int:
    start, end, ignore = _index_args(text, args)
    return _fold(text, ignore).find(_fold(_needle(value), ignore), start, end)


def _last_index_of(text: str, value: object, *args: object) -> int:
    ignore = any(_ignore_case(a) for a in args if isinstance(a, EnumValue))
    return _fold(text, ignore).rfind(_fold(_needle(value), ignore))


def _index_of_any(text: str, chars: object) -> int:
    wanted = set(_chars(chars))
    return next((i for i, c in enumerate(text) if c in wanted), -1)


def _chars(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(c) for c in value]
    if isinstance(value, str):
        return [str(value)]
    return []


def _trimmer(strip: Callable[[str, str | None], str]) -> Callable[..., str]:
    def run(text: str, *chars: object) -> str:
        wanted = "".join(c for arg in chars for c in _chars(arg))
        return strip(text, wanted or None)

    return run


def _split(text: str, *args: object) -> list[object]:
    separators: list[str] = []
    count, options = None, 0
    for arg in args:
        if isinstance(arg, EnumValue):
            options = arg.value
        elif type(arg) is int:
            count = arg
        elif isinstance(arg, str):
            separators.append(str(arg))
        elif isinstance(arg, list):
            separators.extend(str(item) for item in arg if item)
    separators = [s for s in separators if s]
    pattern = "|".join(map(re.escape, separators)) if separators else r"\s"
    limit = 0 if count is None else max(count - 1, 0)
    if count == 0:
        return []
    limit = min(limit or runtime.MAX_ITEMS, runtime.MAX_ITEMS)
    parts: list[object] = (
        re.split(pattern, text, maxsplit=limit) if count != 1 else [text]
    )
    check_items(len(parts))
    if options & 2:
        parts = [str(p).strip() for p in parts]
    if options & 1:
        parts = [p for p in parts if p]
    return parts


def _substring(text: str, start: object, length: object = None) -> str:
    begin = int_of(start, "startIndex")
    if not 0 <= begin <= len(text):
        fail(
            "startIndex cannot be larger than length of string. "
            "(Parameter 'startIndex')"
        )
    if length is None:
        return text[begin:]
    size = int_of(length, "length")
    if size < 0 or begin + size > len(text):
        fail(
            "Index and length must refer to a location within the string. "
            "(Parameter 'length')"
        )
    return text[begin : begin + size]


def _replace(text: str, old: object, new: object, *rest: object) -> str:
    before = _needle(old, "oldValue")
    if not before:
        fail("String cannot be of zero length. (Parameter 'oldValue')")
    after = "" if new is None else _needle(new, "newValue")
    if _ignore_case(rest[0] if rest else None):
        expand = bounded(lambda _: after, len(text))
        return re.sub(re.escape(before), expand, text, flags=re.IGNORECASE)
    check_length(len(text) + text.count(before) * (len(after) - len(before)))
    return text.replace(before, after)


def _pad(left: bool) -> Callable[..., str]:
    def run(text: str, width: object, char: object = " ") -> str:
        size = int_of(width, "totalWidth")
        if size < 0:
            fail("Non-negative number required. (Parameter 'totalWidth')")
        check_length(size)
        fill = str(char)[:1] or " "
        return text.rjust(size, fill) if left else text.ljust(size, fill)

    return run


def _insert(text: str, index: object, value: object) -> str:
    at = int_of(index, "startIndex")
    if not 0 <= at <= len(text):
        fail(
            "Specified argument was out of the range of valid values. "
            "(Parameter 'startIndex')"
        )
    inserted = _needle(value)
    check_length(len(text) + len(inserted))
    return text[:at] + inserted + text[at:]


def _remove(text: str, start: object, count: object = None) -> str:
    begin = int_of(start, "startIndex")
    end = len(text) if count is None else begin + int_of(count, "count")
    if not 0 <= begin <= end <= len(text) or (
        count is None and begin >= len(text) and text
    ):
        fail("Index and count must refer to a location within the string.")
    return text[:begin] + text[end:]


def _char_at(text: str, index: object) -> Char:
    at = int_of(index, "index")
    if not 0 <= at < len(text):
        fail("Index was outside the bounds of the array.")
    return Char(text[at])


def _is_null_or_empty(value: object) -> bool:
    return value is None or value == ""


def _is_null_or_white_space(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _items(args: tuple[object, ...]) -> list[object]:
    """``params object[]`` arguments, or the one array passed in their place."""
    if len(args) == 1 and isinstance(args[0], list):
        return list(args[0])
    return list(args)


def _join(ev: Evaluation, separator: object, *values: object) -> str:
    items = (
        iterate(values[0])
        if len(values) == 1 and not isinstance(values[0], str)
        else list(values)
    )
    sep = "" if separator is None else str(separator)
    result = sep.join(to_text(item) for item in items)
    check_length(len(result))
    ev.charge(len(result))
    return result


def _concat(ev: Evaluation, *values: object) -> str:
    result = "".join(to_text(v) for v in _items(values))
    check_length(len(result))
    ev.charge(len(result))
    return result


def _format(ev: Evaluation, template: object, *args: object) -> str:
    if args and not isinstance(template, str) and isinstance(args[0], str):
        template, args = args[0], args[1:]
    result = format_composite(template, _items(args))
    ev.charge(len(result))
    return result


def _compare(a: object, b: object, comparison: object = None) -> int:
    if a is None or b is None:
        return (a is not None) - (b is not None)
    ignore = _ignore_case(comparison)
    x, y = _fold(str(a), ignore), _fold(str(b), ignore)
    return (x > y) - (x < y)


def _new_string(ev: Evaluation, value: object, count: object = None) -> str:
    if count is None:
        return "".join(_chars(value))
    size = int_of(count, "count")
    if size < 0:
        fail("Non-negative number required. (Parameter 'count')")
    check_length(size)
    ev.charge(size)
    return str(value)[:1] * size


STRING = with_common(
    CsType(
        "string",
        "System.String",
        lambda v: type(v) is str,
        properties={"Length": prop(len, "int")},
        methods={
            "Equals": method(
                _equals, "value", "comparisonType", required=1, returns="bool"
            ),
            "Contains": method(
                _contains, "value", "comparisonType", required=1, returns="bool"
            ),
            "StartsWith": method(
                _starts_with,
                "value",
                "comparisonType",
                "culture",
                required=1,
                returns="bool",
            ),
            "EndsWith": method(
                _ends_with,
                "value",
                "comparisonType",
                "culture",
                required=1,
                returns="bool",
            ),
            "IndexOf": method(
                _index_of,
                "value",
                "startIndex",
                "count",
                required=1,
                variadic=True,
                returns="int",
            ),
            "LastIndexOf": method(
                _last_index_of, "value", "comparisonType", required=1, returns="int"
            ),
            "IndexOfAny": method(_index_of_any, "anyOf", returns="int"),
            "ToLower": method(
                lambda s, c=None: s.lower(), "culture", required=0, returns="string"
            ),
            "ToUpper": method(
                lambda s, c=None: s.upper(), "culture", required=0, returns="string"
            ),
            "ToLowerInvariant": method(str.lower, returns="string"),
            "ToUpperInvariant": method(str.upper, returns="string"),
            "Trim": method(
                _trimmer(str.strip),
                "trimChars",
                required=0,
                variadic=True,
                returns="string",
            ),
            "TrimStart": method(
                _trimmer(str.lstrip),
                "trimChars",
                required=0,
                variadic=True,
                returns="string",
            ),
            "TrimEnd": method(
                _trimmer(str.rstrip),
                "trimChars",
                required=0,
                variadic=True,
                returns="string",
            ),
            "Split": method(
                _split,
                "separator",
                "count",
                "options",
                required=0,
                variadic=True,
                returns="string[]",
            ),
            "Substring": method(
                _substring, "startIndex", "length", required=1, returns="string"
            ),
            "Replace": method(
                _replace,
                "oldValue",
                "newValue",
                "comparisonType",
                required=2,
                returns="string",
            ),
            "PadLeft": method(
                _pad(True), "totalWidth", "paddingChar", required=1, returns="string"
            ),
            "PadRight": method(
                _pad(False), "totalWidth", "paddingChar", required=1, returns="string"
            ),
            "Insert": method(_insert, "startIndex", "value", returns="string"),
            "Remove": method(
                _remove, "startIndex", "count", required=1, returns="string"
            ),
            "ToCharArray": method(lambda s: [Char(c) for c in s], returns="char[]"),
            "CompareTo": method(_compare, "strB", returns="int"),
            "Normalize": method(lambda s: s, returns="string"),
        },
        statics={"Empty": constant("", "string")},
        static_methods={
            "IsNullOrEmpty": method(_is_null_or_empty, "value", returns="bool"),
            "IsNullOrWhiteSpace": method(
                _is_null_or_white_space, "value", returns="bool"
            ),
            "Format": method(
                _format,
                "format",
                required=1,
                variadic=True,
                budget=True,
                returns="string",
            ),
            "Join": method(
                _join,
                "separator",
                required=1,
                variadic=True,
                budget=True,
                returns="string",
            ),
            "Concat": method(
                _concat, required=0, variadic=True, budget=True, returns="string"
            ),
            "Equals": method(
                _static_equals, "a", "b", "comparisonType", required=2, returns="bool"
            ),
            "Compare": method(
                _compare, "strA", "strB", "comparisonType", required=2, returns="int"
            ),
            "CompareOrdinal": method(_compare, "strA", "strB", returns="int"),
        },
        constructor=method(_new_string, "c", "count", required=1, budget=True),
        indexer=Indexer(_char_at, "char"),
    )
)


class Encoding:
    """``Encoding.UTF8`` and friends."""

    __slots__ = ("name", "codec", "errors")

    def __init__(self, name: str, codec: str, errors: str = "replace") -> None:
        self.name = name
        self.codec = codec
        self.errors = errors

    def cs_text(self) -> str:
        return f"System.Text.{self.name}Encoding"


def _get_bytes(encoding: Encoding, text: object) -> bytes:
    if isinstance(text, list):
        value = "".join(text_of(c, "chars") for c in text)
    else:
        value = text_of(text, "s")
    return value.encode(encoding.codec, errors=encoding.errors)


def _get_string(encoding: Encoding, data: object, *span: object) -> str:
    if not isinstance(data, bytes):
        fail("Value cannot be null. (Parameter 'bytes')")
    if span:
        start, count = int_of(span[0], "index"), int_of(span[-1], "count")
        data = data[start : start + count]
    return data.decode(encoding.codec, errors="replace")


_UTF8 = Encoding("UTF8", "utf-8", "replace")
ENCODING = CsType(
    "Encoding",
    "System.Text.Encoding",
    lambda v: isinstance(v, Encoding),
    properties={"WebName": prop(lambda e: e.codec, "string")},
    methods={
        "GetBytes": method(_get_bytes, "s", returns="byte[]"),
        "GetString": method(
            _get_string, "bytes", "index", "count", required=1, returns="string"
        ),
        "GetByteCount": method(lambda e, s: len(_get_bytes(e, s)), "s", returns="int"),
    },
    statics={
        "UTF8": constant(_UTF8, "Encoding"),
        "Default": constant(_UTF8, "Encoding"),
        "ASCII": constant(Encoding("ASCII", "ascii"), "Encoding"),
        "Unicode": constant(
            Encoding("Unicode", "utf-16-le", "surrogatepass"), "Encoding"
        ),
        "BigEndianUnicode": constant(
            Encoding("BigEndianUnicode", "utf-16-be", "surrogatepass"), "Encoding"
        ),
        "UTF32": constant(Encoding("UTF32", "utf-32-le", "surrogatepass"), "Encoding"),
        "Latin1": constant(Encoding("Latin1", "latin-1"), "Encoding"),
    },
)

for _name, _member in {**JWT_METHODS, **SEQUENCE_METHODS}.items():
    STRING.methods.setdefault(_name, _member)

TYPES = [STRING, COMPARISON, SPLIT_OPTIONS, ENCODING]
ALIASES = {"String": "string"}
