"""The SQL functions SQLite lacks, in Python, registered per connection.

Each one gives what the PostgreSQL side of `dialects` gives for the same
input: Unicode case mapping, KQL's ``has``, regular expressions of the
shared subset (`regex`), text-to-number conversions that yield NULL for text
that is not a number, KQL rounding, and the nearest-rank percentile.

The functions that match patterns (``has`` and the regular expressions)
stop at the query's `Deadline` when one is given, and let other threads run
while they match: see `regex.bounded_search`.
"""

from __future__ import annotations

import calendar
import functools
import json
import math
import re
import sqlite3
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import regex

from ..store.schema import utc_timestamp
from .deadline import Deadline
from .dialects import DATETIME_TEXT, INT_TEXT, INTEGER_RANGES, LONG_TEXT, REAL_TEXT
from .regex import bounded_search, python_regex
from .syntax import parse_datetime

_LONG = re.compile(LONG_TEXT)
_INT = re.compile(INT_TEXT)
_REAL = re.compile(REAL_TEXT)
_DATETIME = re.compile(DATETIME_TEXT)
_TERM_EDGE = r"(?:^|[\W_])"


def kql_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def kql_upper(value: str | None) -> str | None:
    return value.upper() if isinstance(value, str) else value


def _has(
    value: object, term: object, *, cs: bool, deadline: Deadline | None
) -> int | None:
    if not isinstance(value, str) or not isinstance(term, str):
        return None
    if not cs:
        value, term = value.lower(), term.lower()
    return int(bounded_search(_term_pattern(term), value, deadline) is not None)


@functools.lru_cache(maxsize=64)
def _term_pattern(term: str) -> regex.Pattern[str]:
    return regex.compile(f"{_TERM_EDGE}{regex.escape(term)}(?:$|[\\W_])")


def kql_has(
    value: object, term: object, *, deadline: Deadline | None = None
) -> int | None:
    """KQL's ``has``: ``term`` is a whole term of ``value``, any case."""
    return _has(value, term, cs=False, deadline=deadline)


def kql_has_cs(
    value: object, term: object, *, deadline: Deadline | None = None
) -> int | None:
    return _has(value, term, cs=True, deadline=deadline)


def kql_regex(
    value: object, pattern: object, *, deadline: Deadline | None = None
) -> int | None:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return None
    return int(bounded_search(python_regex(pattern), value, deadline) is not None)


def kql_extract(
    pattern: object, group: object, value: object, *, deadline: Deadline | None = None
) -> str | None:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return None
    match = bounded_search(python_regex(pattern), value, deadline)
    if match is None or not isinstance(group, int):
        return None
    found = match.group(group)
    return found if isinstance(found, str) else None


def kql_split(value: object, delimiter: object) -> str | None:
    if not isinstance(value, str) or not isinstance(delimiter, str):
        return None
    parts = value.split(delimiter) if delimiter else [value]
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


def kql_array_head(value: object, count: object) -> str | None:
    """The first ``count`` elements of a JSON array (make_list's limit)."""
    if not isinstance(value, str) or not isinstance(count, int):
        return None
    items = json.loads(value)
    return json.dumps(items[:count], ensure_ascii=False, separators=(",", ":"))


def kql_bag_entries(value: object) -> str | None:
    """An object's properties as an array of one-property objects."""
    if not isinstance(value, str):
        return None
    bag = json.loads(value)
    entries = [{key: item} for key, item in bag.items()]
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":"))


def kql_real_text(value: object) -> str | None:
    """A double as PostgreSQL writes it: the shortest digits that read back
    the same, positional from 1e-4 to below 1e15, else ``1.5e+20``."""
    if not isinstance(value, int | float):
        return None
    number = float(value)
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if math.isnan(number):
        return "NaN"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # Digits before the decimal point.
    if number == 0:
        body = "0"
    elif -4 < point <= 15:
        if point <= 0:
            body = "0." + "0" * -point + text
        elif point >= len(text):
            body = text + "0" * (point - len(text))
        else:
            body = text[:point] + "." + text[point:]
    else:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        body = f"{mantissa}e{point - 1:+03d}"
    return ("-" if sign else "") + body


def kql_json_text(value: object) -> str | None:
    """A JSON object or array as PostgreSQL writes a jsonb: ``", "`` and
    ``": "`` between items, the keys of an object shortest first."""
    if not isinstance(value, str):
        return None
    return _jsonb_text(json.loads(value))


def _jsonb_text(value: object) -> str:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        items = (f"{_jsonb_text(k)}: {_jsonb_text(value[k])}" for k in keys)
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def kql_round(value: object, digits: object) -> float | None:
    """Round half away from zero, as PostgreSQL rounds a double made numeric
    (which keeps 15 significant digits)."""
    if not isinstance(value, int | float) or not isinstance(digits, int):
        return None
    if not math.isfinite(value):
        return None
    try:
        exact = Decimal(format(value, ".15g"))
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return float(value)
    return float(rounded)


def kql_tolong(value: object) -> int | None:
    return _to_int(value, _LONG, INTEGER_RANGES["long"])


def kql_toint(value: object) -> int | None:
    return _to_int(value, _INT, INTEGER_RANGES["int"])


def _to_int(
    value: object, pattern: re.Pattern[str], bounds: tuple[int, int]
) -> int | None:
    if isinstance(value, str) and pattern.match(value):
        number = int(value)
        return number if bounds[0] <= number <= bounds[1] else None
    return None


def kql_toreal(value: object) -> float | None:
    if isinstance(value, str) and _REAL.match(value):
        return float(value)
    return None


def kql_tobool(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    return {"true": 1, "false": 0}.get(value.lower())


def kql_todatetime(value: object) -> str | None:
    if not isinstance(value, str) or not _DATETIME.match(value):
        return None
    parsed = parse_datetime(value)
    return utc_timestamp(parsed) if parsed is not None else None


def kql_add_months(value: object, months: object) -> str | None:
    """``value`` plus ``months`` calendar months; a day past the end of the
    month becomes its last day, as PostgreSQL's interval arithmetic does."""
    if not isinstance(value, str) or not isinstance(months, int):
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        return None
    index = parsed.year * 12 + parsed.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        return None
    last = calendar.monthrange(year, month + 1)[1]
    moved = parsed.replace(year=year, month=month + 1, day=min(parsed.day, last))
    return utc_timestamp(moved)


class Percentile:
    """Nearest rank: the value at rank ceil(p * n), as percentile_disc."""

    def __init__(self) -> None:
        self.values: list[object] = []
        self.fraction = 0.0

    def step(self, value: object, fraction: float) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def finalize(self) -> object:
        if not self.values:
            return None
        ordered = sorted(self.values, key=_sort_key)
        rank = max(math.ceil(self.fraction * len(ordered)), 1)
        return ordered[min(rank, len(ordered)) - 1]


def _sort_key(value: object) -> tuple[int, object]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


_SCALARS: dict[str, tuple[Callable[..., str | int | float | None], int]] = {
    "kql_lower": (kql_lower, 1),
    "kql_upper": (kql_upper, 1),
    "kql_has": (kql_has, 2),
    "kql_has_cs": (kql_has_cs, 2),
    "kql_regex": (kql_regex, 2),
    "kql_extract": (kql_extract, 3),
    "kql_split": (kql_split, 2),
    "kql_round": (kql_round, 2),
    "kql_array_head": (kql_array_head, 2),
    "kql_real_text": (kql_real_text, 1),
    "kql_json_text": (kql_json_text, 1),
    "kql_bag_entries": (kql_bag_entries, 1),
    "kql_tolong": (kql_tolong, 1),
    "kql_toint": (kql_toint, 1),
    "kql_toreal": (kql_toreal, 1),
    "kql_tobool": (kql_tobool, 1),
    "kql_todatetime": (kql_todatetime, 1),
    "kql_add_months": (kql_add_months, 2),
}


_TIMED = frozenset({"kql_has", "kql_has_cs", "kql_regex", "kql_extract"})
"""The functions that take a ``deadline``."""


def register_sqlite_functions(
    conn: sqlite3.Connection, deadline: Deadline | None = None
) -> None:
    """Make the functions compiled queries call available on ``conn``.

    With a ``deadline``, a pattern match that runs past it fails its
    statement and marks the deadline passed.
    """
    for name, (function, arity) in _SCALARS.items():
        if name in _TIMED:
            function = functools.partial(function, deadline=deadline)
        conn.create_function(name, arity, function, deterministic=True)
    conn.create_aggregate("kql_percentile", 2, Percentile)  # type: ignore[arg-type]
