"""Value types: numbers, bool, char, object, Math and Convert.

``byte``, ``short``, ``sbyte`` and ``ushort`` behave as ``int``; ``uint``
and ``ulong`` as ``long``; ``float`` as ``double``.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from . import conversions, dates, numbers
from .formatting import to_text
from .lib_common import Culture, int_of, method, text_of, with_common
from .operators import comparison, kind_of
from .runtime import check_length, fail
from .types import Char, CsType, EnumValue, constant, make_enum

MIDPOINT = make_enum("MidpointRounding", "System", {"ToEven": 0, "AwayFromZero": 1})
INVARIANT = Culture("")


def compare_values(a: object, b: object) -> int:
    """``CompareTo``: -1, 0 or 1; everything is greater than null."""
    if b is None:
        return 1
    return -1 if comparison("<")(a, b) else (1 if comparison(">")(a, b) else 0)


def _numeric_type(
    name: str, full: str, kind: str, test: Callable[[object], bool]
) -> CsType:
    parse = {
        "int": lambda s, p=None: numbers.parse_integer(s, numbers.INT32),
        "long": lambda s, p=None: numbers.parse_integer(s, numbers.INT64),
        "double": lambda s, p=None: numbers.parse_double(s),
        "decimal": lambda s, p=None: numbers.parse_decimal(s),
    }[kind]
    limits = {
        "int": numbers.INT32,
        "long": numbers.INT64,
        "double": (-1.7976931348623157e308, 1.7976931348623157e308),
        "decimal": (
            Decimal("-79228162514264337593543950335"),
            Decimal("79228162514264337593543950335"),
        ),
    }[kind]
    statics = {
        "MaxValue": constant(limits[1], name),
        "MinValue": constant(limits[0], name),
    }
    return with_common(
        CsType(
            name,
            full,
            test,
            methods={"CompareTo": method(compare_values, "value", returns="int")},
            statics=statics,
            static_methods={
                "Parse": method(parse, "s", "provider", required=1, returns=name)
            },
            numeric=kind,
            value_type=True,
        )
    )


def _is_int(value: object) -> bool:
    return type(value) is int and numbers.INT32[0] <= value <= numbers.INT32[1]


INT = _numeric_type("int", "System.Int32", "int", _is_int)
LONG = _numeric_type("long", "System.Int64", "long", lambda v: type(v) is int)
DOUBLE = _numeric_type("double", "System.Double", "double", lambda v: type(v) is float)
DECIMAL = _numeric_type(
    "decimal", "System.Decimal", "decimal", lambda v: type(v) is Decimal
)
DOUBLE.statics.update(
    NaN=constant(math.nan, "double"),
    PositiveInfinity=constant(math.inf, "double"),
    NegativeInfinity=constant(-math.inf, "double"),
    Epsilon=constant(5e-324, "double"),
)
DOUBLE.static_methods.update(
    IsNaN=method(lambda x: isinstance(x, float) and math.isnan(x), "d", returns="bool"),
    IsInfinity=method(
        lambda x: isinstance(x, float) and math.isinf(x), "d", returns="bool"
    ),
)

BOOL = with_common(
    CsType(
        "bool",
        "System.Boolean",
        lambda v: type(v) is bool,
        methods={"CompareTo": method(compare_values, "value", returns="int")},
        statics={
            "TrueString": constant("True", "string"),
            "FalseString": constant("False", "string"),
        },
        static_methods={
            "Parse": method(conversions.parse_bool, "value", returns="bool")
        },
        value_type=True,
    )
)


def _char_test(test: Callable[[str], bool]) -> Callable[..., bool]:
    def run(value: object, index: object = None) -> bool:
        if index is not None:
            text, at = text_of(value), int_of(index, "index")
            if not 0 <= at < len(text):
                fail("Index was outside the bounds of the array.")
            value = text[at]
        return isinstance(value, str) and len(value) == 1 and test(value)

    return run


CHAR = with_common(
    CsType(
        "char",
        "System.Char",
        lambda v: type(v) is Char,
        methods={"CompareTo": method(compare_values, "value", returns="int")},
        static_methods={
            "IsDigit": method(
                _char_test(lambda c: c.isdigit()),
                "c",
                "index",
                required=1,
                returns="bool",
            ),
            "IsLetter": method(
                _char_test(str.isalpha), "c", "index", required=1, returns="bool"
            ),
            "IsLetterOrDigit": method(
                _char_test(str.isalnum), "c", "index", required=1, returns="bool"
            ),
            "IsWhiteSpace": method(
                _char_test(str.isspace), "c", "index", required=1, returns="bool"
            ),
            "IsUpper": method(
                _char_test(str.isupper), "c", "index", required=1, returns="bool"
            ),
            "IsLower": method(
                _char_test(str.islower), "c", "index", required=1, returns="bool"
            ),
            "IsPunctuation": method(
                _char_test(
                    lambda c: not c.isalnum() and not c.isspace() and c.isprintable()
                ),
                "c",
                "index",
                required=1,
                returns="bool",
            ),
            "ToUpper": method(lambda c: Char(str(c).upper()[:1]), "c", returns="char"),
            "ToLower": method(lambda c: Char(str(c).lower()[:1]), "c", returns="char"),
        },
        numeric="char",
        value_type=True,
    )
)

OBJECT = with_common(CsType("object", "System.Object", lambda v: v is not None))
CULTURE = CsType(
    "CultureInfo",
    "System.Globalization.CultureInfo",
    lambda v: isinstance(v, Culture),
    statics={
        "InvariantCulture": constant(INVARIANT, "CultureInfo"),
        "CurrentCulture": constant(INVARIANT, "CultureInfo"),
    },
)


# Math


def number_of(value: object) -> int | float | Decimal:
    """A numeric argument (a char counts as its code)."""
    if kind_of(value) is None:
        fail(f"Math: expected a number, got '{to_text(value)}'")
    if type(value) is Char:
        return ord(value)
    return value  # type: ignore[return-value]


def _min(a: object, b: object) -> object:
    x, y = number_of(a), number_of(b)
    result = x if comparison("<=")(x, y) else y
    return float(result) if float in (type(x), type(y)) else result


def _max(a: object, b: object) -> object:
    x, y = number_of(a), number_of(b)
    result = x if comparison(">=")(x, y) else y
    return float(result) if float in (type(x), type(y)) else result


def _round(value: object, digits: object = None, mode: object = None) -> object:
    if isinstance(digits, EnumValue):
        digits, mode = None, digits
    places = 0 if digits is None else int_of(digits, "digits")
    if not 0 <= places <= 28:
        fail(
            "Rounding digits must be between 0 and 15, inclusive. (Parameter 'digits')"
        )
    away = isinstance(mode, EnumValue) and mode.value == 1
    number = number_of(value)
    if isinstance(number, Decimal):
        quantum = Decimal(1).scaleb(-places)
        return number.quantize(quantum, ROUND_HALF_UP if away else ROUND_HALF_EVEN)
    if isinstance(number, int):
        return float(number)
    if not math.isfinite(number):
        return number
    scale = 10.0**places
    scaled = number * scale
    if away:
        whole = math.floor(abs(scaled) + 0.5) * (1 if scaled >= 0 else -1)
    else:
        whole = round(scaled)
    return whole / scale


def _floor_ceiling(fn: Callable[[float], int]) -> Callable[[object], object]:
    def run(value: object) -> object:
        number = number_of(value)
        if isinstance(number, Decimal):
            return Decimal(fn(number))  # type: ignore[arg-type]
        if isinstance(number, float) and not math.isfinite(number):
            return number
        return float(fn(number))

    return run


def _abs(value: object) -> object:
    number = number_of(value)
    return abs(number)


def _float_fn(fn: Callable[..., float]) -> Callable[..., object]:
    def run(*args: object) -> object:
        try:
            return float(fn(*(float(number_of(a)) for a in args)))
        except (ValueError, OverflowError):
            return math.nan

    return run


def _sign(value: object) -> int:
    number = number_of(value)
    if isinstance(number, float) and math.isnan(number):
        fail("Function does not accept floating point Not-a-Number values.")
    return (number > 0) - (number < 0)


def _clamp(value: object, low: object, high: object) -> object:
    return _min(_max(value, low), high)


MATH = CsType(
    "Math",
    "System.Math",
    lambda v: False,
    statics={"PI": constant(math.pi, "double"), "E": constant(math.e, "double")},
    static_methods={
        "Min": method(_min, "val1", "val2"),
        "Max": method(_max, "val1", "val2"),
        "Abs": method(_abs, "value"),
        "Round": method(_round, "value", "digits", "mode", required=1),
        "Floor": method(_floor_ceiling(math.floor), "d"),
        "Ceiling": method(_floor_ceiling(math.ceil), "a"),
        "Truncate": method(_floor_ceiling(math.trunc), "d"),
        "Pow": method(_float_fn(math.pow), "x", "y", returns="double"),
        "Sqrt": method(_float_fn(math.sqrt), "d", returns="double"),
        "Log": method(
            _float_fn(math.log), "a", "newBase", required=1, returns="double"
        ),
        "Log10": method(_float_fn(math.log10), "d", returns="double"),
        "Exp": method(_float_fn(math.exp), "d", returns="double"),
        "Sign": method(_sign, "value", returns="int"),
        "Clamp": method(_clamp, "value", "min", "max"),
    },
)


# Convert


def _from_base64(text: object) -> bytes:
    try:
        return base64.b64decode(text_of(text, "s"), validate=True)
    except (binascii.Error, ValueError):
        fail(
            "The input is not a valid Base-64 string "
            "as it contains a non-base 64 character."
        )


def _to_base64(data: object, *rest: object) -> str:
    if not isinstance(data, bytes):
        fail("Value cannot be null. (Parameter 'inArray')")
    result = base64.b64encode(data).decode()
    check_length(len(result))
    return result


def _convert_to(kind: str) -> Callable[..., object]:
    def run(value: object, provider: object = None) -> object:
        return conversions.convert_number(value, kind)

    return run


def _to_datetime(value: object, provider: object = None) -> datetime:
    if value is None:
        return datetime(1, 1, 1)
    if isinstance(value, datetime):
        return value
    return dates.parse_datetime(text_of(value))


CONVERT = CsType(
    "Convert",
    "System.Convert",
    lambda v: False,
    static_methods={
        "ToInt32": method(
            _convert_to("int"), "value", "provider", required=1, returns="int"
        ),
        "ToInt64": method(
            _convert_to("long"), "value", "provider", required=1, returns="long"
        ),
        "ToInt16": method(
            _convert_to("int"), "value", "provider", required=1, returns="int"
        ),
        "ToDouble": method(
            _convert_to("double"), "value", "provider", required=1, returns="double"
        ),
        "ToDecimal": method(
            _convert_to("decimal"), "value", "provider", required=1, returns="decimal"
        ),
        "ToBoolean": method(
            lambda v, p=None: conversions.to_bool(v),
            "value",
            "provider",
            required=1,
            returns="bool",
        ),
        "ToString": method(
            lambda v, p=None: conversions.to_string(v),
            "value",
            "provider",
            required=1,
            returns="string",
        ),
        "ToDateTime": method(
            _to_datetime, "value", "provider", required=1, returns="DateTime"
        ),
        "ToBase64String": method(
            _to_base64, "inArray", "offset", "length", required=1, returns="string"
        ),
        "FromBase64String": method(_from_base64, "s", returns="byte[]"),
    },
)


TYPES = [
    INT,
    LONG,
    DOUBLE,
    DECIMAL,
    BOOL,
    CHAR,
    OBJECT,
    CULTURE,
    MATH,
    CONVERT,
    MIDPOINT,
]
ALIASES = {
    "Int32": "int",
    "Int64": "long",
    "Int16": "int",
    "short": "int",
    "byte": "int",
    "sbyte": "int",
    "ushort": "int",
    "uint": "long",
    "ulong": "long",
    "UInt32": "long",
    "UInt64": "long",
    "Byte": "int",
    "Double": "double",
    "float": "double",
    "Single": "double",
    "Decimal": "decimal",
    "Boolean": "bool",
    "Char": "char",
    "Object": "object",
}
