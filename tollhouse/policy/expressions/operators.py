"""C# operators over expression values.

The compiler picks an operator's implementation from the operands' static
types when it knows them (``int / int`` truncates and wraps at 32 bits,
``long`` at 64, ``string + x`` concatenates); otherwise `dynamic` decides
from the values when the expression runs.  Operators on null follow C#'s
lifted semantics: arithmetic gives null, ordering comparisons give false.
"""

from __future__ import annotations

import math
import operator
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from . import dates, numbers
from .formatting import to_text
from .jtoken import JValue
from .runtime import check_length, fail
from .types import Char, EnumValue, KeyValuePair

BinaryFn = Callable[[object, object], object]

INTEGRAL = ("int", "long", "char")
ARITHMETIC = ("+", "-", "*", "/", "%")
BITWISE = ("&", "|", "^")
SHIFTS = ("<<", ">>")
ORDERING = ("<", ">", "<=", ">=")


def kind_of(value: object) -> str | None:
    """The numeric kind of a runtime value; plain ints count as long."""
    kind = type(value)
    if kind is int:
        return "long"
    if kind is float:
        return "double"
    if kind is Decimal:
        return "decimal"
    if kind is Char:
        return "char"
    return None


def promote(left: str | None, right: str | None) -> str | None:
    """The kind C# computes ``left op right`` in, or None if not numeric."""
    kinds = {left, right}
    if None in kinds or "enum" in kinds:
        return None
    if "decimal" in kinds:
        return None if "double" in kinds else "decimal"
    if "double" in kinds:
        return "double"
    return "long" if "long" in kinds else "int"


def _number(value: object) -> int | float | Decimal:
    if type(value) is Char:
        return ord(value)
    return value  # type: ignore[return-value]


def _int_divide(a: int, b: int) -> int:
    if b == 0:
        fail("Attempted to divide by zero.")
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _int_remainder(a: int, b: int) -> int:
    return a - b * _int_divide(a, b)


def _float_divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _float_remainder(a: float, b: float) -> float:
    return math.nan if b == 0 else math.fmod(a, b)


def _decimal(op: Callable[[Decimal, Decimal], Decimal]) -> BinaryFn:
    def run(a: object, b: object) -> object:
        try:
            return op(Decimal(_number(a)), Decimal(_number(b)))
        except ArithmeticError:
            if b == 0:
                fail("Attempted to divide by zero.")
            fail("Value was either too large or too small for a Decimal.")

    return run


def _integral(op: Callable[[int, int], int], wrap: Callable[[int], int]) -> BinaryFn:
    def run(a: object, b: object) -> object:
        return wrap(op(_number(a), _number(b)))  # type: ignore[arg-type]

    return run


def _floating(op: Callable[[float, float], float]) -> BinaryFn:
    def run(a: object, b: object) -> object:
        return op(float(_number(a)), float(_number(b)))

    return run


_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _int_divide,
    "%": _int_remainder,
    "&": operator.and_,
    "|": operator.or_,
    "^": operator.xor,
}
_FLOAT_OPS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _float_divide,
    "%": _float_remainder,
}
_DECIMAL_OPS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "+": numbers.DECIMAL.add,
    "-": numbers.DECIMAL.subtract,
    "*": numbers.DECIMAL.multiply,
    "/": numbers.DECIMAL.divide,
    "%": numbers.DECIMAL.remainder,
}


def numeric(op: str, kind: str) -> BinaryFn | None:
    """``op`` computed in ``kind`` (a result of `promote`), lifted over null."""
    return _NUMERIC.get((op, kind))


def _numeric(op: str, kind: str) -> BinaryFn | None:
    raw: BinaryFn | None = None
    if kind in ("int", "long"):
        wrap = numbers.wrap32 if kind == "int" else numbers.wrap64
        if op in _INT_OPS:
            raw = _integral(_INT_OPS[op], wrap)
        elif op in SHIFTS:
            raw = _shift(op, 31 if kind == "int" else 63, wrap)
    elif kind == "double" and op in _FLOAT_OPS:
        raw = _floating(_FLOAT_OPS[op])
    elif kind == "decimal" and op in _DECIMAL_OPS:
        raw = _decimal(_DECIMAL_OPS[op])
    return _checked(raw, op, kind) if raw is not None else None


def _shift(op: str, mask: int, wrap: Callable[[int], int]) -> BinaryFn:
    def run(a: object, b: object) -> object:
        count = int(_number(b)) & mask
        value = int(_number(a))
        return wrap(value << count) if op == "<<" else value >> count

    return run


_ACCEPTS: dict[str, tuple[type, ...]] = {
    "int": (int, Char),
    "long": (int, Char),
    "double": (int, float, Char),
    "decimal": (int, Decimal, Char),
}


def _checked(fn: BinaryFn, op: str, kind: str) -> BinaryFn:
    """``fn`` lifted over null; values of other types than expected go dynamic."""
    accepts = _ACCEPTS[kind]

    def run(a: object, b: object) -> object:
        if a is None or b is None:
            return None
        if type(a) in accepts and type(b) in accepts:
            return fn(a, b)
        return _DYNAMIC[op](a, b)

    return run


def concat(a: object, b: object) -> str:
    """``string + x``: both sides as text, null as empty."""
    left, right = to_text(a), to_text(b)
    check_length(len(left) + len(right))
    return left + right


def dynamic(op: str) -> BinaryFn:
    """``op`` decided from the runtime values, for operands of unknown type."""

    def run(a: object, b: object) -> object:
        if op == "+" and (type(a) is str or type(b) is str):
            return concat(a, b)
        if a is None or b is None:
            return None
        special = _special(op, a, b)
        if special is not _NOTHING:
            return special
        kind = promote(kind_of(a), kind_of(b))
        fn = numeric(op, "long" if kind == "int" else kind) if kind else None
        if fn is None:
            fail(
                f"Operator '{op}' cannot be applied to operands of type "
                f"'{type_name(a)}' and '{type_name(b)}'"
            )
        return fn(a, b)

    return run


_NOTHING = object()


def _special(op: str, a: object, b: object) -> object:
    """Operators on booleans, enums, dates and time spans."""
    if type(a) is bool and type(b) is bool and op in BITWISE:
        return {"&": a and b, "|": a or b, "^": a != b}[op]
    if isinstance(a, EnumValue) and isinstance(b, EnumValue) and op in BITWISE:
        return a.with_value(_INT_OPS[op](a.value, b.value))
    if (
        op in ("+", "-")
        and isinstance(b, timedelta)
        and isinstance(a, datetime | timedelta)
    ):
        try:
            return a + b if op == "+" else a - b
        except OverflowError:
            fail(
                "The added or subtracted value results in an un-representable DateTime."
            )
    if op == "-" and isinstance(a, datetime) and isinstance(b, datetime):
        return dates.naive(a) - dates.naive(b)
    return _NOTHING


def binary(op: str, left: str | None, right: str | None) -> BinaryFn:
    """The implementation of ``op`` for operands of the given static kinds."""
    if op in ARITHMETIC or op in BITWISE or op in SHIFTS:
        kind = promote(left, right) if op not in SHIFTS else promote(left, "int")
        fn = numeric(op, kind) if kind else None
        if fn is not None:
            return fn
    return _DYNAMIC.get(op) or dynamic(op)


def equals(a: object, b: object) -> bool:
    """C# ``==``: value equality for values, ordinal for strings, identity otherwise."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta is JValue and tb is not JValue:
        return equals(a.value, b)  # type: ignore[attr-defined]
    if tb is JValue and ta is not JValue:
        return equals(a, b.value)  # type: ignore[attr-defined]
    ka, kb = kind_of(a), kind_of(b)
    if ka and kb:
        if (ka == "char") != (kb == "char") and str in (ta, tb):
            return False
        return _number(a) == _number(b)
    if ta is str and tb is str:
        return a == b
    if isinstance(a, datetime) and isinstance(b, datetime):
        return dates.naive(a) == dates.naive(b)
    if isinstance(a, timedelta | uuid.UUID | EnumValue | KeyValuePair):
        return a == b
    return False


def not_equals(a: object, b: object) -> bool:
    """C# ``!=``."""
    return not equals(a, b)


def _ordered(a: object, b: object) -> tuple[object, object]:
    ka, kb = kind_of(a), kind_of(b)
    if ka and kb and promote(ka, kb):
        return _number(a), _number(b)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return dates.naive(a), dates.naive(b)
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a, b
    if isinstance(a, EnumValue) and isinstance(b, EnumValue):
        return a.value, b.value
    fail(
        "Operator cannot be applied to operands of type "
        f"'{type_name(a)}' and '{type_name(b)}'"
    )


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def comparison(op: str) -> Callable[[object, object], bool]:
    """An ordering comparison; false when either side is null, as in C#."""
    compare = _COMPARE[op]

    def run(a: object, b: object) -> bool:
        if a is None or b is None:
            return False
        x, y = _ordered(a, b)
        return compare(x, y)

    return run


def negate(value: object) -> object:
    """Unary minus."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return -value
    kind = kind_of(value)
    if kind in ("long", "char"):
        return numbers.wrap64(-int(_number(value)))
    if kind in ("double", "decimal"):
        return -value  # type: ignore[operator]
    fail(f"Operator '-' cannot be applied to operand of type '{type_name(value)}'")


def complement(value: object) -> object:
    """Unary ``~``."""
    if value is None:
        return None
    if kind_of(value) in ("long", "char"):
        return ~int(_number(value))
    fail(f"Operator '~' cannot be applied to operand of type '{type_name(value)}'")


def logical_not(value: object) -> bool:
    """C# ``!``, on booleans only."""
    return not require_bool(value)


def require_bool(value: object) -> bool:
    """A condition's value, which must be a boolean."""
    if type(value) is bool:
        return value
    if value is None:
        fail("Nullable object must have a value.")
    fail(f"Cannot implicitly convert type '{type_name(value)}' to 'bool'")


def type_name(value: object) -> str:
    """The .NET name of a runtime value's type, for messages."""
    if value is None:
        return "null"
    names = {
        bool: "bool",
        str: "string",
        Char: "char",
        float: "double",
        Decimal: "decimal",
        list: "array",
        bytes: "byte[]",
        dict: "dictionary",
    }
    if type(value) is int:
        return "int" if numbers.INT32[0] <= value <= numbers.INT32[1] else "long"
    if isinstance(value, datetime):
        return "DateTime"
    if isinstance(value, timedelta):
        return "TimeSpan"
    if isinstance(value, EnumValue):
        return value.enum
    return names.get(type(value), type(value).__name__)


_ALL = (*ARITHMETIC, *BITWISE, *SHIFTS)
_NUMERIC = {
    (op, kind): fn
    for op in _ALL
    for kind in _ACCEPTS
    if (fn := _numeric(op, kind)) is not None
}
_DYNAMIC = {op: dynamic(op) for op in _ALL}
