"""The dashboard's Query page: run KQL, see errors, export results."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import requests

from tests.dashboard_support import csrf_token, login
from tests.management_support import ENVIRON, secured_config, secured_gateway
from tests.support import RunningGateway
from tollhouse.config import QueryConfig
from tollhouse.dashboard.query import (
    EXAMPLES,
    SHOWN_ROWS,
    SUGGESTED_ROWS,
    Outcome,
    _shown,
    chart,
    example,
    suggested_chart,
)
from tollhouse.kql.query import Column, Render, compile_query
from tollhouse.kql.run import QueryResult

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
HELLO = {"messages": [{"role": "user", "content": "Hello <there> & welcome"}]}
BY_CODE = (
    "ApiManagementGatewayLogs | summarize Requests = count() by ResponseCode"
    " | order by ResponseCode asc"
)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


def run(
    gw: RunningGateway,
    browser: requests.Session,
    text: str,
    *,
    path: str = "/dashboard/query",
    htmx: bool = True,
    **fields: str,
) -> requests.Response:
    data = {"csrf_token": csrf_token(gw, browser), "query": text, **fields}
    headers = {"HX-Request": "true"} if htmx else {}
    return browser.post(
        gw.management_url + path,
        data=data,
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )


def send_chat(gw: RunningGateway, count: int = 1) -> None:
    for _ in range(count):
        assert gw.post(CHAT, HELLO).status_code == 200
    gw.wait_rows("SELECT 1 FROM ApiManagementGatewayLogs", count=count)


def test_the_page_lists_tables_columns_and_examples(gateway: RunningGateway) -> None:
    browser = login(gateway)

    page = browser.get(gateway.management_url + "/dashboard/query", timeout=10)

    assert page.status_code == 200
    assert 'href="/dashboard/query" aria-current="page"' in page.text
    assert 'data-insert="ApiManagementGatewayLlmLog"' in page.text
    assert 'data-insert="LastErrorReason"' in page.text
    for name, title in EXAMPLES:
        assert f'href="/dashboard/query?example={name}">{title}</a>' in page.text
    assert "summarize\nTotalRequests = count()" in page.text  # the default


@pytest.mark.parametrize(("name", "_"), EXAMPLES)
def test_every_example_compiles(name: str, _: str) -> None:
    compile_query(example(name), "sqlite", now=datetime.now(UTC), max_rows=10)


def test_the_shipped_examples_are_the_walkthroughs(tmp_path: Path) -> None:
    data = Path(__file__).parent / "data"
    for name in ("daily-summary", "blocked-requests"):
        assert example(name) == (data / f"seed-{name}.kql").read_text()


def test_a_query_shows_its_rows(gateway: RunningGateway) -> None:
    send_chat(gateway)
    browser = login(gateway)

    response = run(gateway, browser, example("daily-summary"))

    assert response.status_code == 200
    assert "<html" not in response.text  # the fragment htmx swaps in
    assert '<th class="num" title="long">TotalRequests</th>' in response.text
    assert '<td class="num"><div class="cell short">1</div></td>' in response.text
    assert "1 row in" in response.text
    assert "Truncated" not in response.text


def test_cells_are_escaped_and_dynamic_values_compact_json(
    gateway: RunningGateway,
) -> None:
    send_chat(gateway)
    browser = login(gateway)
    text = (
        "ApiManagementGatewayLlmLog | where isnotnull(RequestMessages)"
        " | project RequestMessages"
    )

    response = run(gateway, browser, text)

    assert "&lt;there&gt; &amp; welcome" in response.text
    assert "<there>" not in response.text
    assert "[{&#34;role&#34;:&#34;user&#34;," in response.text


def test_a_chart_is_described_for_render(gateway: RunningGateway) -> None:
    send_chat(gateway)
    browser = login(gateway)

    response = run(gateway, browser, example("requests-by-status"))

    assert 'class="chart" data-chart="{' in response.text
    assert "&#34;kind&#34;:&#34;column&#34;" in response.text
    assert "&#34;labels&#34;:[&#34;200&#34;]" in response.text


def test_without_htmx_the_whole_page_comes_back(gateway: RunningGateway) -> None:
    browser = login(gateway)

    response = run(gateway, browser, BY_CODE, htmx=False)

    assert response.status_code == 200
    assert "<html" in response.text
    assert "The query returned no rows." in response.text
    assert "by ResponseCode" in response.text  # the query stays in the editor


def test_an_error_points_at_the_spot_with_a_caret(gateway: RunningGateway) -> None:
    browser = login(gateway)
    text = "ApiManagementGatewayLogs\n| where NoSuchColumn == 1"

    response = run(gateway, browser, text)

    assert response.status_code == 200
    assert 'role="alert"' in response.text
    assert "line 2, column 9: unknown column &#39;NoSuchColumn&#39;" in response.text
    assert '<pre class="caret">| where NoSuchColumn == 1\n        ^</pre>' in (
        response.text
    )


def test_a_run_without_the_csrf_token_is_refused(gateway: RunningGateway) -> None:
    browser = login(gateway)

    response = browser.post(
        gateway.management_url + "/dashboard/query",
        data={"query": BY_CODE},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert "ResponseCode" not in response.text


def test_export_as_csv(gateway: RunningGateway) -> None:
    send_chat(gateway, 2)
    browser = login(gateway)

    response = run(
        gateway, browser, BY_CODE, path="/dashboard/query/export", format="csv"
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="query.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [["ResponseCode", "Requests"], ["200", "2"]]


def test_export_as_json(gateway: RunningGateway) -> None:
    send_chat(gateway)
    browser = login(gateway)
    text = BY_CODE + " | render piechart with (title = 'Codes')"

    response = run(
        gateway, browser, text, path="/dashboard/query/export", format="json"
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert orjson.loads(response.content) == {
        "columns": [
            {"name": "ResponseCode", "type": "int"},
            {"name": "Requests", "type": "long"},
        ],
        "rows": [[200, 1]],
        "render": {"kind": "piechart", "properties": {"title": "Codes"}},
    }


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        (BY_CODE, "xml", "Export as csv or json."),
        ("ApiManagementGatewayLogs | where", "csv", "line 1, column"),
    ],
)
def test_a_bad_export_is_refused(
    gateway: RunningGateway, text: str, fmt: str, message: str
) -> None:
    browser = login(gateway)

    response = run(gateway, browser, text, path="/dashboard/query/export", format=fmt)

    assert response.status_code == 400
    assert message in response.text


def test_an_export_without_the_csrf_token_is_refused(
    gateway: RunningGateway,
) -> None:
    browser = login(gateway)

    response = browser.post(
        gateway.management_url + "/dashboard/query/export",
        data={"query": BY_CODE, "format": "csv"},
        timeout=10,
    )

    assert response.status_code == 403


def test_a_truncated_result_says_so(tmp_path: Path) -> None:
    config = secured_config(tmp_path / "data")
    config = dataclasses.replace(config, query=QueryConfig(max_rows=1))
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        send_chat(gw, 2)
        browser = login(gw)

        response = run(gw, browser, "ApiManagementGatewayLogs | project Method")

        assert 'class="notice"' in response.text
        assert "the result was cut at 1 rows" in response.text
        assert response.text.count('<td><div class="cell short">POST</div></td>') == 1
    finally:
        gw.stop()


def result_of(columns: list[tuple[str, str]], rows: list[list[object]]) -> QueryResult:
    return QueryResult(
        columns=tuple(Column(name, kind) for name, kind in columns),
        rows=rows,
        render=None,
        truncated=False,
        elapsed=0.0,
    )


def test_a_result_over_time_suggests_a_line() -> None:
    day = datetime(2026, 12, 4, tzinfo=UTC)
    result = result_of(
        [("TimeGenerated", "datetime"), ("Model", "string"), ("Tokens", "long")],
        [[day, "gpt-4o", 30], [day, "gpt-4o-mini", None]],
    )

    assert suggested_chart(result) == {
        "kind": "line",
        "title": "",
        "time": True,
        "labels": [day, day],
        "series": [{"name": "Tokens", "values": [30, None]}],
    }


def test_a_result_by_name_suggests_columns_of_every_number() -> None:
    result = result_of(
        [("Code", "int"), ("Caller", "string"), ("Share", "real"), ("On", "bool")],
        [[200, "10.0.0.1", 0.5, True], [403, "10.0.0.2", 0.25, False]],
    )

    assert suggested_chart(result) == {
        "kind": "column",
        "title": "",
        "time": False,
        "labels": ["10.0.0.1", "10.0.0.2"],
        "series": [
            {"name": "Code", "values": [200, 403]},
            {"name": "Share", "values": [0.5, 0.25]},
        ],
    }


def test_without_a_label_column_the_first_number_labels_the_rest() -> None:
    result = result_of([("Code", "int"), ("Requests", "long")], [[200, 4], [403, 1]])

    drawn = suggested_chart(result)

    assert drawn is not None
    assert drawn["labels"] == ["200", "403"]
    assert drawn["series"] == [{"name": "Requests", "values": [4, 1]}]


def test_one_row_of_numbers_is_a_bar_per_column() -> None:
    result = result_of(
        [("TotalRequests", "long"), ("TotalTokensSum", "long"), ("Avg", "real")],
        [[6, 420, 70.0]],
    )

    assert suggested_chart(result) == {
        "kind": "column",
        "title": "",
        "time": False,
        "labels": ["TotalRequests", "TotalTokensSum", "Avg"],
        "series": [{"name": "Value", "values": [6, 420, 70.0]}],
    }


def test_a_render_without_rows_draws_nothing() -> None:
    result = dataclasses.replace(
        result_of([("Reason", "string"), ("Count", "long")], []),
        render=Render("piechart", {}),
    )

    assert chart(result) is None


def test_a_lone_number_is_drawn_over_the_row_numbers() -> None:
    result = result_of([("Requests", "long")], [[4], [7]])

    drawn = suggested_chart(result)

    assert drawn is not None
    assert drawn["labels"] == ["1", "2"]


@pytest.mark.parametrize(
    "result",
    [
        result_of([("Caller", "string")], [["10.0.0.1"]]),
        result_of([("Requests", "long")], []),
        result_of([("Requests", "long")], [[n] for n in range(SUGGESTED_ROWS + 1)]),
    ],
    ids=["no-number", "no-rows", "too-many-rows"],
)
def test_no_chart_is_suggested_for(result: QueryResult) -> None:
    assert suggested_chart(result) is None


def test_the_page_offers_the_chart_only_without_render(
    gateway: RunningGateway,
) -> None:
    send_chat(gateway)
    browser = login(gateway)

    plain = run(gateway, browser, BY_CODE)
    rendered = run(gateway, browser, example("requests-by-status"))

    assert '<details class="panel chart-panel suggested-chart">' in plain.text
    # One row of numbers: a bar per column.
    assert "&#34;labels&#34;:[&#34;ResponseCode&#34;,&#34;Requests&#34;]" in plain.text
    assert "suggested-chart" not in rendered.text


def test_the_table_shows_the_first_rows_of_a_large_result() -> None:
    result = result_of([("N", "long")], [[n] for n in range(SHOWN_ROWS + 500)])

    shown = _shown(Outcome(result=result))["result"]

    assert shown["count"] == SHOWN_ROWS + 500
    assert shown["rows"] == [[str(n)] for n in range(SHOWN_ROWS)]
