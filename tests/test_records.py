"""End to end: the gateway log's RequestBody and ResponseBody (`tollhouse.records`).

An API's diagnostics ``body_bytes`` keeps that many bytes of the client's
request body and of the response body the client got, as text: decoded when
the backend compressed it, cut on a character boundary, secrets scrubbed.
An error body the diagnostics always log still fills ResponseBody whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import (
    JSON,
    Reply,
    RunningGateway,
    ScriptedBackend,
    chat_body,
    chat_chunks,
    pick,
    scripted_config,
    secret_key_config,
)
from tollhouse.config import DiagnosticsConfig

Start = Callable[..., RunningGateway]

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
REQUEST = b'{"messages":[{"role":"user","content":"Say hello"}]}'
ANSWER = chat_body("Hello")
STREAM = b"".join(chat_chunks("Hel", "lo"))
GZIP = (*JSON, ("Content-Encoding", "gzip"))
SSE_GZIP = (("Content-Type", "text/event-stream"), ("Content-Encoding", "gzip"))
# Its status and message, as the backend refuses a request.
REFUSAL = (
    b'{"error":{"message":"Invalid \'messages\': empty array",'
    b'"type":"invalid_request_error","code":"empty_array"}}'
)
BACKEND_KEY = "sk-backend-0123456789abcdef"


@pytest.fixture
def start(tmp_path: Path, backend: ScriptedBackend) -> Iterator[Start]:
    """Starts a gateway in front of ``backend`` with the diagnostics given."""
    with contextlib.ExitStack() as stack:

        def start(
            body_bytes: int = 0,
            *,
            always_log_errors: bool = True,
            api: DiagnosticsConfig | None = None,
            policy: str | None = None,
            backend_key: str | None = None,
        ) -> RunningGateway:
            data = tmp_path / "data"
            if backend_key is None:
                config = scripted_config(data, backend.url)
            else:
                config = secret_key_config(data, backend.url, backend_key)
            api_config = config.apis["azure-openai"]
            if api is not None:
                api_config = dataclasses.replace(api_config, diagnostics=api)
            if policy is not None:
                path = tmp_path / "api.xml"
                path.write_text(policy, encoding="utf-8")
                api_config = dataclasses.replace(api_config, policy_file=str(path))
            diagnostics = DiagnosticsConfig(
                body_bytes=body_bytes, always_log_errors=always_log_errors
            )
            config = dataclasses.replace(
                config, diagnostics=diagnostics, apis={"azure-openai": api_config}
            )
            return stack.enter_context(RunningGateway(config))

        yield start


def bodies(gw: RunningGateway) -> dict[str, Any]:
    """The latest gateway log row's RequestBody and ResponseBody."""
    return pick(gw.gateway_row(), {"RequestBody": None, "ResponseBody": None})


# Whole responses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body_bytes", "expected"),
    [
        (0, {"RequestBody": None, "ResponseBody": None}),
        (16, {"RequestBody": '{"messages":[{"r', "ResponseBody": '{"id":"c14","obj'}),
        (8192, {"RequestBody": REQUEST.decode(), "ResponseBody": ANSWER.decode()}),
    ],
)
def test_the_start_of_each_body_is_kept(
    start: Start, backend: ScriptedBackend, body_bytes: int, expected: dict[str, Any]
) -> None:
    backend.reply(Reply([ANSWER], headers=JSON))
    gw = start(body_bytes)

    response = gw.post(AZURE_CHAT, REQUEST)

    assert response.content == ANSWER
    assert backend.seen[0].body == REQUEST
    assert bodies(gw) == expected


@pytest.mark.parametrize(
    ("global_bytes", "api", "expected"),
    [
        # The API's own setting wins, larger or smaller.
        (8, DiagnosticsConfig(body_bytes=16), ('{"messages":[{"r', '{"id":"c14","obj')),
        (16, DiagnosticsConfig(body_bytes=8), ('{"messag', '{"id":"c')),
        # An API that says 0 keeps nothing, whatever the global setting.
        (
            16,
            DiagnosticsConfig(body_bytes=0, given=frozenset({"body_bytes"})),
            (None, None),
        ),
        # An API that says nothing takes the global setting.
        (16, DiagnosticsConfig(), ('{"messages":[{"r', '{"id":"c14","obj')),
    ],
)
def test_an_apis_body_bytes_overrides_the_global_one(
    start: Start,
    backend: ScriptedBackend,
    global_bytes: int,
    api: DiagnosticsConfig,
    expected: tuple[str | None, str | None],
) -> None:
    backend.reply(Reply([ANSWER], headers=JSON))
    gw = start(global_bytes, api=api)

    gw.post(AZURE_CHAT, REQUEST)

    request_body, response_body = expected
    assert bodies(gw) == {"RequestBody": request_body, "ResponseBody": response_body}


# Text: characters and secrets ----------------------------------------------------

KOREAN = '{"messages":[{"role":"user","content":"안녕하세요"}]}'.encode()
OPENING = '{"messages":[{"role":"user","content":"'  # 39 bytes, then 3 per syllable


@pytest.mark.parametrize(
    ("body_bytes", "expected"),
    [
        (39, OPENING),
        (40, OPENING),
        (41, OPENING),
        (42, OPENING + "안"),
        (44, OPENING + "안"),
        (45, OPENING + "안녕"),
    ],
)
def test_a_cut_never_splits_a_character(
    start: Start, backend: ScriptedBackend, body_bytes: int, expected: str
) -> None:
    # The backend answers with the client's own bytes: both bodies cut alike.
    backend.reply(Reply([KOREAN], headers=JSON))
    gw = start(body_bytes)

    response = gw.post(AZURE_CHAT, KOREAN)

    assert response.content == KOREAN
    assert bodies(gw) == {"RequestBody": expected, "ResponseBody": expected}


def test_bytes_that_are_not_utf8_become_replacement_characters(
    start: Start, backend: ScriptedBackend
) -> None:
    gw = start(16)

    response = gw.post(AZURE_CHAT, b'{"a":"\xff\xfe"}')

    assert response.status_code == 400
    assert not backend.seen
    assert gw.gateway_row()["RequestBody"] == '{"a":"\ufffd\ufffd"}'


def test_a_backend_key_in_either_body_is_scrubbed(
    start: Start, backend: ScriptedBackend
) -> None:
    answer = chat_body(f"Your key is {BACKEND_KEY}.")
    backend.reply(Reply([answer], headers=JSON))
    gw = start(8192, backend_key=BACKEND_KEY)
    request = f'{{"messages":[{{"role":"user","content":"{BACKEND_KEY}"}}]}}'

    response = gw.post(AZURE_CHAT, request.encode())

    # The client gets it scrubbed too (B41), as the log keeps it.
    assert response.content == chat_body("Your key is REDACTED.")
    assert bodies(gw) == {
        "RequestBody": '{"messages":[{"role":"user","content":"REDACTED"}]}',
        "ResponseBody": chat_body("Your key is REDACTED.").decode(),
    }


def test_the_callers_subscription_key_in_a_body_is_scrubbed(
    start: Start, backend: ScriptedBackend
) -> None:
    backend.reply(Reply([ANSWER], headers=JSON))
    gw = start(8192)
    request = f'{{"messages":[{{"role":"user","content":"my key {gw.key}"}}]}}'

    response = gw.post(AZURE_CHAT, request.encode())

    assert gw.key not in str(gw.gateway_row())
    assert bodies(gw)["RequestBody"] == (
        '{"messages":[{"role":"user","content":"my key REDACTED"}]}'
    )
    correlation_id = response.headers["x-correlation-id"]
    assert gw.key not in str(gw.llm_rows(correlation_id))
    assert gw.messages(correlation_id, "RequestMessages") == [
        {"role": "user", "content": "my key REDACTED"}
    ]


@pytest.mark.parametrize(
    ("kept", "expected"),
    [
        (4, '{"messages":[{"role":"user","content":"REDACTED'),
        (3, '{"messages":[{"role":"user","content":"sk-'),
    ],
)
def test_a_cut_inside_a_secret_hides_its_start(
    start: Start, backend: ScriptedBackend, kept: int, expected: str
) -> None:
    backend.reply(Reply([ANSWER], headers=JSON))
    request = f'{{"messages":[{{"role":"user","content":"{BACKEND_KEY}"}}]}}'
    before = request.index(BACKEND_KEY)
    gw = start(before + kept, backend_key=BACKEND_KEY)

    gw.post(AZURE_CHAT, request.encode())

    assert bodies(gw)["RequestBody"] == expected


# Streams and compressed bodies ---------------------------------------------------


@pytest.mark.parametrize(
    ("body_bytes", "expected"),
    [
        (40, 'data: {"id":"16","object":"chat.completi'),
        # Past the first event: the head spans the client's writes.
        (200, STREAM[:200].decode()),
        (8192, STREAM.decode()),
    ],
)
def test_a_stream_keeps_its_first_bytes_as_relayed(
    start: Start, backend: ScriptedBackend, body_bytes: int, expected: str
) -> None:
    backend.reply(Reply(chat_chunks("Hel", "lo")))
    gw = start(body_bytes)

    response = gw.post(AZURE_CHAT, {"messages": [], "stream": True}, stream=True)

    assert response.raw.read() == STREAM
    assert bodies(gw) == {
        "RequestBody": '{"messages": [], "stream": true}'[:body_bytes],
        "ResponseBody": expected,
    }


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # Decoded: the gateway's copy for the log.
        (Reply([gzip.compress(ANSWER)], headers=GZIP), '{"id":"c14","obj'),
        # An encoding the gateway cannot decode: nothing rather than bytes.
        (
            Reply([b"\x28\xb5\x2f\xfd zstd"], headers=(("Content-Encoding", "zstd"),)),
            None,
        ),
        # A stream the gateway decodes and relays decoded.
        (Reply([gzip.compress(STREAM)], headers=SSE_GZIP), 'data: {"id":"16"'),
        # One it relays still compressed.
        (
            Reply(
                [b"\x28\xb5\x2f\xfd zstd"],
                headers=(
                    ("Content-Type", "text/event-stream"),
                    ("Content-Encoding", "zstd"),
                ),
            ),
            None,
        ),
    ],
    ids=["gzip", "unknown", "gzip-stream", "unknown-stream"],
)
def test_a_compressed_response_is_kept_decoded_or_not_at_all(
    start: Start, backend: ScriptedBackend, reply: Reply, expected: str | None
) -> None:
    backend.reply(reply)
    gw = start(16)

    response = gw.post(AZURE_CHAT, REQUEST, stream=True)
    response.raw.read()

    assert bodies(gw) == {
        "RequestBody": '{"messages":[{"r',
        "ResponseBody": expected,
    }


# Policies ------------------------------------------------------------------------

POLICY = """<policies>
  <inbound><base /></inbound>
  <backend><base /></backend>
  <outbound><base />{outbound}</outbound>
  <on-error><base /></on-error>
</policies>
"""


@pytest.mark.parametrize(
    ("outbound", "reply", "expected"),
    [
        ('<set-body>{"replaced":true}</set-body>', JSON, '{"replaced":true'),
        # The backend's body as it came, compressed: its decoded start.
        (
            '<set-header name="x-seen" exists-action="override">'
            "<value>1</value></set-header>",
            GZIP,
            '{"id":"c14","obj',
        ),
    ],
    ids=["set-body", "backend-body"],
)
def test_an_outbound_policys_body_is_the_one_kept(
    start: Start,
    backend: ScriptedBackend,
    outbound: str,
    reply: tuple[tuple[str, str], ...],
    expected: str,
) -> None:
    compressed = reply is GZIP
    backend.reply(
        Reply([gzip.compress(ANSWER) if compressed else ANSWER], headers=reply)
    )
    gw = start(16, policy=POLICY.format(outbound=outbound))

    response = gw.post(AZURE_CHAT, REQUEST)

    assert response.status_code == 200
    assert bodies(gw) == {"RequestBody": '{"messages":[{"r', "ResponseBody": expected}


# Errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("always_log_errors", "expected"),
    [(True, REFUSAL.decode()), (False, '{"error":{"messa')],
)
def test_a_backends_error_body_logged_always_wins(
    start: Start, backend: ScriptedBackend, always_log_errors: bool, expected: str
) -> None:
    backend.reply(Reply([REFUSAL], status=400, headers=JSON))
    gw = start(16, always_log_errors=always_log_errors)

    response = gw.post(AZURE_CHAT, REQUEST)

    assert response.content == REFUSAL
    assert bodies(gw) == {"RequestBody": '{"messages":[{"r', "ResponseBody": expected}


@pytest.mark.parametrize(
    ("always_log_errors", "expected"),
    [
        (
            True,
            '{"statusCode":400,"message":"The request body must be a JSON object."}',
        ),
        (False, '{"statusCode":40'),
    ],
)
def test_the_gateways_own_error_body_logged_always_wins(
    start: Start, backend: ScriptedBackend, always_log_errors: bool, expected: str
) -> None:
    gw = start(16, always_log_errors=always_log_errors)

    response = gw.post(AZURE_CHAT, b"[1]")

    assert response.status_code == 400
    assert not backend.seen
    assert bodies(gw) == {"RequestBody": "[1]", "ResponseBody": expected}


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/nothing/here"), ("GET", AZURE_CHAT)],
    ids=["no-api", "no-operation"],
)
def test_a_request_rejected_before_routing_keeps_no_body(
    start: Start, backend: ScriptedBackend, method: str, path: str
) -> None:
    gw = start(16)

    response = requests.request(method, gw.url + path, data=REQUEST, timeout=10)

    assert response.status_code == 404
    # No API, no body_bytes: only the error body, as the global setting
    # always logs errors.
    assert bodies(gw) == {"RequestBody": None, "ResponseBody": response.text}


def test_a_request_without_an_api_follows_the_global_setting(
    start: Start,
) -> None:
    gw = start(16, always_log_errors=False)

    response = requests.post(gw.url + "/nowhere", data=REQUEST, timeout=10)

    assert response.status_code == 404
    assert bodies(gw) == {"RequestBody": None, "ResponseBody": None}
