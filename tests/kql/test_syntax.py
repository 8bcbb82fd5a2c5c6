"""The KQL parser: the tree it builds, its literals and its syntax errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support import SEED_DAILY_SUMMARY
from tollhouse.kql import ast
from tollhouse.kql.errors import CompileError
from tollhouse.kql.syntax import parse, parse_datetime


def _where(text: str) -> ast.Expr:
    query = parse(f"T | where {text}")
    operator = query.body.operators[0]
    assert isinstance(operator, ast.Where)
    return operator.predicate


def _literal(text: str) -> ast.Literal:
    node = _where(f"x == {text}")
    assert isinstance(node, ast.Binary) and isinstance(node.right, ast.Literal)
    return node.right


def test_seed_summary_parses_to_where_and_summarize() -> None:
    query = parse(SEED_DAILY_SUMMARY)

    assert query.body.source == ast.Name(ast.Pos(1, 1), "ApiManagementGatewayLlmLog")
    kinds = [type(op).__name__ for op in query.body.operators]
    assert kinds == ["Where", "Where", "Where", "Summarize"]
    summarize = query.body.operators[3]
    assert isinstance(summarize, ast.Summarize)
    assert [a.name for a in summarize.aggregates] == [
        "TotalRequests",
        "PromptTokensSum",
        "CompletionTokensSum",
        "TotalTokensSum",
        "AvgTokensPerReq",
    ]
    assert summarize.aggregates[1].pos == ast.Pos(7, 1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1d", 86400.0),
        ("2h", 7200.0),
        ("30m", 1800.0),
        ("10s", 10.0),
        ("100ms", 0.1),
        ("1.5h", 5400.0),
        ("3tick", 3e-7),
        ("2microseconds", 2e-6),
        ("1min", 60.0),
    ],
)
def test_timespan_literals_are_seconds(text: str, seconds: float) -> None:
    literal = _literal(text)
    assert literal.type == "timespan"
    assert literal.value == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("12", "long", 12),
        ("1.25", "real", 1.25),
        ("1e3", "real", 1000.0),
        ("-4", "long", -4),
        ("true", "bool", True),
        ('"a\\"b\\\\c\\n"', "string", 'a"b\\c\n'),
        ("'it''s'", None, None),
        ("'x\\'y'", "string", "x'y"),
        ('@"C:\\path"', "string", "C:\\path"),
        ('@"say ""hi"""', "string", 'say "hi"'),
        ('h"secret"', "string", "secret"),
        ('"\\u00e9"', "string", "é"),
        ('dynamic([1, {"a": "(x)"}])', "dynamic", [1, {"a": "(x)"}]),
        ("dynamic(null)", "dynamic", None),
        ("datetime(null)", "datetime", None),
        (
            "datetime(2026-12-03 17:47:24.1234567)",
            "datetime",
            datetime(2026, 12, 3, 17, 47, 24, 123456, tzinfo=UTC),
        ),
        (
            'datetime("2026-12-03T10:00Z")',
            "datetime",
            datetime(2026, 12, 3, 10, tzinfo=UTC),
        ),
    ],
)
def test_literals(text: str, kind: str | None, value: object) -> None:
    if kind is None:
        with pytest.raises(CompileError):
            _literal(text)
        return
    literal = _literal(text)
    assert (literal.type, literal.value) == (kind, value)


def test_operators_bind_as_in_kql() -> None:
    node = _where("a == 1 or b == 2 and c + 2 * 3 > 4")

    assert isinstance(node, ast.Binary) and node.op == "or"
    right = node.right
    assert isinstance(right, ast.Binary) and right.op == "and"
    compare = right.right
    assert isinstance(compare, ast.Binary) and compare.op == ">"
    total = compare.left
    assert isinstance(total, ast.Binary) and total.op == "+"
    assert isinstance(total.right, ast.Binary) and total.right.op == "*"


@pytest.mark.parametrize(
    "op",
    [
        "has",
        "!has",
        "has_cs",
        "contains",
        "!contains",
        "contains_cs",
        "startswith",
        "!startswith",
        "endswith",
        "!endswith",
        "=~",
        "!~",
        "==",
        "!=",
        "<=",
        ">=",
    ],
)
def test_string_operators(op: str) -> None:
    node = _where(f'Url {op} "x"')
    assert isinstance(node, ast.Binary) and node.op == op


@pytest.mark.parametrize("op", ["in", "!in", "in~", "!in~"])
def test_in_operators(op: str) -> None:
    node = _where(f'Method {op} ("GET", "POST")')
    assert isinstance(node, ast.InList) and node.op == op and len(node.items) == 2


def test_between_and_matches_regex() -> None:
    between = _where("ResponseCode !between (200 .. 299)")
    assert isinstance(between, ast.Between) and between.negated
    matches = _where('Url matches regex "^https"')
    assert isinstance(matches, ast.Binary) and matches.op == "matches regex"


def test_dynamic_access_by_property_key_and_index() -> None:
    node = _where('RequestHeaders.a["b-c"][0] == 1')
    assert isinstance(node, ast.Binary)
    index = node.left
    assert isinstance(index, ast.Index)
    member = index.target
    assert isinstance(member, ast.Member) and member.name == "b-c"
    inner = member.target
    assert isinstance(inner, ast.Member) and inner.name == "a"


def test_every_operator_parses() -> None:
    text = """let span = 1h;
    let Recent = ApiManagementGatewayLogs | where TimeGenerated > ago(span);
    Recent
    | project-away RequestBody
    | project-rename Caller = CallerIpAddress
    | extend Code = ResponseCode
    | join kind=leftouter (ApiManagementGatewayLlmLog)
        on $left.CorrelationId == $right.CorrelationId
    | union (ApiManagementGatewayLogs | take 1)
    | mv-expand Error = Errors to typeof(string)
    | distinct Caller, Code
    | top 3 by Code asc nulls last
    | order by Caller desc
    | sort by Caller
    | take 10
    | limit 5
    | summarize count() by Caller
    | count
    | render timechart with (title="t", xcolumn=Caller, ycolumns=a, b)"""
    query = parse(text)
    assert [let.name for let in query.lets] == ["span", "Recent"]
    render = query.body.operators[-1]
    assert isinstance(render, ast.Render)
    assert render.kind == "timechart"
    assert render.properties == {
        "title": "t",
        "xcolumn": "Caller",
        "ycolumns": ["a", "b"],
    }
    top = query.body.operators[7]
    assert isinstance(top, ast.Top)
    assert (top.keys[0].descending, top.keys[0].nulls_first) == (False, False)
    sort = query.body.operators[9]
    assert isinstance(sort, ast.Order)
    assert (sort.keys[0].descending, sort.keys[0].nulls_first) == (True, False)


def test_keywords_are_names_where_no_keyword_fits() -> None:
    query = parse("T | project count = 1, kind = 2, by = 3")
    project = query.body.operators[0]
    assert isinstance(project, ast.Project)
    assert [item.name for item in project.items] == ["count", "kind", "by"]


def test_quoted_names() -> None:
    query = parse("T | extend ['a b'] = 1, [\"x\\\"y\"] = 2 | project ['a b']")
    extend = query.body.operators[0]
    assert isinstance(extend, ast.Extend)
    assert [item.name for item in extend.items] == ["a b", 'x"y']


def test_comments_are_ignored() -> None:
    query = parse("T // all of it\n| take 1 // one row")
    assert len(query.body.operators) == 1


@pytest.mark.parametrize(
    ("text", "line", "column", "expected"),
    [
        ("T | wher x", 1, 5, "'where'"),
        ("T\n| where", 2, 8, "a name"),
        ("T | where x ==", 1, 15, "a number"),
        ("T | where x #", 1, 13, "'|'"),
        ("T | take 1 1", 1, 12, "'|'"),
        ("T | project a,", 1, 15, "a name"),
        ("T | where a in 1", 1, 16, "'('"),
    ],
)
def test_syntax_errors_point_at_the_spot(
    text: str, line: int, column: int, expected: str
) -> None:
    with pytest.raises(CompileError) as caught:
        parse(text)
    assert (caught.value.pos.line, caught.value.pos.column) == (line, column)
    assert expected in caught.value.expected


@pytest.mark.parametrize(
    "text",
    [
        "T | where t == datetime(2026-13-01)",
        'T | where x == dynamic({"a":})',
        'T | where x == "\\q"',
    ],
)
def test_bad_literals_are_errors(text: str) -> None:
    with pytest.raises(CompileError):
        parse(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2026-12-03", datetime(2026, 12, 3, tzinfo=UTC)),
        ("2026-12-03T01:02:03Z", datetime(2026, 12, 3, 1, 2, 3, tzinfo=UTC)),
        ("2026-12-03 01:02:03.5", datetime(2026, 12, 3, 1, 2, 3, 500000, tzinfo=UTC)),
        ("2026-12-03T01:02+02:00", datetime(2026, 12, 2, 23, 2, tzinfo=UTC)),
        ("2026-02-30", None),
        ("yesterday", None),
    ],
)
def test_parse_datetime(text: str, value: datetime | None) -> None:
    assert parse_datetime(text) == value
