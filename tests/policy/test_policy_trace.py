"""`tollhouse policy trace`: each step of a sample request, and its answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollhouse.cli import main

SEED = Path(__file__).parent / "data" / "seed-ip-restriction-real.xml"
CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    policy = SEED.read_text(encoding="utf-8").replace("YOUR_OPENAI_BACKEND_ID", "mock")
    (tmp_path / "api.xml").write_text(policy, encoding="utf-8")
    file = tmp_path / "gateway.yaml"
    file.write_text(
        "mock_backend: true\n"
        "backends: {mock: {url: 'mock:'}}\n"
        "apis: {azure-openai: {path: openai, backend: mock, policy_file: api.xml}}\n",
        encoding="utf-8",
    )
    return file


def trace(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    status = main(["policy", "trace", *args])
    return status, capsys.readouterr().out.splitlines()


def test_a_refused_caller_shows_the_failure_and_on_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = trace(
        capsys, "--config", str(config), "--caller-ip", "192.0.2.7", CHAT
    )

    assert status == 0
    assert lines[0] == "API azure-openai, operation ChatCompletions_Create"
    steps = [line.split() for line in lines[1:8]]
    assert steps == [
        ["inbound", "api:inbound/ip-filter[1]", "failed:", "CallerIpNotAllowed"],
        ["on-error", "api:on-error/choose[1]/when[1]", "taken"],
        [
            "on-error",
            "api:on-error/choose[1]/when[1]/return-response[1]/set-status[1]",
            "next",
        ],
        [
            "on-error",
            "api:on-error/choose[1]/when[1]/return-response[1]/set-header[1]",
            "next",
        ],
        [
            "on-error",
            "api:on-error/choose[1]/when[1]/return-response[1]/set-body[1]",
            "next",
        ],
        ["on-error", "api:on-error/choose[1]/when[1]/return-response[1]", "return"],
        ["on-error", "api:on-error/choose[1]", "return"],
    ]
    assert (
        "error: ip-filter: CallerIpNotAllowed: Caller IP address 192.0.2.7"
        in (lines[8])
    )
    assert lines[9:11] == ["response: 403 Forbidden", "Content-Type: application/json"]
    assert lines[-1] == (
        '{"error":{"code":"IP_BLOCKED",'
        '"message":"Access denied: Your IP address is not allowed"}}'
    )


def test_an_admitted_caller_is_forwarded_to_the_sample_backend(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = trace(
        capsys,
        "--config",
        str(config),
        "--caller-ip",
        "10.1.2.3",
        "--header",
        "api-key: sk-secret-key",
        "--header",
        "x-team: search",
        "--backend-status",
        "429",
        "--backend-body",
        '{"error": "slow down"}',
        CHAT,
    )

    assert status == 0
    assert [line.split()[-1] for line in lines[1:4]] == ["next", "next", "next"]
    assert lines[4] == (
        "forwarded: POST http://mock-backend/openai/deployments/gpt-4o-deployment/"
        "chat/completions?api-version=2024-10-21 "
        "[x-team: search, Accept-Encoding: identity]"
    )
    assert lines[5] == "response: 429 Too Many Requests"
    assert lines[-1] == '{"error": "slow down"}'
    assert "sk-secret-key" not in "\n".join(lines)


def test_a_path_no_api_serves(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = trace(capsys, "/nowhere")

    assert status == 0
    assert lines[0] == "API -, operation -"
    assert lines[1] == "error: configuration: OperationNotFound: Resource not found"
    assert lines[2] == "response: 404 Not Found"


def test_a_bad_header_option_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["policy", "trace", "--header", "no colon", CHAT]) == 2
    assert "--header: expected 'NAME: VALUE'" in capsys.readouterr().err


def test_on_error_that_returns_nothing_changes_the_errors_own_response(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "api.xml").write_text(
        "<policies><inbound><base /><ip-filter action='allow'>"
        "<address>10.0.0.1</address></ip-filter></inbound>"
        "<backend><base /></backend><outbound><base /></outbound>"
        "<on-error><set-header name='x-blocked' exists-action='override'>"
        "<value>@(context.LastError.Reason)</value></set-header></on-error>"
        "</policies>",
        encoding="utf-8",
    )
    file = tmp_path / "gateway.yaml"
    file.write_text(
        "mock_backend: true\n"
        "backends: {mock: {url: 'mock:'}}\n"
        "apis: {azure-openai: {path: openai, backend: mock, policy_file: api.xml}}\n",
        encoding="utf-8",
    )

    status, lines = trace(
        capsys, "--config", str(file), "--caller-ip", "192.0.2.7", CHAT
    )

    assert status == 0
    assert lines[lines.index("response: 403 Forbidden") + 1 :] == [
        "Content-Type: application/json; charset=utf-8",
        "x-blocked: CallerIpNotAllowed",
        "",
        '{"statusCode":403,'
        '"message":"Caller IP address 192.0.2.7 is not allowed. Access denied."}',
    ]
