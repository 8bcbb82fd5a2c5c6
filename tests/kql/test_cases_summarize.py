"""Cases of summarize, order, top and distinct."""

from __future__ import annotations

from typing import Any

import pytest

from .cases import (
    GW,
    LLM,
    Expected,
    G,
    average,
    case,
    check_case,
    groups,
    json_of,
    nearest_rank,
    row_of,
    text_of,
    total,
)

# Summarize --------------------------------------------------------------------


def _by_deployment() -> list[list[Any]]:
    rows = []
    for key, group in groups(G, lambda r: text_of(r, "DeploymentName")).items():
        # A null string is "": a group key and a distinct value like "".
        subscriptions = {text_of(r, "ApimSubscriptionId") for r in group}
        rows.append(
            [
                key,
                len(group),
                total(r.get("ResponseSize") for r in group),
                average(r.get("TotalTime") for r in group),
                len(subscriptions),
            ]
        )
    return rows


def _by_subscription() -> list[list[Any]]:
    rows = []
    present = (r for r in G if r.get("ApimSubscriptionId"))
    for key, group in groups(present, lambda r: r["ApimSubscriptionId"]).items():
        codes = [r.get("ResponseCode") for r in group]
        rows.append(
            [
                key,
                codes.count(200),
                sum(1 for c in codes if c is not None and c >= 400),
                sum(r["ResponseSize"] for r in group if r["ResponseCode"] == 200),
            ]
        )
    return rows


def _deployments_by_subscription() -> list[list[Any]]:
    present = (r for r in G if r.get("ApimSubscriptionId"))
    return [
        [key, sorted({text_of(r, "DeploymentName") for r in group})]
        for key, group in groups(present, lambda r: r["ApimSubscriptionId"]).items()
    ]


def _bin_counts(width: int) -> list[list[Any]]:
    present = [r["ResponseSize"] for r in G if r.get("ResponseSize") is not None]
    counts = groups(({"b": s // width * width} for s in present), lambda r: r["b"])
    return [[None, len(G) - len(present)]] + [
        [key, len(counts[key])] for key in sorted(counts)
    ]


def _percentiles_by_method() -> list[list[Any]]:
    ok = (r for r in G if r.get("ResponseCode") == 200)
    return [
        [
            method,
            nearest_rank((r["TotalTime"] for r in group), 50),
            nearest_rank((r["TotalTime"] for r in group), 95),
        ]
        for method, group in groups(ok, lambda r: r["Method"]).items()
    ]


def _average_size_by_method() -> list[list[Any]]:
    present = (r for r in G if r.get("Method"))
    return [
        [method, sum(r["ResponseSize"] for r in group) // len(group)]
        for method, group in groups(present, lambda r: r["Method"]).items()
    ]


SUMMARIZE_CASES = [
    case(
        "count-by-int-with-null-group",
        f"{GW} | summarize n = count() by ResponseCode",
        "ResponseCode:int, n:long",
        [[200, 19], [401, 1], [403, 5], [404, 1], [429, 3], [500, 2], [None, 1]],
        ordered=False,
    ),
    case(
        "default-aggregate-names",
        f"{GW} | summarize count(), sum(ResponseSize), avg(TotalTime),"
        " dcount(ApimSubscriptionId) by DeploymentName",
        "DeploymentName:string, count_:long, sum_ResponseSize:long,"
        " avg_TotalTime:real, dcount_ApimSubscriptionId:long",
        _by_deployment(),
        ordered=False,
    ),
    case(
        "countif-sumif",
        f"{GW} | where isnotempty(ApimSubscriptionId)"
        " | summarize ok = countif(ResponseCode == 200),"
        " failed = countif(ResponseCode >= 400),"
        " bytes = sumif(ResponseSize, ResponseCode == 200) by ApimSubscriptionId",
        "ApimSubscriptionId:string, ok:long, failed:long, bytes:long",
        _by_subscription(),
        ordered=False,
    ),
    case(
        "countif-with-null-group",
        f"{GW} | summarize blocked = countif(ResponseCode == 403)"
        " by Anonymous = isempty(ApimSubscriptionId)",
        "Anonymous:bool, blocked:long",
        [[True, 5], [False, 0]],
        ordered=False,
    ),
    case(
        "min-max-types",
        f"{GW} | summarize first = min(TimeGenerated), last = max(TimeGenerated),"
        " low = min(ResponseCode), high = max(TotalTime)",
        "first:datetime, last:datetime, low:int, high:real",
        [["2026-02-26T06:00:00.000000Z", "2026-03-01T00:30:00.000000Z", 200, 30000.0]],
    ),
    case(
        "avg-sum-skip-null-count-does-not",
        f"{GW} | summarize a = avg(ResponseSize), c = count(), s = sum(ResponseSize)",
        "a:real, c:long, s:long",
        [[59974 / 31, 32, 59974]],
    ),
    case(
        "dcount",
        f"{GW} | where isnotempty(CallerIpAddress)"
        " | summarize d = dcount(CallerIpAddress), e = dcount(DeploymentName)",
        "d:long, e:long",
        [
            [
                len({r["CallerIpAddress"] for r in G if text_of(r, "CallerIpAddress")}),
                len(
                    {
                        text_of(r, "DeploymentName")
                        for r in G
                        if text_of(r, "CallerIpAddress")
                    }
                ),
            ]
        ],
    ),
    case(
        "percentile-nearest-rank",
        f"{GW} | summarize p50 = percentile(TotalTime, 50),"
        " p90 = percentile(ResponseSize, 90)",
        "p50:real, p90:long",
        [
            [
                nearest_rank((r.get("TotalTime") for r in G), 50),
                nearest_rank((r.get("ResponseSize") for r in G), 90),
            ]
        ],
    ),
    case(
        "percentiles-default-names",
        f"{GW} | where ResponseCode == 200"
        " | summarize percentiles(TotalTime, 50, 95) by Method",
        "Method:string, percentile_TotalTime_50:real, percentile_TotalTime_95:real",
        _percentiles_by_method(),
        ordered=False,
    ),
    case(
        "make-list",
        f"{GW} | where ResponseCode == 403"
        " | summarize ips = make_list(CallerIpAddress)",
        "ips:dynamic",
        [[sorted(r["CallerIpAddress"] for r in G if r.get("ResponseCode") == 403)]],
        unordered_lists=("ips",),
    ),
    case(
        "make-set-and-dcount",
        f"{GW} | where ResponseCode == 403"
        " | summarize ips = make_set(CallerIpAddress), n = dcount(CallerIpAddress)",
        "ips:dynamic, n:long",
        [[sorted(["203.0.113.7", "198.51.100.23", "2001:db8::1"]), 3]],
        unordered_lists=("ips",),
    ),
    case(
        "make-set-lists-null-string-as-empty",
        f"{GW} | where isnotempty(ApimSubscriptionId)"
        " | summarize deployments = make_set(DeploymentName) by ApimSubscriptionId",
        "ApimSubscriptionId:string, deployments:dynamic",
        _deployments_by_subscription(),
        ordered=False,
        unordered_lists=("deployments",),
    ),
    case(
        "arg-max",
        f"{GW} | where isnotempty(ApimSubscriptionId)"
        " | summarize arg_max(TotalTime, CorrelationId) by ApimSubscriptionId",
        "ApimSubscriptionId:string, TotalTime:real, CorrelationId:string",
        [
            ["sub-alpha", 1500.75, "c10"],
            ["sub-beta", 30000.0, "c22"],
            ["sub-gamma", 1234.5, "c11"],
            ["Sub-Delta", 380.0, "c32"],
        ],
        ordered=False,
    ),
    case(
        "arg-min",
        f"{GW} | where ResponseCode == 200"
        " | summarize arg_min(TimeGenerated, CorrelationId, ResponseSize)"
        " by DeploymentName",
        "DeploymentName:string, TimeGenerated:datetime, CorrelationId:string,"
        " ResponseSize:long",
        [
            ["gpt-4o", "2026-02-27T09:15:00.000000Z", "c01", 1200],
            ["gpt-4o-mini", "2026-02-27T10:00:00.000000Z", "c02", 640],
            ["text-embedding-3-small", "2026-02-28T00:00:00.000000Z", "c04", 8000],
            ["gpt-35-turbo-instruct", "2026-02-27T18:30:00.000000Z", "c31", 500],
            ["", "2026-02-27T23:59:59.999999Z", "c03", 5000],
        ],
        ordered=False,
    ),
    case(
        "summarize-empty-input",
        f"{GW} | where ResponseCode == 999 | summarize n = count()",
        "n:long",
        [[0]],
    ),
    case(
        "summarize-by-two-keys",
        f"{GW} | where ResponseCode >= 400"
        " | summarize n = count() by ResponseCode, LastErrorReason",
        "ResponseCode:int, LastErrorReason:string, n:long",
        [
            [401, "SubscriptionKeyNotFound", 1],
            [403, "CallerIpNotAllowed", 5],
            [404, "OperationNotFound", 1],
            [429, "RateLimitExceeded", 1],
            [429, "TokenLimitExceeded", 1],
            [429, "BackendError", 1],
            [500, "BackendError", 1],
            [500, "BackendConnectionFailure", 1],
        ],
        ordered=False,
    ),
    case(
        "summarize-then-where-and-order",
        f"{GW} | summarize n = count() by CallerIpAddress | where n >= 5"
        " | order by n desc",
        "CallerIpAddress:string, n:long",
        [["10.0.0.1", 10], ["10.0.0.2", 8]],
    ),
    case(
        "aggregate-arithmetic",
        f"{GW} | where isnotempty(Method)"
        " | summarize avgSize = sum(ResponseSize) / count() by Method",
        "Method:string, avgSize:long",
        _average_size_by_method(),
        ordered=False,
    ),
    case(
        "bin-numeric-nulls-first",
        f"{GW} | summarize n = count() by b = bin(ResponseSize, 1000) | order by b asc",
        "b:long, n:long",
        _bin_counts(1000),
    ),
    case(
        "bin-1h-default-name",
        f"{GW} | where TimeGenerated >= ago(3h)"
        " | summarize n = count() by bin(TimeGenerated, 1h)"
        " | order by TimeGenerated asc",
        "TimeGenerated:datetime, n:long",
        [
            ["2026-02-28T22:00:00.000000Z", 1],
            ["2026-02-28T23:00:00.000000Z", 6],
            ["2026-03-01T00:00:00.000000Z", 6],
        ],
    ),
    case(
        "bin-1d-across-month-end",
        f"{GW} | summarize n = count() by day = bin(TimeGenerated, 1d)"
        " | order by day asc",
        "day:datetime, n:long",
        [
            ["2026-02-26T00:00:00.000000Z", 1],
            ["2026-02-27T00:00:00.000000Z", 5],
            ["2026-02-28T00:00:00.000000Z", 20],
            ["2026-03-01T00:00:00.000000Z", 6],
        ],
    ),
    case(
        "bin-30m-edges",
        f"{GW} | where TimeGenerated between (datetime(2026-02-28 23:00)"
        " .. datetime(2026-03-01 00:30))"
        " | summarize n = count() by bin(TimeGenerated, 30m)"
        " | order by TimeGenerated asc",
        "TimeGenerated:datetime, n:long",
        [
            ["2026-02-28T23:00:00.000000Z", 2],
            ["2026-02-28T23:30:00.000000Z", 4],
            ["2026-03-01T00:00:00.000000Z", 5],
            ["2026-03-01T00:30:00.000000Z", 1],
        ],
    ),
    case(
        "bin-hourly-tokens",
        f"{LLM} | where SequenceNumber == 0"
        " and TimeGenerated >= datetime(2026-02-28 22:00)"
        " | summarize tokens = sum(TotalTokens) by bin(TimeGenerated, 1h)"
        " | order by TimeGenerated asc",
        "TimeGenerated:datetime, tokens:long",
        [
            ["2026-02-28T22:00:00.000000Z", 200],
            ["2026-02-28T23:00:00.000000Z", 175],
            ["2026-03-01T00:00:00.000000Z", 838],
        ],
    ),
    case(
        "startofday-groups-desc",
        f"{GW} | summarize n = count() by d = startofday(TimeGenerated)"
        " | order by d desc",
        "d:datetime, n:long",
        [
            ["2026-03-01T00:00:00.000000Z", 6],
            ["2026-02-28T00:00:00.000000Z", 20],
            ["2026-02-27T00:00:00.000000Z", 5],
            ["2026-02-26T00:00:00.000000Z", 1],
        ],
    ),
]

# Order, top, distinct ------------------------------------------------------------

_FOUR = f"{GW} | where CorrelationId in ('c01', 'c07', 'c10', 'c29')"

ORDER_CASES = [
    case(
        "order-asc-nulls-first-by-default",
        f"{_FOUR} | order by BackendResponseCode asc, CorrelationId asc"
        " | project CorrelationId, BackendResponseCode",
        "CorrelationId:string, BackendResponseCode:int",
        [["c07", None], ["c29", None], ["c01", 200], ["c10", 500]],
    ),
    case(
        "order-desc-nulls-last-by-default",
        f"{_FOUR} | order by BackendResponseCode desc, CorrelationId asc"
        " | project CorrelationId",
        "CorrelationId:string",
        [["c10"], ["c01"], ["c07"], ["c29"]],
    ),
    case(
        "order-desc-nulls-first",
        f"{_FOUR} | order by BackendResponseCode desc nulls first, CorrelationId asc"
        " | project CorrelationId",
        "CorrelationId:string",
        [["c07"], ["c29"], ["c10"], ["c01"]],
    ),
    case(
        "order-asc-nulls-last",
        f"{_FOUR} | order by BackendResponseCode asc nulls last, CorrelationId desc"
        " | project CorrelationId",
        "CorrelationId:string",
        [["c01"], ["c10"], ["c29"], ["c07"]],
    ),
    case(
        "sort-defaults-to-desc",
        f"{GW} | where ApimSubscriptionId == 'sub-gamma' | sort by TimeGenerated"
        " | project CorrelationId",
        "CorrelationId:string",
        [["c26"], ["c21"], ["c11"], ["c04"], ["c30"]],
    ),
    case(
        "order-strings-with-null",
        f"{GW} | where ApimSubscriptionId != 'Sub-Delta'"
        " | distinct ApimSubscriptionId | order by ApimSubscriptionId asc",
        "ApimSubscriptionId:string",
        [[""], ["sub-alpha"], ["sub-beta"], ["sub-gamma"]],
    ),
    case(
        "order-by-real-desc",
        f"{GW} | where ResponseCode == 200 and TotalTime > 800"
        " | order by TotalTime desc | project CorrelationId, TotalTime",
        "CorrelationId:string, TotalTime:real",
        [
            ["c13", 2200.0],
            ["c11", 1234.5],
            ["c16", 990.0],
            ["c01", 850.5],
            ["c25", 810.0],
        ],
    ),
    case(
        "top-defaults-to-desc",
        f"{GW} | top 3 by TotalTime | project CorrelationId, TotalTime",
        "CorrelationId:string, TotalTime:real",
        [["c22", 30000.0], ["c13", 2200.0], ["c10", 1500.75]],
    ),
    case(
        "top-asc",
        f"{GW} | where isnotnull(ResponseSize) | top 2 by ResponseSize asc"
        " | project CorrelationId, ResponseSize",
        "CorrelationId:string, ResponseSize:long",
        [["c30", 0], ["c17", 70]],
    ),
    case(
        "top-asc-nulls-last",
        f"{GW} | top 2 by BackendTime asc nulls last"
        " | project CorrelationId, BackendTime",
        "CorrelationId:string, BackendTime:real",
        [["c01", 800.25], ["c10", 1490.0]],
    ),
    case(
        "top-by-expression",
        f"{LLM} | where SequenceNumber == 0"
        " | top 2 by tolong(PromptTokens) * 2 + tolong(CompletionTokens)"
        " | project CorrelationId",
        "CorrelationId:string",
        [["c06"], ["c25"]],
    ),
    case(
        "distinct-with-null",
        f"{GW} | distinct Method",
        "Method:string",
        [[m] for m in {text_of(r, "Method") for r in G}],
        ordered=False,
    ),
    case(
        "distinct-two-columns",
        f"{GW} | where ResponseCode >= 400 | distinct ResponseCode, IsRequestSuccess",
        "ResponseCode:int, IsRequestSuccess:bool",
        [[401, False], [403, False], [404, False], [429, False], [500, False]],
        ordered=False,
    ),
    case(
        "distinct-string-numbers",
        f"{GW} | distinct ApiVersion",
        "ApiVersion:string",
        [[v] for v in {text_of(r, "ApiVersion") for r in G}],
        ordered=False,
    ),
]


def _by_agent() -> list[list[Any]]:
    def agent(row: Any) -> str:
        headers = json_of(row.get("RequestHeaders")) or {}
        return str(headers.get("User-Agent") or "")

    return [[key, len(group)] for key, group in groups(G, agent).items()]


def _smallest(values: Any) -> Any:
    present = [v for v in values if v not in (None, "")]
    return min(present) if present else None


def _as_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


NAMING_CASES = [
    case(
        # Named through the conversion, as Log Analytics names it.
        "conversion-of-a-property-is-named-after-it",
        f'{GW} | summarize count() by tostring(RequestHeaders["User-Agent"])',
        "RequestHeaders_User_Agent:string, count_:long",
        _by_agent(),
        ordered=False,
    ),
    case(
        "conversion-of-a-column-is-named-after-it",
        f"{GW} | where CorrelationId == 'c01'"
        " | project tolong(ResponseCode), tostring(Method), todouble(TotalTime),"
        " CorrelationId, tostring(CorrelationId), strlen(Url)",
        "ResponseCode:long, Method:string, TotalTime:real, CorrelationId:string,"
        " CorrelationId1:string, Column1:long",
        [[200, "POST", 850.5, "c01", "c01", len(row_of("c01")["Url"])]],
    ),
    case(
        # take_any picks the smallest value (not null, not ""): one rule for
        # both stores.
        "take-any-is-the-smallest-value",
        f"{GW} | summarize take_any(Url), any(ResponseCode),"
        " take_any(IsRequestSuccess), take_any(TimeGenerated) by Method",
        "Method:string, any_Url:string, any_ResponseCode:int,"
        " any_IsRequestSuccess:bool, any_TimeGenerated:datetime",
        [
            [
                method,
                _smallest(r.get("Url") for r in group) or "",
                _smallest(r.get("ResponseCode") for r in group),
                _as_bool(_smallest(r.get("IsRequestSuccess") for r in group)),
                _smallest(r.get("TimeGenerated") for r in group),
            ]
            for method, group in groups(G, lambda r: text_of(r, "Method")).items()
        ],
        ordered=False,
    ),
]

CASES = [*SUMMARIZE_CASES, *ORDER_CASES, *NAMING_CASES]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_case(engine: Any, query: str, expected: Expected) -> None:
    check_case(engine, query, expected)
