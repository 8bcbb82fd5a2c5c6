"""Errors a Log Analytics user meets: what they say was expected, and hints.

Each message is checked in both dialects; a syntax error's expected list is
what the LALR parser would take at that spot, no more.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tollhouse.kql import QueryError, compile_query
from tollhouse.kql.query import Dialect

NOW = datetime(2026, 12, 3, 18, tzinfo=UTC)
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgres")
GW = "ApiManagementGatewayLogs"
LLM = "ApiManagementGatewayLlmLog"


def _error(text: str, dialect: Dialect = "sqlite") -> QueryError:
    with pytest.raises(QueryError) as caught:
        compile_query(text, dialect, now=NOW, max_rows=100)
    return caught.value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{GW} | order ResponseCode", "unexpected 'ResponseCode': expected 'by'"),
        (f"{GW} | where ResponseCode = 200", "unexpected '=': use == to compare"),
        (f"{GW} | summarise count()", "did you mean 'summarize'?"),
        (f"{GW} | sumarize count()", "did you mean 'summarize'?"),
        (f"{GW} | where Url == 'abc", "unterminated string"),
        (f'{GW} | where Url == @"abc', "unterminated string"),
        (
            f"{GW} | where Url hasprefix 'a'",
            "'hasprefix' is not supported; use startswith",
        ),
        (
            f"{GW} | where Url !hassuffix_cs 'a'",
            "'!hassuffix_cs' is not supported; use !endswith_cs",
        ),
        (f"{GW} | search 'x'", "'search' is not supported"),
        ("search 'x'", "'search' is not supported"),
        (f"{GW} | project-reorder Url", "'project-reorder' is not supported"),
        (
            f"{GW} | make-series count() on TimeGenerated step 1h",
            "'make-series' is not supported",
        ),
        (f"{GW} | parse Url with * '/' x", "'parse' is not supported"),
        (f"{GW} | lookup ({LLM}) on CorrelationId", "'lookup' is not supported"),
        (f"{GW} | extend n = toscalar({LLM} | count)", "'toscalar' is not supported"),
        (f"{GW} | extend n = toscalar(1)", "'toscalar' is not supported"),
        (
            f"{GW} | join kind=rightouter ({LLM}) on CorrelationId",
            "join kind 'rightouter' is not supported",
        ),
        (
            f"{GW} | extend t = datetime_add('fortnight', 1, TimeGenerated)",
            "unknown datetime part 'fortnight'",
        ),
        (
            f"{GW} | extend t = datetime_add('day', 1.5, TimeGenerated)",
            "argument 2 of datetime_add()",
        ),
        (f"{GW} | summarize take_any(RequestHeaders)", "argument 1 of take_any()"),
        (f"{GW} | extend d = dayofweek(Url)", "argument 1 of dayofweek()"),
        (
            f"let ids = {LLM} | project CorrelationId, SequenceNumber;"
            f" {GW} | where CorrelationId in (ids)",
            "a tabular argument to in must have one column, not 2",
        ),
        (
            f"let ids = {LLM} | project CorrelationId;"
            f" {GW} | where CorrelationId in~ (ids)",
            "a tabular argument to in~ is not supported",
        ),
        (
            f"let ids = {LLM} | project SequenceNumber;"
            f" {GW} | where CorrelationId in (ids)",
            "cannot compare string with int",
        ),
    ],
)
def test_refused_with_a_message(text: str, message: str) -> None:
    for dialect in DIALECTS:
        assert message in _error(text, dialect).message


def test_after_a_pipe_every_operator_is_expected() -> None:
    error = _error(f"{GW} | 42")
    operators = {
        *("where", "filter", "project", "project-away", "project-rename"),
        *("extend", "summarize", "count", "take", "limit", "top", "order"),
        *("sort", "distinct", "join", "union", "mv-expand", "render"),
    }
    assert set(error.expected) == {f"'{name}'" for name in operators}
    assert error.message.startswith("unexpected '42': expected 'count', ")


def test_after_an_expression_only_what_can_follow_is_expected() -> None:
    error = _error(f"{GW} | where ResponseCode 200")
    assert {"'|'", "'and'", "'or'", "a comparison such as ==", "in"} <= set(
        error.expected
    )
    # These follow an expression elsewhere (order by, (...), x[...]), not here.
    assert not {"'by'", "'asc'", "')'", "']'", "','", "'..'", "'to'"} & set(
        error.expected
    )
