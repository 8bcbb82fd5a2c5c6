"""End to end: api-version, credentials and headers.

Cases of the gateway-failures catalogue about what crosses the gateway
besides the body: B28 (stream_options on old api-versions), B29 (a missing
or mangled api-version), B30 (subscription keys in and the backend's
credential out), B31 (the backend's headers on every operation), B32 (a
backend 429).  Compressed bodies (B33, B35) are in `test_cases_encoding`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import openai
import pytest
from openai import AzureOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.support import (
    DATA,
    JSON,
    Reply,
    RunningGateway,
    ScriptedBackend,
    case_bytes,
    pick,
    sse,
)
from tollhouse.config import (
    ApiConfig,
    BackendConfig,
    CredentialsConfig,
    NamedValueConfig,
)

Start = Callable[..., RunningGateway]

CHAT = "/openai/deployments/gpt-4o/chat/completions"
AZURE_CHAT = CHAT + "?api-version=2024-10-21"
UPSTREAM_KEY = "upstream-key-7f3a9c0e5b2d4e6f8a1c"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]

CHAT_STREAM = sse(
    '{"id":"c2","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},'
    '"finish_reason":"stop"}]}',
    "[DONE]",
)
CHAT_BODY = (
    b'{"id":"c3","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}'
)


def header_values(seen: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in seen if key.lower() == name.lower()]


def keyed_backend(header: str = "api-key") -> Callable[[BackendConfig], BackendConfig]:
    """The backend's own credential: ``UPSTREAM_KEY`` from a secret named value."""
    credentials = CredentialsConfig(
        type="header", header=header, value="{{upstream-key}}"
    )
    return lambda config: dataclasses.replace(config, credentials=credentials)


UPSTREAM_NAMED = {"upstream-key": NamedValueConfig(value=UPSTREAM_KEY, secret=True)}


# api-version: B28, B29 --------------------------------------------------------


def test_b28_old_api_version_gets_no_stream_options(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    backend.reply(Reply([CHAT_STREAM]))
    gw = scripted_gateway()
    body = b'{"messages":[{"role":"user","content":"hi"}],"stream":true}'

    response = gw.post(CHAT + "?api-version=2024-02-15-preview", body)

    assert response.status_code == 200
    assert response.content == CHAT_STREAM
    assert backend.seen[0].body == body
    row = gw.gateway_row()
    usage = gw.llm_rows(row["CorrelationId"])[0]
    expected = {
        "ApiVersion": "2024-02-15-preview",
        "TokenCountSource": "estimated",
        "PromptTokens": 7,  # 3 for the message, 1 for "hi", 3 for the reply
        "CompletionTokens": 1,  # "Hello"
        "TotalTokens": 8,
    }
    assert pick(usage, expected) == expected


def test_b28_the_clients_own_stream_options_and_the_backends_400(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    error = (
        b'{"error":{"code":null,"message":"Unrecognized request argument supplied:'
        b' stream_options","param":null,"type":"invalid_request_error"}}'
    )
    backend.reply(Reply([error], status=400, headers=JSON))
    gw = scripted_gateway()
    body = (
        b'{"messages":[{"role":"user","content":"hi"}],"stream":true,'
        b'"stream_options":{"include_usage":true}}'
    )

    response = gw.post(CHAT + "?api-version=2024-02-15-preview", body)

    assert backend.seen[0].body == body
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == error
    row = gw.gateway_row()
    expected = {
        "ResponseCode": 400,
        "BackendResponseCode": 400,
        "ErrorKind": "upstream_4xx",
        "IsRequestSuccess": 0,
        "LastErrorMessage": "Unrecognized request argument supplied: stream_options",
        "ResponseBody": error.decode(),
    }
    assert pick(row, expected) == expected
    usage = gw.llm_rows(row["CorrelationId"])[0]
    assert (usage["TokenCountSource"], usage["ErrorKind"]) == ("none", "upstream_4xx")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "ApiVersionMissing"),
        ("?api-version=api-version=2024-10-21", "ApiVersionInvalid"),
        ("?api-version=2024-10-21&api-version=2024-10-21", "BadRequest"),
        ("?api-version=", "ApiVersionInvalid"),
    ],
    ids=["missing", "double-prefixed", "twice", "empty"],
)
def test_b29_missing_or_mangled_api_version_is_a_clear_400(
    scripted_gateway: Start, backend: ScriptedBackend, query: str, reason: str
) -> None:
    gw = scripted_gateway()

    response = gw.post(CHAT + query, {"messages": HELLO})

    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert "api-version" in body["message"]
    assert backend.seen == []
    row = gw.gateway_row()
    assert pick(row, {"ResponseCode": 0, "LastErrorReason": 0}) == {
        "ResponseCode": 400,
        "LastErrorReason": reason,
    }


@pytest.mark.parametrize(
    ("query", "default", "forwarded"),
    [
        ("?api-version=2024-10-21", None, [("api-version", "2024-10-21")]),
        ("", "2024-10-21", [("api-version", "2024-10-21")]),
        (
            "?trace=on&api-version=2025-01-01-preview",
            "2024-10-21",
            [("trace", "on"), ("api-version", "2025-01-01-preview")],
        ),
    ],
    ids=["given", "default", "given-over-default"],
)
def test_b29_api_version_reaches_the_backend_exactly_once(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    query: str,
    default: str | None,
    forwarded: list[tuple[str, str]],
) -> None:
    backend.reply(Reply([CHAT_BODY], headers=JSON))

    def api(config: ApiConfig) -> ApiConfig:
        return dataclasses.replace(config, default_api_version=default)

    gw = scripted_gateway(api=api)

    response = gw.post(CHAT + query, {"messages": HELLO})

    assert response.status_code == 200
    target = urlsplit(backend.seen[0].path_qs)
    assert target.path == CHAT
    assert parse_qsl(target.query) == forwarded
    assert gw.gateway_row()["ApiVersion"] == forwarded[-1][1]


def test_b29_a_backend_404_is_logged_without_the_key(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    answer = b'{"error":{"code":"404","message":"Resource not found"}}'
    backend.reply(Reply([answer], status=404, headers=JSON))
    gw = scripted_gateway()
    key = gw.key

    response = gw.post(
        AZURE_CHAT + f"&subscription-key={key}",
        {"messages": HELLO},
        headers={"api-key": None},
    )

    assert (response.status_code, response.content) == (404, answer)
    assert backend.seen[0].path_qs == AZURE_CHAT
    row = gw.gateway_row()
    expected = {
        "ResponseCode": 404,
        "ErrorKind": "upstream_4xx",
        "LastErrorMessage": "Resource not found",
        "ApiVersion": "2024-10-21",
        "Url": f"{gw.url}{AZURE_CHAT}&subscription-key=REDACTED",
        "BackendUrl": f"{backend.url}{AZURE_CHAT}",
    }
    assert pick(row, expected) == expected


# Subscription keys in, the backend's credential out: B30 ----------------------


def auth_headers(key: str, form: str) -> dict[str, str | None]:
    forms: dict[str, dict[str, str | None]] = {
        "api-key": {"api-key": key},
        "API-KEY": {"API-KEY": key},
        "bearer": {"api-key": None, "Authorization": f"Bearer {key}"},
        "BEARER": {"api-key": None, "AUTHORIZATION": f"bearer {key}"},
        "both-same": {"api-key": key, "Authorization": f"Bearer {key}"},
    }
    return forms[form]


@pytest.mark.parametrize(
    ("path", "form", "source"),
    [
        (AZURE_CHAT, "api-key", "header:api-key"),
        (AZURE_CHAT, "API-KEY", "header:api-key"),
        ("/v1/chat/completions", "bearer", "header:authorization"),
        (AZURE_CHAT, "bearer", "header:authorization"),
        (AZURE_CHAT, "BEARER", "header:authorization"),
        (AZURE_CHAT, "both-same", "header:api-key"),
        (AZURE_CHAT + "&subscription-key={key}", "query", "query:subscription-key"),
    ],
)
def test_b30_every_key_form_is_accepted_and_never_forwarded(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    path: str,
    form: str,
    source: str,
) -> None:
    backend.reply(Reply([CHAT_BODY], headers=JSON))
    gw = scripted_gateway(backend=keyed_backend(), named_values=UPSTREAM_NAMED)
    key = gw.key
    headers: dict[str, str | None] = (
        {"api-key": None} if form == "query" else auth_headers(key, form)
    )

    response = gw.post(
        path.format(key=key), {"model": "gpt-4o", "messages": HELLO}, headers=headers
    )

    assert response.status_code == 200
    seen = backend.seen[0]
    assert header_values(seen.headers, "api-key") == [UPSTREAM_KEY]
    assert header_values(seen.headers, "authorization") == []
    assert key not in repr(seen)
    row = gw.gateway_row()
    assert pick(row, {"SubscriptionKeySource": 0, "ApimSubscriptionId": 0}) == {
        "SubscriptionKeySource": source,
        "ApimSubscriptionId": "master",
    }


def test_b30_the_sdks_key_forms(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    backend.reply(*(Reply([CHAT_BODY], headers=JSON) for _ in range(3)))
    gw = scripted_gateway(backend=keyed_backend(), named_values=UPSTREAM_NAMED)
    clients: list[AzureOpenAI | OpenAI] = [
        AzureOpenAI(azure_endpoint=gw.url, api_key=gw.key, api_version="2024-10-21"),
        AzureOpenAI(
            azure_endpoint=gw.url, azure_ad_token=gw.key, api_version="2024-10-21"
        ),
        OpenAI(base_url=gw.url + "/v1", api_key=gw.key),
    ]

    answers = [
        client.chat.completions.create(
            model="gpt-4o",
            messages=HELLO,
        )
        for client in clients
    ]

    assert [a.choices[0].message.content for a in answers] == ["Hello"] * 3
    for seen in backend.seen:
        assert header_values(seen.headers, "api-key") == [UPSTREAM_KEY]
        assert header_values(seen.headers, "authorization") == []
    sources = gw.wait_rows(
        "SELECT SubscriptionKeySource FROM ApiManagementGatewayLogs ORDER BY rowid",
        count=3,
    )
    assert [r["SubscriptionKeySource"] for r in sources] == [
        "header:api-key",
        "header:authorization",
        "header:authorization",
    ]


def test_b30_an_openai_backend_gets_a_bearer_credential(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    backend.reply(Reply([CHAT_BODY], headers=JSON))
    gw = scripted_gateway(
        kind="openai",
        backend=keyed_backend("Authorization"),
        named_values=UPSTREAM_NAMED,
    )

    response = gw.post(AZURE_CHAT, {"messages": HELLO})

    assert response.status_code == 200
    seen = backend.seen[0]
    assert header_values(seen.headers, "authorization") == [f"Bearer {UPSTREAM_KEY}"]
    assert header_values(seen.headers, "api-key") == []


def test_b30_two_different_keys_are_refused(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    gw = scripted_gateway()

    response = gw.post(
        AZURE_CHAT,
        {"messages": HELLO},
        headers={"Authorization": "Bearer 0123456789abcdef0123456789abcdef"},
    )

    assert response.status_code == 401
    assert backend.seen == []
    row = gw.gateway_row()
    assert pick(row, {"ResponseCode": 0, "LastErrorReason": 0}) == {
        "ResponseCode": 401,
        "LastErrorReason": "SubscriptionKeyConflict",
    }


def test_b30_a_jwt_beside_the_key_is_no_second_key(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    # An Entra ID token next to the subscription key is a normal APIM setup:
    # the token is for the policies (validate-jwt, check-header), not a key.
    backend.reply(Reply([CHAT_BODY], headers=JSON))
    gw = scripted_gateway()
    token = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxMjMifQ.c2lnbmF0dXJl"

    response = gw.post(
        AZURE_CHAT, {"messages": HELLO}, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    assert header_values(backend.seen[0].headers, "authorization") == []
    row = gw.gateway_row()
    assert pick(row, {"ResponseCode": 0, "SubscriptionKeySource": 0}) == {
        "ResponseCode": 200,
        "SubscriptionKeySource": "header:api-key",
    }


# The backend's headers on every operation: B31, B32 ---------------------------

B31_HEADERS = (
    ("x-ms-region", "Sweden Central"),
    ("apim-request-id", "00000000-0000-0000-0000-000000000001"),
    ("x-request-id", "req_0001"),
    ("x-ratelimit-limit-requests", "100"),
    ("x-ratelimit-remaining-requests", "99"),
    ("x-ratelimit-limit-tokens", "150000"),
    ("x-ratelimit-remaining-tokens", "149983"),
)
HOP_HEADERS = (
    ("Connection", "keep-alive, x-hop"),
    ("Keep-Alive", "timeout=5, max=100"),
    ("x-hop", "1"),
    ("Set-Cookie", "affinity=backend-7; Path=/"),
)
COMPLETIONS_BODY = (
    b'{"id":"cmpl-2","object":"text_completion","model":"gpt-4o","choices":'
    b'[{"index":0,"text":"Hello","finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}'
)


def operation(suffix: str) -> str:
    return f"/openai/deployments/gpt-4o/{suffix}?api-version=2025-01-01-preview"


OPERATIONS = [
    ("chat", operation("chat/completions"), {"messages": HELLO}, CHAT_BODY),
    ("completions", operation("completions"), {"prompt": "hi"}, COMPLETIONS_BODY),
    (
        "responses",
        operation("responses"),
        {"input": "hi"},
        (DATA / "B31.response.json").read_bytes().strip(),
    ),
    (
        "embeddings",
        operation("embeddings"),
        {"input": "hi"},
        (DATA / "B53.response.json").read_bytes().strip(),
    ),
    ("chat-stream", operation("chat/completions"), {"messages": HELLO}, CHAT_STREAM),
    (
        "completions-stream",
        operation("completions"),
        {"prompt": "hi"},
        case_bytes("B02.sse"),
    ),
    (
        "responses-stream",
        operation("responses"),
        {"input": "hi"},
        case_bytes("B08.sse"),
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "answer"),
    [op[1:] for op in OPERATIONS],
    ids=[op[0] for op in OPERATIONS],
)
def test_b31_backend_headers_reach_the_client_on_every_operation(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    path: str,
    body: dict[str, Any],
    answer: bytes,
) -> None:
    streamed = answer.startswith((b"data:", b"event:"))
    content_type = "text/event-stream" if streamed else "application/json"
    headers = (("Content-Type", content_type), *B31_HEADERS, *HOP_HEADERS)
    backend.reply(Reply([answer], headers=headers))
    gw = scripted_gateway()

    response = gw.post(path, {**body, "stream": streamed})

    assert response.status_code == 200
    assert response.content == answer
    for name, value in B31_HEADERS:
        assert response.headers.get(name) == value, name
    for name in ("keep-alive", "x-hop", "set-cookie"):
        assert name not in response.headers
    assert "x-hop" not in response.headers.get("connection", "")
    if streamed:
        assert response.headers["transfer-encoding"] == "chunked"
    else:
        assert "transfer-encoding" not in response.headers
        assert response.headers["content-length"] == str(len(answer))
    row = gw.gateway_row()
    assert pick(row, {"BackendRegion": 0, "BackendRequestId": 0}) == {
        "BackendRegion": "Sweden Central",
        "BackendRequestId": "00000000-0000-0000-0000-000000000001 / req_0001",
    }
    logged = json.loads(row["ResponseHeaders"])
    assert logged["x-ratelimit-remaining-tokens"] == "149983"
    assert "set-cookie" not in logged


B32_BODY = (
    b'{"error":{"code":"429","message":"Rate limit reached for this deployment.'
    b' Try again in 30 seconds."}}'
)
B32_HEADERS = (
    ("retry-after", "30"),
    ("retry-after-ms", "30000"),
    ("x-ratelimit-remaining-requests", "0"),
    ("x-ratelimit-remaining-tokens", "0"),
)


@pytest.mark.parametrize("stream", [False, True])
def test_b32_a_backend_429_keeps_its_retry_after(
    scripted_gateway: Start, backend: ScriptedBackend, stream: bool
) -> None:
    backend.reply(Reply([B32_BODY], status=429, headers=(*JSON, *B32_HEADERS)))
    gw = scripted_gateway()

    response = gw.post(AZURE_CHAT, {"messages": HELLO, "stream": stream})

    assert response.status_code == 429
    assert response.content == B32_BODY
    for name, value in B32_HEADERS:
        assert response.headers.get(name) == value, name
    row = gw.gateway_row()
    expected = {
        "ResponseCode": 429,
        "BackendResponseCode": 429,
        "ErrorKind": "upstream_rate_limited",
        "LastErrorMessage": "Rate limit reached for this deployment. "
        "Try again in 30 seconds.",
    }
    assert pick(row, expected) == expected
    assert json.loads(row["ResponseHeaders"])["retry-after"] == "30"


def test_b32_the_sdk_sees_the_retry_after(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    backend.reply(Reply([B32_BODY], status=429, headers=(*JSON, *B32_HEADERS)))
    gw = scripted_gateway()
    client = OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0)

    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="gpt-4o",
            messages=HELLO,
        )

    assert raised.value.response.headers["retry-after"] == "30"
    assert raised.value.response.headers["retry-after-ms"] == "30000"
