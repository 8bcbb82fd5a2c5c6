"""Cases of datetime parts and arithmetic, and between a datetime and a span."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from .cases import GW, Expected, G, case, check_case, ids, where_ids


def _time(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["TimeGenerated"].replace("Z", "+00:00"))


def _text(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _days(count: int) -> str:
    return f"{count}.00:00:00" if count else "00:00:00"


def _parts() -> list[list[Any]]:
    rows = []
    for row in G:
        t = _time(row)
        end = t.replace(hour=23, minute=59, second=59, microsecond=999999)
        rows.append(
            [
                row["CorrelationId"],
                t.hour,
                _days((t.weekday() + 1) % 7),  # Sunday is 0 days.
                t.day,
                t.timetuple().tm_yday,
                t.month,
                t.month,
                t.year,
                _text(end),
            ]
        )
    return rows


def _in_window(start: str, span: timedelta) -> list[list[Any]]:
    low = datetime.fromisoformat(start + "+00:00")
    return ids(lambda r: low <= _time(r) <= low + span)


def _on(day: str, row: dict[str, Any]) -> bool:
    start = datetime.fromisoformat(day + "T00:00:00+00:00")
    return start <= _time(row) <= start + timedelta(days=1)


TIME_CASES = [
    case(
        "datetime-parts",
        f"{GW} | project CorrelationId, h = hourofday(TimeGenerated),"
        " w = dayofweek(TimeGenerated), d = dayofmonth(TimeGenerated),"
        " y = dayofyear(TimeGenerated), m = getmonth(TimeGenerated),"
        " m2 = monthofyear(TimeGenerated), yy = getyear(TimeGenerated),"
        " e = endofday(TimeGenerated)",
        "CorrelationId:string, h:int, w:timespan, d:int, y:int, m:int, m2:int,"
        " yy:int, e:datetime",
        _parts(),
        ordered=False,
    ),
    case(
        # Months keep the day when they can, else end on the month's last day.
        "datetime-add",
        f"{GW} | where CorrelationId == 'c01'"
        " | project a = datetime_add('month', 1, datetime(2026-01-31 10:00)),"
        " b = datetime_add('year', -2, datetime(2024-02-29)),"
        " c = datetime_add('quarter', 1, datetime(2025-11-30)),"
        " d = datetime_add('hour', -2, TimeGenerated),"
        " e = datetime_add('week', 1, TimeGenerated),"
        " f = datetime_add('millisecond', 1500, TimeGenerated)",
        "a:datetime, b:datetime, c:datetime, d:datetime, e:datetime, f:datetime",
        [
            [
                "2026-02-28T10:00:00.000000Z",
                "2022-02-28T00:00:00.000000Z",
                "2026-02-28T00:00:00.000000Z",
                "2026-02-27T07:15:00.000000Z",
                "2026-03-06T09:15:00.000000Z",
                "2026-02-27T09:15:01.500000Z",
            ]
        ],
    ),
    case(
        "gettype",
        f"{GW} | where CorrelationId == 'c01'"
        " | project a = gettype(ResponseCode), b = gettype(1), c = gettype(1.5),"
        " d = gettype(Url), e = gettype(TimeGenerated), f = gettype(1h),"
        " g = gettype(true), h = gettype(RequestHeaders),"
        ' i = gettype(dynamic([1])), j = gettype(dynamic({"a": 7}).a),'
        ' k = gettype(dynamic({"a": 7.5}).a), l = gettype(dynamic(["x"])[0]),'
        " m = gettype(RequestHeaders.nope)",
        "a:string, b:string, c:string, d:string, e:string, f:string, g:string,"
        " h:string, i:string, j:string, k:string, l:string, m:string",
        [
            [
                "int",
                "long",
                "real",
                "string",
                "datetime",
                "timespan",
                "bool",
                "dictionary",
                "array",
                "long",
                "real",
                "string",
                "null",
            ]
        ],
    ),
    case(
        # (start .. span) ends at start + span, both ends included.
        "between-datetime-and-timespan",
        where_ids("TimeGenerated between (datetime(2026-02-28 08:00) .. 1h)"),
        "CorrelationId:string",
        _in_window("2026-02-28T08:00:00", timedelta(hours=1)),
        ordered=False,
    ),
    case(
        "between-datetime-and-timespan-ends-included",
        where_ids("TimeGenerated between (datetime(2026-02-28 23:00) .. 1h)"),
        "CorrelationId:string",
        _in_window("2026-02-28T23:00:00", timedelta(hours=1)),
        ordered=False,
    ),
    case(
        "not-between-datetime-and-timespan",
        where_ids("TimeGenerated !between (datetime(2026-02-28) .. 1d)"),
        "CorrelationId:string",
        ids(lambda r: not _on("2026-02-28", r)),
        ordered=False,
    ),
]


CASES = TIME_CASES


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_case(engine: Any, query: str, expected: Expected) -> None:
    check_case(engine, query, expected)
