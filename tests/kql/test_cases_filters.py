"""Cases of ``where``: comparisons and nulls, time windows, string operators."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .cases import (
    AGO_1D,
    AGO_1H,
    GW,
    LLM,
    Expected,
    G,
    case,
    check_case,
    ids,
    text_of,
    where_ids,
)

# Filters: numbers, nulls, bools, times --------------------------------------

FILTER_CASES = [
    case("count-gateway", f"{GW} | count", "Count:long", [[32]]),
    case("count-llm", f"{LLM} | count", "Count:long", [[30]]),
    case(
        "count-llm-alias", "ApiManagementGatewayLlmLogs | count", "Count:long", [[30]]
    ),
    case(
        "take-after-order",
        f"{GW} | order by TimeGenerated asc | take 3 | project CorrelationId",
        "CorrelationId:string",
        [["c29"], ["c01"], ["c02"]],
    ),
    case(
        "limit-after-sort-desc",
        f"{GW} | sort by TimeGenerated desc | limit 2"
        " | project CorrelationId, TimeGenerated",
        "CorrelationId:string, TimeGenerated:datetime",
        [
            ["c28", "2026-03-01T00:30:00.000000Z"],
            ["c27", "2026-03-01T00:29:59.999999Z"],
        ],
    ),
    case("take-then-count", f"{GW} | take 5 | count", "Count:long", [[5]]),
    case(
        "int-equals",
        where_ids("ResponseCode == 403"),
        "CorrelationId:string",
        [["c07"], ["c08"], ["c19"], ["c20"], ["c24"]],
        ordered=False,
    ),
    case(
        # null != 200 is true in KQL: the rows without a backend answer stay.
        "int-not-equals-keeps-null",
        where_ids("BackendResponseCode != 200"),
        "CorrelationId:string",
        ids(lambda r: r.get("BackendResponseCode") != 200),
        ordered=False,
    ),
    case(
        "greater-than-drops-null",
        where_ids("ResponseSize > 5000"),
        "CorrelationId:string",
        [["c04"], ["c14"], ["c26"]],
        ordered=False,
    ),
    case(
        "less-or-equal",
        where_ids("ResponseSize <= 92"),
        "CorrelationId:string",
        ids(lambda r: r.get("ResponseSize") is not None and r["ResponseSize"] <= 92),
        ordered=False,
    ),
    case(
        "real-compare",
        f"{GW} | where TotalTime >= 1500.75 | project CorrelationId, TotalTime",
        "CorrelationId:string, TotalTime:real",
        [["c10", 1500.75], ["c13", 2200.0], ["c22", 30000.0]],
        ordered=False,
    ),
    case(
        "between-int",
        where_ids("ResponseCode between (400 .. 429)"),
        "CorrelationId:string",
        ids(
            lambda r: (
                r.get("ResponseCode") is not None and 400 <= r["ResponseCode"] <= 429
            )
        ),
        ordered=False,
    ),
    case(
        "not-between",
        where_ids("isnotnull(ResponseSize) and ResponseSize !between (100 .. 5000)"),
        "CorrelationId:string",
        ids(
            lambda r: (
                r.get("ResponseSize") is not None
                and not 100 <= r["ResponseSize"] <= 5000
            )
        ),
        ordered=False,
    ),
    case(
        "between-datetimes-inclusive",
        where_ids(
            "TimeGenerated between (datetime(2026-02-28 23:30:00)"
            " .. datetime(2026-03-01 00:00:00))"
        ),
        "CorrelationId:string",
        [["c19"], ["c20"], ["c21"], ["c22"], ["c23"]],
        ordered=False,
    ),
    case(
        "and-or-parentheses",
        where_ids(
            "(ResponseCode == 429 and isnotnull(BackendResponseCode))"
            " or ResponseCode == 401"
        ),
        "CorrelationId:string",
        [["c12"], ["c27"]],
        ordered=False,
    ),
    case(
        # null == 200 is false, so not() of it is true: c29 is kept.
        "not-of-null-comparison",
        where_ids("not(ResponseCode == 200)"),
        "CorrelationId:string",
        ids(lambda r: r.get("ResponseCode") != 200),
        ordered=False,
    ),
    case(
        "bool-column-as-predicate",
        f"{GW} | where IsRequestSuccess | count",
        "Count:long",
        [[sum(1 for r in G if r.get("IsRequestSuccess") == 1)]],
    ),
    case(
        "bool-equals-false",
        f"{GW} | where IsRequestSuccess == false | count",
        "Count:long",
        [[12]],
    ),
    case(
        "isnull-int",
        where_ids("isnull(ResponseCode)"),
        "CorrelationId:string",
        [["c29"]],
    ),
    case(
        "isnotnull-real",
        f"{GW} | where isnotnull(BackendTime) | project CorrelationId, BackendTime",
        "CorrelationId:string, BackendTime:real",
        [["c01", 800.25], ["c10", 1490.0]],
        ordered=False,
    ),
    case(
        "isnull-bool",
        where_ids("isnull(IsRequestSuccess)"),
        "CorrelationId:string",
        [["c29"]],
    ),
    case(
        "isnull-dynamic",
        where_ids("isnull(RequestHeaders)"),
        "CorrelationId:string",
        [["c29"]],
    ),
    case(
        "null-datetime-from-iff",
        f"{GW} | where CorrelationId in ('c01', 'c07')"
        " | extend t = iff(ResponseCode == 200, TimeGenerated, datetime(null))"
        " | order by CorrelationId asc | project CorrelationId, t",
        "CorrelationId:string, t:datetime",
        [["c01", "2026-02-27T09:15:00.000000Z"], ["c07", None]],
    ),
    case(
        # A NULL string is stored: isnull sees it, "" is not null.
        "isnull-string",
        where_ids("isnull(ProductId)"),
        "CorrelationId:string",
        ids(lambda r: r.get("ProductId") is None),
        ordered=False,
    ),
    case(
        "isempty-string-null-and-empty",
        where_ids("isempty(ProductId)"),
        "CorrelationId:string",
        ids(lambda r: not r.get("ProductId")),
        ordered=False,
    ),
    case(
        "isnotempty-string",
        f"{GW} | where isnotempty(UserId) | project CorrelationId, UserId",
        "CorrelationId:string, UserId:string",
        [[r["CorrelationId"], r["UserId"]] for r in G if r.get("UserId")],
        ordered=False,
    ),
    case(
        "isempty-int",
        where_ids("isempty(ResponseCode)"),
        "CorrelationId:string",
        [["c29"]],
    ),
]

# Time windows ----------------------------------------------------------------

TIME_CASES = [
    case(
        "ago-1h-inclusive-edge",
        where_ids("TimeGenerated >= ago(1h)"),
        "CorrelationId:string",
        ids(lambda r: r["TimeGenerated"] >= AGO_1H),
        ordered=False,
    ),
    case(
        "ago-1h-strict-excludes-edge",
        f"{GW} | where TimeGenerated > ago(1h) | count",
        "Count:long",
        [[sum(1 for r in G if r["TimeGenerated"] > AGO_1H)]],
    ),
    case(
        "ago-1d-first-and-count",
        f"{GW} | where TimeGenerated >= ago(1d)"
        " | summarize first = min(TimeGenerated), n = count()",
        "first:datetime, n:long",
        [[AGO_1D, sum(1 for r in G if r["TimeGenerated"] >= AGO_1D)]],
    ),
    case(
        "now-minus-days-window",
        where_ids("TimeGenerated > now() - 2d and TimeGenerated <= now() - 1d"),
        "CorrelationId:string",
        [["c01"], ["c02"], ["c03"], ["c04"], ["c05"], ["c06"], ["c30"], ["c31"]],
        ordered=False,
    ),
    case(
        "ago-seconds",
        where_ids("TimeGenerated >= ago(90s)"),
        "CorrelationId:string",
        [["c27"], ["c28"]],
        ordered=False,
    ),
    case(
        "ago-fractional-hours-and-minutes",
        where_ids("TimeGenerated >= ago(1.5h) and TimeGenerated < ago(20m)"),
        "CorrelationId:string",
        [["c17"], ["c18"], ["c19"], ["c20"], ["c21"], ["c22"], ["c23"]],
        ordered=False,
    ),
    case(
        "microseconds-apart",
        f"{GW} | where TimeGenerated between (datetime(2026-02-28T08:00:00Z)"
        " .. datetime(2026-02-28T08:00:00.000001Z))"
        " | order by TimeGenerated desc | project CorrelationId, TimeGenerated",
        "CorrelationId:string, TimeGenerated:datetime",
        [
            ["c08", "2026-02-28T08:00:00.000001Z"],
            ["c07", "2026-02-28T08:00:00.000000Z"],
        ],
    ),
    case(
        "datetime-equals-last-microsecond-of-month",
        where_ids("TimeGenerated == datetime(2026-02-28 23:59:59.999999)"),
        "CorrelationId:string",
        [["c22"]],
    ),
    case(
        "row-at-now",
        where_ids("TimeGenerated == now()"),
        "CorrelationId:string",
        [["c28"]],
    ),
    case(
        "before-midnight",
        where_ids(
            "TimeGenerated < datetime(2026-03-01)"
            " and TimeGenerated >= datetime(2026-02-28 23:59:59)"
        ),
        "CorrelationId:string",
        [["c22"]],
    ),
    case(
        "todatetime-literal",
        where_ids('todatetime("2026-03-01T00:00:00Z") <= TimeGenerated'),
        "CorrelationId:string",
        [["c23"], ["c24"], ["c25"], ["c26"], ["c27"], ["c28"]],
        ordered=False,
    ),
    case(
        "start-of-day-month-week",
        f"{GW} | where CorrelationId in ('c22', 'c23')"
        " | project CorrelationId, d = startofday(TimeGenerated),"
        " m = startofmonth(TimeGenerated), w = startofweek(TimeGenerated)"
        " | order by CorrelationId asc",
        "CorrelationId:string, d:datetime, m:datetime, w:datetime",
        [
            [
                "c22",
                "2026-02-28T00:00:00.000000Z",
                "2026-02-01T00:00:00.000000Z",
                "2026-02-22T00:00:00.000000Z",
            ],
            [
                "c23",
                "2026-03-01T00:00:00.000000Z",
                "2026-03-01T00:00:00.000000Z",
                "2026-03-01T00:00:00.000000Z",
            ],
        ],
    ),
    case(
        "format-datetime",
        f"{GW} | where CorrelationId == 'c11'"
        ' | project a = format_datetime(TimeGenerated, "yyyy-MM-dd HH:mm:ss"),'
        ' b = format_datetime(TimeGenerated, "HH:mm:ss.fff"),'
        ' c = format_datetime(TimeGenerated, "dd/MM/yy")',
        "a:string, b:string, c:string",
        [["2026-02-28 12:34:56", "12:34:56.789", "28/02/26"]],
    ),
    case(
        # datetime_diff counts period boundaries crossed, not elapsed periods.
        "datetime-diff-boundaries",
        f"{GW} | where CorrelationId in ('c18', 'c22')"
        ' | project CorrelationId, d = datetime_diff("day", now(), TimeGenerated),'
        ' h = datetime_diff("hour", now(), TimeGenerated),'
        ' m = datetime_diff("month", now(), TimeGenerated),'
        ' s = datetime_diff("second", datetime(2026-03-01), TimeGenerated)'
        " | order by CorrelationId asc",
        "CorrelationId:string, d:long, h:long, m:long, s:long",
        [["c18", 1, 1, 1, 1801], ["c22", 1, 1, 1, 1]],
    ),
    case(
        "datetime-arithmetic-and-timespan",
        f"{GW} | where CorrelationId == 'c11'"
        " | project t = TimeGenerated + 1h, u = TimeGenerated - 30m,"
        " span = now() - TimeGenerated",
        "t:datetime, u:datetime, span:timespan",
        [
            [
                "2026-02-28T13:34:56.789012Z",
                "2026-02-28T12:04:56.789012Z",
                "11:55:03.2109880",
            ]
        ],
    ),
    case(
        "timespan-over-a-day",
        f"{GW} | where CorrelationId == 'c29' | project span = now() - TimeGenerated",
        "span:timespan",
        [["2.18:30:00"]],
    ),
]

# String operators -----------------------------------------------------------

STRING_CASES = [
    case(
        "equals-is-case-sensitive",
        f'{GW} | where ApimSubscriptionId == "sub-delta" | count',
        "Count:long",
        [[0]],
    ),
    case(
        "tilde-equals-ignores-case",
        where_ids('ApimSubscriptionId =~ "SUB-DELTA"'),
        "CorrelationId:string",
        [["c32"]],
    ),
    case(
        # KQL strings have no null: "" != "sub-alpha" keeps the NULL rows.
        "not-equals-string-keeps-null",
        where_ids('ApimSubscriptionId != "sub-alpha"'),
        "CorrelationId:string",
        ids(lambda r: text_of(r, "ApimSubscriptionId") != "sub-alpha"),
        ordered=False,
    ),
    case(
        "not-tilde-equals",
        where_ids('Method !~ "post"'),
        "CorrelationId:string",
        [["c03"], ["c17"], ["c28"], ["c29"]],
        ordered=False,
    ),
    case(
        "has-whole-term",
        where_ids('Url has "embeddings"'),
        "CorrelationId:string",
        [["c04"], ["c14"], ["c26"]],
        ordered=False,
    ),
    case(
        "has-ignores-case",
        f'{GW} | where Url has "CHAT" | count',
        "Count:long",
        [[sum(1 for r in G if "/chat/" in text_of(r, "Url"))]],
    ),
    case(
        "has-is-not-prefix",
        f'{GW} | where Url has "embed" | count',
        "Count:long",
        [[0]],
    ),
    case(
        "has-term-after-hyphen",
        where_ids('Url has "mini"'),
        "CorrelationId:string",
        [["c02"], ["c09"], ["c13"], ["c18"], ["c21"]],
        ordered=False,
    ),
    case(
        "not-has",
        where_ids('Url !has "chat"'),
        "CorrelationId:string",
        ids(lambda r: "/chat/" not in text_of(r, "Url")),
        ordered=False,
    ),
    case(
        "contains-ignores-case",
        where_ids('Url contains "EMBED"'),
        "CorrelationId:string",
        [["c04"], ["c14"], ["c26"]],
        ordered=False,
    ),
    case(
        "not-contains-keeps-null",
        where_ids('OperationName !contains "chat"'),
        "CorrelationId:string",
        ids(lambda r: "chat" not in text_of(r, "OperationName").lower()),
        ordered=False,
    ),
    case(
        "contains-percent-is-literal",
        f'{GW} | where OperationName contains "%" or Url contains "s%C" | count',
        "Count:long",
        [[0]],
    ),
    case(
        "contains-underscore-is-literal",
        f'{GW} | where OperationName contains "s_C" | count',
        "Count:long",
        [[sum(1 for r in G if "s_c" in text_of(r, "OperationName").lower())]],
    ),
    case(
        "startswith",
        where_ids('CallerIpAddress startswith "203."'),
        "CorrelationId:string",
        [["c07"], ["c12"], ["c19"]],
        ordered=False,
    ),
    case(
        "startswith-ignores-case",
        f'{GW} | where DeploymentName startswith "GPT-4O" | count',
        "Count:long",
        [[sum(1 for r in G if text_of(r, "DeploymentName").startswith("gpt-4o"))]],
    ),
    case(
        "startswith-underscore-is-literal",
        f'{GW} | where ApiVersion startswith "_" or ApiVersion startswith "%" | count',
        "Count:long",
        [[0]],
    ),
    case(
        "endswith-ignores-case",
        where_ids('DeploymentName endswith "-MINI"'),
        "CorrelationId:string",
        [["c02"], ["c09"], ["c13"], ["c18"], ["c21"]],
        ordered=False,
    ),
    case(
        "in-numbers",
        where_ids("ResponseCode in (401, 404)"),
        "CorrelationId:string",
        [["c12"], ["c17"]],
        ordered=False,
    ),
    case(
        "in-strings-case-sensitive",
        where_ids('ApimSubscriptionId in ("sub-gamma", "sub-delta")'),
        "CorrelationId:string",
        ids(lambda r: r.get("ApimSubscriptionId") == "sub-gamma"),
        ordered=False,
    ),
    case(
        "in-tilde",
        where_ids('ApimSubscriptionId in~ ("SUB-GAMMA", "sub-delta")'),
        "CorrelationId:string",
        ids(
            lambda r: (
                text_of(r, "ApimSubscriptionId").lower() in ("sub-gamma", "sub-delta")
            )
        ),
        ordered=False,
    ),
    case(
        "not-in-keeps-null-strings",
        where_ids('ApimSubscriptionId !in ("sub-alpha", "sub-beta")'),
        "CorrelationId:string",
        ids(
            lambda r: text_of(r, "ApimSubscriptionId") not in ("sub-alpha", "sub-beta")
        ),
        ordered=False,
    ),
    case(
        "matches-regex",
        where_ids('Url matches regex @"deployments/[a-z0-9-]+-mini/"'),
        "CorrelationId:string",
        [["c02"], ["c09"], ["c13"], ["c18"], ["c21"]],
        ordered=False,
    ),
    case(
        "matches-regex-anchored-digits",
        f'{GW} | where ApiVersion matches regex "^[0-9]+$"'
        " | project CorrelationId, ApiVersion",
        "CorrelationId:string, ApiVersion:string",
        [["c09", "12"], ["c10", "42"]],
        ordered=False,
    ),
    case(
        "matches-regex-is-case-sensitive",
        f'{GW} | where ApimSubscriptionId matches regex "^sub-d" | count',
        "Count:long",
        [[0]],
    ),
    case(
        "equals-korean",
        where_ids('UserId == "사용자7"'),
        "CorrelationId:string",
        [["c11"]],
    ),
    case(
        "contains-korean",
        where_ids('LastErrorMessage contains "거부"'),
        "CorrelationId:string",
        [["c08"]],
    ),
    case(
        "equals-accented",
        where_ids('UserId == "josé"'),
        "CorrelationId:string",
        [["c16"]],
    ),
    case(
        "escaped-quotes-double",
        where_ids('UserId == "o\'brien\\"; --"'),
        "CorrelationId:string",
        [["c17"]],
    ),
    case(
        "escaped-quotes-single",
        where_ids("UserId == 'o\\'brien\"; --'"),
        "CorrelationId:string",
        [["c17"]],
    ),
    case(
        "verbatim-string",
        where_ids('Url == @"https://gw.example/nowhere?q=1"'),
        "CorrelationId:string",
        [["c17"]],
    ),
    case(
        "string-holding-number-compared-as-string",
        where_ids('ApiVersion == "42" or BackendId == "007"'),
        "CorrelationId:string",
        [["c10"], ["c18"]],
        ordered=False,
    ),
]

# KQL's null rules for types other than string --------------------------------
# (learn.microsoft.com, "Null values"): == of a null and a value is false,
# != true, and of two nulls null; where drops rows whose predicate is null.


def _equal(a: Any, b: Any) -> bool | None:
    if a is None and b is None:
        return None
    return a == b


def _not_equal(a: Any, b: Any) -> bool | None:
    if a is None and b is None:
        return None
    return a != b


_NULL_ROWS = "CorrelationId in ('c01', 'c07', 'c29')"

NULL_CASES = [
    case(
        "null-comparisons-as-values",
        f"{GW} | where {_NULL_ROWS}"
        " | project CorrelationId, e = ResponseCode == 200, n = ResponseCode != 200,"
        " lt = ResponseCode < 300, both = BackendResponseCode == ResponseCode,"
        " i = iff(ResponseCode == 200, 'ok', 'other')"
        " | order by CorrelationId asc",
        "CorrelationId:string, e:bool, n:bool, lt:bool, both:bool, i:string",
        [
            ["c01", True, False, True, True, "ok"],
            ["c07", False, True, False, False, "other"],
            # null < 300 is null; null == null is null.
            ["c29", False, True, None, None, "other"],
        ],
    ),
    case(
        "not-of-not-equals-drops-null",
        where_ids("not(ResponseCode != 200)"),
        "CorrelationId:string",
        ids(lambda r: r.get("ResponseCode") == 200),
        ordered=False,
    ),
    case(
        "not-of-less-than-drops-null",
        where_ids("not(ResponseCode < 300)"),
        "CorrelationId:string",
        ids(lambda r: r.get("ResponseCode") is not None and r["ResponseCode"] >= 300),
        ordered=False,
    ),
    case(
        "not-equals-between-columns",
        where_ids("BackendResponseCode != ResponseCode"),
        "CorrelationId:string",
        ids(
            lambda r: bool(
                _not_equal(r.get("BackendResponseCode"), r.get("ResponseCode"))
            )
        ),
        ordered=False,
    ),
    case(
        "equals-between-columns-in-not",
        where_ids("not(BackendResponseCode == ResponseCode)"),
        "CorrelationId:string",
        ids(
            lambda r: (
                _equal(r.get("BackendResponseCode"), r.get("ResponseCode")) is False
            )
        ),
        ordered=False,
    ),
    case(
        "not-in-keeps-null",
        where_ids("ResponseCode !in (200, 403)"),
        "CorrelationId:string",
        ids(lambda r: r.get("ResponseCode") not in (200, 403)),
        ordered=False,
    ),
    case(
        "not-of-in-keeps-null",
        where_ids("not(ResponseCode in (200, 403))"),
        "CorrelationId:string",
        ids(lambda r: r.get("ResponseCode") not in (200, 403)),
        ordered=False,
    ),
    case(
        "not-equals-or-keeps-null",
        where_ids("BackendResponseCode != 200 or ResponseCode == 200"),
        "CorrelationId:string",
        ids(
            lambda r: (
                r.get("BackendResponseCode") != 200 or r.get("ResponseCode") == 200
            )
        ),
        ordered=False,
    ),
    case(
        "countif-of-not-equals-counts-null",
        f"{GW} | summarize n = countif(BackendResponseCode != 200)",
        "n:long",
        [[sum(1 for r in G if r.get("BackendResponseCode") != 200)]],
    ),
    case(
        "string-equals-in-not-sees-empty",
        where_ids('not(UserId == "abc")'),
        "CorrelationId:string",
        ids(lambda r: text_of(r, "UserId") != "abc"),
        ordered=False,
    ),
    case(
        "string-equals-empty-matches-null",
        where_ids('UserId == ""'),
        "CorrelationId:string",
        ids(lambda r: text_of(r, "UserId") == ""),
        ordered=False,
    ),
    case(
        "string-in-with-empty-matches-null",
        where_ids('UserId in ("", "abc")'),
        "CorrelationId:string",
        ids(lambda r: text_of(r, "UserId") in ("", "abc")),
        ordered=False,
    ),
]


# Every negated operator -----------------------------------------------------


def _negated(id: str, condition: str, keep: Any) -> Any:
    return case(
        id, where_ids(condition), "CorrelationId:string", ids(keep), ordered=False
    )


def _sub(r: Any) -> str:
    return text_of(r, "ApimSubscriptionId")


NEGATED_CASES = [
    _negated(
        "neg-not-equals",
        'ApimSubscriptionId != "sub-alpha"',
        lambda r: _sub(r) != "sub-alpha",
    ),
    _negated(
        "neg-not-equals-ci",
        'ApimSubscriptionId !~ "SUB-ALPHA"',
        lambda r: _sub(r).lower() != "sub-alpha",
    ),
    _negated(
        "neg-has",
        'ApimSubscriptionId !has "alpha"',
        lambda r: "alpha" not in _sub(r).lower().split("-"),
    ),
    _negated(
        "neg-has-cs",
        'ApimSubscriptionId !has_cs "Delta"',
        lambda r: "Delta" not in _sub(r).split("-"),
    ),
    _negated(
        "neg-contains",
        'ApimSubscriptionId !contains "ALP"',
        lambda r: "alp" not in _sub(r).lower(),
    ),
    _negated(
        "neg-contains-cs",
        'ApimSubscriptionId !contains_cs "Sub"',
        lambda r: "Sub" not in _sub(r),
    ),
    _negated(
        "neg-startswith",
        'ApimSubscriptionId !startswith "SUB-A"',
        lambda r: not _sub(r).lower().startswith("sub-a"),
    ),
    _negated(
        "neg-startswith-cs",
        'ApimSubscriptionId !startswith_cs "Sub"',
        lambda r: not _sub(r).startswith("Sub"),
    ),
    _negated(
        "neg-endswith",
        'ApimSubscriptionId !endswith "TA"',
        lambda r: not _sub(r).lower().endswith("ta"),
    ),
    _negated(
        "neg-endswith-cs",
        'ApimSubscriptionId !endswith_cs "ta"',
        lambda r: not _sub(r).endswith("ta"),
    ),
    _negated(
        "neg-in",
        'ApimSubscriptionId !in ("sub-beta", "Sub-Delta")',
        lambda r: _sub(r) not in ("sub-beta", "Sub-Delta"),
    ),
    _negated(
        "neg-in-ci",
        'ApimSubscriptionId !in~ ("SUB-BETA", "sub-delta")',
        lambda r: _sub(r).lower() not in ("sub-beta", "sub-delta"),
    ),
    _negated(
        "neg-between",
        "TotalTime !between (1.0 .. 1000.0)",
        lambda r: (
            r.get("TotalTime") is not None and not 1.0 <= r["TotalTime"] <= 1000.0
        ),
    ),
]

# Findings of the review: _cs with a column, in (dynamic), has_any, todatetime -----


def _has(row: Any, column: str, term: str) -> bool:
    """KQL's ``has``: ``term`` is a whole term of the column, any case."""
    pattern = rf"(?:^|[\W_]){re.escape(term.lower())}(?:$|[\W_])"
    return re.search(pattern, text_of(row, column).lower()) is not None


REVIEW_CASES = [
    case(
        "contains-cs-with-a-column-is-case-sensitive",
        where_ids("Method contains_cs tolower(Method)"),
        "CorrelationId:string",
        ids(lambda r: text_of(r, "Method") == text_of(r, "Method").lower()),
        ordered=False,
    ),
    case(
        "contains-cs-constants",
        f"{GW} | where CorrelationId == 'c01'"
        ' | project a = "POST" contains_cs "post", b = Method contains_cs "post",'
        " c = Method contains tolower(Method), d = Method !contains_cs tolower(Method)",
        "a:bool, b:bool, c:bool, d:bool",
        [[False, False, True, True]],
    ),
    case(
        "in-dynamic-array-expands",
        where_ids("ResponseCode in (dynamic([200, 403]))"),
        "CorrelationId:string",
        ids(lambda r: r.get("ResponseCode") in (200, 403)),
        ordered=False,
    ),
    case(
        "not-in-dynamic-array-keeps-null",
        where_ids("ResponseCode !in (dynamic([200, 403]), 429)"),
        "CorrelationId:string",
        ids(lambda r: r.get("ResponseCode") not in (200, 403, 429)),
        ordered=False,
    ),
    case(
        "in-tilde-dynamic-array",
        where_ids('Method in~ (dynamic(["get"]))'),
        "CorrelationId:string",
        ids(lambda r: text_of(r, "Method") == "GET"),
        ordered=False,
    ),
    case(
        "has-any",
        where_ids('Url has_any ("embeddings", "MODELS")'),
        "CorrelationId:string",
        ids(lambda r: _has(r, "Url", "embeddings") or _has(r, "Url", "models")),
        ordered=False,
    ),
    case(
        "has-any-dynamic-array",
        where_ids('Url has_any (dynamic(["embeddings"]))'),
        "CorrelationId:string",
        ids(lambda r: _has(r, "Url", "embeddings")),
        ordered=False,
    ),
    case(
        "has-all",
        f"{GW} | project CorrelationId,"
        ' a = Url has_all ("chat", "completions"), b = Url has_all ("chat", "nope")'
        " | where a or b",
        "CorrelationId:string, a:bool, b:bool",
        [
            [r["CorrelationId"], True, False]
            for r in G
            if _has(r, "Url", "chat") and _has(r, "Url", "completions")
        ],
        ordered=False,
    ),
    case(
        "keywords-are-not-split-from-names",
        f"{GW} | extend hasx = 1, contains_x = 2, has_anyx = 3, inx = 4"
        " | where hasx == 1 and contains_x == 2 and has_anyx == 3 and inx == 4"
        " | count",
        "Count:long",
        [[len(G)]],
    ),
    case(
        "todatetime-of-a-bad-constant-is-null",
        f"{GW} | where CorrelationId == 'c01'"
        ' | project a = todatetime("nope"), b = isnull(todatetime("nope")),'
        ' c = todatetime("2026-03-01 13:05")',
        "a:datetime, b:bool, c:datetime",
        [[None, True, "2026-03-01T13:05:00.000000Z"]],
    ),
]

CASES = [
    *FILTER_CASES,
    *NULL_CASES,
    *NEGATED_CASES,
    *TIME_CASES,
    *STRING_CASES,
    *REVIEW_CASES,
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_case(engine: Any, query: str, expected: Expected) -> None:
    check_case(engine, query, expected)
