"""Casts, ``as``, ``is`` and the ``Convert`` class.

A cast to a numeric type converts between numeric values (truncating a
double, wrapping an integer) and refuses anything else, as unboxing does.
A JSON token cast to a .NET type uses Newtonsoft's explicit conversions:
``(string)token`` is the value's text, ``(int)token`` converts a number or
a numeric string.  Casting null to a non-nullable value type fails.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from . import numbers
from .formatting import to_text
from .jtoken import JToken, JValue, scalar_text
from .operators import type_name
from .runtime import fail
from .types import Char, CsType, EnumValue

_BOUNDS = {"int": numbers.INT32, "long": numbers.INT64}


def cast(value: object, target: CsType) -> object:
    """``(T)value``."""
    if value is None:
        if target.can_be_null:
            return None
        fail("Object reference not set to an instance of an object (cast of null).")
    if target.test(value):
        return value
    if isinstance(value, JToken) and not target.full_name.startswith("Newtonsoft."):
        return from_token(value, target)
    if target.numeric in ("int", "long", "double", "decimal", "char"):
        return to_numeric(value, target.numeric)
    fail(f"Unable to cast object of type '{type_name(value)}' to type '{target.name}'.")


def default_value(target: CsType) -> object:
    """``default(T)``: zero for numbers, false, or null."""
    if target.nullable or not target.value_type:
        return None
    zeros = {
        "int": 0,
        "long": 0,
        "double": 0.0,
        "decimal": Decimal(0),
        "char": Char("\0"),
    }
    if target.name == "bool":
        return False
    return zeros.get(target.numeric or "")


def as_type(value: object, target: CsType) -> object:
    """``value as T``: the value if it is a T, else null."""
    return value if value is not None and target.test(value) else None


def is_type(value: object, target: CsType) -> bool:
    """``value is T``."""
    return value is not None and target.test(value)


def to_numeric(value: object, kind: str) -> object:
    """An explicit conversion between numeric kinds."""
    if isinstance(value, EnumValue):
        value = value.value
    if type(value) is Char:
        value = ord(value)
    if type(value) not in (int, float, Decimal):
        fail(f"Unable to cast object of type '{type_name(value)}' to type '{kind}'.")
    if kind == "double":
        return float(value)  # type: ignore[arg-type]
    if kind == "decimal":
        return _to_decimal(value)
    if kind == "char":
        return Char(chr(int(value) & 0xFFFF))  # type: ignore[call-overload]
    return _to_integer(value, kind)


def _to_decimal(value: object) -> Decimal:
    try:
        if isinstance(value, float):
            return numbers.DECIMAL.create_decimal(format(value, ".15g"))
        return numbers.DECIMAL.create_decimal(value)  # type: ignore[arg-type]
    except ArithmeticError:
        fail("Value was either too large or too small for a Decimal.")


def _to_integer(value: object, kind: str) -> int:
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(f"Value was either too large or too small for an {kind}.")
        value = int(value)
    elif isinstance(value, Decimal):
        value = int(value)
        low, high = _BOUNDS[kind]
        if not low <= value <= high:
            fail(f"Value was either too large or too small for an {kind}.")
    wrap = numbers.wrap32 if kind == "int" else numbers.wrap64
    return wrap(value)  # type: ignore[arg-type]


def from_token(token: JToken, target: CsType) -> object:
    """Newtonsoft's explicit conversion of a token to a .NET type."""
    if not isinstance(token, JValue):
        fail(f"Can not convert {token.token_type()} to {target.name}.")
    value = token.value
    if value is None:
        if target.can_be_null:
            return None
        fail(f"Can not convert Null to {target.name}.")
    if target.name == "string":
        return scalar_text(value)
    if target.name == "bool":
        return to_bool(value)
    if target.numeric in ("int", "long", "double", "decimal"):
        return convert_number(value, target.numeric)
    if target.test(value):
        return value
    fail(f"Can not convert {token.token_type()} to {target.name}.")


def convert_number(value: object, kind: str) -> object:
    """``Convert.ToInt32`` and friends: parse text, round doubles to even."""
    if value is None:
        return 0.0 if kind == "double" else (Decimal(0) if kind == "decimal" else 0)
    if isinstance(value, JValue):
        return convert_number(value.value, kind)
    if isinstance(value, str) and type(value) is not Char:
        return _parse(value, kind)
    if isinstance(value, bool):
        return to_numeric(int(value), kind)
    if kind in _BOUNDS and isinstance(value, float | Decimal):
        return _rounded(value, kind)
    return to_numeric(value, kind)


def _parse(text: str, kind: str) -> object:
    if kind in _BOUNDS:
        return numbers.parse_integer(text, _BOUNDS[kind])
    if kind == "decimal":
        return numbers.parse_decimal(text)
    return numbers.parse_double(text)


def _rounded(value: float | Decimal, kind: str) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        fail(f"Value was either too large or too small for an {kind}.")
    try:
        whole = int(Decimal(value).to_integral_value(rounding=ROUND_HALF_EVEN))
    except InvalidOperation:
        fail(f"Value was either too large or too small for an {kind}.")
    low, high = _BOUNDS[kind]
    if not low <= whole <= high:
        fail(f"Value was either too large or too small for an {kind}.")
    return whole


def to_bool(value: object) -> bool:
    """``Convert.ToBoolean``: "true"/"false" in any case, numbers by non-zero."""
    if value is None:
        return False
    if isinstance(value, JValue):
        return to_bool(value.value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return text == "true"
        fail("String was not recognized as a valid Boolean.")
    if type(value) in (int, float, Decimal):
        return value != 0
    fail(f"Unable to cast object of type '{type_name(value)}' to type 'bool'.")


def parse_bool(value: object) -> bool:
    """``bool.Parse``."""
    if value is None:
        fail("Value cannot be null. (Parameter 'value')")
    return to_bool(str(value))


def to_string(value: object) -> str:
    """``Convert.ToString``: null is the empty string."""
    return to_text(value)
