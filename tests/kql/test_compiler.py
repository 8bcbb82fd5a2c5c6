"""compile_query: the SQL it prints, the types it infers, the errors it raises."""

from __future__ import annotations

import contextlib
import re
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tests.support import SEED_BLOCKED
from tests.support import SEED_DAILY_SUMMARY as SEED_SUMMARY
from tollhouse.errors import TollhouseError
from tollhouse.kql import (
    Column,
    QueryError,
    Render,
    compile_query,
    register_sqlite_functions,
)
from tollhouse.kql.query import Dialect
from tollhouse.kql.tables import TABLES
from tollhouse.store import sqlite as sqlite_store

NOW = datetime(2026, 12, 3, 18, tzinfo=UTC)
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgres")


GW = "ApiManagementGatewayLogs"
LLM = "ApiManagementGatewayLlmLog"
GW_COLUMNS = list(TABLES[GW].columns)


def _compile(text: str, dialect: Dialect = "sqlite", max_rows: int = 100):  # type: ignore[no-untyped-def]
    return compile_query(text, dialect, now=NOW, max_rows=max_rows)


def _error(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        _compile(text)
    return caught.value


def _single_select(sql: str, dialect: Dialect) -> exp.Expression:
    text = sql
    if dialect == "postgres":  # As psycopg reads it: %s binds, %% is a %.
        text = re.sub("%%|%s", lambda m: "%" if m.group() == "%%" else "NULL", sql)
    statements = sqlglot.parse(text, read=dialect)
    assert len(statements) == 1
    statement = statements[0]
    assert isinstance(statement, exp.Select | exp.Union)
    for node in statement.walk():
        assert not isinstance(node, exp.Insert | exp.Update | exp.Delete | exp.Drop)
        assert not isinstance(node, exp.Create | exp.Command)
    return statement


@pytest.mark.parametrize("dialect", DIALECTS)
def test_seed_summary(dialect: Dialect) -> None:
    compiled = _compile(SEED_SUMMARY, dialect, max_rows=10_000)

    assert compiled.columns == (
        Column("TotalRequests", "long"),
        Column("PromptTokensSum", "long"),
        Column("CompletionTokensSum", "long"),
        Column("TotalTokensSum", "long"),
        Column("AvgTokensPerReq", "real"),
    )
    assert compiled.sql.endswith("LIMIT 10001")
    assert len(compiled.params) == 1
    _single_select(compiled.sql, dialect)


def test_seed_summary_binds_the_start_of_the_window() -> None:
    sqlite = _compile(SEED_SUMMARY, "sqlite")
    postgres = _compile(SEED_SUMMARY, "postgres")

    assert sqlite.params == ["2026-12-02T18:00:00.000000Z"]
    assert postgres.params == [datetime(2026, 12, 2, 18, tzinfo=UTC)]
    assert "?" in sqlite.sql and "%s" in postgres.sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_seed_blocked_requests(dialect: Dialect) -> None:
    compiled = _compile(SEED_BLOCKED, dialect)

    assert [c.name for c in compiled.columns] == [
        "TimeGenerated",
        "CallerIpAddress",
        "RequestUrl",
        "ResponseCode",
        "ResponseSize",
        "RequestHeaders",
        "OperationName",
    ]
    assert [c.type for c in compiled.columns] == [
        "datetime",
        "string",
        "string",
        "int",
        "long",
        "dynamic",
        "string",
    ]
    assert '"ResponseCode" = 403' in compiled.sql


def test_filters_on_the_table_stay_in_one_select_so_indexes_apply() -> None:
    sql = _compile(f"{GW} | where TimeGenerated > ago(1h) | where Url has 'x'").sql
    assert sql.count("SELECT") == 1
    assert 'FROM "ApiManagementGatewayLogs" AS _t0 WHERE' in sql


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        (f"{GW}", "LIMIT 101"),
        (f"{GW} | take 5", "LIMIT 5"),
        (f"{GW} | take 500", "LIMIT 101"),
    ],
)
def test_outer_limit_is_the_row_cap_plus_one(text: str, limit: str) -> None:
    assert _compile(text).sql.endswith(limit)


@pytest.mark.parametrize(
    ("expr", "kql_type"),
    [
        ("1", "long"),
        ("1.5", "real"),
        ("ResponseCode + 1", "long"),
        ("ResponseCode * 1.5", "real"),
        ("ResponseCode / 2", "long"),
        ("now() - TimeGenerated", "timespan"),
        ("TimeGenerated + 1h", "datetime"),
        ("1h / 1m", "real"),
        ("2 * 1h", "timespan"),
        ("Url", "string"),
        ("strlen(Url)", "long"),
        ("toint('3')", "int"),
        ("todouble(ResponseSize)", "real"),
        ("tostring(ResponseCode)", "string"),
        ("RequestHeaders.host", "dynamic"),
        ("split(Url, '/')", "dynamic"),
        ("ResponseCode == 200", "bool"),
        ("Url has 'x'", "bool"),
        ("iff(IsRequestSuccess, 1, 2.5)", "real"),
        ("bin(TimeGenerated, 5m)", "datetime"),
        ("bin(ResponseSize, 10)", "long"),
        ("startofweek(TimeGenerated)", "datetime"),
        ("format_datetime(TimeGenerated, 'yyyy')", "string"),
        ("datetime_diff('day', now(), TimeGenerated)", "long"),
        ("round(TotalTime, 2)", "real"),
        ("coalesce(ResponseSize, 0)", "long"),
        ("array_length(Errors)", "long"),
        ("parse_json(Url)", "dynamic"),
    ],
)
def test_types(expr: str, kql_type: str) -> None:
    compiled = _compile(f"{GW} | project x = {expr}")
    assert compiled.columns == (Column("x", kql_type),)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (f"{GW} | summarize count()", ["count_"]),
        (f"{GW} | summarize count(), count()", ["count_", "count_1"]),
        (
            f"{GW} | summarize sum(ResponseSize), avg(TotalTime)",
            ["sum_ResponseSize", "avg_TotalTime"],
        ),
        (f"{LLM} | summarize sum(tolong(TotalTokens))", ["sum_TotalTokens"]),
        (
            f"{GW} | summarize countif(ResponseCode > 1), dcount(Url)",
            ["countif_", "dcount_Url"],
        ),
        (f"{GW} | summarize make_list(Url), make_set(Url)", ["list_Url", "set_Url"]),
        (f"{GW} | summarize percentile(TotalTime, 95)", ["percentile_TotalTime_95"]),
        (
            f"{GW} | summarize percentiles(TotalTime, 50, 99.9)",
            ["percentile_TotalTime_50", "percentile_TotalTime_99_9"],
        ),
        (
            f"{GW} | summarize count() by bin(TimeGenerated, 1h)",
            ["TimeGenerated", "count_"],
        ),
        (
            f"{GW} | summarize max(TimeGenerated) by ApimSubscriptionId",
            ["ApimSubscriptionId", "max_TimeGenerated"],
        ),
        (
            f"{GW} | summarize arg_max(TimeGenerated, Url) by ApimSubscriptionId",
            ["ApimSubscriptionId", "TimeGenerated", "Url"],
        ),
        (f"{GW} | count", ["Count"]),
        (
            f"{GW} | project Url, tolower(Method), strlen(Url)",
            ["Url", "Column1", "Column2"],
        ),
        (f"{GW} | project RequestHeaders.host", ["RequestHeaders_host"]),
        (
            f'{GW} | summarize count() by tostring(RequestHeaders["user-agent"])',
            ["RequestHeaders_user_agent", "count_"],
        ),
        (
            f"{GW} | project tolong(ResponseCode), toint(tostring(Method)),"
            " todatetime(RequestHeaders.date), tobool(IsRequestSuccess),"
            " todouble(TotalTime), toreal(BackendTime)",
            [
                "ResponseCode",
                "Method",
                "RequestHeaders_date",
                "IsRequestSuccess",
                "TotalTime",
                "BackendTime",
            ],
        ),
        (
            # No name through other functions, nor through an expression.
            f"{GW} | project tostring(ResponseCode + 1), tostring(tolower(Url)),"
            " tostring(5)",
            ["Column1", "Column2", "Column3"],
        ),
        (f"{GW} | extend tostring(ResponseCode)", [*GW_COLUMNS, "ResponseCode1"]),
        (f"{GW} | summarize take_any(Url), any(Method)", ["any_Url", "any_Method"]),
    ],
)
def test_column_names_as_kql_names_them(text: str, names: list[str]) -> None:
    assert [c.name for c in _compile(text).columns] == names


def test_render_is_kept_as_metadata() -> None:
    compiled = _compile(
        f"{GW} | summarize count() by bin(TimeGenerated, 1h)"
        ' | render timechart with (title="Requests", xcolumn=TimeGenerated,'
        " ycolumns=count_)"
    )
    assert compiled.render == Render(
        "timechart",
        {"title": "Requests", "xcolumn": "TimeGenerated", "ycolumns": "count_"},
    )
    assert _compile(GW).render is None


def test_order_survives_later_operators() -> None:
    sql = _compile(
        f"{GW} | order by TimeGenerated asc | take 3 | where ResponseCode > 1"
    ).sql
    assert sql.endswith('ORDER BY _t1."__order_0" ASC LIMIT 101')


@pytest.mark.parametrize("dialect", DIALECTS)
def test_nulls_sort_as_kql_sorts_them(dialect: Dialect) -> None:
    asc = _compile(f"{GW} | order by ResponseSize asc", dialect).sql
    desc = _compile(f"{GW} | order by ResponseSize", dialect).sql
    if dialect == "postgres":
        assert '"ResponseSize" ASC NULLS FIRST' in asc
        assert '"ResponseSize" DESC NULLS LAST' in desc
    else:  # SQLite's own order: nulls first ascending, last descending.
        assert '"ResponseSize" ASC LIMIT' in asc or '"ResponseSize" LIMIT' in asc
        assert '"ResponseSize" DESC LIMIT' in desc


# Errors.


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            "ApiManagementGatewayLog | take 1",
            1,
            1,
            "unknown table 'ApiManagementGatewayLog' (did you mean",
        ),
        (
            f"{GW}\n| where Urll == 'x'",
            2,
            9,
            "unknown column 'Urll' (did you mean 'Url'?)",
        ),
        (
            f"{GW} | where tolng(Url) > 0",
            1,
            34,
            "unknown function 'tolng' (did you mean 'tolong'?)",
        ),
        (f"{GW} | where Url == 1", 1, 38, "cannot compare string with long"),
        (f"{GW} | where Url", 1, 34, "must be a bool, not string"),
        (f"{GW} | summarize Url", 1, 38, "must be inside an aggregate"),
        (f"{GW} | where count() > 1", 1, 34, "aggregate function"),
        (f"{GW} | summarize sum(count())", 1, 42, "cannot be nested"),
        (f"{GW} | where Url has Method", 1, 38, "constant string"),
        (f"{GW} | where Url matches regex '(?=x)'", 1, 52, "look-ahead"),
        (f"{GW} | where Url matches regex '('", 1, 52, "invalid regular expression"),
        (f"{GW} | take -1", 1, 33, "number of rows"),
        (f"{GW} | render piechart | take 1", 1, 28, "render must be the last"),
        (f"{GW} | join kind=fullouter ({LLM}) on CorrelationId", 1, 28, "join kind"),
        (
            f"{GW} | join ({LLM}) on Method",
            1,
            65,
            "unknown column 'Method' on the right",
        ),
        (f"{GW} | extend x = ago(Url)", 1, 43, "timespan"),
        (f"{GW} | extend x = bin(TimeGenerated, Url)", 1, 58, "constant timespan"),
        (f"{GW} | extend x = substring(Url)", 1, 39, "takes 2 to 3 arguments"),
        (f"{GW} | project-away Nope", 1, 41, "unknown column 'Nope'"),
        (
            f"{GW} | extend x = datetime_diff('fortnight', now(), now())",
            1,
            53,
            "datetime part",
        ),
        (f"{GW} | mv-expand Url", 1, 28, "needs a dynamic value"),
        (f"{GW} | where 1d > 1", 1, 37, "cannot compare timespan with long"),
        (
            f"{GW} | summarize arg_max(TotalTime, *), count()",
            1,
            38,
            "cannot be combined",
        ),
        (f"let x = Url; {GW} | take 1", 1, 9, "unknown column 'Url'"),
        (
            f"{GW} | project Method\n| where ResponseCode == 200",
            2,
            9,
            "column 'ResponseCode' is not in scope after the project at line 1",
        ),
        (
            f"{GW} | project-rename U = Url | extend x = Url",
            1,
            64,
            "not in scope after the project-rename at line 1",
        ),
        (
            f"{GW} | count | project Url",
            1,
            44,
            "not in scope after the count at line 1",
        ),
    ],
)
def test_errors_point_at_the_spot(
    text: str, line: int, column: int, message: str
) -> None:
    error = _error(text)
    assert message in error.message
    assert (error.line, error.column) == (line, column)
    assert error.source == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{GW} | where TimeGenerated > '2026-03-01'",
            "cannot compare datetime with string: write datetime(2026-03-01)",
        ),
        (
            f"{GW} | where TimeGenerated > Url",
            "cannot compare datetime with string: convert the string with todatetime()",
        ),
        (f"{GW} | where TimeGenerated > 5", "cannot compare datetime with long"),
        (f"{GW} | where TimeGenerated in ('2026-03-01')", "write datetime(2026-03-01)"),
        (
            f"{GW} | where 1h == '1h'",
            "cannot compare timespan with string: write a timespan such as 1h",
        ),
        (
            f"{GW} | extend x = format_datetime(TimeGenerated, 'dddd')",
            "format_datetime() does not support 'dddd'",
        ),
        (
            f"{GW} | extend x = format_datetime(TimeGenerated, 'dd MMM')",
            "format_datetime() does not support 'MMM'",
        ),
        (
            f"{GW} | extend x = format_datetime(TimeGenerated, 'yyyy-MM-ddTHH')",
            "format_datetime() does not support 'T'",
        ),
        (
            f"{GW} | where Url matches regex '[[:alpha:]]+'",
            "POSIX classes such as [[:alpha:]] are not supported",
        ),
        (
            f"{GW} | where Url matches regex '[a[:digit:]]'",
            "POSIX classes such as [[:alpha:]] are not supported",
        ),
        (
            f"{GW} | where Url matches regex @'\\bx'",
            "the escape \\b is not supported in regular expressions",
        ),
        (
            f"{GW} | where Url matches regex 'a(?i)b'",
            "(?i) is only supported at the start of the pattern",
        ),
        (
            f"{GW} | where Url matches regex '(?<n>a)'",
            "named groups are not supported in regular expressions",
        ),
        (
            f"{GW} | join ({LLM}) on ResponseCode == SequenceNumber",
            "a join condition between two columns names their sides:"
            " $left.A == $right.B",
        ),
        (f"{GW} | render tmechart", "unknown chart kind 'tmechart' (did you mean"),
        (f"{GW} | render chart", "unknown chart kind 'chart'"),
        (f"{GW} | summarize make_list(Url, 0)", "keeps at least one value"),
        (f"{GW} | summarize make_set(Url, ResponseCode)", "must be a constant long"),
        (f"{GW} | where Url has_any (Method)", "constant strings"),
        (f"{GW} | where ResponseCode has_all ('a')", "constant strings"),
        (f"{GW} | where Url contains_x 'a'", "unexpected 'contains_x'"),
        (f"{GW} | where Url hasx 'a'", "unexpected 'hasx'"),
    ],
)
def test_refused_with_a_message(text: str, message: str) -> None:
    for dialect in DIALECTS:
        with pytest.raises(QueryError) as caught:
            _compile(text, dialect)
        assert message in caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        f"{GW} | where ResponseCode == 200.5 or ResponseSize > ResponseCode",
        f"{GW} | where TimeGenerated > datetime(2026-03-01)",
        f"{GW} | where TimeGenerated > todatetime('2026-03-01')",
        f"{GW} | extend t = todatetime('nope')",
        f"{GW} | render timechart",
        f'{GW} | where Url has_any (\'a\') and Url has_all (dynamic(["a", "b"]))',
    ],
)
def test_accepted(text: str) -> None:
    for dialect in DIALECTS:
        _compile(text, dialect)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ApiManagementGatewayLog | take 1", ["ApiManagementGatewayLlmLog"]),
        (f"{GW} | project Method, Url | where Nope", ["Method", "Url"]),
        (f"{GW} | project-away Url | where Url == 'x'", ["Method", "ResponseCode"]),
        (f"{GW} | extend x = tolowr(Url)", ["tolower", "tostring", "count"]),
    ],
)
def test_errors_list_what_would_be_valid(text: str, expected: list[str]) -> None:
    error = _error(text)
    assert set(expected) <= set(error.expected)
    if "project-away" in text:
        assert "Url" not in error.expected


def test_matches_regex_has_no_negation() -> None:
    # KQL has no "!matches regex"; it is a syntax error, not a crash.
    error = _error(f"{GW} | where Url !matches regex 'x'")
    assert error.line == 1


@pytest.mark.parametrize(
    "op",
    ["!=", "!~", "!has", "!has_cs", "!contains", "!contains_cs", "!startswith"]
    + ["!startswith_cs", "!endswith", "!endswith_cs"],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_negated_string_operator_compiles(op: str, dialect: Dialect) -> None:
    compiled = _compile(f"{GW} | where Url {op} 'x' | project CorrelationId", dialect)
    assert "NOT" in compiled.sql or "<>" in compiled.sql


@pytest.mark.parametrize(
    "condition",
    [
        "TimeGenerated >= ago(1d)",
        "TimeGenerated between (ago(2d) .. ago(1d))",
        "TimeGenerated > ago(1d) and ResponseCode != 200",
        "TimeGenerated >= ago(1d) and (ResponseCode == 200 or Url has 'x')",
    ],
)
def test_time_filters_use_the_time_index(tmp_path: Path, condition: str) -> None:
    conn = sqlite_store.connect(tmp_path / "tollhouse.db")
    register_sqlite_functions(conn)
    compiled = _compile(f"{GW} | where {condition} | count")
    plan = conn.execute("EXPLAIN QUERY PLAN " + compiled.sql, compiled.params)
    details = " ".join(row[3] for row in plan.fetchall())
    conn.close()
    assert re.search(r"USING (COVERING )?INDEX ix_gateway_logs_time \(Time", details)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_where_comparisons_stay_plain_and_others_are_two_valued(
    dialect: Dialect,
) -> None:
    where = _compile(f"{GW} | where ResponseCode == 200 | count", dialect).sql
    assert "COALESCE" not in where
    kept = _compile(f"{GW} | where ResponseCode != 200 | count", dialect).sql
    assert '"ResponseCode" IS NULL' in kept
    negated = _compile(f"{GW} | where not(ResponseCode == 200) | count", dialect)
    assert "COALESCE" in negated.sql


def test_error_text_has_the_line_and_a_caret() -> None:
    error = _error(f"{GW}\n| where Urll == 'x'")
    assert str(error) == (
        "line 2, column 9: unknown column 'Urll' (did you mean 'Url'?)\n"
        "| where Urll == 'x'\n"
        "        ^"
    )
    assert isinstance(error, TollhouseError)


def test_syntax_error_lists_what_was_expected() -> None:
    error = _error(f"{GW} | wher x")
    assert (error.line, error.column) == (1, 28)
    assert "'where'" in error.expected and "'summarize'" in error.expected


@pytest.mark.parametrize("depth", [18, 19, 100, 5000])
def test_deep_nesting_compiles_or_is_a_query_error(depth: int) -> None:
    text = f"{GW} | where " + "(1 + " * depth + "1" + ")" * depth + " > 1"
    try:
        _compile(text)
    except QueryError as error:
        assert depth > 18 and "nested too deeply" in error.message


# Injection through literals and names.


INJECTIONS = [
    "x'; DROP TABLE ApiManagementGatewayLogs;--",
    'x"; DROP TABLE t;--',
    "x\\'); DELETE FROM t; --",
    "'||(SELECT 1)||'",
    "%s %(x)s ?",
    "` ; DROP TABLE t",
    "$1 :name",
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("payload", INJECTIONS)
def test_string_literals_are_always_parameters(dialect: Dialect, payload: str) -> None:
    literal = '"' + payload.replace("\\", "\\\\").replace('"', '\\"') + '"'
    text = (
        f"{GW} | where Method == {literal} or Url has {literal} or Url contains"
        f" {literal}"
        f" | extend x = strcat(Url, {literal}) | where Url in ({literal})"
    )
    compiled = _compile(text, dialect)
    assert payload not in compiled.sql
    assert payload in compiled.params
    _single_select(compiled.sql, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("payload", INJECTIONS)
def test_names_are_quoted_identifiers(dialect: Dialect, payload: str) -> None:
    name = "['" + payload.replace("\\", "\\\\").replace("'", "\\'") + "']"
    compiled = _compile(f"{GW} | extend {name} = 1 | project {name}", dialect)
    assert compiled.columns == (Column(payload, "long"),)
    statement = _single_select(compiled.sql, dialect)
    assert statement.selects[0].alias_or_name == payload


@pytest.mark.parametrize(
    "text",
    [
        f"{GW}; DROP TABLE x",
        f"{GW} | where Url == 'a' ; DELETE FROM {GW}",
        f"`{GW}`",
        f"{GW} | project [\"Url\"] , ['x'] = `y`",
        f"{GW} | where Url == 'a' -- comment",
        f"{GW} /* x */",
        "DROP TABLE ApiManagementGatewayLogs",
        f'{GW} | where Url == "a\nb"',
    ],
)
def test_sql_shaped_queries_are_refused(text: str) -> None:
    with pytest.raises(QueryError):
        _compile(text)


# Hypothesis.

_TOKENS = [
    GW,
    LLM,
    "|",
    "where",
    "project",
    "extend",
    "summarize",
    "by",
    "count",
    "take",
    "top",
    "order",
    "sort",
    "asc",
    "desc",
    "distinct",
    "join",
    "kind=inner",
    "on",
    "union",
    "mv-expand",
    "let",
    "=",
    "==",
    "!=",
    "=~",
    "has",
    "contains",
    "in",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    ".",
    "..",
    "1",
    "1h",
    "'x'",
    '"y"',
    "Url",
    "ResponseCode",
    "TimeGenerated",
    "RequestHeaders",
    "count()",
    "sum(",
    "ago(1d)",
    "bin(",
    "between",
    "and",
    "or",
    "not(",
    "*",
    "+",
    "-",
    "/",
    "%",
    "$left",
    "datetime(2026-01-01)",
    "dynamic([1])",
    "render",
    "with",
    "nulls",
    "first",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.printable + "éß€\u2028", max_size=80))
def test_random_text_raises_only_query_errors(text: str) -> None:
    with contextlib.suppress(QueryError):
        _compile(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=25))
def test_random_token_soup_raises_only_query_errors(tokens: list[str]) -> None:
    for dialect in DIALECTS:
        try:
            compiled = _compile(" ".join(tokens), dialect)
        except QueryError:
            continue
        _single_select(compiled.sql, dialect)


_PREDICATES = st.sampled_from(
    [
        "ResponseCode == 200",
        "Url has 'a'",
        'Url !contains "b"',
        "Method in ('GET')",
        "TimeGenerated > ago(1h)",
        "ResponseSize between (1 .. 10)",
        "isnull(TotalTime)",
        "RequestHeaders.host == 'h'",
        "Url matches regex '^h.*$'",
        "Method !~ 'post'",
        "tolong(Url) > 3",
        "strlen(Url) < 10",
        "IsRequestSuccess",
        "not(IsRequestSuccess)",
    ]
)
_OPERATORS = st.one_of(
    _PREDICATES.map(lambda p: f"where {p}"),
    st.sampled_from(
        [
            "take 3",
            "top 2 by ResponseSize",
            "order by TimeGenerated asc",
            "extend d = bin(TimeGenerated, 1h)",
            "project Url, ResponseCode, TimeGenerated",
            "distinct Url, ResponseCode, TimeGenerated",
            "summarize n = count(), s = sum(ResponseCode) by Url, TimeGenerated",
            "extend Method = Url",
            "project-rename U = Url | project-rename Url = U",
        ]
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_OPERATORS, max_size=6))
def test_random_valid_pipelines_compile_to_one_select(operators: list[str]) -> None:
    text = " | ".join([GW, *operators])
    for dialect in DIALECTS:
        try:
            compiled = _compile(text, dialect)
        except QueryError as error:
            reasons = ("unknown column", "not in scope", "bool")
            assert any(reason in error.message for reason in reasons)
            continue
        _single_select(compiled.sql, dialect)
        mark = "?" if dialect == "sqlite" else "%s"
        assert compiled.sql.count(mark) == len(compiled.params)


def test_hourly_bins_come_in_order_from_the_hour_index(tmp_path: Path) -> None:
    # bin(TimeGenerated, 1h) groups by a prefix of the stored text, which
    # leads ix_llm_log_hour_usage: no sort of the whole range (B-tree) first.
    conn = sqlite_store.connect(tmp_path / "tollhouse.db")
    register_sqlite_functions(conn)
    rows = [
        (
            f"2026-11-{1 + n // 240:02d}T{n // 10 % 24:02d}:{n % 60:02d}:00.000000Z",
            f"c{n}",
            0,
            10,
            5,
            15,
        )
        for n in range(2400)
    ]
    conn.executemany(
        "INSERT INTO ApiManagementGatewayLlmLog (TimeGenerated, CorrelationId,"
        " SequenceNumber, PromptTokens, CompletionTokens, TotalTokens)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("ANALYZE")
    compiled = _compile(
        "ApiManagementGatewayLlmLog | where TimeGenerated > ago(7d)"
        " | summarize sum(tolong(TotalTokens)) by bin(TimeGenerated, 1h)"
    )
    plan = conn.execute("EXPLAIN QUERY PLAN " + compiled.sql, compiled.params)
    details = " ".join(row[3] for row in plan.fetchall())
    conn.close()
    assert "COVERING INDEX ix_llm_log_hour_usage" in details
    assert "TEMP B-TREE" not in details


def test_a_join_on_a_never_null_key_keeps_the_key_index(tmp_path: Path) -> None:
    # CorrelationId is NOT NULL in the store: no COALESCE(…, '') around it,
    # so the LLM log's unique (CorrelationId, SequenceNumber) index serves.
    conn = sqlite_store.connect(tmp_path / "tollhouse.db")
    register_sqlite_functions(conn)
    compiled = _compile(
        f"{GW} | where TimeGenerated > ago(1d)"
        f" | join kind=inner ({LLM} | where SequenceNumber == 0) on CorrelationId"
        " | summarize sum(TotalTokens) by ApimSubscriptionId"
    )
    plan = conn.execute("EXPLAIN QUERY PLAN " + compiled.sql, compiled.params)
    details = " ".join(row[3] for row in plan.fetchall())
    conn.close()
    assert "\"CorrelationId\", '')" not in compiled.sql
    assert "sqlite_autoindex_ApiManagementGatewayLlmLog_1 (CorrelationId=?" in details


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_left_outer_joins_right_key_may_be_null(dialect: Dialect) -> None:
    # The right side of a leftouter join is NULL where nothing matched: a
    # group by its CorrelationId must fold NULL into "" again.
    compiled = _compile(
        f"{GW} | join kind=leftouter ({LLM}) on CorrelationId"
        " | summarize count() by CorrelationId1",
        dialect,
    )
    assert "COALESCE" in compiled.sql
