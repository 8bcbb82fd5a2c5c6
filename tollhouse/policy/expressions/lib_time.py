"""DateTime, TimeSpan and Guid, with their enums DayOfWeek and DateTimeKind.

A ``DateTime`` is a Python `datetime` (aware in UTC for ``Kind == Utc``),
a ``TimeSpan`` a `timedelta`, a ``Guid`` a `uuid.UUID`; text goes through
`dates`, in .NET's invariant culture.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from . import dates
from .lib_common import Culture, int_of, method, prop, text_of, with_common
from .lib_values import compare_values, number_of
from .runtime import fail
from .types import CsType, EnumValue, constant, make_enum

DAY_OF_WEEK = make_enum(
    "DayOfWeek",
    "System",
    {
        "Sunday": 0,
        "Monday": 1,
        "Tuesday": 2,
        "Wednesday": 3,
        "Thursday": 4,
        "Friday": 5,
        "Saturday": 6,
    },
)
DATE_KIND = make_enum(
    "DateTimeKind", "System", {"Unspecified": 0, "Utc": 1, "Local": 2}
)


# DateTime


def span(**parts: float) -> timedelta:
    """A timedelta, or the TimeSpan overflow .NET reports."""
    try:
        return timedelta(**parts)
    except (OverflowError, ValueError):
        fail("TimeSpan overflowed because the duration is too long.")


def shifted(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, or the overflow .NET reports."""
    try:
        return value + delta
    except OverflowError:
        fail("The added or subtracted value results in an un-representable DateTime.")


def _span_of(value: object, what: str = "value") -> timedelta:
    if not isinstance(value, timedelta):
        fail(f"Argument '{what}': expected a TimeSpan")
    return value


def _add(unit: str) -> Callable[[datetime, object], datetime]:
    def run(value: datetime, amount: object) -> datetime:
        return shifted(value, span(**{unit: float(number_of(amount))}))

    return run


def _add_months(value: datetime, months: object) -> datetime:
    total = value.year * 12 + value.month - 1 + int_of(months, "months")
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        fail("The added or subtracted value results in an un-representable DateTime.")
    day = min(value.day, _days_in_month(year, month + 1))
    return value.replace(year=year, month=month + 1, day=day)


def _days_in_month(year: int, month: int) -> int:
    if not (1 <= year <= 9999 and 1 <= month <= 12):
        fail("Year or month is out of range for a DateTime.")
    if month == 12:
        return 31
    following = datetime(year, month + 1, 1)
    return (following - timedelta(days=1)).day


def _subtract(value: datetime, other: object) -> object:
    if isinstance(other, datetime):
        return dates.naive(value) - dates.naive(other)
    if isinstance(other, timedelta):
        return shifted(value, -other)
    fail("DateTime.Subtract expects a DateTime or a TimeSpan")


def _add_span(value: datetime, delta: object) -> datetime:
    return shifted(value, _span_of(delta))


def _new_datetime(*parts: object) -> datetime:
    kind = parts[-1] if parts and isinstance(parts[-1], EnumValue) else None
    numbers_ = [int_of(p) for p in parts if not isinstance(p, EnumValue)]
    if len(numbers_) not in (3, 6, 7):
        fail(
            "DateTime constructor takes "
            "(year, month, day[, hour, minute, second[, millisecond]])"
        )
    year, month, day, *clock = numbers_
    hour, minute, second, milli = (clock + [0, 0, 0, 0])[:4]
    try:
        value = datetime(year, month, day, hour, minute, second, milli * 1000)
    except ValueError:
        fail("Year, Month, and Day parameters describe an un-representable DateTime.")
    return value.replace(tzinfo=UTC) if kind is not None and kind.value == 1 else value


def _kind(value: datetime) -> EnumValue:
    return EnumValue(
        "DateTimeKind",
        0 if value.tzinfo is None else 1,
        {0: "Unspecified", 1: "Utc", 2: "Local"},
    )


def _to_universal(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.astimezone(UTC)


def _to_local(value: datetime) -> datetime:
    return (
        value.astimezone().replace(tzinfo=None) if value.tzinfo is not None else value
    )


DATETIME = with_common(
    CsType(
        "DateTime",
        "System.DateTime",
        lambda v: isinstance(v, datetime),
        properties={
            "Year": prop(lambda v: v.year, "int"),
            "Month": prop(lambda v: v.month, "int"),
            "Day": prop(lambda v: v.day, "int"),
            "Hour": prop(lambda v: v.hour, "int"),
            "Minute": prop(lambda v: v.minute, "int"),
            "Second": prop(lambda v: v.second, "int"),
            "Millisecond": prop(lambda v: v.microsecond // 1000, "int"),
            "DayOfWeek": prop(lambda v: _day_of_week(v), "DayOfWeek"),
            "DayOfYear": prop(lambda v: v.timetuple().tm_yday, "int"),
            "Date": prop(
                lambda v: v.replace(hour=0, minute=0, second=0, microsecond=0),
                "DateTime",
            ),
            "TimeOfDay": prop(
                lambda v: (
                    dates.naive(v)
                    - dates.naive(v).replace(hour=0, minute=0, second=0, microsecond=0)
                ),
                "TimeSpan",
            ),
            "Ticks": prop(dates.ticks, "long"),
            "Kind": prop(_kind, "DateTimeKind"),
        },
        methods={
            "AddMilliseconds": method(
                _add("milliseconds"), "value", returns="DateTime"
            ),
            "AddSeconds": method(_add("seconds"), "value", returns="DateTime"),
            "AddMinutes": method(_add("minutes"), "value", returns="DateTime"),
            "AddHours": method(_add("hours"), "value", returns="DateTime"),
            "AddDays": method(_add("days"), "value", returns="DateTime"),
            "AddMonths": method(_add_months, "months", returns="DateTime"),
            "AddYears": method(
                lambda v, n: _add_months(v, int_of(n, "value") * 12),
                "value",
                returns="DateTime",
            ),
            "AddTicks": method(
                lambda v, n: _add("microseconds")(v, int_of(n) / 10),
                "value",
                returns="DateTime",
            ),
            "Add": method(_add_span, "value", returns="DateTime"),
            "Subtract": method(_subtract, "value"),
            "ToUniversalTime": method(_to_universal, returns="DateTime"),
            "ToLocalTime": method(_to_local, returns="DateTime"),
            "CompareTo": method(compare_values, "value", returns="int"),
        },
        statics={
            "UtcNow": prop(lambda _: datetime.now(UTC), "DateTime"),
            "Now": prop(lambda _: datetime.now(), "DateTime"),
            "Today": prop(
                lambda _: datetime.now().replace(
                    hour=0, minute=0, second=0, microsecond=0
                ),
                "DateTime",
            ),
            "MinValue": constant(datetime(1, 1, 1), "DateTime"),
            "MaxValue": constant(
                datetime(9999, 12, 31, 23, 59, 59, 999999), "DateTime"
            ),
        },
        static_methods={
            "Parse": method(
                lambda s, p=None: dates.parse_datetime(s),
                "s",
                "provider",
                required=1,
                returns="DateTime",
            ),
            "Compare": method(compare_values, "t1", "t2", returns="int"),
            "DaysInMonth": method(
                lambda y, m: _days_in_month(int_of(y), int_of(m)),
                "year",
                "month",
                returns="int",
            ),
        },
        constructor=method(
            _new_datetime,
            "year",
            "month",
            "day",
            "hour",
            "minute",
            "second",
            "millisecond",
            "kind",
            required=3,
            variadic=True,
        ),
        value_type=True,
    )
)


def _day_of_week(value: datetime) -> EnumValue:
    names = {
        i: n
        for i, n in enumerate(
            (
                "Sunday",
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
            )
        )
    }
    return EnumValue("DayOfWeek", (value.weekday() + 1) % 7, names)


# TimeSpan


def _span(unit: str) -> Callable[[object], timedelta]:
    def run(amount: object) -> timedelta:
        return span(**{unit: float(number_of(amount))})

    return run


def _new_timespan(*parts: object) -> timedelta:
    values = [int_of(p) for p in parts]
    if len(values) == 1:
        return span(microseconds=values[0] / 10)
    if len(values) == 3:
        return span(hours=values[0], minutes=values[1], seconds=values[2])
    if len(values) in (4, 5):
        days, hours, minutes, seconds, milli = (values + [0])[:5]
        return span(
            days=days, hours=hours, minutes=minutes, seconds=seconds, milliseconds=milli
        )
    fail("TimeSpan constructor takes (ticks), (h, m, s) or (d, h, m, s[, ms])")


def _components(value: timedelta) -> tuple[int, int, int, int, int]:
    ticks = dates.timespan_ticks(value)
    sign = -1 if ticks < 0 else 1
    days, rest = divmod(abs(ticks), 86400 * dates.TICKS_PER_SECOND)
    hours, rest = divmod(rest, 3600 * dates.TICKS_PER_SECOND)
    minutes, rest = divmod(rest, 60 * dates.TICKS_PER_SECOND)
    seconds, rest = divmod(rest, dates.TICKS_PER_SECOND)
    return (
        sign * days,
        sign * hours,
        sign * minutes,
        sign * seconds,
        sign * (rest // 10_000),
    )


def _sum_spans(a: timedelta, b: timedelta) -> timedelta:
    try:
        return a + b
    except OverflowError:
        fail("TimeSpan overflowed because the duration is too long.")


def _span_text(value: timedelta, spec: object = None, provider: object = None) -> str:
    if spec is None or isinstance(spec, Culture):
        return dates.format_timespan(value)
    return dates.format_timespan(value, text_of(spec, "format"))


TIMESPAN = with_common(
    CsType(
        "TimeSpan",
        "System.TimeSpan",
        lambda v: isinstance(v, timedelta),
        properties={
            "TotalMilliseconds": prop(
                lambda v: v / timedelta(milliseconds=1), "double"
            ),
            "TotalSeconds": prop(lambda v: v.total_seconds(), "double"),
            "TotalMinutes": prop(lambda v: v / timedelta(minutes=1), "double"),
            "TotalHours": prop(lambda v: v / timedelta(hours=1), "double"),
            "TotalDays": prop(lambda v: v / timedelta(days=1), "double"),
            "Days": prop(lambda v: _components(v)[0], "int"),
            "Hours": prop(lambda v: _components(v)[1], "int"),
            "Minutes": prop(lambda v: _components(v)[2], "int"),
            "Seconds": prop(lambda v: _components(v)[3], "int"),
            "Milliseconds": prop(lambda v: _components(v)[4], "int"),
            "Ticks": prop(dates.timespan_ticks, "long"),
        },
        methods={
            "Add": method(
                lambda a, b: _sum_spans(a, _span_of(b)), "ts", returns="TimeSpan"
            ),
            "Subtract": method(
                lambda a, b: _sum_spans(a, -_span_of(b)), "ts", returns="TimeSpan"
            ),
            "Negate": method(lambda a: -a, returns="TimeSpan"),
            "Duration": method(abs, returns="TimeSpan"),
            "ToString": method(
                _span_text, "format", "provider", required=0, returns="string"
            ),
            "CompareTo": method(compare_values, "value", returns="int"),
        },
        statics={
            "Zero": constant(timedelta(0), "TimeSpan"),
            "MaxValue": constant(timedelta.max, "TimeSpan"),
            "MinValue": constant(timedelta.min, "TimeSpan"),
        },
        static_methods={
            "FromMilliseconds": method(
                _span("milliseconds"), "value", returns="TimeSpan"
            ),
            "FromSeconds": method(_span("seconds"), "value", returns="TimeSpan"),
            "FromMinutes": method(_span("minutes"), "value", returns="TimeSpan"),
            "FromHours": method(_span("hours"), "value", returns="TimeSpan"),
            "FromDays": method(_span("days"), "value", returns="TimeSpan"),
            "FromTicks": method(
                lambda n: span(microseconds=int_of(n) / 10),
                "value",
                returns="TimeSpan",
            ),
            "Parse": method(
                lambda s, p=None: dates.parse_timespan(s),
                "s",
                "provider",
                required=1,
                returns="TimeSpan",
            ),
        },
        constructor=method(_new_timespan, "ticks", required=1, variadic=True),
        value_type=True,
    )
)


# Guid


def _guid_text(value: uuid.UUID, spec: object = None, provider: object = None) -> str:
    return dates.format_guid(value, "" if spec is None else text_of(spec, "format"))


GUID = with_common(
    CsType(
        "Guid",
        "System.Guid",
        lambda v: isinstance(v, uuid.UUID),
        methods={
            "ToString": method(
                _guid_text, "format", "provider", required=0, returns="string"
            )
        },
        statics={"Empty": constant(uuid.UUID(int=0), "Guid")},
        static_methods={
            "NewGuid": method(uuid.uuid4, returns="Guid"),
            "Parse": method(dates.parse_guid, "input", returns="Guid"),
        },
        constructor=method(dates.parse_guid, "g"),
        value_type=True,
    )
)

TYPES = [DATETIME, TIMESPAN, GUID, DAY_OF_WEEK, DATE_KIND]
