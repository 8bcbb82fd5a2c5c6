"""The Python functions SQLite runs for compiled queries."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tollhouse.kql import register_sqlite_functions
from tollhouse.kql import sqlite_functions as f
from tollhouse.kql.deadline import Deadline


@pytest.fixture
def conn() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    register_sqlite_functions(connection)
    return connection


@pytest.mark.parametrize(
    ("value", "term", "found"),
    [
        ("GET /api/models?x=1", "models", 1),
        ("GET /api/models?x=1", "MODELS", 1),
        ("GET /api/modelsx", "models", 0),
        ("foo_bar", "foo", 1),
        ("café au lait", "caf", 0),
        ("Ünïcode Agent", "ünïcode", 1),
        ("a.b.c", "b.c", 1),
        (None, "x", None),
    ],
)
def test_has_matches_whole_terms_in_any_case(
    value: str | None, term: str, found: int | None
) -> None:
    assert f.kql_has(value, term) == found


def test_has_cs_keeps_case() -> None:
    assert f.kql_has_cs("Models list", "Models") == 1
    assert f.kql_has_cs("Models list", "models") == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("-7", -7),
        ("+3", 3),
        ("abc", None),
        ("1.5", None),
        ("", None),
        (" 1", None),
        ("9" * 19, None),
        ("9223372036854775807", 2**63 - 1),
        (None, None),
    ],
)
def test_tolong_is_null_for_text_that_is_not_a_number(
    text: str | None, value: int | None
) -> None:
    assert f.kql_tolong(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.5", 1.5),
        ("-2", -2.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("1e999", None),
        ("nan", None),
        ("x", None),
    ],
)
def test_toreal(text: str, value: float | None) -> None:
    assert f.kql_toreal(text) == value


@pytest.mark.parametrize(
    ("text", "value"), [("true", 1), ("FALSE", 0), ("yes", None), ("1", None)]
)
def test_tobool(text: str, value: int | None) -> None:
    assert f.kql_tobool(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2026-12-03", "2026-12-03T00:00:00.000000Z"),
        ("2026-12-03 04:05:06.5", "2026-12-03T04:05:06.500000Z"),
        ("2026-12-03T04:05Z", "2026-12-03T04:05:00.000000Z"),
        ("2026-02-30", None),
        ("2026-12-03T04:05:06+01:00", None),
        ("soon", None),
    ],
)
def test_todatetime_writes_the_store_format(text: str, value: str | None) -> None:
    assert f.kql_todatetime(text) == value


@pytest.mark.parametrize(
    ("value", "digits", "rounded"),
    [
        (2.5, 0, 3.0),
        (-2.5, 0, -3.0),
        (2.675, 2, 2.68),
        (1.005, 2, 1.01),
        (1234.5678, -2, 1200.0),
        (0.1 + 0.2, 1, 0.3),
        (float("nan"), 1, None),
    ],
)
def test_round_is_half_away_from_zero(
    value: float, digits: int, rounded: float | None
) -> None:
    assert f.kql_round(value, digits) == rounded


def test_split_returns_a_json_array() -> None:
    assert json.loads(f.kql_split("a,b,,c", ",") or "") == ["a", "b", "", "c"]
    assert json.loads(f.kql_split("", ",") or "") == [""]
    assert json.loads(f.kql_split("abc", "") or "") == ["abc"]
    assert f.kql_split(None, ",") is None


def test_regex_dollar_is_the_very_end_and_dot_takes_newlines() -> None:
    assert f.kql_regex("abc\n", "c$") == 0
    assert f.kql_regex("a\nb", "a.b") == 1
    assert f.kql_regex("ABC", "(?i)^abc$") == 1
    assert f.kql_regex("price: $5", "[$]5") == 1


def test_extract() -> None:
    assert f.kql_extract("v([0-9]+)", 1, "api v12 x") == "12"
    assert f.kql_extract("v([0-9]+)", 0, "api v12 x") == "v12"
    assert f.kql_extract("v([0-9]+)", 1, "none") is None
    assert f.kql_extract("(a)|(b)", 2, "a") is None


def test_lower_and_upper_know_unicode() -> None:
    assert f.kql_lower("ÄÖÜ Straße") == "äöü straße"
    assert f.kql_upper("éa") == "ÉA"
    assert f.kql_lower(None) is None


@pytest.mark.parametrize(
    ("values", "percent", "result"),
    [
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4], 51, 3),
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 100, 4),
        ([5], 90, 5),
        ([3, None, 1, 2], 50, 2),
        (["b", "a", "c"], 50, "b"),
        ([], 50, None),
    ],
)
def test_percentile_is_the_nearest_rank(
    conn: sqlite3.Connection, values: list[object], percent: int, result: object
) -> None:
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    row = conn.execute(
        "SELECT kql_percentile(x, ?) FROM t", (percent / 100,)
    ).fetchone()
    assert row[0] == result


def test_functions_are_registered(conn: sqlite3.Connection) -> None:
    row = conn.execute(
        "SELECT kql_lower('Ä'), kql_has('a b', 'B'), kql_tolong('x'), kql_toint('42'),"
        " kql_regex('abc', 'b'), kql_round(2.5, 0), kql_todatetime('2026-01-01')"
    ).fetchone()
    assert row == ("ä", 1, None, 42, 1, 3.0, "2026-01-01T00:00:00.000000Z")


@pytest.mark.parametrize(
    "call",
    [
        "kql_regex('abc', 'b')",
        "kql_extract('(b)', 1, 'abc')",
        "kql_has('a b', 'b')",
        "kql_has_cs('a b', 'b')",
    ],
)
def test_pattern_matches_stop_at_the_deadline(call: str) -> None:
    conn = sqlite3.connect(":memory:")
    deadline = Deadline(0)
    register_sqlite_functions(conn, deadline)

    with pytest.raises(sqlite3.OperationalError):
        conn.execute(f"SELECT {call}").fetchone()

    assert deadline.passed is True


def test_pattern_matches_within_the_deadline(conn: sqlite3.Connection) -> None:
    deadline = Deadline(5)
    register_sqlite_functions(conn, deadline)

    row = conn.execute(
        "SELECT kql_regex('abc', 'b'), kql_extract('(b)', 1, 'abc'),"
        " kql_has('a b', 'B'), kql_has_cs('a b', 'B')"
    ).fetchone()

    assert row == (1, "b", 1, 0)
    assert deadline.passed is False
