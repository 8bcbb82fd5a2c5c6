"""KQL's meaning, end to end: compiled SQL run on SQLite and on PostgreSQL.

Each case runs on both stores over the rows of `compiler_stores` and must
give the expected rows in both.  Cases whose order KQL does not define are
compared sorted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import SEED_BLOCKED
from tests.support import SEED_DAILY_SUMMARY as SEED_SUMMARY
from tollhouse.kql import compile_query

from .compiler_stores import NOW, PostgresStore, SqliteStore

GW = "ApiManagementGatewayLogs"
LLM = "ApiManagementGatewayLlmLog"


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[object]]:
    sqlite = SqliteStore(tmp_path_factory.mktemp("kql-compiler"))
    postgres = PostgresStore()
    try:
        yield [sqlite, postgres]
    finally:
        postgres.close()
        sqlite.close()


def _run(stores: list[object], text: str) -> list[list[list[object]]]:
    results = []
    for store in stores:
        assert isinstance(store, SqliteStore | PostgresStore)
        compiled = compile_query(text, store.dialect, now=NOW, max_rows=100)  # type: ignore[arg-type]
        results.append(store.run(compiled))
    return results


ORDERED = [
    (SEED_SUMMARY, [[1, 100, 20, 120, 120.0]]),
    (
        SEED_BLOCKED,
        [
            [
                "2026-12-03T17:10:00.000000Z",
                "10.0.0.2",
                "https://gw/openai/models",
                403,
                90,
                {"user-agent": "Ünïcode Agent/1.0"},
                "Models_List",
            ]
        ],
    ),
    (
        f"{GW} | order by TimeGenerated asc | project CorrelationId",
        [["c3"], ["c2"], ["c1"]],
    ),
    (f"{GW} | sort by ResponseSize asc | project ResponseSize", [[None], [90], [1200]]),
    (f"{GW} | order by ResponseSize | project ResponseSize", [[1200], [90], [None]]),
    (
        f"{GW} | top 2 by TotalTime asc nulls last | project TotalTime",
        [[3.25], [812.5]],
    ),
    (
        f"{GW} | order by TimeGenerated asc | take 2 | where ResponseCode > 0 |"
        f" project CorrelationId",
        [["c3"], ["c2"]],
    ),
    (
        f"{GW} | summarize c = count() by d = bin(TimeGenerated, 1d) | order by d asc",
        [["2026-12-02T00:00:00.000000Z", 1], ["2026-12-03T00:00:00.000000Z", 2]],
    ),
    (f"{GW} | order by Method asc | project Method", [[None], ["GET"], ["POST"]]),
    (f"{GW} | count", [[3]]),
    (f"{GW} | take 2 | count", [[2]]),
    (f"{GW} | summarize percentiles(TotalTime, 50, 90)", [[3.25, 812.5]]),
    (
        f"{GW} | summarize p = percentile(ResponseSize, 50), d ="
        f" dcount(CallerIpAddress),"
        " c = countif(ResponseCode >= 400), s = sumif(ResponseSize, ResponseCode =="
        " 200)",
        [[90, 2, 2, 1200]],
    ),
    (
        f"{GW} | summarize a = avg(TotalTime), s = sum(ResponseSize), n ="
        f" count(TotalTime)",
        [[407.875, 1290, 2]],
    ),
    (
        f"{GW} | where Url == 'nothing' | summarize c = count(), s = sum(ResponseSize)",
        [[0, None]],
    ),
    (
        f"let t = 1h; let threshold = 100; {GW} | where TimeGenerated > ago(t)"
        " and ResponseSize > threshold | project CorrelationId",
        [["c1"]],
    ),
    (f"let blocked = {GW} | where ResponseCode == 403; blocked | count", [[1]]),
    (
        f"{GW} | where CorrelationId == 'c1' | extend a = tolong('12'), b ="
        f" tolong('abc'),"
        " c = toint('7'), d = todouble('1.5'), e = tobool('true'),"
        " f = todatetime('2024-01-02 03:04:05'), g = tolong(TotalTime), h ="
        " tostring(IsRequestSuccess)"
        " | project a, b, c, d, e, f, g, h",
        [[12, None, 7, 1.5, True, "2024-01-02T03:04:05.000000Z", 812, "true"]],
    ),
    (
        f"{GW} | where CorrelationId == 'c1' | extend r = round(TotalTime, -1),"
        " r2 = round(2.675, 2), r3 = round(-2.5), f = floor(TotalTime), a = abs(-3),"
        " n = ResponseSize / 7, m = ResponseSize % 7, z = TotalTime / 0, b ="
        " bin(ResponseSize, 100)"
        " | project r, r2, r3, f, a, n, m, z, b",
        [[810.0, 2.68, -3.0, 812.0, 3, 171, 3, None, 1200]],
    ),
    (
        f"{GW} | where CorrelationId == 'c1' | extend d = startofday(TimeGenerated),"
        " w = startofweek(TimeGenerated), m = startofmonth(TimeGenerated),"
        " f = format_datetime(TimeGenerated, 'yyyy-MM-dd HH:mm:ss.fff tt h'),"
        " dd = datetime_diff('day', now(), datetime(2026-11-30T23:59:59)),"
        " hh = datetime_diff('hour', now(), TimeGenerated),"
        " mo = datetime_diff('month', now(), datetime(2025-12-31)),"
        " wk = datetime_diff('week', datetime(2026-12-06), datetime(2026-12-05)),"
        " span = now() - TimeGenerated, later = TimeGenerated + 1.5h"
        " | project d, w, m, f, dd, hh, mo, wk, span, later",
        [
            [
                "2026-12-03T00:00:00.000000Z",
                "2026-11-29T00:00:00.000000Z",
                "2026-12-01T00:00:00.000000Z",
                "2026-12-03 17:47:24.123 PM 5",
                3,
                1,
                12,
                1,
                "00:12:35.8765440",
                "2026-12-03T19:17:24.123456Z",
            ]
        ],
    ),
    (
        f"{GW} | where CorrelationId == 'c2' | extend s = split(Url, '/'),"
        " p = parse_json('{\"a\": [1, 2]}'), q = parse_json('nope'), sub ="
        " substring(Url, 8, 2),"
        " up = toupper(RequestHeaders['user-agent']), low = tolower('ÄB'),"
        " cat = strcat(Method, '-', ResponseCode, '-', TotalTime),"
        " rep = replace_string(Url, 'gw', 'GW'), len = strlen('héllo')"
        " | project s, p, q, sub, up, low, cat, rep, len",
        [
            [
                ["https:", "", "gw", "openai", "models"],
                {"a": [1, 2]},
                "nope",
                "gw",
                "ÜNÏCODE AGENT/1.0",
                "äb",
                "GET-403-3.25",
                "https://GW/openai/models",
                5,
            ]
        ],
    ),
]

UNORDERED = [
    (f"{GW} | where Method != 'GET' | project CorrelationId", [["c1"], ["c3"]]),
    (f"{GW} | where Method == '' | project CorrelationId", [["c3"]]),
    (f"{GW} | where isempty(Method) | project CorrelationId", [["c3"]]),
    (f"{GW} | where isnull(ResponseSize) | project CorrelationId", [["c3"]]),
    (f"{GW} | where Method =~ 'post' | project CorrelationId", [["c1"]]),
    (f"{GW} | where Method !~ 'post' | project CorrelationId", [["c2"], ["c3"]]),
    (f"{GW} | where Method == 'post' | project CorrelationId", []),
    (f"{GW} | where Url has 'models' | project CorrelationId", [["c2"]]),
    (f"{GW} | where Url has 'model' | project CorrelationId", []),
    (f"{GW} | where Url !has 'models' | project CorrelationId", [["c1"], ["c3"]]),
    (f"{GW} | where Url contains 'GPT-4O' | project CorrelationId", [["c1"], ["c3"]]),
    (f"{GW} | where Url contains_cs 'GPT' | project CorrelationId", []),
    (
        f"{GW} | where Url startswith 'HTTPS://gw/openai/d' | project CorrelationId",
        [["c1"], ["c3"]],
    ),
    (f"{GW} | where Url endswith 'Embeddings' | project CorrelationId", [["c3"]]),
    (f"{GW} | where Method in ('POST', 'get') | project CorrelationId", [["c1"]]),
    (
        f"{GW} | where Method in~ ('POST', 'get') | project CorrelationId",
        [["c1"], ["c2"]],
    ),
    (f"{GW} | where Method !in ('POST') | project CorrelationId", [["c2"], ["c3"]]),
    (
        f"{GW} | where ResponseCode between (200 .. 403) | project CorrelationId",
        [["c1"], ["c2"]],
    ),
    (
        f"{GW} | where ResponseCode !between (200 .. 403) | project CorrelationId",
        [["c3"]],
    ),
    (
        f"{GW} | where Url matches regex 'deployments/gpt-4o(-mini)?/' | project"
        f" CorrelationId",
        [["c1"], ["c3"]],
    ),
    (f"{GW} | where RequestHeaders has 'Ünïcode' | project CorrelationId", [["c2"]]),
    (
        f"{GW} | where RequestHeaders['user-agent'] =~ 'ÜNÏCODE AGENT/1.0' | project"
        f" CorrelationId",
        [["c2"]],
    ),
    (f"{GW} | where IsRequestSuccess | project CorrelationId", [["c1"]]),
    (
        f"{GW} | where not(IsRequestSuccess) | project CorrelationId, IsRequestSuccess",
        [["c2", False], ["c3", False]],
    ),
    (
        f"{GW} | where TimeGenerated between (datetime(2026-12-03) .."
        f" datetime(2026-12-03T17:47:24.123456Z))"
        " | project CorrelationId",
        [["c1"], ["c2"]],
    ),
    (
        f"{GW} | where TimeGenerated > datetime(2026-12-03T17:47:24.123456Z) |"
        f" project CorrelationId",
        [],
    ),
    (
        f"{GW} | where TimeGenerated >= ago(8h) | project CorrelationId",
        [["c1"], ["c2"]],
    ),
    (
        f"{GW} | extend e = Errors[0].Reason, n = array_length(Errors), last ="
        f" Errors[-1]['Section']"
        " | project CorrelationId, e, n, last",
        [
            ["c1", None, 0, None],
            ["c2", "IpAddressBlocked", 1, "inbound"],
            ["c3", None, None, None],
        ],
    ),
    (
        f"{GW} | project CorrelationId, RequestHeaders",
        [
            ["c1", {"content-type": "application/json"}],
            ["c2", {"user-agent": "Ünïcode Agent/1.0"}],
            ["c3", "not json {"],
        ],
    ),
    (
        f"{GW} | extend h = RequestHeaders.x | project CorrelationId, h",
        [["c1", None], ["c2", None], ["c3", None]],
    ),
    (
        f"{LLM} | extend m = tostring(RequestMessages[0].content)"
        " | project CorrelationId, SequenceNumber, m",
        # tostring() of a null is "": KQL strings are never null.
        [["c1", 0, "héllo"], ["c1", 1, ""], ["c3", 0, ""]],
    ),
    (
        f"{GW} | summarize count() by bin(TimeGenerated, 15m)",
        [
            ["2026-12-02T09:00:00.000000Z", 1],
            ["2026-12-03T17:00:00.000000Z", 1],
            ["2026-12-03T17:45:00.000000Z", 1],
        ],
    ),
    (
        f"{GW} | summarize count() by bin(TimeGenerated, 1h)",
        [["2026-12-02T09:00:00.000000Z", 1], ["2026-12-03T17:00:00.000000Z", 2]],
    ),
    (
        f"{GW} | summarize n = count(), mx = max(TimeGenerated), mn = min(Url) by"
        f" ApimSubscriptionId",
        [
            [
                "team-a",
                2,
                "2026-12-03T17:47:24.123456Z",
                "https://gw/openai/deployments/gpt-4o-mini/embeddings",
            ],
            ["team-b", 1, "2026-12-03T17:10:00.000000Z", "https://gw/openai/models"],
        ],
    ),
    (f"{GW} | distinct ApimSubscriptionId", [["team-a"], ["team-b"]]),
    (
        f"{GW} | distinct CallerIpAddress, ApimSubscriptionId",
        [["10.0.0.1", "team-a"], ["10.0.0.2", "team-b"]],
    ),
    (
        f"{GW} | join kind=inner ({LLM} | where SequenceNumber == 0) on CorrelationId"
        " | project CorrelationId, DeploymentName, DeploymentName1, TotalTokens",
        [["c1", "gpt-4o", "gpt-4o", 120], ["c3", "gpt-4o-mini", "gpt-4o-mini", 7]],
    ),
    (
        f"{GW} | join kind=leftouter ({LLM} | where SequenceNumber == 0)"
        " on $left.CorrelationId == $right.CorrelationId"
        " | summarize tokens = sum(TotalTokens) by ApimSubscriptionId",
        [["team-a", 127], ["team-b", None]],
    ),
    (
        f"union {GW}, {LLM} | summarize count() by CorrelationId",
        [["c1", 3], ["c2", 1], ["c3", 2]],
    ),
    (
        f"{GW} | project CorrelationId | union ({LLM} | project CorrelationId,"
        f" SequenceNumber)"
        " | where isnull(SequenceNumber) | project CorrelationId",
        [["c1"], ["c2"], ["c3"]],
    ),
    (
        # An empty array gives no row, a null one row with null.
        f"{GW} | mv-expand Errors | project CorrelationId, Errors",
        [["c2", {"Reason": "IpAddressBlocked", "Section": "inbound"}], ["c3", None]],
    ),
    (
        f"{GW} | extend parts = split(CallerIpAddress, '.') | mv-expand p = parts to"
        f" typeof(long)"
        " | summarize total = sum(p) by CorrelationId",
        [["c1", 11], ["c2", 12], ["c3", 11]],
    ),
    (
        f"{GW} | summarize arg_max(TimeGenerated, *) by ApimSubscriptionId"
        " | project ApimSubscriptionId, CorrelationId, TimeGenerated",
        [
            ["team-a", "c1", "2026-12-03T17:47:24.123456Z"],
            ["team-b", "c2", "2026-12-03T17:10:00.000000Z"],
        ],
    ),
    (
        f"{GW} | summarize arg_min(TimeGenerated, CorrelationId) by CallerIpAddress",
        [
            ["10.0.0.1", "2026-12-02T09:00:00.999999Z", "c3"],
            ["10.0.0.2", "2026-12-03T17:10:00.000000Z", "c2"],
        ],
    ),
    (
        f"{GW} | summarize l = make_list(Method), s = make_set(ApimSubscriptionId)"
        " | extend n = array_length(l) | project n, s",
        [[3, ["team-a", "team-b"]]],
    ),
    (
        f"{GW} | project-away RequestHeaders | project-rename Caller = CallerIpAddress"
        " | project Caller, CorrelationId",
        [["10.0.0.1", "c1"], ["10.0.0.2", "c2"], ["10.0.0.1", "c3"]],
    ),
    (
        f"{GW} | extend x = extract('deployments/([^/]+)/', 1, Url),"
        " y = iff(ResponseCode >= 400, 'bad', 'good'),"
        " z = case(ResponseCode == 200, 1, ResponseCode == 403, 2, 3), c ="
        " coalesce(Method, 'none')"
        " | project x, y, z, c",
        [
            ["gpt-4o", "good", 1, "POST"],
            [None, "bad", 2, "GET"],
            ["gpt-4o-mini", "bad", 3, "none"],
        ],
    ),
]


def _sorted(rows: list[list[object]]) -> list[list[object]]:
    return sorted(rows, key=repr)


@pytest.mark.parametrize(("text", "expected"), ORDERED)
def test_ordered_results(
    stores: list[object], text: str, expected: list[list[object]]
) -> None:
    for rows in _run(stores, text):
        assert rows == expected


@pytest.mark.parametrize(("text", "expected"), UNORDERED)
def test_results(stores: list[object], text: str, expected: list[list[object]]) -> None:
    for rows in _run(stores, text):
        for row in rows:  # make_set's order is not defined
            for i, value in enumerate(row):
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    row[i] = sorted(value) if "team-a" in value else value
        assert _sorted(rows) == _sorted(expected)


def test_row_cap_plus_one(stores: list[object]) -> None:
    for store in stores:
        assert isinstance(store, SqliteStore | PostgresStore)
        compiled = compile_query(GW, store.dialect, now=NOW, max_rows=1)  # type: ignore[arg-type]
        assert len(store.run(compiled)) == 2


@pytest.mark.parametrize(
    "payload",
    ["x'; DROP TABLE ApiManagementGatewayLogs;--", 'x"); DROP TABLE t;--', "%s", "?"],
)
def test_injection_attempts_match_nothing_and_drop_nothing(
    stores: list[object], payload: str
) -> None:
    literal = "'" + payload.replace("'", "\\'") + "'"
    name = "['" + payload.replace("'", "\\'") + "']"
    text = f"{GW} | where Method == {literal} or Url has {literal} | extend {name} = 1"
    for rows in _run(stores, text):
        assert rows == []
    assert _run(stores, f"{GW} | count") == [[[3]], [[3]]]
