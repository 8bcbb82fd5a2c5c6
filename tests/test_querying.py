"""How the surfaces print a query result: JSON, CSV and the aligned table."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tollhouse.kql import Column, Render
from tollhouse.kql.run import QueryResult
from tollhouse.querying import (
    MAX_CELL_WIDTH,
    format_csv,
    format_json,
    format_table,
    result_document,
)

COLUMNS = (
    Column("When", "datetime"),
    Column("Caller", "string"),
    Column("Code", "int"),
    Column("Time", "real"),
    Column("Ok", "bool"),
    Column("Headers", "dynamic"),
)
ROWS: list[list[Any]] = [
    ["2026-12-03T17:47:24.123456Z", "10.0.0.1", 200, 12.5, True, {"a": [1, "é"]}],
    [None, "안녕", 403, None, False, "not json"],
]


def result(
    rows: list[list[Any]] = ROWS,
    *,
    render: Render | None = None,
    truncated: bool = False,
    columns: tuple[Column, ...] = COLUMNS,
) -> QueryResult:
    return QueryResult(columns, rows, render, truncated, 0.01)


def test_the_document_has_columns_and_rows_only_when_nothing_else_applies() -> None:
    document = json.loads(format_json(result()))
    assert document == {
        "columns": [{"name": c.name, "type": c.type} for c in COLUMNS],
        "rows": ROWS,
    }


def test_render_and_truncated_when_they_apply() -> None:
    render = Render("timechart", {"title": "Tokens", "xcolumn": "When"})
    document = result_document(result(render=render, truncated=True))
    assert document["render"] == {
        "kind": "timechart",
        "properties": {"title": "Tokens", "xcolumn": "When"},
    }
    assert document["truncated"] is True


def test_the_complete_document_always_has_render_and_truncated() -> None:
    document = result_document(result(), complete=True)
    assert (document["render"], document["truncated"]) == (None, False)


def test_csv() -> None:
    records = list(csv.reader(io.StringIO(format_csv(result()))))
    assert records == [
        ["When", "Caller", "Code", "Time", "Ok", "Headers"],
        [
            "2026-12-03T17:47:24.123456Z",
            "10.0.0.1",
            "200",
            "12.5",
            "true",
            '{"a":[1,"é"]}',
        ],
        ["", "안녕", "403", "", "false", "not json"],
    ]


def test_csv_quotes_what_needs_quoting() -> None:
    text = format_csv(result([["a,b", 'say "hi"\nthere']], columns=COLUMNS[:2]))
    assert text == 'When,Caller\r\n"a,b","say ""hi""\nthere"\r\n'


def test_table_aligns_and_right_aligns_numbers() -> None:
    lines = format_table(result()).splitlines()
    assert lines == [
        "When                         Caller    Code  Time  Ok     Headers",
        "---------------------------  --------  ----  ----  -----  -------------",
        '2026-12-03T17:47:24.123456Z  10.0.0.1   200  12.5  true   {"a":[1,"é"]}',
        "                             안녕       403        false  not json",
    ]


def test_an_empty_result_is_a_header_and_a_rule() -> None:
    assert format_table(result([])).splitlines() == [
        "When  Caller  Code  Time  Ok  Headers",
        "----  ------  ----  ----  --  -------",
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("two\nlines", "two\\nlines"),
        ("tab\there", "tab\\there"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("\x9b", "\\x9b"),
    ],
)
def test_table_shows_control_characters_escaped(value: str, shown: str) -> None:
    table = format_table(result([[value]], columns=(Column("Text", "string"),)))
    assert table.splitlines()[2] == shown


def test_table_cuts_long_cells() -> None:
    long = "x" * 500
    wide = "가" * 100
    table = format_table(
        result([[long, wide]], columns=(Column("A", "string"), Column("B", "string")))
    )
    row = table.splitlines()[2]
    a, b = row.split("  ")
    assert a == "x" * (MAX_CELL_WIDTH - 1) + "…"
    assert b == "가" * ((MAX_CELL_WIDTH - 1) // 2) + "…"
