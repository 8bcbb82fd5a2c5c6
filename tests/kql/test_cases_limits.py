"""The row cap, the time limit, compile errors and injection attempts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from .cases import GW, LLM, G, run
from .fixture import LLM_ROWS
from .test_cases_filters import CASES as FILTERS
from .test_cases_functions import CASES as FUNCTIONS
from .test_cases_joins import CASES as JOINS
from .test_cases_summarize import CASES as SUMMARIES
from .test_cases_time import CASES as TIMES


def test_there_are_enough_cases() -> None:
    cases = [*FILTERS, *FUNCTIONS, *SUMMARIES, *JOINS, *TIMES]
    assert len(cases) >= 120
    assert len({c.id for c in cases}) == len(cases)


# Limits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "max_rows", "count", "truncated"),
    [
        pytest.param(f"{GW} | project CorrelationId", 5, 5, True, id="over-cap"),
        pytest.param(f"{GW} | take 5", 5, 5, False, id="exactly-cap"),
        pytest.param(f"{GW} | take 3", 5, 3, False, id="under-cap"),
        pytest.param(f"{GW} | count", 1, 1, False, id="one-row"),
    ],
)
def test_row_cap(
    engine: Any, query: str, max_rows: int, count: int, truncated: bool
) -> None:
    result = run(engine, query, max_rows=max_rows)

    assert len(result.rows) == count
    assert result.truncated is truncated


# Errors ---------------------------------------------------------------------------


class _NoSqlEngine:
    """An engine that fails the test if any SQL reaches it."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def fetch(self, sql: str, params: Sequence[object], **_: Any) -> list[Any]:
        raise AssertionError(f"SQL ran for a query that should not compile: {sql}")

    def close(self) -> None:
        pass


ERROR_CASES = [
    pytest.param(
        f"{GW} | where ResponseCode == == 200", 1, 50, None, id="operator-twice"
    ),
    pytest.param(
        f"{GW}\n| whre ResponseCode == 200", 2, 3, "where", id="unknown-operator"
    ),
    pytest.param("ApiManagementGatewayLog\n| take 1", 1, 1, GW, id="unknown-table"),
    pytest.param(
        f"{GW}\n| where ResponseCod == 200", 2, 9, "ResponseCode", id="unknown-column"
    ),
    pytest.param(
        f"{GW} | project Method | where ResponseCode == 200",
        1,
        51,
        "Method",
        id="column-projected-away",
    ),
    pytest.param(
        f"{LLM} | where ResponseCode == 200", 1, 36, None, id="column-of-other-table"
    ),
    pytest.param(
        f"{GW}\n| project-away Method\n| where Method == 'GET'",
        3,
        9,
        "Url",
        id="column-removed-by-project-away",
    ),
    pytest.param(
        f"{GW} | summarize n = count() by Method | where Url == 'x'",
        1,
        68,
        "n",
        id="column-removed-by-summarize",
    ),
    pytest.param(
        f"{GW} | extend x = tolowr(Method)", 1, 39, "tolower", id="unknown-function"
    ),
    pytest.param(f'{GW} | where Method == "GET', 1, 44, None, id="unterminated-string"),
    pytest.param(f"{GW} | where", 1, 33, None, id="end-of-input"),
    pytest.param(f"{GW}\n| take 10 )", 2, 11, None, id="unbalanced-parenthesis"),
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
@pytest.mark.parametrize(("query", "line", "column", "expects"), ERROR_CASES)
def test_error(
    dialect: str, query: str, line: int, column: int, expects: str | None
) -> None:
    from tollhouse.errors import QueryError

    with pytest.raises(QueryError) as caught:
        run(_NoSqlEngine(dialect), query)

    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert error.expected, "the error says what was expected"
    if expects is not None:
        assert expects in [e.strip("'\"") for e in error.expected]
    head, source_line, caret = str(error).split("\n")
    assert head.startswith(f"line {line}, column {column}: ")
    assert source_line == query.splitlines()[line - 1]
    assert caret == " " * (column - 1) + "^"


# Injection attempts -------------------------------------------------------------

_EVIL = 'x"; DROP TABLE ApiManagementGatewayLogs; --'

INJECTION_CASES = [
    pytest.param(
        f'{GW} | where UserId == "x\'; DROP TABLE {GW}; --" | count',
        [[0]],
        id="double-quoted-literal",
    ),
    pytest.param(
        f"{GW} | where UserId == 'x\"); DELETE FROM {LLM}; --' | count",
        [[0]],
        id="single-quoted-literal",
    ),
    pytest.param(
        f"{GW} | where Method == \"GET' OR '1'='1\" | count",
        [[0]],
        id="or-always-true",
    ),
    pytest.param(
        f"{GW} | where Method has \"'; UPDATE {GW} SET Method = 'X'; --\" | count",
        [[0]],
        id="has-literal",
    ),
    pytest.param(
        f'{GW} | where Method matches regex "\'.*" | count',
        [[0]],
        id="regex-literal",
    ),
    pytest.param(
        f'{GW} | where UserId in ("\') OR 1=1 --", @"\\"") OR 1=1 --") | count',
        [[0]],
        id="in-list-literals",
    ),
    pytest.param(
        f"{GW} | where CorrelationId == \"c01\" | extend ['{_EVIL}'] = 1"
        f" | project ['{_EVIL}']",
        [[1]],
        id="bracketed-identifier",
    ),
    pytest.param(
        f'{GW} | where CorrelationId == "c03"'
        ' | project-rename ["Method) FROM x; DROP TABLE y; --"] = Method'
        ' | project ["Method) FROM x; DROP TABLE y; --"]',
        [["GET"]],
        id="renamed-identifier",
    ),
    pytest.param(
        f'let ["s\'; DROP TABLE {GW}; --"] = "sub-delta";\n'
        f'{GW} | where ApimSubscriptionId =~ ["s\'; DROP TABLE {GW}; --"] | count',
        [[1]],
        id="let-name",
    ),
]


@pytest.mark.parametrize(("query", "rows"), INJECTION_CASES)
def test_injection_is_data(
    engine: Any, table_counts: Callable[[], Any], query: str, rows: list[Any]
) -> None:
    before = table_counts()

    result = run(engine, query)

    assert result.rows == rows
    assert table_counts() == before == {GW: len(G), LLM: len(LLM_ROWS)}


def test_injected_identifier_is_the_column_name(engine: Any) -> None:
    result = run(engine, INJECTION_CASES[6].values[0])

    assert [(c.name, c.type) for c in result.columns] == [(_EVIL, "long")]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(f"{GW} | count; DROP TABLE {GW}", id="second-statement"),
        pytest.param(f"['{GW}; DROP TABLE {GW}'] | count", id="table-name"),
        pytest.param(f"{GW} | project ['{_EVIL}']", id="unknown-column"),
        pytest.param(f"{GW} | where 1 == 1) or (1 == 1", id="unbalanced"),
        pytest.param(f"{GW} | take 1 -- comment", id="sql-comment"),
    ],
)
def test_injection_refused(
    engine: Any, table_counts: Callable[[], Any], query: str
) -> None:
    from tollhouse.errors import QueryError

    before = table_counts()

    with pytest.raises(QueryError):
        run(engine, query)

    assert table_counts() == before


def test_time_limit(engine: Any) -> None:
    from tollhouse.errors import QueryLimitExceeded

    one = f"({GW} | project k = 1)"
    query = f"{GW} | project k = 1" + f" | join kind=inner {one} on k" * 4 + " | count"

    with pytest.raises(QueryLimitExceeded) as caught:
        run(engine, query, timeout=0.2)

    assert str(caught.value) == "Query exceeded the time limit of 0.2 s."
