"""Cases of scalar functions: conversions, project and extend, dynamic values."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .cases import (
    GW,
    LLM,
    Expected,
    G,
    case,
    check_case,
    groups,
    json_of,
    row_of,
    text_of,
    where_ids,
)

# Conversions of strings that may or may not be numbers ------------------------

CONVERSION_CASES = [
    case(
        # "2024-10-21" is no number (SQLite's CAST would say 2024).
        "tolong-of-strings",
        f"{GW} | where CorrelationId in ('c01', 'c09', 'c10', 'c12', 'c17', 'c29')"
        " | project CorrelationId, v = tolong(ApiVersion) | order by CorrelationId asc",
        "CorrelationId:string, v:long",
        [
            ["c01", None],
            ["c09", 12],
            ["c10", 42],
            ["c12", None],
            ["c17", None],
            ["c29", None],
        ],
    ),
    case(
        "toint-of-distinct-backends",
        f"{GW} | where isnotnull(BackendId) | distinct BackendId"
        " | extend n = toint(BackendId) | order by BackendId asc",
        "BackendId:string, n:int",
        [
            ["", None],
            ["007", 7],
            ["42", 42],
            ["openai-east", None],
            ["openai-west", None],
        ],
    ),
    case(
        "todouble-of-strings",
        f"{GW} | where CorrelationId in ('c09', 'c10', 'c17', 'c30')"
        " | project CorrelationId, d = todouble(BackendId), v = todouble(ApiVersion)"
        " | order by CorrelationId asc",
        "CorrelationId:string, d:real, v:real",
        [
            ["c09", None, 12.0],
            ["c10", 42.0, 42.0],
            ["c17", None, None],
            ["c30", None, None],
        ],
    ),
    case(
        "tolong-of-real-truncates",
        f"{GW} | where CorrelationId == 'c01'"
        ' | project a = tolong(TotalTime), b = toint(BackendTime), c = tolong("12"),'
        ' d = tolong("abc")',
        "a:long, b:int, c:long, d:long",
        [[850, 800, 12, None]],
    ),
    case(
        "sum-of-string-numbers",
        f"{GW} | summarize s = sum(tolong(ApiVersion))",
        "s:long",
        [[54]],
    ),
    case(
        "where-on-converted-string",
        where_ids("tolong(BackendId) > 10"),
        "CorrelationId:string",
        [["c10"]],
    ),
    case(
        "tostring-of-numbers",
        f"{GW} | where CorrelationId == 'c10'"
        " | project s = tostring(ResponseCode),"
        ' t = strcat(tostring(ResponseSize), "B")',
        "s:string, t:string",
        [["500", "300B"]],
    ),
    case(
        "tostring-of-null-is-empty",
        f"{GW} | where CorrelationId == 'c29'"
        " | project s = tostring(ResponseCode), e = isempty(tostring(ResponseCode))",
        "s:string, e:bool",
        [["", True]],
    ),
    case(
        "tobool",
        f"{GW} | where CorrelationId in ('c01', 'c07')"
        " | project CorrelationId,"
        ' b = tobool(iff(ResponseCode == 200, "true", "false")),'
        ' c = tobool("abc") | order by CorrelationId asc',
        "CorrelationId:string, b:bool, c:bool",
        [["c01", True, None], ["c07", False, None]],
    ),
    case(
        # "12" is no datetime (SQLite would read it as a Julian day).
        "todatetime-of-strings",
        f"{GW} | where CorrelationId in ('c01', 'c09', 'c12', 'c13', 'c17')"
        " | project CorrelationId, d = todatetime(ApiVersion)"
        " | order by CorrelationId asc",
        "CorrelationId:string, d:datetime",
        [
            ["c01", "2024-10-21T00:00:00.000000Z"],
            ["c09", None],
            ["c12", None],
            ["c13", None],
            ["c17", None],
        ],
    ),
    case(
        "parse-json-of-number-strings",
        f"{GW} | where CorrelationId in ('c09', 'c10')"
        " | project CorrelationId, v = parse_json(ApiVersion)"
        " | order by CorrelationId asc",
        "CorrelationId:string, v:dynamic",
        [["c09", 12], ["c10", 42]],
    ),
]

# Project, extend and scalar functions ---------------------------------------

SCALAR_CASES = [
    case(
        "project-rename",
        f"{GW} | where CorrelationId == 'c11'"
        " | project-rename Sub = ApimSubscriptionId, Id = CorrelationId"
        " | project Id, Sub",
        "Id:string, Sub:string",
        [["c11", "sub-gamma"]],
    ),
    case(
        "project-away",
        f"{LLM} | where CorrelationId == 'c02' and SequenceNumber == 0"
        " | project CorrelationId, SequenceNumber, TotalTokens, ModelName"
        " | project-away ModelName, SequenceNumber",
        "CorrelationId:string, TotalTokens:long",
        [["c02", 120]],
    ),
    case(
        "project-expressions",
        f"{GW} | where CorrelationId == 'c05'"
        " | project CorrelationId, Bytes = ResponseSize + RequestSize,"
        " Seconds = TotalTime / 1000",
        "CorrelationId:string, Bytes:long, Seconds:real",
        [["c05", 1150, 0.7]],
    ),
    case(
        # long / long divides as integers; int + long is long.
        "arithmetic-types",
        f"{GW} | where CorrelationId == 'c02'"
        " | extend a = ResponseSize * 2, b = ResponseSize / 3, c = TotalTime * 2,"
        " d = ResponseCode + 1 | project a, b, c, d",
        "a:long, b:long, c:real, d:long",
        [[1280, 213, 820.5, 201]],
    ),
    case(
        "extend-then-where",
        f"{GW} | extend kb = ResponseSize / 1024 | where kb >= 4"
        " | project CorrelationId, kb",
        "CorrelationId:string, kb:long",
        [
            [r["CorrelationId"], r["ResponseSize"] // 1024]
            for r in G
            if (r.get("ResponseSize") or 0) >= 4096
        ],
        ordered=False,
    ),
    case(
        "strlen-counts-code-points",
        f"{GW} | where isnotempty(UserId) | project CorrelationId, n = strlen(UserId)",
        "CorrelationId:string, n:long",
        [[r["CorrelationId"], len(r["UserId"])] for r in G if r.get("UserId")],
        ordered=False,
    ),
    case(
        "strlen-korean-and-emoji",
        f"{GW} | where CorrelationId == 'c08' | project n = strlen(LastErrorMessage)",
        "n:long",
        [[13]],
    ),
    case(
        "strlen-of-null-and-empty-string",
        f"{GW} | where CorrelationId in ('c29', 'c30')"
        " | project CorrelationId, n = strlen(UserId) | order by CorrelationId asc",
        "CorrelationId:string, n:long",
        [["c29", 0], ["c30", 0]],
    ),
    case(
        "substring-korean-and-emoji",
        f"{GW} | where CorrelationId == 'c08'"
        " | project s = substring(LastErrorMessage, 0, 3),"
        " t = substring(LastErrorMessage, 12, 1), u = substring(LastErrorMessage, 4)",
        "s:string, t:string, u:string",
        [["접근이", "🚫", "거부되었습니다 🚫"]],
    ),
    case(
        "substring-ascii",
        f"{GW} | where CorrelationId == 'c01'"
        " | project s = substring(CorrelationId, 1),"
        " t = substring(DeploymentName, 4, 2)",
        "s:string, t:string",
        [["01", "4o"]],
    ),
    case(
        "tolower-toupper-ascii",
        f"{GW} | where CorrelationId == 'c32'"
        " | project l = tolower(ApimSubscriptionId), u = toupper(Region)",
        "l:string, u:string",
        [["sub-delta", "WEST EUROPE"]],
    ),
    case(
        "strcat-converts-numbers",
        f"{GW} | where CorrelationId == 'c11'"
        ' | project s = strcat(ApimSubscriptionId, "/", DeploymentName, ":",'
        " ResponseCode)",
        "s:string",
        [["sub-gamma/gpt-4o:200"]],
    ),
    case(
        "strcat-of-null-string",
        f'{GW} | where CorrelationId == "c07"'
        ' | project s = strcat("[", ApimSubscriptionId, "]")',
        "s:string",
        [["[]"]],
    ),
    case(
        "split-and-index",
        f"{GW} | where CorrelationId == 'c04'"
        ' | project parts = split(DeploymentName, "-"),'
        ' n = array_length(split(DeploymentName, "-")),'
        ' second = split(DeploymentName, "-")[1]',
        "parts:dynamic, n:long, second:dynamic",
        [[["text", "embedding", "3", "small"], 4, "embedding"]],
    ),
    case(
        "replace-string",
        f"{GW} | where CorrelationId == 'c16'"
        ' | project u = replace_string(UserId, "é", "e"),'
        ' v = replace_string(Url, "/openai/", "/v1/"),'
        ' w = replace_string(ApiVersion, "-", "%")',
        "u:string, v:string, w:string",
        [
            [
                "jose",
                "https://gw.example/v1/deployments/gpt-4o/chat/completions"
                "?api-version=2024-10-21",
                "2024%10%21",
            ]
        ],
    ),
    case(
        "extract-group-summarized",
        f'{GW} | where Url has "deployments"'
        ' | extend d = extract(@"deployments/([^/]+)/", 1, Url)'
        " | summarize n = count() by d",
        "d:string, n:long",
        [
            [k, len(v)]
            for k, v in groups(
                (r for r in G if "/deployments/" in text_of(r, "Url")),
                lambda r: re.search(r"deployments/([^/]+)/", r["Url"]).group(1),  # type: ignore[union-attr]
            ).items()
        ],
        ordered=False,
    ),
    case(
        "extract-variants",
        f"{GW} | where CorrelationId == 'c09'"
        ' | project v = extract("api-version=([0-9]+)", 1, Url),'
        ' w = extract("[a-z]+://([a-z.]+)", 1, Url),'
        ' x = isempty(extract("zzz(.)", 1, Url))',
        "v:string, w:string, x:bool",
        [["12", "gw.example", True]],
    ),
    case(
        # coalesce skips "" as well as null for strings.
        "coalesce",
        f"{GW} | where CorrelationId in ('c01', 'c07', 'c29', 'c30')"
        ' | project CorrelationId, p = coalesce(ProductId, "no-product"),'
        " b = coalesce(BackendResponseCode, ResponseCode)"
        " | order by CorrelationId asc",
        "CorrelationId:string, p:string, b:int",
        [
            ["c01", "starter", 200],
            ["c07", "no-product", 403],
            ["c29", "no-product", None],
            ["c30", "no-product", 200],
        ],
    ),
    case(
        "iff-null-condition-takes-else",
        f"{GW} | where CorrelationId in ('c01', 'c07', 'c29')"
        ' | project CorrelationId, r = iff(ResponseCode < 400, "ok", "failed")'
        " | order by CorrelationId asc",
        "CorrelationId:string, r:string",
        [["c01", "ok"], ["c07", "failed"], ["c29", "failed"]],
    ),
    case(
        "iif-reals",
        f"{GW} | where CorrelationId in ('c05', 'c22')"
        " | project CorrelationId, slow = iif(TotalTime > 1000.0, TotalTime, 0.0)"
        " | order by CorrelationId asc",
        "CorrelationId:string, slow:real",
        [["c05", 0.0], ["c22", 30000.0]],
    ),
    case(
        "case-classes",
        f'{GW} | extend Class = case(ResponseCode < 300, "2xx",'
        ' ResponseCode < 500, "4xx", "5xx") | summarize n = count() by Class',
        "Class:string, n:long",
        [["2xx", 19], ["4xx", 10], ["5xx", 3]],
        ordered=False,
    ),
    case(
        "round",
        f"{GW} | where CorrelationId in ('c10', 'c13', 'c22')"
        " | project CorrelationId, a = round(TotalTime), b = round(TotalTime / 7, 2)"
        " | order by CorrelationId asc",
        "CorrelationId:string, a:real, b:real",
        [["c10", 1501.0, 214.39], ["c13", 2200.0, 314.29], ["c22", 30000.0, 4285.71]],
    ),
    case(
        "floor-and-abs",
        f"{GW} | where CorrelationId in ('c10', 'c13')"
        " | project CorrelationId, f = floor(TotalTime, 100.0),"
        " a = abs(ResponseSize - 1000), g = floor(ResponseSize, 1000)"
        " | order by CorrelationId asc",
        "CorrelationId:string, f:real, a:long, g:long",
        [["c10", 1500.0, 700, 0], ["c13", 2200.0, 3096, 4000]],
    ),
    case(
        "abs-of-real",
        f"{GW} | where CorrelationId == 'c02' | project a = abs(100.5 - TotalTime)",
        "a:real",
        [[309.75]],
    ),
]

# Dynamic values ---------------------------------------------------------------

DYNAMIC_CASES = [
    case(
        "dynamic-bracket-property",
        f"{GW} | where CorrelationId == 'c01'"
        ' | project ua = RequestHeaders["User-Agent"],'
        ' s = tostring(RequestHeaders["User-Agent"]), h = RequestHeaders',
        "ua:dynamic, s:string, h:dynamic",
        [
            [
                "openai-python/1.54.0",
                "openai-python/1.54.0",
                json_of(row_of("c01")["RequestHeaders"]),
            ]
        ],
    ),
    case(
        "dynamic-nested-path",
        f'{GW} | where isnotnull(RequestHeaders["X-Trace"])'
        ' | project CorrelationId, country = tostring(RequestHeaders["X-Trace"]'
        '.origin.country), hops = array_length(RequestHeaders["X-Trace"].hops),'
        ' first = tolong(RequestHeaders["X-Trace"].hops[0])'
        " | order by CorrelationId asc",
        "CorrelationId:string, country:string, hops:long, first:long",
        [["c19", "KR", 3, 1], ["c20", "FR", 1, 4]],
    ),
    case(
        "dynamic-in-where",
        where_ids('tostring(RequestHeaders["User-Agent"]) startswith "curl/"'),
        "CorrelationId:string",
        [["c07"], ["c19"]],
        ordered=False,
    ),
    case(
        "dynamic-dot-property",
        f"{GW} | extend accept = tostring(RequestHeaders.Accept)"
        " | where isnotempty(accept) | project CorrelationId, accept",
        "CorrelationId:string, accept:string",
        [["c13", "text/event-stream"]],
    ),
    case(
        "dynamic-korean-value",
        where_ids('tostring(RequestHeaders["User-Agent"]) == "한국어-클라이언트/1.0"'),
        "CorrelationId:string",
        [["c08"]],
    ),
    case(
        "dynamic-array-of-objects",
        f"{GW} | where isnotnull(Errors)"
        " | project CorrelationId, reason = tostring(Errors[0].Reason),"
        " n = array_length(Errors)",
        "CorrelationId:string, reason:string, n:long",
        [["c10", "BackendError", 1]],
    ),
    case(
        "dynamic-empty-object",
        f"{GW} | where CorrelationId == 'c30' | project h = RequestHeaders",
        "h:dynamic",
        [[{}]],
    ),
    case(
        "parse-json-messages",
        f"{LLM} | where CorrelationId == 'c11' and SequenceNumber == 1"
        " | project role = tostring(parse_json(RequestMessages)[1].role),"
        " content = tostring(RequestMessages[1].content),"
        " n = array_length(RequestMessages)",
        "role:string, content:string, n:long",
        [["user", "한국어로 대답해 주세요", 2]],
    ),
    case(
        "todynamic-literal",
        f"{GW} | where CorrelationId == 'c01'"
        ' | project v = todynamic(\'{"a": [1, 2, {"b": "ü"}]}\').a[2].b',
        "v:dynamic",
        [["ü"]],
    ),
    case(
        # Pieces cut in the middle of the JSON text read as dynamic strings.
        "message-pieces-that-are-not-json",
        f"{LLM} | where CorrelationId == 'c13' and isnotnull(RequestMessages)"
        " | project SequenceNumber, piece = RequestMessages"
        " | order by SequenceNumber asc",
        "SequenceNumber:int, piece:dynamic",
        [
            [1, '[{"role":"user","content":"Write a long story about'],
            [2, ' a lighthouse"}]'],
        ],
    ),
    case(
        "messages-index-in-where",
        f'{LLM} | where tostring(RequestMessages[0].role) == "user"'
        " | project CorrelationId",
        "CorrelationId:string",
        [["c02"], ["c16"], ["c25"]],
        ordered=False,
    ),
    case(
        "contains-on-dynamic",
        f'{LLM} | where RequestMessages contains "lighthouse"'
        ' or RequestMessages contains "대답" | project CorrelationId, SequenceNumber',
        "CorrelationId:string, SequenceNumber:int",
        [["c11", 1], ["c13", 2]],
        ordered=False,
    ),
    case(
        "response-messages-content",
        f"{LLM} | where isnotnull(ResponseMessages)"
        " | project CorrelationId, text = tostring(ResponseMessages[0].content)",
        "CorrelationId:string, text:string",
        [
            ["c02", "Très bien, merci."],
            ["c11", "네, 알겠습니다 😊"],
            ["c13", "Once upon a time"],
        ],
        ordered=False,
    ),
    case(
        "mv-expand-messages",
        f"{LLM} | where CorrelationId == 'c11' and SequenceNumber == 1"
        " | mv-expand m = RequestMessages"
        " | project role = tostring(m.role), content = tostring(m.content)",
        "role:string, content:string",
        [["system", "You are helpful."], ["user", "한국어로 대답해 주세요"]],
        ordered=False,
    ),
    case(
        "mv-expand-count-per-request",
        f"{LLM} | where SequenceNumber == 1 and isnotnull(RequestMessages)"
        " and CorrelationId != 'c13' | mv-expand m = RequestMessages"
        " | summarize n = count() by CorrelationId",
        "CorrelationId:string, n:long",
        [["c02", 1], ["c11", 2], ["c16", 1], ["c25", 1]],
        ordered=False,
    ),
    case(
        "mv-expand-nested-array",
        f"{GW} | where CorrelationId in ('c19', 'c20')"
        ' | mv-expand hop = RequestHeaders["X-Trace"].hops'
        " | summarize total = sum(tolong(hop)), n = count()",
        "total:long, n:long",
        [[10, 4]],
    ),
    case(
        "mv-expand-split",
        f"{GW} | where CorrelationId == 'c04'"
        ' | mv-expand part = split(DeploymentName, "-")'
        " | project part = tostring(part)",
        "part:string",
        [["text"], ["embedding"], ["3"], ["small"]],
        ordered=False,
    ),
]

# Conversions at their edges ----------------------------------------------------

REVIEW_CASES = [
    case(
        "tostring-of-timespan",
        f"{GW} | where CorrelationId == 'c01'"
        " | project a = tostring(1d + 2h + 3m + 4s + 5ms), b = tostring(-90s),"
        " c = tostring(0s), d = tostring(123.4567891234ms),"
        " e = tostring(TotalTime * 1ms)",
        "a:string, b:string, c:string, d:string, e:string",
        [
            [
                "1.02:03:04.0050000",
                "-00:01:30",
                "00:00:00",
                "00:00:00.1234568",
                "00:00:00.8505000",
            ]
        ],
    ),
    case(
        "tostring-of-null-timespan-is-empty",
        f"{GW} | where CorrelationId == 'c29' | project s = tostring(TotalTime * 1ms)",
        "s:string",
        [[""]],
    ),
    case(
        "tolong-and-toint-at-their-bounds",
        f"{GW} | where CorrelationId == 'c01'"
        ' | project a = tolong("9223372036854775807"),'
        ' b = tolong("9223372036854775808"), c = tolong("-9223372036854775808"),'
        ' d = toint("2147483647"), e = toint("2147483648"), f = toint("-2147483648")',
        "a:long, b:long, c:long, d:int, e:int, f:int",
        [[2**63 - 1, None, -(2**63), 2**31 - 1, None, -(2**31)]],
    ),
    case(
        "tolong-and-toint-of-numbers-out-of-range",
        f"{GW} | where CorrelationId == 'c01'"
        " | project a = tolong(9.3e18), b = toint(3000000000),"
        " c = toint(-2147483648.9), d = toint(-2147483649.0), e = tolong(-12.7),"
        " f = toint(tolong(2147483648)), g = tolong(9223372036854775807)",
        "a:long, b:int, c:int, d:int, e:long, f:int, g:long",
        [[None, None, -(2**31), None, -12, None, 2**63 - 1]],
    ),
    case(
        "coalesce-of-empty-strings-is-empty",
        f"{GW} | where CorrelationId == 'c07'"
        ' | project a = coalesce(UserId, ""), b = coalesce(UserId, "", "x")',
        "a:string, b:string",
        [["", "x"]],
    ),
    case(
        "isempty-of-dynamic",
        f"{GW} | where CorrelationId == 'c01'"
        " | project a = isempty(parse_json('\"\"')), b = isempty(parse_json('[]')),"
        " c = isnotempty(parse_json('\"x\"')), d = isempty(parse_json('null'))",
        "a:bool, b:bool, c:bool, d:bool",
        [[True, False, True, True]],
    ),
    case(
        "parse-json-of-invalid-json-is-a-string",
        f"{GW} | where CorrelationId == 'c01'"
        " | project a = parse_json('{\"a\": 1'), b = parse_json('[1, 2'),"
        " c = parse_json('{\"a\": 1}').a",
        "a:dynamic, b:dynamic, c:dynamic",
        [['{"a": 1', "[1, 2", 1]],
    ),
]

# mv-expand as KQL expands, make_list's limit, text of values, formats -------

FINDING_CASES = [
    case(
        "mv-expand-null-object-and-empty",
        f"{GW} | where CorrelationId in ('c01', 'c29', 'c30')"
        " | mv-expand h = RequestHeaders | project CorrelationId, h",
        "CorrelationId:string, h:dynamic",
        [
            ["c01", {"Content-Type": "application/json"}],
            ["c01", {"User-Agent": "openai-python/1.54.0"}],
            ["c29", None],
        ],
        ordered=False,
    ),
    case(
        "mv-expand-scalar-and-empty-array",
        f"{GW} | where CorrelationId == 'c01'"
        " | mv-expand v = dynamic(5) | mv-expand e = dynamic([]) | count",
        "Count:long",
        [[0]],
    ),
    case(
        "mv-expand-scalar-is-kept",
        f"{GW} | where CorrelationId == 'c01' | mv-expand v = dynamic(5) | project v",
        "v:dynamic",
        [[5]],
    ),
    case(
        "mv-expand-to-string-casts",
        f"{GW} | where CorrelationId == 'c01'"
        ' | mv-expand v = dynamic([{"a": 1}, 5, 1.5, "x", true, [1], null])'
        " to typeof(string) | project v",
        "v:string",
        [[None], ["5"], ["1.5"], ["x"], ["true"], [None], [None]],
        ordered=False,
    ),
    case(
        "make-list-and-make-set-limits",
        f"{GW} | summarize a = array_length(make_list(CorrelationId, 3)),"
        " b = array_length(make_set(Method, 2)),"
        " c = array_length(make_list(CorrelationId, 1000)),"
        " d = array_length(make_set(ResponseCode, 1))",
        "a:long, b:long, c:long, d:long",
        [[3, 2, len(G), 1]],
    ),
    case(
        "strcat-writes-values-as-tostring",
        f"{GW} | where CorrelationId == 'c01'"
        " | project a = strcat(1h, '|', -90m), b = strcat(TimeGenerated),"
        " c = strcat(true, '|', IsRequestSuccess), d = strcat(TotalTime, '|', 1200.0,"
        ' \'|\', 1e20, \'|\', 0.00001), e = strcat(dynamic({"bb": 1, "a": "x"})),'
        " same = strcat(1h, TimeGenerated, true, TotalTime, RequestHeaders)"
        " == strcat(tostring(1h), tostring(TimeGenerated), tostring(true),"
        " tostring(TotalTime), tostring(RequestHeaders))",
        "a:string, b:string, c:string, d:string, e:string, same:bool",
        [
            [
                "01:00:00|-01:30:00",
                "2026-02-27T09:15:00.000000Z",
                "true|true",
                "850.5|1200|1e+20|1e-05",
                '{"a": "x", "bb": 1}',
                True,
            ]
        ],
    ),
    case(
        "format-datetime-every-specifier",
        f"{GW} | where CorrelationId == 'c01'"
        " | project a = format_datetime(datetime(2026-03-01 13:05:09.1200),"
        ' "y yy yyyy M MM d dd h hh H HH m mm s ss tt"),'
        " b = format_datetime(datetime(2026-03-01 13:05:09.1200),"
        ' "f,ff.fffffff_F/FF-FFFF:FFFFFFF[]"),'
        ' c = format_datetime(datetime(2005-01-02 00:00:00), "y-yy.F")',
        "a:string, b:string, c:string",
        [
            [
                "26 26 2026 3 03 1 01 1 01 13 13 5 05 9 09 PM",
                "1,12.1200000_1/12-12:12[]",
                "5-05.",
            ]
        ],
    ),
]

CASES = [
    *REVIEW_CASES,
    *CONVERSION_CASES,
    *SCALAR_CASES,
    *DYNAMIC_CASES,
    *FINDING_CASES,
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_case(engine: Any, query: str, expected: Expected) -> None:
    check_case(engine, query, expected)
