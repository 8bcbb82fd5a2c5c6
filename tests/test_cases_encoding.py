"""End to end: backends that compress what they send.

The gateway asks the backend for uncompressed bodies; some compress anyway.
Cases of the gateway-failures catalogue: B33 (a gzip, deflate or brotli
event stream is still read for the log, and reaches the client decoded,
with headers that say so) and B35 (a compressed whole body, error or not,
keeps headers that match its bytes).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable

import brotli
import pytest

from tests.support import (
    DATA,
    JSON,
    Reply,
    RunningGateway,
    ScriptedBackend,
    case_bytes,
    chat_body,
    pick,
)

Start = Callable[..., RunningGateway]

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
CHAT_BODY = chat_body("Hello")


def header_values(seen: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in seen if key.lower() == name.lower()]


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", gzip.compress),
    "deflate": ("deflate", zlib.compress),
    "deflate-raw": ("deflate", raw_deflate),
    "br": ("br", brotli.compress),
}


def in_reads(data: bytes, count: int = 4) -> list[bytes]:
    """``data`` cut into ``count`` reads, so that decoding goes piece by piece."""
    size = -(-len(data) // count)
    return [data[i : i + size] for i in range(0, len(data), size)]


# Event streams: B33 ----------------------------------------------------------


B03_CLIENT = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,'
    b'"model":"o3-mini","choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":"4"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,'
    b'"model":"o3-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    b"\n\n"
    b"data: [DONE]\n\n"
)
B33_CASES = {
    # The client asked for usage: it gets every event the backend sent.
    "B01": ((DATA / "B01.request.json").read_bytes(), case_bytes("B01.sse")),
    # It did not: the usage the gateway asked for stays with the gateway (B03).
    "B03": (b'{"messages":[],"stream":true}', B03_CLIENT),
}


@pytest.mark.parametrize("case", sorted(B33_CASES))
@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_b33_a_compressed_stream_is_decoded_relayed_and_logged(
    scripted_gateway: Start, backend: ScriptedBackend, coding: str, case: str
) -> None:
    encoding, compress = ENCODERS[coding]
    body, expected_stream = B33_CASES[case]
    compressed = compress(case_bytes(f"{case}.sse"))
    headers = (("Content-Type", "text/event-stream"), ("Content-Encoding", encoding))
    backend.reply(Reply(in_reads(compressed), headers=headers))
    gw = scripted_gateway()

    response = gw.post(
        AZURE_CHAT, body, headers={"Accept-Encoding": "gzip, br"}, stream=True
    )
    received = response.raw.read(decode_content=False)

    assert header_values(backend.seen[0].headers, "accept-encoding") == ["identity"]
    # The client gets the stream decoded, and headers that say so (B35).
    assert "content-encoding" not in response.headers
    assert "content-length" not in response.headers
    assert received == expected_stream
    row = gw.gateway_row()
    usage = gw.llm_rows(row["CorrelationId"])[0]
    assert usage["TokenCountSource"] == "backend"
    assert usage["ErrorKind"] is None
    if case == "B01":
        expected = {"PromptTokens": 12, "CompletionTokens": 5, "TotalTokens": 17}
        text = "Hello"
    else:
        expected = {"PromptTokens": 12, "CompletionTokens": 205, "TotalTokens": 217}
        text = "4"
    assert pick(usage, expected) == expected
    messages = gw.messages(row["CorrelationId"], "ResponseMessages")
    assert messages[0]["content"] == text


def test_b33_an_unknown_encoding_is_relayed_as_it_came(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    opaque = b"\x28\xb5\x2f\xfd not really zstd"
    headers = (("Content-Type", "text/event-stream"), ("Content-Encoding", "zstd"))
    backend.reply(Reply([opaque], headers=headers))
    gw = scripted_gateway()

    response = gw.post(AZURE_CHAT, {"messages": [], "stream": True}, stream=True)
    received = response.raw.read(decode_content=False)

    assert response.headers["Content-Encoding"] == "zstd"
    assert received == opaque
    assert gw.gateway_row()["ResponseCode"] == 200


# Whole bodies: B35 -------------------------------------------------------------


B35_ERROR = (
    b'{"error":{"message":"Invalid \'messages\': empty array",'
    b'"type":"invalid_request_error","code":"empty_array"}}'
)


@pytest.mark.parametrize(("status", "body"), [(400, B35_ERROR), (200, CHAT_BODY)])
@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_b35_compressed_bodies_keep_headers_that_match_the_bytes(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    coding: str,
    status: int,
    body: bytes,
) -> None:
    encoding, compress = ENCODERS[coding]
    compressed = compress(body)
    headers = (
        *JSON,
        ("Content-Encoding", encoding),
        ("Content-Length", str(len(compressed))),
    )
    backend.reply(Reply([compressed], status=status, headers=headers))
    gw = scripted_gateway()

    raw = gw.post(AZURE_CHAT, {"messages": []}, stream=True)
    sent = raw.raw.read(decode_content=False)
    backend.reply(Reply([compressed], status=status, headers=headers))
    decoded = gw.post(AZURE_CHAT, {"messages": []})

    assert raw.status_code == status
    assert raw.headers["Content-Encoding"] == encoding
    assert raw.headers["Content-Length"] == str(len(sent))
    assert sent == compressed
    assert decoded.json() == json.loads(body)
    rows = gw.wait_rows("SELECT * FROM ApiManagementGatewayLogs", count=2)
    row = rows[0]
    assert row["ResponseCode"] == status
    if status == 400:
        expected = {
            "ErrorKind": "upstream_4xx",
            "LastErrorMessage": "Invalid 'messages': empty array",
            "ResponseBody": body.decode(),
        }
        assert pick(row, expected) == expected
    else:
        usage = gw.llm_rows(row["CorrelationId"])[0]
        assert (usage["PromptTokens"], usage["TokenCountSource"]) == (12, "backend")
