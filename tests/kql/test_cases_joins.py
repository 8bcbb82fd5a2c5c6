"""Cases of let, join, union and render, the seed's queries, and more edges."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from tests.support import SEED_BLOCKED, SEED_DAILY_SUMMARY

from .cases import (
    AGO_1D,
    AGO_1H,
    GW,
    LLM,
    USAGE,
    Expected,
    G,
    case,
    check_case,
    groups,
    json_of,
    total,
    usage_of,
    where_ids,
)
from .fixture import LLM_ROWS, Row

# let, join, union, render, and the seed's queries ---------------------------


def _joined_usage(by: str, rows: Iterable[Row] = G) -> list[list[Any]]:
    """Requests with a usage row and their tokens, grouped by ``by``."""
    pairs = [(r, u) for r in rows if (u := usage_of(r["CorrelationId"]))]
    return [
        [key, len(group), total(u["TotalTokens"] for _, u in group)]
        for key, group in groups(pairs, lambda p: p[0].get(by)).items()
    ]


def _tokens_by_deployment() -> list[list[Any]]:
    ok = {r["CorrelationId"] for r in G if r.get("ResponseCode") == 200}
    rows = [u for u in USAGE if u["CorrelationId"] in ok]
    return [
        [
            key,
            total(u["PromptTokens"] for u in group),
            total(u["CompletionTokens"] for u in group),
            total(u["TotalTokens"] for u in group),
        ]
        for key, group in groups(rows, lambda u: u["DeploymentName"]).items()
    ]


def _recent_usage_by_subscription() -> list[list[Any]]:
    recent = (
        r for r in G if r["TimeGenerated"] >= AGO_1D and r.get("ApimSubscriptionId")
    )
    rows = []
    for key, group in groups(recent, lambda r: r["ApimSubscriptionId"]).items():
        usage = [usage_of(r["CorrelationId"]) for r in group]
        tokens = total(u["TotalTokens"] for u in usage if u is not None)
        rows.append([key, len(group), tokens])
    return rows


def _seed_daily_summary() -> list[list[Any]]:
    rows = [
        u for u in USAGE if u["TimeGenerated"] >= AGO_1D and (u["TotalTokens"] or 0) > 0
    ]
    totals = [u["TotalTokens"] for u in rows]
    return [
        [
            len(rows),
            sum(u["PromptTokens"] for u in rows),
            sum(u["CompletionTokens"] for u in rows),
            sum(totals),
            sum(totals) / len(totals),
        ]
    ]


def _blocked_rows(since: str = "") -> list[list[Any]]:
    return [
        [
            r["TimeGenerated"],
            r["CallerIpAddress"],
            r["Url"],
            r["ResponseCode"],
            r["ResponseSize"],
            json_of(r["RequestHeaders"]),
            r["OperationName"],
        ]
        for r in G
        if r.get("ResponseCode") == 403 and r["TimeGenerated"] > since
    ]


_BLOCKED_COLUMNS = (
    "TimeGenerated:datetime, CallerIpAddress:string, RequestUrl:string,"
    " ResponseCode:int, ResponseSize:long, RequestHeaders:dynamic,"
    " OperationName:string"
)


TABLE_CASES = [
    case(
        "let-scalar",
        f"let threshold = 1000;\n{GW} | where TotalTime > threshold"
        " | project CorrelationId",
        "CorrelationId:string",
        [["c10"], ["c11"], ["c13"], ["c22"]],
        ordered=False,
    ),
    case(
        "let-timespan",
        f"let window = 1h;\n{GW} | where TimeGenerated > ago(window) | count",
        "Count:long",
        [[9]],
    ),
    case(
        "let-string",
        f'let sub = "sub-gamma";\n{GW} | where ApimSubscriptionId == sub | count',
        "Count:long",
        [[5]],
    ),
    case(
        "let-datetime",
        f"let start = datetime(2026-03-01);\n{GW} | where TimeGenerated >= start"
        " | count",
        "Count:long",
        [[6]],
    ),
    case(
        "let-tabular",
        f"let blocked = {GW} | where ResponseCode == 403;\n"
        "blocked | summarize n = count() by CallerIpAddress",
        "CallerIpAddress:string, n:long",
        [["203.0.113.7", 2], ["198.51.100.23", 2], ["2001:db8::1", 1]],
        ordered=False,
    ),
    case(
        "let-several",
        "let since = ago(1d);\nlet ok = 200;\n"
        f"let recent = {GW} | where TimeGenerated >= since;\n"
        "recent | where ResponseCode == ok | count",
        "Count:long",
        [
            [
                sum(
                    1
                    for r in G
                    if r["TimeGenerated"] >= AGO_1D and r.get("ResponseCode") == 200
                )
            ]
        ],
    ),
    case(
        "join-inner-usage-per-subscription",
        f"{GW}\n| join kind=inner ({LLM} | where SequenceNumber == 0)"
        " on CorrelationId\n"
        "| summarize Requests = count(), Tokens = sum(TotalTokens)"
        " by ApimSubscriptionId",
        "ApimSubscriptionId:string, Requests:long, Tokens:long",
        _joined_usage("ApimSubscriptionId"),
        ordered=False,
    ),
    case(
        "join-inner-usage-per-deployment",
        f"{LLM} | where SequenceNumber == 0\n"
        f"| join kind=inner ({GW} | project CorrelationId, ResponseCode)"
        " on CorrelationId\n| where ResponseCode == 200\n"
        "| summarize Prompt = sum(PromptTokens), Completion = sum(CompletionTokens),"
        " Total = sum(TotalTokens) by DeploymentName",
        "DeploymentName:string, Prompt:long, Completion:long, Total:long",
        _tokens_by_deployment(),
        ordered=False,
    ),
    case(
        "join-right-columns-get-suffix",
        f"{GW} | where CorrelationId == 'c11'"
        f" | join kind=inner ({LLM} | where SequenceNumber == 0) on CorrelationId"
        " | project CorrelationId, CorrelationId1, ApimSubscriptionId,"
        " ApimSubscriptionId1, TotalTokens",
        "CorrelationId:string, CorrelationId1:string, ApimSubscriptionId:string,"
        " ApimSubscriptionId1:string, TotalTokens:long",
        [["c11", "c11", "sub-gamma", "sub-gamma", 500]],
    ),
    case(
        "join-leftouter-keeps-unmatched",
        f"{GW} | where ResponseCode == 429\n"
        f"| join kind=leftouter ({LLM} | where SequenceNumber == 0"
        " | project CorrelationId, TotalTokens, TokenCountSource) on CorrelationId\n"
        "| project CorrelationId, CorrelationId1, TotalTokens, TokenCountSource",
        "CorrelationId:string, CorrelationId1:string, TotalTokens:long,"
        " TokenCountSource:string",
        [
            ["c09", None, None, None],
            ["c15", None, None, None],
            ["c27", "c27", None, "none"],
        ],
        ordered=False,
    ),
    case(
        "join-leftouter-finds-orphans",
        f"{LLM} | where SequenceNumber == 0\n"
        f"| join kind=leftouter ({GW} | project CorrelationId, ResponseCode)"
        " on CorrelationId\n| where isnull(ResponseCode) | project CorrelationId",
        "CorrelationId:string",
        [["c99"]],
    ),
    case(
        "join-leftouter-with-let-last-day",
        f"let usage = {LLM} | where SequenceNumber == 0"
        " | project CorrelationId, TotalTokens;\n"
        f"{GW}\n| where TimeGenerated >= ago(1d)\n"
        "| where isnotempty(ApimSubscriptionId)\n"
        "| join kind=leftouter usage on CorrelationId\n"
        "| summarize Requests = count(), Tokens = sum(TotalTokens)"
        " by ApimSubscriptionId",
        "ApimSubscriptionId:string, Requests:long, Tokens:long",
        _recent_usage_by_subscription(),
        ordered=False,
    ),
    case(
        "join-explicit-keys",
        f"{GW} | where ResponseCode == 500\n"
        "| join kind=inner (ApiManagementGatewayLlmLogs"
        " | project Cid = CorrelationId, Kind = ErrorKind)"
        " on $left.CorrelationId == $right.Cid\n| project CorrelationId, Kind",
        "CorrelationId:string, Kind:string",
        [["c10", "upstream_error"], ["c22", "upstream_error"]],
        ordered=False,
    ),
    case(
        "union-count",
        f"union {GW}, {LLM} | count",
        "Count:long",
        [[62]],
    ),
    case(
        "union-piped-and-ordered",
        f"{GW} | where ResponseCode == 403 | project CorrelationId, TimeGenerated\n"
        f"| union ({LLM} | where TotalTokens >= 500"
        " | project CorrelationId, TimeGenerated)\n"
        "| order by TimeGenerated asc, CorrelationId asc | project CorrelationId",
        "CorrelationId:string",
        [
            ["c06"],
            ["c07"],
            ["c08"],
            ["c11"],
            ["c13"],
            ["c19"],
            ["c20"],
            ["c24"],
            ["c25"],
        ],
    ),
    case(
        "union-of-projections",
        f'union ({GW} | project Source = "gateway", CorrelationId),'
        f' ({LLM} | project Source = "llm", CorrelationId)'
        " | summarize n = dcount(CorrelationId) by Source",
        "Source:string, n:long",
        [["gateway", 32], ["llm", len({u["CorrelationId"] for u in LLM_ROWS})]],
        ordered=False,
    ),
    case(
        "render-timechart",
        f"{GW} | summarize n = count() by bin(TimeGenerated, 1d)"
        " | order by TimeGenerated asc | render timechart",
        "TimeGenerated:datetime, n:long",
        [
            ["2026-02-26T00:00:00.000000Z", 1],
            ["2026-02-27T00:00:00.000000Z", 5],
            ["2026-02-28T00:00:00.000000Z", 20],
            ["2026-03-01T00:00:00.000000Z", 6],
        ],
        render=("timechart", {}),
    ),
    case(
        "render-columnchart-with-properties",
        f"{LLM} | where SequenceNumber == 0 and DeploymentName == 'gpt-4o-mini'"
        " | summarize Tokens = sum(TotalTokens) by DeploymentName"
        ' | render columnchart with (title="Tokens by deployment",'
        ' xcolumn=DeploymentName, ytitle="tokens")',
        "DeploymentName:string, Tokens:long",
        [["gpt-4o-mini", 120 + 500 + 75 + 100]],
        render=(
            "columnchart",
            {
                "title": "Tokens by deployment",
                "xcolumn": "DeploymentName",
                "ytitle": "tokens",
            },
        ),
    ),
    case(
        "seed-daily-token-summary",
        SEED_DAILY_SUMMARY,
        "TotalRequests:long, PromptTokensSum:long, CompletionTokensSum:long,"
        " TotalTokensSum:long, AvgTokensPerReq:real",
        _seed_daily_summary(),
    ),
    case(
        # c19 is exactly ago(1h): "> ago(1h)" leaves it out.
        "seed-blocked-requests",
        SEED_BLOCKED,
        _BLOCKED_COLUMNS,
        _blocked_rows(since=AGO_1H),
        ordered=False,
    ),
    case(
        "seed-blocked-requests-all-time",
        SEED_BLOCKED.replace("| where TimeGenerated > ago(1h)\n", ""),
        _BLOCKED_COLUMNS,
        _blocked_rows(),
        ordered=False,
    ),
]

# More edges: overflow, negative spans, dynamic comparisons, multiplicity ----

EDGE_CASES = [
    case(
        # Ordinal order: "S" sorts before "s".
        "order-strings-ordinal",
        f"{GW} | distinct ApimSubscriptionId | order by ApimSubscriptionId asc",
        "ApimSubscriptionId:string",
        [[""], ["Sub-Delta"], ["sub-alpha"], ["sub-beta"], ["sub-gamma"]],
    ),
    case(
        "extend-replaces-column",
        f"{GW} | where CorrelationId == 'c10'"
        " | extend ResponseCode = ResponseCode + 1000"
        " | project CorrelationId, ResponseCode",
        "CorrelationId:string, ResponseCode:long",
        [["c10", 1500]],
    ),
    case(
        "timespan-between",
        where_ids("(TimeGenerated - ago(1d)) between (0s .. 1h)"),
        "CorrelationId:string",
        [["c05"]],
    ),
    case(
        "negative-timespan",
        f"{GW} | where CorrelationId == 'c27' | project d = TimeGenerated - now()",
        "d:timespan",
        [["-00:00:00.0000010"]],
    ),
    case(
        "array-length-of-object-is-null",
        f"{GW} | where CorrelationId == 'c01'"
        " | project n = array_length(RequestHeaders)",
        "n:long",
        [[None]],
    ),
    case(
        "dynamic-equals-string",
        where_ids('RequestHeaders.Accept == "text/event-stream"'),
        "CorrelationId:string",
        [["c13"]],
    ),
    case(
        "dynamic-equals-number",
        where_ids('RequestHeaders["X-Trace"].hops[1] == 2'),
        "CorrelationId:string",
        [["c19"]],
    ),
    case(
        # inner (not innerunique): one output row per matching pair.
        "join-inner-multiplicity",
        f"{GW} | join kind=inner {LLM} on CorrelationId"
        " | summarize n = count() by CorrelationId | where n > 1",
        "CorrelationId:string, n:long",
        [["c02", 3], ["c11", 3], ["c13", 4], ["c16", 2], ["c25", 2]],
        ordered=False,
    ),
    case(
        "non-ascii-identifier",
        f"{GW} | where CorrelationId == 'c11' | extend ['한국어 열'] = UserId"
        " | project ['한국어 열']",
        "한국어 열:string",
        [["사용자7"]],
    ),
    case(
        # Past the range of long is null, not clamped.
        "tolong-overflow",
        f"{GW} | where CorrelationId == 'c01'"
        ' | project a = tolong("9223372036854775807"),'
        ' b = tolong("9223372036854775808"), c = toint("2147483648")',
        "a:long, b:long, c:int",
        [[9223372036854775807, None, None]],
    ),
    case("take-zero", f"{GW} | take 0 | count", "Count:long", [[0]]),
    case(
        "where-after-summarize-on-aggregate-of-join",
        f"{LLM} | where SequenceNumber == 0\n"
        f"| join kind=inner ({GW} | project CorrelationId, ProductId)"
        " on CorrelationId\n"
        "| summarize Tokens = sum(TotalTokens) by ProductId\n"
        "| where Tokens > 1000 | project ProductId, Tokens",
        "ProductId:string, Tokens:long",
        [["unlimited", 3940]],
    ),
]

# The default join keeps one left row per key ---------------------------------

_MATCHED = {r["CorrelationId"] for r in LLM_ROWS} & {r["CorrelationId"] for r in G}
_MATCHED_ROWS = sum(1 for r in LLM_ROWS if r["CorrelationId"] in _MATCHED)
_UNIQUE_JOIN = (
    f"{LLM} | project CorrelationId, SequenceNumber"
    f" | join{{kind}} ({GW} | project CorrelationId, ResponseCode)"
    " on CorrelationId"
    " | count"
)

JOIN_KIND_CASES = [
    case(
        "join-default-is-innerunique",
        _UNIQUE_JOIN.format(kind=""),
        "Count:long",
        [[len(_MATCHED)]],
    ),
    case(
        "join-innerunique",
        _UNIQUE_JOIN.format(kind=" kind=innerunique"),
        "Count:long",
        [[len(_MATCHED)]],
    ),
    case(
        "join-inner-keeps-every-left-row",
        _UNIQUE_JOIN.format(kind=" kind=inner"),
        "Count:long",
        [[_MATCHED_ROWS]],
    ),
    case(
        # The row kept is the first in column order: SequenceNumber 0.
        "join-innerunique-keeps-the-first-row",
        f"{LLM} | where CorrelationId == 'c01' | project CorrelationId, SequenceNumber"
        f" | join ({GW} | project CorrelationId) on CorrelationId",
        "CorrelationId:string, SequenceNumber:int, CorrelationId1:string",
        [["c01", 0, "c01"]],
    ),
]

_LLM_IDS = {row["CorrelationId"] for row in LLM_ROWS}
_WITHOUT_LLM = [[r["CorrelationId"]] for r in G if r["CorrelationId"] not in _LLM_IDS]
_WITH_LLM = [[r["CorrelationId"]] for r in G if r["CorrelationId"] in _LLM_IDS]

SEMI_JOIN_CASES = [
    case(
        "requests-with-no-llm-row",
        f"{GW} | join kind=leftanti {LLM} on CorrelationId | project CorrelationId",
        "CorrelationId:string",
        _WITHOUT_LLM,
        ordered=False,
    ),
    case(
        "join-anti-is-leftanti",
        f"{GW} | join kind=anti ({LLM} | where SequenceNumber >= 0)"
        " on $left.CorrelationId == $right.CorrelationId | project CorrelationId",
        "CorrelationId:string",
        _WITHOUT_LLM,
        ordered=False,
    ),
    case(
        # One row per left row, however many LLM rows match it.
        "join-leftsemi-keeps-left-rows-once",
        f"{GW} | join kind=leftsemi {LLM} on CorrelationId | project CorrelationId",
        "CorrelationId:string",
        _WITH_LLM,
        ordered=False,
    ),
    case(
        "join-leftsemi-keeps-left-columns-only",
        f"{GW} | project CorrelationId, ResponseCode"
        f" | join kind=leftsemi {LLM} on CorrelationId | take 0",
        "CorrelationId:string, ResponseCode:int",
        [],
    ),
    case(
        "in-tabular-let",
        f"let ids = {LLM} | project CorrelationId;\n"
        f"{GW} | where CorrelationId in (ids) | project CorrelationId",
        "CorrelationId:string",
        _WITH_LLM,
        ordered=False,
    ),
    case(
        "not-in-tabular-let",
        f"let ids = {LLM} | project CorrelationId;\n"
        f"{GW} | where CorrelationId !in (ids) | project CorrelationId",
        "CorrelationId:string",
        _WITHOUT_LLM,
        ordered=False,
    ),
    case(
        # A null is in no table, so it is !in every one; nulls in the table
        # (the null ResponseCode of c29) do not make !in null.
        "in-tabular-let-nulls",
        f"let codes = {GW} | where ResponseCode != 200 | distinct ResponseCode;\n"
        f"{GW} | summarize n = count()"
        " by bad = ResponseCode in (codes), good = ResponseCode !in (codes)",
        "bad:bool, good:bool, n:long",
        [
            [
                True,
                False,
                sum(1 for r in G if r.get("ResponseCode") not in (200, None)),
            ],
            [False, True, sum(1 for r in G if r.get("ResponseCode") in (200, None))],
        ],
        ordered=False,
    ),
]

# A null string is "" in groups and join keys; names of properties -------------

_BLANK_USERS = f"{GW} | where CorrelationId in ('c29', 'c30')"
"""c29's UserId is null, c30's is "": one value to KQL."""

NULL_STRING_CASES = [
    case(
        "join-null-string-key-joins-empty",
        f"{_BLANK_USERS} | project CorrelationId, UserId"
        f" | join kind=inner ({_BLANK_USERS} | project UserId, Other = CorrelationId)"
        " on UserId | project CorrelationId, Other",
        "CorrelationId:string, Other:string",
        [["c29", "c29"], ["c29", "c30"], ["c30", "c29"], ["c30", "c30"]],
        ordered=False,
    ),
    case(
        "join-innerunique-null-string-key-is-one-key",
        f"{_BLANK_USERS} | project UserId, CorrelationId"
        f" | join ({_BLANK_USERS} | project UserId, Other = CorrelationId)"
        " on UserId | project CorrelationId, Other",
        "CorrelationId:string, Other:string",
        [["c29", "c29"], ["c29", "c30"]],
        ordered=False,
    ),
    case(
        "summarize-by-null-string-is-one-group",
        f"{_BLANK_USERS} | summarize n = count(), d = dcount(UserId),"
        " s = make_set(UserId) by UserId",
        "UserId:string, n:long, d:long, s:dynamic",
        [["", 2, 1, [""]]],
    ),
    case(
        "distinct-null-string-is-empty",
        f"{_BLANK_USERS} | distinct UserId",
        "UserId:string",
        [[""]],
    ),
    case(
        "distinct-star-null-string-is-empty",
        f"{_BLANK_USERS} | project UserId, Region | distinct *",
        "UserId:string, Region:string",
        [["", ""]],
    ),
    case(
        "projection-keeps-null-string",
        f"{_BLANK_USERS} | project CorrelationId, UserId",
        "CorrelationId:string, UserId:string",
        [["c29", None], ["c30", ""]],
        ordered=False,
    ),
    case(
        "unnamed-property-column-is-a-plain-name",
        f"{GW} | where CorrelationId == 'c01' | project RequestHeaders['User-Agent']"
        " | project RequestHeaders_User_Agent",
        "RequestHeaders_User_Agent:dynamic",
        [["openai-python/1.54.0"]],
    ),
    case(
        "render-table",
        f"{GW} | count | render table",
        "Count:long",
        [[len(G)]],
        render=("table", {}),
    ),
]

CASES = [
    *JOIN_KIND_CASES,
    *SEMI_JOIN_CASES,
    *TABLE_CASES,
    *EDGE_CASES,
    *NULL_STRING_CASES,
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_case(engine: Any, query: str, expected: Expected) -> None:
    check_case(engine, query, expected)
