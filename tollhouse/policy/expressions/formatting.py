"""C#'s ``ToString()`` and composite formatting (``string.Format``, ``$"…"``).

`to_text` is what the engine uses to put a value into a header, a body or
an attribute.  Objects whose C# ``ToString()`` would only print a type name
print that name here too, never their Python fields, so that a subscription
key cannot leak through ``context.Subscription.ToString()``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from ..context import Headers, Url
from . import dates, jtoken, numbers
from .runtime import check_length, fail
from .types import AnonymousObject, EnumValue, KeyValuePair


def to_text(value: object) -> str:
    """The C# ``ToString()`` of a value; null is the empty string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float | Decimal):
        return numbers.default_text(value)
    if isinstance(value, jtoken.JToken):
        return jtoken.to_text(value)
    return _object_text(value)


def _object_text(value: object) -> str:
    if isinstance(value, datetime):
        return dates.format_datetime(value)
    if isinstance(value, timedelta):
        return dates.format_timespan(value)
    if isinstance(value, uuid.UUID | EnumValue | Url):
        return str(value)
    if isinstance(value, AnonymousObject):
        return _anonymous_text(value)
    if isinstance(value, KeyValuePair):
        return f"[{to_text(value.key)}, {to_text(value.value)}]"
    if isinstance(value, list):
        return _array_text(value)
    if isinstance(value, bytes):
        return "System.Byte[]"
    if isinstance(value, dict):
        return "System.Collections.Generic.Dictionary`2[System.String,System.Object]"
    if isinstance(value, Headers):
        return "System.Collections.Generic.Dictionary`2[System.String,System.String[]]"
    text = getattr(type(value), "cs_text", None)
    if callable(text):
        return str(text(value))
    return type(value).__name__


def _anonymous_text(value: AnonymousObject) -> str:
    fields = ", ".join(f"{name} = {to_text(v)}" for name, v in value.items())
    return f"{{ {fields} }}" if fields else "{ }"


def _array_text(items: list[object]) -> str:
    if items and all(isinstance(item, str) for item in items):
        return "System.String[]"
    return "System.Object[]"


def format_value(value: object, spec: str) -> str:
    """``value.ToString(spec)`` for formattable values; others ignore ``spec``."""
    if isinstance(value, bool) or not spec:
        return to_text(value)
    if isinstance(value, int | float | Decimal):
        return numbers.format_number(value, spec)
    if isinstance(value, datetime):
        return dates.format_datetime(value, spec)
    if isinstance(value, timedelta):
        return dates.format_timespan(value, spec)
    if isinstance(value, uuid.UUID):
        return dates.format_guid(value, spec)
    if isinstance(value, EnumValue) and spec.upper() == "D":
        return str(value.value)
    if isinstance(value, jtoken.JValue):
        return format_value(value.value, spec)
    return to_text(value)


def align(text: str, width: int) -> str:
    """Pad to ``width``: on the left when positive, on the right when negative."""
    check_length(abs(width))
    return text.rjust(width) if width >= 0 else text.ljust(-width)


def format_composite(template: object, args: list[object]) -> str:
    """``string.Format(template, args...)``."""
    if template is None:
        fail("Value cannot be null. (Parameter 'format')")
    text = str(template)
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:
            out.append(char)
            i += 2
        elif char == "}":
            fail("Input string was not in a correct format.")
        elif char == "{":
            end = text.find("}", i)
            if end < 0:
                fail("Input string was not in a correct format.")
            out.append(_hole(text[i + 1 : end], args))
            i = end + 1
        else:
            out.append(char)
            i += 1
    result = "".join(out)
    check_length(len(result))
    return result


def _hole(spec: str, args: list[object]) -> str:
    head, _, fmt = spec.partition(":")
    index_text, _, width_text = head.partition(",")
    try:
        index = int(index_text.strip())
        width = int(width_text.strip()) if width_text else 0
    except ValueError:
        fail("Input string was not in a correct format.")
    if not 0 <= index < len(args):
        fail(
            "Index (zero based) must be greater than or equal to zero and "
            "less than the size of the argument list."
        )
    return align(format_value(args[index], fmt), width)
