"""Hostile input and misbehaving backends: clear refusals, bounded resources."""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import json
import logging
import socket
from pathlib import Path

import pytest
import requests

from tests.support import (
    DeploymentConfig,
    Reply,
    RunningGateway,
    ScriptedBackend,
    default_config,
    scripted_config,
    secret_key_config,
    sse,
)
from tollhouse import decoding, relay
from tollhouse.config import (
    ApiConfig,
    SubscriptionKeyConfig,
    TimeoutsConfig,
)
from tollhouse.tokens import count_tokens

JSON = (("Content-Type", "application/json"),)
CHAT_REPLY = Reply(
    chunks=(b'{"id":"c1","object":"chat.completion","choices":[]}',), headers=JSON
)
BODY = {"messages": [{"role": "user", "content": "hi"}]}
CHAT = "/openai/deployments/d/chat/completions?api-version=2024-10-21"
JSON_TYPE = "application/json"


def raw_request(
    gateway: RunningGateway,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
) -> tuple[int, bytes, dict[str, str]]:
    """Send ``path`` exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


@pytest.fixture
def allowlisted(tmp_path: Path, backend: ScriptedBackend) -> RunningGateway:
    config = scripted_config(
        tmp_path,
        backend.url,
        api=lambda a: dataclasses.replace(
            a, deployments={"allowed": DeploymentConfig()}
        ),
    )
    running = RunningGateway(config).start()
    yield running  # type: ignore[misc]
    running.stop()


@pytest.mark.parametrize(
    "path",
    [
        "/openai/deployments/allowed%2F..%2Fforbidden/chat/completions?api-version=2024-10-21",
        "/openai/%2e%2e/v1/models",
        "/openai/%2E%2E/v1/chat/completions",
        "/openai/../v1/models",
        "/openai/deployments/allowed/./chat/completions?api-version=2024-10-21",
        "/openai/..%2f..%2fadmin",
        "/openai/deployments/x%5c..%5cy/chat/completions?api-version=2024-10-21",
    ],
)
def test_dot_segments_and_encoded_separators_are_refused(
    allowlisted: RunningGateway, backend: ScriptedBackend, path: str
) -> None:
    status, body, headers = raw_request(
        allowlisted,
        "POST",
        path,
        {"api-key": allowlisted.key},
        json.dumps(BODY).encode(),
    )
    assert status == 400
    assert json.loads(body)["statusCode"] == 400
    row = allowlisted.gateway_row(headers["x-correlation-id"])
    assert row["LastErrorReason"] == "InvalidPath"
    assert backend.seen == []


@pytest.mark.parametrize(
    ("method", "path", "reason"),
    [
        (
            "POST",
            "/openai/deployments/forbidden/chat/completions/",
            "DeploymentNotFound",
        ),
        # Chat completions is a POST: a GET matches no operation at all.
        ("GET", "/openai/deployments/forbidden/chat/completions", "OperationNotFound"),
        ("DELETE", "/openai/deployments/forbidden/files", "DeploymentNotFound"),
        (
            "POST",
            "/openai/deployments/forbidden/extensions/chat/completions",
            "DeploymentNotFound",
        ),
    ],
)
def test_every_path_under_a_deployment_is_allowlisted(
    allowlisted: RunningGateway,
    backend: ScriptedBackend,
    method: str,
    path: str,
    reason: str,
) -> None:
    response = requests.request(
        method,
        allowlisted.url + path + "?api-version=2024-10-21",
        headers={"api-key": allowlisted.key},
        json=BODY,
    )
    assert response.status_code == 404
    assert allowlisted.gateway_row()["LastErrorReason"] == reason
    assert backend.seen == []


@pytest.mark.parametrize("version", ["2024-10-21%0A", "2024-10-21x", "latest"])
def test_malformed_api_version_is_refused(
    allowlisted: RunningGateway, version: str
) -> None:
    status, body, _ = raw_request(
        allowlisted,
        "POST",
        f"/openai/deployments/allowed/chat/completions?api-version={version}",
        {"api-key": allowlisted.key},
        json.dumps(BODY).encode(),
    )
    assert status == 400
    assert "api-version" in json.loads(body)["message"]


def test_protocol_errors_quote_nothing_and_are_logged(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = gateway.key
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            b"POST /openai/deployments/gpt-4o-deployment/chat/completions HTTP/1.1\r\n"
            b"Host: x\r\napi-key: " + key.encode() + b"\x00\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    assert json.loads(body) == {
        "statusCode": 400,
        "message": "The request is not valid HTTP.",
    }
    assert key.encode() not in answer
    row = gateway.gateway_row()
    assert (row["ResponseCode"], row["ErrorKind"]) == (400, "malformed_http")
    assert key not in caplog.text


def test_non_utf8_key_is_just_invalid(gateway: RunningGateway) -> None:
    status, body, _ = raw_request(
        gateway,
        "POST",
        "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21",
        {"api-key": "caf\udce9".encode("utf-8", "surrogateescape").decode("latin-1")},
        json.dumps(BODY).encode(),
    )
    assert status == 401


def test_another_apis_key_header_is_neither_logged_nor_forwarded(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    config = scripted_config(tmp_path, backend.url)
    team = ApiConfig(
        path="team",
        backend="scripted",
        template="passthrough",
        subscription_key=SubscriptionKeyConfig(header="X-Team-Key"),
    )
    config = dataclasses.replace(config, apis={**config.apis, "team": team})
    backend.reply(CHAT_REPLY)
    with RunningGateway(config) as gateway:
        key = gateway.key
        response = requests.post(
            gateway.url
            + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
            headers={"api-key": key, "X-Team-Key": "TEAM-KEY-0099"},
            json=BODY,
        )
        typo = requests.get(
            gateway.url + "/tema/x", headers={"X-Team-Key": "TEAM-KEY-0099"}
        )
        rows = gateway.wait_rows(
            "SELECT RequestHeaders FROM ApiManagementGatewayLogs", count=2
        )
    assert (response.status_code, typo.status_code) == (200, 404)
    assert all("TEAM-KEY-0099" not in r["RequestHeaders"] for r in rows)
    assert all(name.lower() != "x-team-key" for name, _ in backend.seen[0].headers)


def test_whole_response_larger_than_the_cap_is_refused(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    backend.reply(Reply(chunks=(b"x" * 3000, b"y" * 3000), headers=JSON))
    config = scripted_config(
        tmp_path,
        backend.url,
        backend=lambda b: dataclasses.replace(b, max_response_bytes=4096),
    )
    with RunningGateway(config) as gateway:
        response = gateway.post(CHAT, BODY)
        row = gateway.gateway_row(response.headers["x-correlation-id"])
    assert response.status_code == 500
    assert row["LastErrorReason"] == "BackendResponseTooLarge"


def test_a_stalled_body_ends_at_the_total_timeout(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    backend.reply(Reply(chunks=(b'{"id":', b'"c1"}'), headers=JSON, delay=3.0))
    config = scripted_config(
        tmp_path,
        backend.url,
        backend=lambda b: dataclasses.replace(b, timeouts=TimeoutsConfig(total=0.5)),
    )
    with RunningGateway(config) as gateway:
        response = gateway.post(CHAT, BODY)
        row = gateway.gateway_row(response.headers["x-correlation-id"])
    assert response.status_code == 500
    assert (row["LastErrorReason"], row["ErrorKind"]) == ("Timeout", "upstream_timeout")


def test_an_endless_event_ends_the_stream(
    tmp_path: Path, backend: ScriptedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "MAX_EVENT_BYTES", 4096)
    backend.reply(
        Reply(chunks=(b'data: {"id":"' + b"a" * 3000, b"b" * 3000, b"c" * 3000))
    )
    with RunningGateway(scripted_config(tmp_path, backend.url)) as gateway:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            response = requests.post(
                gateway.url + "/openai/deployments/d/chat/completions"
                "?api-version=2024-10-21",
                headers={"api-key": gateway.key},
                json={**BODY, "stream": True},
                stream=True,
            )
            response.content  # noqa: B018 - read to the end
        row = gateway.gateway_row()
    assert (row["ErrorKind"], row["LastErrorReason"]) == (
        "upstream_malformed_event",
        "BackendEventTooLarge",
    )


def test_a_credential_quoted_in_a_stream_is_scrubbed(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    config = secret_key_config(tmp_path, backend.url, "SECRET-BACKEND-7")
    event = (
        '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,'
        '"delta":{"content":"your key is SECRET-BACKEND-7"},"finish_reason":"stop"}]}'
    )
    backend.reply(Reply(chunks=(sse(event, "[DONE]"),)))
    with RunningGateway(config) as gateway:
        response = requests.post(
            gateway.url
            + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
            headers={"api-key": gateway.key},
            json={**BODY, "stream": True},
        )
        rows = gateway.llm_rows(response.headers["x-correlation-id"])
    assert "SECRET-BACKEND-7" not in response.text
    assert "your key is REDACTED" in response.text
    assert all("SECRET-BACKEND-7" not in (r["ResponseMessages"] or "") for r in rows)


def test_a_credential_quoted_in_a_whole_answer_is_scrubbed(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    config = secret_key_config(tmp_path, backend.url, "SECRET-BACKEND-7")
    answer = (
        b'{"id":"c","object":"chat.completion","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"your key is SECRET-BACKEND-7"},'
        b'"finish_reason":"stop"}]}'
    )
    backend.reply(Reply([answer], headers=(("Content-Type", JSON_TYPE),)))
    with RunningGateway(config) as gateway:
        response = gateway.post(CHAT, BODY)
        rows = gateway.llm_rows(response.headers["x-correlation-id"])

    assert response.status_code == 200
    assert response.content == answer.replace(b"SECRET-BACKEND-7", b"REDACTED")
    assert "SECRET-BACKEND-7" not in str(rows)


def test_deeply_nested_prompt_keeps_its_usage_row(gateway: RunningGateway) -> None:
    # Valid JSON nested deeper than Python's json module recurses.
    nested = "[" * 1010 + '"deep"' + "]" * 1010
    body = '{"messages": [{"role": "user", "content": "hi", "extra": ' + nested + "}]}"
    response = requests.post(
        gateway.url + "/openai/deployments/gpt-4o-deployment/chat/completions"
        "?api-version=2024-10-21",
        headers={"api-key": gateway.key, "Content-Type": "application/json"},
        data=body.encode(),
    )
    assert response.status_code == 200
    rows = gateway.llm_rows(response.headers["x-correlation-id"])
    assert rows[0]["SequenceNumber"] == 0
    assert rows[0]["PromptTokens"] == response.json()["usage"]["prompt_tokens"]


def test_gzip_request_body_is_forwarded_decoded(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    backend.reply(CHAT_REPLY)
    with RunningGateway(scripted_config(tmp_path, backend.url)) as gateway:
        response = requests.post(
            gateway.url
            + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
            headers={"api-key": gateway.key, "Content-Encoding": "gzip"},
            data=gzip.compress(json.dumps(BODY).encode()),
        )
        bad = requests.post(
            gateway.url
            + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
            headers={"api-key": gateway.key, "Content-Encoding": "gzip"},
            data=b"not gzip at all",
        )
    assert response.status_code == 200
    assert json.loads(backend.seen[0].body) == BODY
    assert all(
        name.lower() != "content-encoding" for name, _ in backend.seen[0].headers
    )
    assert bad.status_code == 400
    assert bad.json()["statusCode"] == 400


def test_backend_url_credentials_are_not_logged(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    host = backend.url.removeprefix("http://")
    config = scripted_config(
        tmp_path,
        f"http://svc:PASSWORD-9@{host}",
        backend=lambda b: dataclasses.replace(b, url=b.url + "?x-functions-key=FK-123"),
    )
    backend.reply(CHAT_REPLY)
    with RunningGateway(config) as gateway:
        response = gateway.post(CHAT, BODY)
        row = gateway.gateway_row(response.headers["x-correlation-id"])
    assert response.status_code == 200
    assert backend.seen[0].path_qs == (
        "/openai/deployments/d/chat/completions?x-functions-key=FK-123&api-version=2024-10-21"
    )
    assert "PASSWORD-9" not in row["BackendUrl"]
    assert "FK-123" not in row["BackendUrl"]
    assert "x-functions-key=REDACTED" in row["BackendUrl"]


def test_a_backend_url_secret_echoed_back_is_scrubbed(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    config = scripted_config(
        tmp_path,
        backend.url,
        backend=lambda b: dataclasses.replace(b, url=b.url + "?code=QUERYSECRET-1"),
    )
    echo = b'{"error":{"message":"bad code QUERYSECRET-1","code":"denied"}}'
    backend.reply(Reply([echo], status=403, headers=(("Content-Type", JSON_TYPE),)))
    with RunningGateway(config) as gateway:
        response = gateway.post(CHAT, BODY)
        row = gateway.gateway_row(response.headers["x-correlation-id"])

    assert response.status_code == 403
    assert "QUERYSECRET-1" not in response.text
    assert "QUERYSECRET-1" not in str(row)
    assert "bad code REDACTED" in response.text


def test_decoding_a_bomb_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoding, "MAX_DECODED", 1 << 20)
    bomb = gzip.compress(b"\0" * (50 << 20))
    assert decoding.decode_body(bomb, "gzip") == b""
    assert decoding.decode_body(gzip.compress(b"small"), "gzip") == b"small"


def test_long_unbroken_text_is_counted() -> None:
    assert count_tokens("가" * 300_000, "gpt-4o") > 0


def test_client_leaving_mid_body_is_logged_as_499(gateway: RunningGateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            b"POST /openai/deployments/gpt-4o-deployment/chat/completions"
            b"?api-version=2024-10-21 HTTP/1.1\r\nHost: x\r\n"
            b"api-key: " + gateway.key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"messages":'
        )
    row = gateway.gateway_row()
    assert (row["ResponseCode"], row["ClientDisconnected"], row["ErrorKind"]) == (
        499,
        1,
        "client_disconnected",
    )
    assert row["BackendResponseCode"] is None


def _chat_head(gateway: RunningGateway, extra: bytes = b"") -> bytes:
    return (
        b"POST /openai/deployments/gpt-4o-deployment/chat/completions"
        b"?api-version=2024-10-21 HTTP/1.1\r\nHost: x\r\n"
        b"api-key: " + gateway.key.encode() + b"\r\n"
        b"Content-Type: application/json\r\n" + extra
    )


def test_expect_100_continue_is_answered_before_the_body(
    gateway: RunningGateway,
) -> None:
    body = json.dumps(BODY).encode()
    head = _chat_head(
        gateway,
        b"Expect: 100-continue\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body),
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(64)
        sock.sendall(body)
        answer = sock.makefile("rb").readline()

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert answer == b"HTTP/1.1 200 OK\r\n"
    assert gateway.gateway_row()["ResponseCode"] == 200


def test_a_body_that_never_comes_ends_in_408(tmp_path: Path) -> None:
    config = default_config(tmp_path / "data")
    listener = dataclasses.replace(config.listener, body_timeout=0.3)
    with RunningGateway(dataclasses.replace(config, listener=listener)) as gw:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            sock.sendall(_chat_head(gw, b"Content-Length: 100\r\n\r\n" + b'{"m'))
            answer = sock.makefile("rb").readline()
        row = gw.gateway_row()

    assert answer == b"HTTP/1.1 408 Request Timeout\r\n"
    assert (row["ResponseCode"], row["LastErrorReason"], row["RequestSize"]) == (
        408,
        "RequestTimeout",
        3,
    )
    assert row["BackendResponseCode"] is None


@pytest.mark.parametrize("path", ["/nothing", CHAT.replace("/d/", "/gpt-4o/")])
def test_an_unread_body_that_does_not_decode_logs_no_error(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    response = requests.post(
        gateway.url + path,
        data=b"not gzip at all",
        headers={"Content-Encoding": "gzip", "api-key": "0" * 32},
        timeout=10,
    )
    gateway.gateway_row(response.headers["x-correlation-id"])

    assert response.status_code in (401, 404)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
