"""Turning the rows a store returns into KQL's values, the same for both.

The SQL leaves each value as its store keeps it (a datetime is TEXT in
SQLite and a ``datetime`` from psycopg; a dynamic is JSON text or an
already-parsed value); `converter` makes the function that gives every
column its one Python form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from ..store.schema import utc_timestamp

Convert = Callable[[object], object]


def timespan_text(seconds: float) -> str:
    """KQL's text of a timespan: ``[-][d.]hh:mm:ss[.fffffff]``."""
    # Half a tick rounds away from zero, as `conversions.timespan_text` does.
    ticks = math.floor(abs(seconds) * 10_000_000 + 0.5)
    sign = "-" if seconds < 0 and ticks else ""
    whole, fraction = divmod(ticks, 10_000_000)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{text}.{fraction:07d}" if fraction else text


def _datetime(value: object) -> object:
    if isinstance(value, datetime):
        return utc_timestamp(value)
    return value


def _timespan(value: object) -> object:
    # PostgreSQL gives a constant's seconds as a Decimal.
    if isinstance(value, int | float | Decimal) and math.isfinite(value):
        return timespan_text(float(value))
    return None


def _real(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None:
        return None
    return float(str(value))


def _integer(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return int(value)
    return int(str(value))


def _bool(value: object) -> object:
    return None if value is None else bool(value)


def _string(value: object) -> object:
    return None if value is None else str(value)


def _json_text(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # A dynamic whose text is not JSON reads as a string.


def _identity(value: object) -> object:
    return value


_CONVERTERS: dict[str, Convert] = {
    "datetime": _datetime,
    "timespan": _timespan,
    "real": _real,
    "long": _integer,
    "int": _integer,
    "bool": _bool,
    "string": _string,
}


def converter(
    types: Sequence[str], dialect: str
) -> Callable[[Sequence[object]], list[object]]:
    """A function turning one raw row of ``dialect`` into KQL values."""
    dynamic = _json_text if dialect == "sqlite" else _identity
    functions = [_CONVERTERS.get(kql_type, dynamic) for kql_type in types]

    def convert(row: Sequence[object]) -> list[object]:
        return [f(v) for f, v in zip(functions, row, strict=True)]

    return convert
