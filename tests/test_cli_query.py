"""``tollhouse query``: KQL over a log that real traffic through the gateway wrote."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import SEED_BLOCKED, SEED_DAILY_SUMMARY, RunningGateway
from tollhouse.cli import main
from tollhouse.config import embedded_default

SEED_POLICY = Path(__file__).parent / "policy" / "data" / "seed-ip-restriction.xml"
CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
PROMPTS = ("안녕하세요", "How many tokens is this?", "Tell me a longer story, please.")

BY_CODE = (
    "ApiManagementGatewayLogs | summarize Requests = count() by ResponseCode "
    "| order by ResponseCode asc"
)


@dataclass
class Log:
    data_dir: Path
    usage: list[dict[str, int]]  # as the client received it, per allowed call


def _post(gw: RunningGateway, source: str, prompt: str) -> requests.Response:
    with requests.Session() as session:
        adapter = requests.adapters.HTTPAdapter()
        adapter.init_poolmanager(1, 1, source_address=(source, 0))
        session.mount("http://", adapter)
        return session.post(
            gw.url + CHAT,
            json={"messages": [{"role": "user", "content": prompt}]},
            headers={"api-key": gw.key},
            timeout=10,
        )


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    """Three calls from the office range, two from outside (403 by the policy)."""
    root = tmp_path_factory.mktemp("log")
    policy = SEED_POLICY.read_text(encoding="utf-8")
    for placeholder, value in {
        "YOUR_OFFICE_IP_START": "127.0.0.1",
        "YOUR_OFFICE_IP_END": "127.0.0.1",
        "YOUR_INTERNAL_NETWORK_START": "10.0.0.1",
        "YOUR_INTERNAL_NETWORK_END": "10.255.255.254",
        "YOUR_OPENAI_BACKEND_ID": "mock",
    }.items():
        policy = policy.replace(placeholder, value)
    (root / "policy.xml").write_text(policy, encoding="utf-8")
    config = embedded_default(str(root / "data"))
    api = dataclasses.replace(
        config.apis["azure-openai"], policy_file=str(root / "policy.xml")
    )
    config = dataclasses.replace(config, apis={"azure-openai": api})

    usage = []
    with RunningGateway(config) as gw:
        for prompt in PROMPTS:
            response = _post(gw, "127.0.0.1", prompt)
            assert response.status_code == 200
            usage.append(response.json()["usage"])
        for _ in range(2):
            assert _post(gw, "127.0.0.2", "let me in").status_code == 403
        gw.wait_rows("SELECT 1 FROM ApiManagementGatewayLogs", count=5)
    yield Log(root / "data", usage)


def query(log: Log, *args: str) -> int:
    return main(["query", "--data-dir", str(log.data_dir), *args])


def as_json(capsys: pytest.CaptureFixture[str]) -> Any:
    captured = capsys.readouterr()
    assert captured.err == ""
    return json.loads(captured.out)


# JSON ------------------------------------------------------------------------


def test_json_is_exactly_columns_and_rows(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query(log, "--format", "json", BY_CODE) == 0

    assert as_json(capsys) == {
        "columns": [
            {"name": "ResponseCode", "type": "int"},
            {"name": "Requests", "type": "long"},
        ],
        "rows": [[200, 3], [403, 2]],
    }


def test_the_daily_summary_adds_up_what_was_sent(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query(log, "--format", "json", SEED_DAILY_SUMMARY) == 0

    result = as_json(capsys)
    assert result["columns"] == [
        {"name": "TotalRequests", "type": "long"},
        {"name": "PromptTokensSum", "type": "long"},
        {"name": "CompletionTokensSum", "type": "long"},
        {"name": "TotalTokensSum", "type": "long"},
        {"name": "AvgTokensPerReq", "type": "real"},
    ]
    total = sum(u["total_tokens"] for u in log.usage)
    assert result["rows"] == [
        [
            3,
            sum(u["prompt_tokens"] for u in log.usage),
            sum(u["completion_tokens"] for u in log.usage),
            total,
            pytest.approx(total / 3),
        ]
    ]


def test_the_blocked_requests_projection(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query(log, "--format", "json", SEED_BLOCKED) == 0

    result = as_json(capsys)
    assert [c["name"] for c in result["columns"]] == [
        "TimeGenerated",
        "CallerIpAddress",
        "RequestUrl",
        "ResponseCode",
        "ResponseSize",
        "RequestHeaders",
        "OperationName",
    ]
    assert len(result["rows"]) == 2
    for row in result["rows"]:
        when, caller, url, code, size, headers, operation = row
        assert when.endswith("Z") and len(when) == len("2026-12-03T17:47:24.123456Z")
        assert (caller, code) == ("127.0.0.2", 403)
        assert operation == "Creates a completion for the chat message"
        assert url.endswith(CHAT)
        assert size > 0
        assert isinstance(headers, dict)
        assert "api-key" not in {name.lower() for name in headers}


def test_render_is_kept_and_truncation_said(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"data_dir: {log.data_dir}\nquery: {{max_rows: 2}}\n")
    text = "ApiManagementGatewayLogs | project TimeGenerated, TotalTime"
    assert main(["query", "--config", str(config), "--format", "json", text]) == 0

    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert len(result["rows"]) == 2
    assert result["truncated"] is True
    assert "cut at 2 rows" in captured.err

    chart = BY_CODE + " | render columnchart with (title='By code')"
    assert query(log, "--format", "json", chart) == 0
    result = as_json(capsys)
    assert result["render"]["kind"] == "columnchart"
    assert result["render"]["properties"]["title"] == "By code"
    assert "truncated" not in result


# CSV and table -----------------------------------------------------------


def test_csv_has_a_header_and_dynamic_values_as_json(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SEED_BLOCKED + "| project CallerIpAddress, ResponseCode, RequestHeaders"
    assert query(log, "--format", "csv", text) == 0

    records = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert records[0] == ["CallerIpAddress", "ResponseCode", "RequestHeaders"]
    assert len(records) == 3
    for caller, code, headers in records[1:]:
        assert (caller, code) == ("127.0.0.2", "403")
        parsed = json.loads(headers)
        assert isinstance(parsed, dict)
        compact = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
        assert headers == compact


def test_table_aligns_columns_wide_characters_included(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """ApiManagementGatewayLlmLog
| where SequenceNumber == 0
| project CorrelationId, TotalTokens
| join kind=inner (
    ApiManagementGatewayLlmLog
    | where isnotnull(RequestMessages)
    | project CorrelationId, Prompt = tostring(RequestMessages[0].content)
) on CorrelationId
| project Prompt, TotalTokens
| order by TotalTokens asc"""
    assert query(log, text) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Prompt", "TotalTokens"]
    assert set(lines[1]) == {"-", " "}
    rows = lines[2:]
    assert len(rows) == 3
    assert {row.rsplit("  ", 1)[0].strip() for row in rows} == set(PROMPTS)
    # Every line ends at the same terminal column; 안녕하세요 takes ten.
    widths = {_columns(line) for line in lines}
    assert len(widths) == 1


def _columns(line: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


# Where the query comes from ----------------------------------------------


def test_query_from_stdin_and_from_a_file(
    log: Log,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(BY_CODE))
    assert query(log, "--format", "json", "-") == 0
    from_stdin = as_json(capsys)

    path = tmp_path / "by-code.kql"
    path.write_text(BY_CODE, encoding="utf-8")
    assert query(log, "--format", "json", "--file", str(path)) == 0
    assert as_json(capsys) == from_stdin
    assert from_stdin["rows"] == [[200, 3], [403, 2]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no query given"),
        (["--file", "q.kql", "T"], "not both"),
        (["   "], "the query is empty"),
    ],
)
def test_usage_errors_exit_2(
    log: Log, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query(log, *args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "configuration error" not in err


def test_a_missing_database_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "nothing")
    assert main(["query", "--data-dir", data, "ApiManagementGatewayLogs"]) == 1
    assert "no log database" in capsys.readouterr().err


# Errors ----------------------------------------------------------------------


def test_a_query_error_exits_2_with_a_caret(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "ApiManagementGatewayLogs\n| where NoSuchColumn == 1"
    assert query(log, "--format", "json", text) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    first, source, caret = captured.err.splitlines()[:3]
    assert first.startswith("tollhouse: line 2, column 9: ")
    assert "NoSuchColumn" in first
    assert source == "| where NoSuchColumn == 1"
    assert caret == " " * 8 + "^"


def test_a_syntax_error_says_what_was_expected(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query(log, "ApiManagementGatewayLogs | order ResponseCode") == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == (
        "tollhouse: line 1, column 34: unexpected 'ResponseCode': expected 'by'"
    )


def test_other_errors_list_what_would_fit(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "ApiManagementGatewayLogs | join kind=fullouter (T) on X"
    assert query(log, text) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("expected: anti, inner, innerunique, leftanti,")


def test_the_command_as_a_script_calls_it(log: Log) -> None:
    """The exact interface: exit 0 with one JSON object, exit 2 on a bad query."""
    command = [sys.executable, "-m", "tollhouse", "query", "--data-dir"]
    ok = subprocess.run(
        [*command, str(log.data_dir), "--format", "json", "-"],
        input=BY_CODE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["rows"] == [[200, 3], [403, 2]]

    bad = subprocess.run(
        [*command, str(log.data_dir), "ApiManagementGatewayLogs | summarize by"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "line 1, column" in bad.stderr and "^" in bad.stderr


# PostgreSQL ----------------------------------------------------------------


def test_a_postgres_store_is_queried_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI and the management API read the log where the gateway wrote it."""
    from tests.postgres_schema import temporary_schema
    from tollhouse.config import StoreConfig

    with temporary_schema("cli_query") as dsn:
        config = embedded_default(str(tmp_path / "data"))
        config = dataclasses.replace(
            config, store=StoreConfig(kind="postgres", dsn=dsn)
        )
        yaml_file = tmp_path / "gateway.yaml"
        yaml_file.write_text(
            f"data_dir: {json.dumps(str(tmp_path / 'data'))}\n"
            f"store: {{kind: postgres, dsn: {json.dumps(dsn)}}}\n"
        )
        args = ["query", "--config", str(yaml_file), "--format", "json", BY_CODE]
        with RunningGateway(config) as gw:
            for prompt in PROMPTS[:2]:
                assert _post(gw, "127.0.0.1", prompt).status_code == 200
            _wait_for_postgres_rows(dsn, 2)
            assert main(args) == 0
            assert json.loads(capsys.readouterr().out)["rows"] == [[200, 2]]

            response = requests.post(
                gw.management_url + "/query",
                json={"query": SEED_DAILY_SUMMARY},
                headers={"api-key": gw.admin_key},
                timeout=10,
            )
            assert response.status_code == 200
            assert response.json()["rows"][0][0] == 2


def _wait_for_postgres_rows(dsn: str, count: int) -> None:
    import psycopg

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            found = conn.execute(
                "SELECT to_regclass('\"ApiManagementGatewayLogs\"') IS NOT NULL"
            ).fetchone()
            if found and found[0]:
                (rows,) = conn.execute(
                    'SELECT count(*) FROM "ApiManagementGatewayLogs"'
                ).fetchone() or (0,)
                if rows >= count:
                    return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} gateway log rows in PostgreSQL")
