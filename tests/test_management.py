"""The management API: its listener, the admin key and ``POST /query``."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import (
    RunningGateway,
    ScriptedBackend,
    default_config,
    scripted_config,
)
from tollhouse.cli import main
from tollhouse.config import (
    GatewayConfig,
    ManagementConfig,
    QueryConfig,
    embedded_default,
)
from tollhouse.kql import run
from tollhouse.management import api

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
HELLO = {"messages": [{"role": "user", "content": "hello"}]}
BY_CODE = (
    "ApiManagementGatewayLogs | summarize Requests = count() by ResponseCode "
    "| order by ResponseCode asc"
)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    """The embedded default with two requests in its log: one 200, one 401."""
    with RunningGateway(default_config(tmp_path / "data")) as running:
        assert running.post(CHAT, HELLO).status_code == 200
        refused = running.post(CHAT, HELLO, headers={"api-key": "nope"})
        assert refused.status_code == 401
        running.wait_rows("SELECT 1 FROM ApiManagementGatewayLogs", count=2)
        yield running


def post_query(
    gw: RunningGateway,
    body: Any,
    *,
    key: str | None = None,
    header: str = "Authorization",
) -> requests.Response:
    headers = {}
    secret = gw.admin_key if key is None else key
    if secret:
        headers[header] = f"Bearer {secret}" if header == "Authorization" else secret
    return requests.post(
        gw.management_url + "/query", json=body, headers=headers, timeout=10
    )


def assert_error(response: requests.Response, status: int, code: str) -> Any:
    """The body in APIM's shape, with the OpenAI/Azure ``error`` object."""
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["statusCode"] == status
    assert body["error"]["code"] == code
    assert body["error"]["message"] == body["message"]
    return body


# The key -------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Authorization", "api-key"])
def test_a_query_with_the_admin_key(gateway: RunningGateway, header: str) -> None:
    response = post_query(gateway, {"query": BY_CODE}, header=header)

    assert response.status_code == 200
    assert response.headers["X-Result-Truncated"] == "false"
    assert response.json() == {
        "columns": [
            {"name": "ResponseCode", "type": "int"},
            {"name": "Requests", "type": "long"},
        ],
        "rows": [[200, 1], [401, 1]],
        "render": None,
        "truncated": False,
    }


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("", "AdminKeyMissing"),
        ("0" * 64, "AdminKeyInvalid"),
        ("subscription", "AdminKeyInvalid"),
    ],
)
def test_no_query_without_the_admin_key(
    gateway: RunningGateway, key: str, code: str
) -> None:
    if key == "subscription":
        key = gateway.key  # a subscription key is no admin key
    response = post_query(gateway, {"query": BY_CODE}, key=key)

    body = assert_error(response, 401, code)
    assert "admin key" in body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_paths_need_the_key_too(gateway: RunningGateway) -> None:
    url = gateway.management_url
    assert_error(requests.get(url + "/nowhere", timeout=5), 401, "AdminKeyMissing")

    auth = {"Authorization": f"Bearer {gateway.admin_key}"}
    assert_error(
        requests.get(url + "/nowhere", headers=auth, timeout=5), 404, "NotFound"
    )
    wrong_method = requests.get(url + "/query", headers=auth, timeout=5)
    assert_error(wrong_method, 405, "MethodNotAllowed")
    assert wrong_method.headers["Allow"] == "POST"


def test_the_key_is_shown_once_and_on_demand(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", gateway.config.data_dir]
    assert main(["admin-key", *data]) == 0
    key = capsys.readouterr().out.strip()
    assert len(key) == 64
    assert f"The admin key, shown this once: {key}" in gateway.output.getvalue()
    assert gateway.key not in key


def test_a_regenerated_key_replaces_the_old_one_at_once(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    old = gateway.admin_key
    data = ["--data-dir", gateway.config.data_dir]
    assert main(["admin-key", "--regenerate", *data]) == 0
    new = capsys.readouterr().out.strip()

    assert new != old
    assert_error(
        post_query(gateway, {"query": BY_CODE}, key=old), 401, "AdminKeyInvalid"
    )
    assert post_query(gateway, {"query": BY_CODE}, key=new).status_code == 200


def test_the_key_survives_a_restart_unannounced(tmp_path: Path) -> None:
    config = default_config(tmp_path / "data")
    with RunningGateway(config) as first:
        key = first.admin_key
    with RunningGateway(config) as second:
        assert second.admin_key == key
        assert "admin key" not in second.output.getvalue()
        assert post_query(second, {"query": BY_CODE}).status_code == 200


# Results -------------------------------------------------------------------


def test_csv_and_table_formats(gateway: RunningGateway) -> None:
    csv = post_query(gateway, {"query": BY_CODE, "format": "csv"})
    assert csv.status_code == 200
    assert csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv.text == "ResponseCode,Requests\r\n200,1\r\n401,1\r\n"

    table = post_query(gateway, {"query": BY_CODE, "format": "table"})
    assert table.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert table.text.splitlines() == [
        "ResponseCode  Requests",
        "------------  --------",
        "         200         1",
        "         401         1",
    ]


def test_render_and_truncation(tmp_path: Path) -> None:
    config = with_query(default_config(tmp_path / "data"), max_rows=1)
    with RunningGateway(config) as gw:
        for _ in range(2):
            gw.post(CHAT, HELLO)
        gw.wait_rows("SELECT 1 FROM ApiManagementGatewayLogs", count=2)

        response = post_query(
            gw, {"query": BY_CODE + " | render piechart with (title='Codes')"}
        )
        assert response.status_code == 200
        assert response.headers["X-Result-Truncated"] == "false"
        assert response.json()["render"]["kind"] == "piechart"

        response = post_query(gw, {"query": "ApiManagementGatewayLogs"})
        assert response.headers["X-Result-Truncated"] == "true"
        result = response.json()
        assert (len(result["rows"]), result["truncated"]) == (1, True)


# Errors --------------------------------------------------------------------


def test_a_query_error_points_at_the_spot(gateway: RunningGateway) -> None:
    text = "ApiManagementGatewayLogs\n| where NoSuchColumn == 1"
    body = assert_error(post_query(gateway, {"query": text}), 400, "InvalidQuery")

    error = body["error"]
    assert (error["line"], error["column"]) == (2, 9)
    assert isinstance(error["expected"], list)
    assert body["message"].startswith("line 2, column 9: ")
    assert body["message"].splitlines()[1:3] == [
        "| where NoSuchColumn == 1",
        " " * 8 + "^",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({}, "'query' must be a non-empty string"),
        ({"query": "  "}, "'query' must be a non-empty string"),
        ({"query": 7}, "'query' must be a non-empty string"),
        ({"query": BY_CODE, "format": "xml"}, "'format' must be"),
        ({"query": BY_CODE, "limit": 5}, "Unknown field 'limit'"),
    ],
)
def test_a_body_that_is_no_query_is_400(
    gateway: RunningGateway, body: Any, message: str
) -> None:
    response = assert_error(post_query(gateway, body), 400, "InvalidRequestBody")
    assert message in response["message"]


def test_text_that_is_not_json_is_400(gateway: RunningGateway) -> None:
    response = requests.post(
        gateway.management_url + "/query",
        data=b"{not json",
        headers={"api-key": gateway.admin_key},
        timeout=5,
    )
    body = assert_error(response, 400, "InvalidRequestBody")
    assert "not valid JSON" in body["message"]


def test_a_huge_body_is_413(tmp_path: Path) -> None:
    config = default_config(tmp_path / "data")
    management = dataclasses.replace(config.management, max_request_bytes=1000)
    with RunningGateway(dataclasses.replace(config, management=management)) as gw:
        padded = BY_CODE + " " * 2000
        body = assert_error(
            post_query(gw, {"query": padded}), 413, "RequestEntityTooLarge"
        )
        assert "1000 bytes" in body["message"]

        # Without a length up front, too: the body is sent in chunks.
        chunks = iter([b'{"query": "', b" " * 1500, b'"}'])
        response = requests.post(
            gw.management_url + "/query",
            data=chunks,
            headers={"api-key": gw.admin_key},
            timeout=5,
        )
        assert_error(response, 413, "RequestEntityTooLarge")


def test_the_time_limit_is_504(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_slow(*args: Any, **kwargs: Any) -> run.QueryResult:
        raise run.time_limit_exceeded(0.5)

    monkeypatch.setattr(api, "run_query", too_slow)
    body = assert_error(
        post_query(gateway, {"query": BY_CODE}), 504, "QueryLimitExceeded"
    )
    assert body["message"] == "Query exceeded the time limit of 0.5 s."


def test_a_real_query_stopped_by_the_time_limit(tmp_path: Path) -> None:
    config = with_query(default_config(tmp_path / "data"), timeout_seconds=0.05)
    with RunningGateway(config) as gw:
        for _ in range(10):
            gw.post(CHAT, HELLO)
        gw.wait_rows("SELECT 1 FROM ApiManagementGatewayLogs", count=10)
        # Ten rows joined with themselves eight times: 10**9 rows to count.
        self_join = (
            "let L = ApiManagementGatewayLogs | project k = 1;"
            "L" + " | join kind=inner (L) on k" * 8 + " | count"
        )
        started = time.monotonic()
        response = post_query(gw, {"query": self_join})
        assert time.monotonic() - started < 5
        assert_error(response, 504, "QueryLimitExceeded")


def test_the_store_failing_is_503(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> run.QueryResult:
        from tollhouse.errors import StoreError

        raise StoreError("disk I/O error")

    monkeypatch.setattr(api, "run_query", broken)
    body = assert_error(
        post_query(gateway, {"query": BY_CODE}), 503, "StoreUnavailable"
    )
    assert "disk I/O error" in body["message"]


# The listener --------------------------------------------------------------


def test_a_slow_query_holds_neither_listener(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = api.run_query

    def slow(*args: Any, **kwargs: Any) -> run.QueryResult:
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "run_query", slow)
    results: list[requests.Response] = []
    waiting = threading.Thread(
        target=lambda: results.append(post_query(gateway, {"query": BY_CODE}))
    )
    waiting.start()
    try:
        time.sleep(0.2)
        started = time.monotonic()
        refused = post_query(gateway, {"query": BY_CODE}, key="wrong")
        chat = gateway.post(CHAT, HELLO)
        assert time.monotonic() - started < 2
        assert (refused.status_code, chat.status_code) == (401, 200)
        assert not results
    finally:
        release.set()
        waiting.join(10)
    assert results[0].status_code == 200


def test_off_unless_configured(tmp_path: Path, backend: ScriptedBackend) -> None:
    assert ManagementConfig().enabled is False
    assert ManagementConfig().host == "127.0.0.1"
    assert embedded_default().management.enabled is True

    config = scripted_config(tmp_path / "data", backend.url)
    with RunningGateway(config) as gw:
        assert gw.gateway.management is None
        assert "admin key" not in gw.output.getvalue()


def with_query(config: GatewayConfig, **limits: Any) -> GatewayConfig:
    return dataclasses.replace(config, query=QueryConfig(**limits))


@pytest.mark.parametrize(
    ("args", "enabled", "port"),
    [
        ([], True, 8081),
        (["--management-port", "9000"], True, 9000),
        (["--no-management"], False, 8081),
    ],
)
def test_serve_options(args: list[str], enabled: bool, port: int) -> None:
    from tollhouse.cli import _parser, load_gateway_config

    parsed = _parser().parse_args(["serve", *args])
    management = load_gateway_config(parsed).management
    assert (management.enabled, management.port, management.host) == (
        enabled,
        port,
        "127.0.0.1",
    )


def test_a_management_port_in_a_file_turns_it_on_from_the_command_line(
    tmp_path: Path,
) -> None:
    from tollhouse.cli import _parser, load_gateway_config

    config = tmp_path / "gateway.yaml"
    config.write_text("management: {port: 9100}\n")
    parsed = _parser().parse_args(["serve", "--config", str(config)])
    assert load_gateway_config(parsed).management.enabled is False
    parsed = _parser().parse_args(
        ["serve", "--config", str(config), "--management-port", "0"]
    )
    assert load_gateway_config(parsed).management.port == 0


def test_admin_key_needs_a_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin-key", "--data-dir", str(tmp_path / "none")]) == 1
    assert "no Tollhouse data" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert api._is_loopback(host) is loopback
