"""Numbers the way .NET handles them: overflow, parsing and formatting.

Integers are Python ``int`` wrapped to 32 or 64 bits after each operation
(C#'s default unchecked arithmetic); ``double`` is ``float``; ``decimal``
is `decimal.Decimal` computed in `DECIMAL` (28 significant digits).
Formatting follows .NET's invariant culture: ``ToString()`` of a double is
the shortest round-trip form, switching to ``1E+15`` notation from 15
integer digits; format strings such as ``"F2"``, ``"N0"``, ``"0.00"`` and
``"#,##0.##"`` round half away from zero.
"""

from __future__ import annotations

import math
import re
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

from .runtime import fail

DECIMAL = Context(
    prec=28,
    rounding=ROUND_HALF_EVEN,
    Emax=28,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)

# Exact enough for any double or decimal, for rounding in formats.
_WIDE = Context(prec=400, rounding=ROUND_HALF_UP)
# For moving the decimal point without losing a digit.
_EXACT = Context(prec=999_999, Emax=999_999, Emin=-999_999)

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

_INTEGER = re.compile(r"\s*([+-]?)(\d+)\s*\Z")
_FLOAT = re.compile(r"\s*[+-]?(\d[\d,]*)?(\.\d*)?([eE][+-]?\d+)?\s*\Z")
_STANDARD = re.compile(r"([A-Za-z])(\d{0,2})\Z")


def wrap32(value: int) -> int:
    """``value`` as C#'s unchecked ``int`` arithmetic leaves it."""
    return (value + 2**31) % 2**32 - 2**31


def wrap64(value: int) -> int:
    """``value`` as C#'s unchecked ``long`` arithmetic leaves it."""
    return (value + 2**63) % 2**64 - 2**63


def parse_integer(text: object, bounds: tuple[int, int] = INT32) -> int:
    """``int.Parse`` / ``long.Parse``: optional sign, digits, surrounding spaces."""
    if text is None:
        fail("Value cannot be null. (Parameter 's')")
    match = _INTEGER.match(str(text))
    if match is None:
        fail(f"The input string '{text}' was not in a correct format.")
    value = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
    if not bounds[0] <= value <= bounds[1]:
        fail("Value was either too large or too small for the target type.")
    return value


def parse_double(text: object) -> float:
    """``double.Parse`` in the invariant culture (thousands commas allowed)."""
    if text is None:
        fail("Value cannot be null. (Parameter 's')")
    raw = str(text).strip()
    special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    if raw in special:
        return special[raw]
    if not raw or _FLOAT.match(raw) is None or raw in "+-.":
        fail(f"The input string '{text}' was not in a correct format.")
    return float(raw.replace(",", ""))


def parse_decimal(text: object) -> Decimal:
    """``decimal.Parse``: the digits as written, scale kept."""
    value = parse_double(text)
    if not math.isfinite(value):
        fail(f"The input string '{text}' was not in a correct format.")
    try:
        return DECIMAL.create_decimal(str(text).strip().replace(",", ""))
    except ArithmeticError:
        fail("Value was either too large or too small for a Decimal.")


def _digits(value: float | Decimal) -> tuple[str, int]:
    """Significant digits of a finite non-zero value and its decimal exponent."""
    exact = Decimal(repr(value)) if isinstance(value, float) else value
    sign, digits, exponent = exact.normalize(_WIDE).as_tuple()
    text = "".join(map(str, digits))
    assert isinstance(exponent, int)
    return text, exponent + len(text) - 1


def _layout(digits: str, exponent: int, *, threshold: int, minus: bool) -> str:
    sign = "-" if minus else ""
    if exponent >= threshold or exponent < -4:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}E{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[: exponent + 1].ljust(exponent + 1, "0")
    rest = digits[exponent + 1 :]
    return f"{sign}{whole}.{rest}" if rest else f"{sign}{whole}"


def format_double(value: float) -> str:
    """``double.ToString()``: shortest round-trip digits, invariant culture."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, exponent = _digits(abs(value))
    return _layout(digits, exponent, threshold=15, minus=value < 0)


def format_decimal(value: Decimal) -> str:
    """``decimal.ToString()``: every digit of the scale kept (1.50m is "1.50")."""
    return format(value, "f")


def format_number(value: int | float | Decimal, spec: str) -> str:
    """``x.ToString(spec)`` for a .NET standard or custom numeric format."""
    if not spec:
        return default_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return format_double(value)
    standard = _STANDARD.match(spec)
    if standard:
        return _standard(value, standard.group(1), standard.group(2))
    return _custom(value, spec)


def default_text(value: int | float | Decimal) -> str:
    """``ToString()`` of a number."""
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    return str(value)


def _exact(value: int | float | Decimal) -> Decimal:
    return Decimal(value) if not isinstance(value, Decimal) else value


def _fixed(value: Decimal, places: int) -> str:
    """Absolute value rounded half away from zero to ``places`` decimals."""
    return format(_rounded(value.copy_abs(), -places), "f")


def _rounded(value: Decimal, exponent: int) -> Decimal:
    """``value`` rounded half away from zero to a multiple of 10**exponent."""
    digits = max(value.adjusted(), 0) - exponent + 2
    context = Context(
        prec=max(digits, 28), rounding=ROUND_HALF_UP, Emax=10**6, Emin=-(10**6)
    )
    try:
        return value.quantize(Decimal(1).scaleb(exponent), context=context)
    except ArithmeticError:
        fail("The number cannot be formatted with that many digits.")


def _group(whole: str) -> str:
    head = len(whole) % 3 or 3
    parts = [whole[:head]] + [whole[i : i + 3] for i in range(head, len(whole), 3)]
    return ",".join(parts)


def _standard(value: int | float | Decimal, letter: str, digits: str) -> str:
    kind = letter.upper()
    places = int(digits) if digits else None
    exact = _exact(value)
    minus = exact < 0
    if kind in "FNP":
        scaled = exact.scaleb(2, _EXACT) if kind == "P" else exact
        text = _fixed(scaled, 2 if places is None else places)
        minus = minus and any(c not in "0." for c in text)
        whole, _, fraction = text.partition(".")
        if kind != "F":
            whole = _group(whole)
        body = f"{whole}.{fraction}" if fraction else whole
        body = f"{body} %" if kind == "P" else body
        return f"-{body}" if minus else body
    if kind == "D" and isinstance(value, int):
        return ("-" if minus else "") + str(abs(value)).rjust(places or 0, "0")
    if kind == "X" and isinstance(value, int):
        text = format(
            value % 2**64 if value < 0 else value, "X" if letter == "X" else "x"
        )
        return text.rjust(places or 0, "0")
    if kind == "E":
        return _scientific(exact, 6 if places is None else places, letter)
    if kind == "C":
        return ("-" if minus else "") + "¤" + _group(_fixed(exact, places or 2))
    if kind in "GR":
        return _general(value, places)
    fail(f"Format specifier '{letter}{digits}' was invalid.")


def _scientific(value: Decimal, places: int, letter: str) -> str:
    if value == 0:
        return f"{'0' + ('.' + '0' * places if places else '')}{letter}+000"
    exponent = value.adjusted()
    mantissa = value.scaleb(-exponent, _EXACT)
    text = _fixed(mantissa, places)
    if text.startswith("10"):
        exponent += 1
        text = _fixed(mantissa.scaleb(-1, _EXACT), places)
    sign = "-" if value < 0 else ""
    return f"{sign}{text}{letter}{'+' if exponent >= 0 else '-'}{abs(exponent):03d}"


def _general(value: int | float | Decimal, places: int | None) -> str:
    if not places or isinstance(value, int):
        return default_text(value)
    exact = _exact(value)
    if exact == 0:
        return "0"
    rounded = _rounded(exact, exact.adjusted() - places + 1)
    digits, exponent = _digits(rounded.copy_abs())
    return _layout(digits, exponent, threshold=places, minus=exact < 0)


def _sections(spec: str) -> list[str]:
    sections: list[str] = []
    current: list[str] = []
    quote, escaped = "", False
    for char in spec:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            sections.append("".join(current))
            current = []
            continue
        current.append(char)
    sections.append("".join(current))
    return sections


_KINDS = {"0": "digit", "#": "digit", ".": "point", ",": "group", "%": "percent"}


def _tokens(section: str) -> list[tuple[str, str]]:
    """The section as (kind, text) pairs: digit, point, group or text."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(section):
        char = section[i]
        if char == "\\" and i + 1 < len(section):
            tokens.append(("text", section[i + 1]))
            i += 2
            continue
        if char in "'\"":
            end = section.find(char, i + 1)
            end = len(section) if end < 0 else end
            tokens.append(("text", section[i + 1 : end]))
            i = end + 1
            continue
        kind = _KINDS.get(char, "text")
        tokens.append((kind, char))
        i += 1
    return tokens


def _custom(value: int | float | Decimal, spec: str) -> str:
    sections = _sections(spec)
    exact = _exact(value)
    section, signed = sections[0], True
    if exact < 0 and len(sections) > 1 and sections[1]:
        section, signed = sections[1], False
    elif exact == 0 and len(sections) > 2 and sections[2]:
        section = sections[2]
    tokens = _tokens(section)
    if any(kind == "percent" for kind, _ in tokens):
        exact = exact.scaleb(2, _EXACT)
    tokens = [
        ("text", text) if kind == "percent" else (kind, text) for kind, text in tokens
    ]
    point = next(
        (i for i, (kind, _) in enumerate(tokens) if kind == "point"), len(tokens)
    )
    whole_tokens, fraction_tokens = tokens[:point], tokens[point + 1 :]
    scale = _scaling_commas(whole_tokens)
    exact = exact.scaleb(-3 * scale, _EXACT)
    places = sum(1 for kind, _ in fraction_tokens if kind == "digit")
    text = _fixed(exact, places)
    whole, _, fraction = text.partition(".")
    fraction = _trim_fraction(fraction, fraction_tokens)
    rendered = _render_whole(whole.lstrip("0"), whole_tokens)
    rendered += _render_fraction(fraction, fraction_tokens)
    negative = signed and exact < 0 and any(c.isdigit() and c != "0" for c in text)
    return ("-" if negative else "") + rendered


def _scaling_commas(tokens: list[tuple[str, str]]) -> int:
    """Commas right after the last digit placeholder divide by 1000 each.

    They are removed from ``tokens``; literal text after them stays.
    """
    digits = [i for i, (kind, _) in enumerate(tokens) if kind == "digit"]
    if not digits:
        return 0
    end = digits[-1] + 1
    count = 0
    while end < len(tokens) and tokens[end][0] == "group":
        del tokens[end]
        count += 1
    return count


def _trim_fraction(fraction: str, tokens: list[tuple[str, str]]) -> str:
    placeholders = [text for kind, text in tokens if kind == "digit"]
    keep = max((i + 1 for i, p in enumerate(placeholders) if p == "0"), default=0)
    trimmed = fraction.rstrip("0")
    return trimmed if len(trimmed) >= keep else fraction[:keep]


def _render_whole(digits: str, tokens: list[tuple[str, str]]) -> str:
    indexes = [i for i, (kind, _) in enumerate(tokens) if kind == "digit"]
    texts = [text if kind == "text" else "" for kind, text in tokens]
    if not indexes:
        return "".join(texts) + digits
    placeholders = [tokens[i][1] for i in indexes]
    if "0" in placeholders:
        digits = digits.rjust(len(placeholders) - placeholders.index("0"), "0")
    if any(kind == "group" for kind, _ in tokens):
        prefix, suffix = texts[: indexes[0]], texts[indexes[-1] + 1 :]
        return "".join(prefix) + _group(digits) + "".join(suffix)
    out = list(texts)
    for i in reversed(indexes[1:]):
        out[i], digits = digits[-1:], digits[:-1]
    out[indexes[0]] = digits
    return "".join(out)


def _render_fraction(fraction: str, tokens: list[tuple[str, str]]) -> str:
    if not tokens:
        return ""
    out = ["."] if fraction else []
    remaining = fraction
    for kind, text in tokens:
        if kind == "text":
            out.append(text)
        elif kind == "digit" and remaining:
            out.append(remaining[0])
            remaining = remaining[1:]
    return "".join(out)
