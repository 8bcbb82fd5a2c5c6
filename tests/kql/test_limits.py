"""The bounds on a query's text, its tree and the SQL it compiles to.

Each case was found to take seconds to minutes, or to run the process out of
recursion, before it was bounded; now each is refused with a message that
says which bound it passed, and where when that is one spot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tollhouse.kql import QueryError, compile_query
from tollhouse.kql.query import Dialect

NOW = datetime(2026, 12, 3, 18, tzinfo=UTC)
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgres")
GW = "ApiManagementGatewayLogs"
NESTED = (
    "line 2, column {column}: the query is nested too deeply: expressions and"
    " subqueries nest at most 20 levels"
)


def _error(text: str, dialect: Dialect) -> QueryError:
    with pytest.raises(QueryError) as caught:
        compile_query(text, dialect, now=NOW, max_rows=100)
    return caught.value


def _compiles(text: str, dialect: Dialect) -> None:
    compile_query(text, dialect, now=NOW, max_rows=100)


def _head(error: QueryError) -> str:
    """The error's first line: its place and message, without the caret."""
    return str(error).splitlines()[0]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_thirty_thousand_lets_are_refused_by_length(dialect: Dialect) -> None:
    text = "".join(f"let x{i} = {i};" for i in range(30_000)) + f"{GW} | count"

    error = _error(text, dialect)

    assert str(error) == "the query is 547812 characters long; the limit is 65536"
    assert (error.line, error.column) == (0, 0)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_twenty_thousand_wheres_are_refused_by_length(dialect: Dialect) -> None:
    text = GW + " | where ResponseCode > 0" * 20_000

    error = _error(text, dialect)

    assert str(error) == "the query is 500024 characters long; the limit is 65536"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_at_most_a_hundred_lets(dialect: Dialect) -> None:
    lets = "".join(f"let x{i} = {i};\n" for i in range(100))
    _compiles(lets + GW, dialect)

    error = _error(lets + "let y = 1;\n" + GW, dialect)

    assert _head(error) == (
        "line 101, column 1: the query has more than 100 let statements"
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_at_most_a_hundred_operators(dialect: Dialect) -> None:
    _compiles(GW + "".join(f"\n| take {n}" for n in range(100)), dialect)

    error = _error(GW + "".join(f"\n| take {n}" for n in range(101)), dialect)

    assert _head(error) == "line 102, column 3: the query has more than 100 operators"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_operators_of_lets_and_subqueries_count_too(dialect: Dialect) -> None:
    text = f"let a = {GW}{' | take 1' * 60};\na | join ({GW}{' | take 1' * 60}) on Url"

    error = _error(text, dialect)

    assert _head(error) == "line 2, column 389: the query has more than 100 operators"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("nested", "deepest", "column"),
    [
        # The pipeline, the comparison and 18 sums make 20 levels.
        (lambda n: "(1 + " * n + "1" + ")" * n + " > 1", 18, 100),
        # The pipeline, the comparison, strlen and 17 strcats.
        (lambda n: "strlen(" + "strcat(" * n + '"a"' + ")" * n + ") > 0", 17, 135),
    ],
    ids=["sums", "calls"],
)
def test_expressions_nest_at_most_twenty_levels(
    dialect: Dialect, nested: Callable[[int], str], deepest: int, column: int
) -> None:
    _compiles(f"{GW}\n| where {nested(deepest)}", dialect)

    error = _error(f"{GW}\n| where {nested(deepest + 1)}", dialect)

    assert _head(error) == NESTED.format(column=column)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_nesting_of_thousands_is_refused_at_the_twenty_first(
    dialect: Dialect,
) -> None:
    text = f"{GW}\n| project x = " + "strcat(" * 5000 + '"a"' + ")" * 5000

    error = _error(text, dialect)

    assert _head(error) == NESTED.format(column=148)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("op", ["and", "or"])
def test_a_chain_of_one_operator_is_one_level(dialect: Dialect, op: str) -> None:
    _compiles(f"{GW} | where " + f" {op} ".join(["ResponseCode > 1"] * 60), dialect)
    _compiles(f"{GW} | extend x = " + " + ".join(["ResponseCode"] * 60), dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_column_made_from_another_twice_over_is_refused(dialect: Dialect) -> None:
    # Each column doubles the SQL of the one before: 2**18 times Url.
    steps = "".join(
        f" | extend a{i} = strcat(a{i - 1}, a{i - 1})" for i in range(1, 19)
    )

    error = _error(f"{GW} | extend a0 = Url{steps} | project a18", dialect)

    assert _head(error) == (
        "line 1, column 382: the query is too large: its expressions come to more"
        " than 50000 parts once the columns and let values they use are written out"
    )


@pytest.mark.parametrize(
    ("dialect", "column"),
    # The stores' SQL differ in size, so each passes the bound at its own spot.
    [("sqlite", 326), ("postgres", 292)],
)
def test_a_let_made_from_another_twice_over_is_refused(
    dialect: Dialect, column: int
) -> None:
    steps = "".join(f"let a{i} = strcat(a{i - 1}, a{i - 1});" for i in range(1, 17))

    error = _error(f"let a0 = 'x';{steps}{GW} | project a16", dialect)

    assert _head(error) == (
        f"line 1, column {column}: the query is too large: its expressions come to more"
        " than 50000 parts once the columns and let values they use are written out"
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_tabular_let_used_twice_over_is_refused(dialect: Dialect) -> None:
    # a7 reads the table 2**7 times.
    steps = "".join(f"let a{i} = union a{i - 1}, a{i - 1};" for i in range(1, 8))

    error = _error(f"let a0 = {GW} | take 1;{steps}a7 | count", dialect)

    assert str(error) == (
        "the query reads more than 64 tables and subqueries once its let"
        " statements are written out where they are used"
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_result_has_at_most_256_columns(dialect: Dialect) -> None:
    join = f" | join ({GW}) on CorrelationId"
    _compiles(GW + join * 4, dialect)

    error = _error(GW + join * 5, dialect)

    assert str(error) == (
        "a result may have at most 256 columns, this one has 270: project the"
        " columns you need"
    )
