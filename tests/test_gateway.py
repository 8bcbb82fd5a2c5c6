"""The gateway end to end on its embedded default: real sockets, real clients."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from openai import AzureOpenAI, OpenAI

from tests.support import RunningGateway

API_VERSION = "2025-01-01-preview"
CHAT_PATH = "/openai/deployments/gpt-4o-deployment/chat/completions"
MISSING_KEY = {
    "statusCode": 401,
    "message": "Access denied due to missing subscription key. Make sure to include "
    "subscription key when making requests to an API.",
}
INVALID_KEY = {
    "statusCode": 401,
    "message": "Access denied due to invalid subscription key. Make sure to provide "
    "a valid key for an active subscription.",
}


def chat_url(gateway: RunningGateway, api_version: str | None = API_VERSION) -> str:
    query = f"?api-version={api_version}" if api_version else ""
    return gateway.url + CHAT_PATH + query


def correlation_id(gateway: RunningGateway) -> str:
    return str(gateway.gateway_row()["CorrelationId"])


def joined(rows: list[dict[str, Any]], column: str) -> Any:
    """A message column reassembled from its pieces, parsed."""
    pieces = [r[column] for r in rows if r[column] is not None]
    return json.loads("".join(pieces)) if pieces else None


def test_seed_client_script(gateway: RunningGateway) -> None:
    """The walkthrough's requests client works as written, apart from URL and key."""
    payload = {
        "messages": [
            {
                "role": "system",
                "content": "You are an AI assistant that helps people find "
                "information.",
            },
            {
                "role": "user",
                "content": "APIM을 거쳐 Azure OpenAI를 호출하는 구조를 "
                "간결하게 설명해 주세요.",
            },
        ],
        "temperature": 0.7,
        "top_p": 0.95,
        "max_tokens": 800,
    }
    headers = {"Content-Type": "application/json", "api-key": gateway.key}

    response = requests.post(
        chat_url(gateway), headers=headers, json=payload, timeout=30
    )

    assert response.status_code == 200
    result = response.json()
    content = result["choices"][0]["message"]["content"]
    assert content == payload["messages"][1]["content"]
    usage = result["usage"]
    cid = correlation_id(gateway)
    row = gateway.gateway_row(cid)
    assert row["ResponseCode"] == 200
    assert row["ApimSubscriptionId"] == "master"
    assert row["OperationId"] == "ChatCompletions_Create"
    assert row["ApiVersion"] == API_VERSION
    llm = gateway.llm_rows(cid)
    assert llm[0]["SequenceNumber"] == 0
    assert (
        llm[0]["PromptTokens"],
        llm[0]["CompletionTokens"],
        llm[0]["TotalTokens"],
    ) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["total_tokens"],
    )
    assert llm[0]["TokenCountSource"] == "backend"
    assert llm[0]["DeploymentName"] == "gpt-4o-deployment"
    assert llm[0]["ModelName"] == result["model"]
    assert llm[0]["IsStreamCompletion"] == 0
    assert joined(llm, "RequestMessages") == payload["messages"]
    completion = joined(llm, "ResponseMessages")
    assert completion[0]["content"] == content


def test_openai_sdk_clients(gateway: RunningGateway) -> None:
    """AzureOpenAI and OpenAI clients: chat (streamed or not), embeddings, responses."""
    azure = AzureOpenAI(
        azure_endpoint=gateway.url, api_key=gateway.key, api_version="2024-10-21"
    )
    openai = OpenAI(base_url=gateway.url + "/openai/v1", api_key=gateway.key)
    messages: Any = [{"role": "user", "content": "Say hello"}]
    reported: list[tuple[int, int, int]] = []

    for client in (azure, openai):
        chat = client.chat.completions.create(
            model="gpt-4o-deployment", messages=messages
        )
        assert chat.choices[0].message.content == "Say hello"
        assert chat.usage is not None
        reported.append(
            (
                chat.usage.prompt_tokens,
                chat.usage.completion_tokens,
                chat.usage.total_tokens,
            )
        )

        stream = client.chat.completions.create(
            model="gpt-4o-deployment",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.usage is not None:
                usage = chunk.usage
        assert text == "Say hello"
        assert usage is not None
        reported.append(
            (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
        )

        plain = client.chat.completions.create(
            model="gpt-4o-deployment", messages=messages, stream=True
        )
        chunks = list(plain)
        assert all(c.usage is None for c in chunks)
        assert "".join(
            c.choices[0].delta.content or "" for c in chunks if c.choices
        ) == ("Say hello")
        reported.append((-1, -1, -1))

        embedding = client.embeddings.create(model="gpt-4o-deployment", input="hello")
        assert len(embedding.data[0].embedding) == 8
        reported.append(
            (embedding.usage.prompt_tokens, 0, embedding.usage.total_tokens)
        )

        response = client.responses.create(
            model="gpt-4o-deployment", input="Hello there"
        )
        assert response.output_text == "Hello there"
        assert response.usage is not None
        reported.append(
            (
                response.usage.input_tokens,
                response.usage.output_tokens,
                response.usage.total_tokens,
            )
        )

    gateway.wait_rows("SELECT 1 FROM ApiManagementGatewayLogs", count=10)
    rows = gateway.rows("SELECT * FROM ApiManagementGatewayLogs ORDER BY rowid")
    assert len(rows) == 10
    assert all(r["ResponseCode"] == 200 for r in rows)
    usage_rows = gateway.rows(
        "SELECT u.* FROM ApiManagementGatewayLlmLog u JOIN ApiManagementGatewayLogs g "
        "USING (CorrelationId) WHERE u.SequenceNumber = 0 ORDER BY g.rowid"
    )
    assert len(usage_rows) == 10
    for row, expected in zip(usage_rows, reported, strict=True):
        assert row["TokenCountSource"] == "backend"
        if expected != (-1, -1, -1):
            got = (row["PromptTokens"], row["CompletionTokens"], row["TotalTokens"])
            assert got == expected


def test_korean_100kb_stream_is_logged_exactly(gateway: RunningGateway) -> None:
    prompt = ("가나다라마바사아자차카타파하 한국어 문장입니다. " * 4000)[:100_000]
    response = requests.post(
        chat_url(gateway),
        headers={"api-key": gateway.key},
        json={"messages": [{"role": "user", "content": prompt}], "stream": True},
        stream=True,
        timeout=60,
    )
    received = ""
    for line in response.iter_lines(decode_unicode=False):
        if line.startswith(b"data: {"):
            event = json.loads(line[len(b"data: ") :])
            for choice in event["choices"]:
                received += choice.get("delta", {}).get("content") or ""

    assert received == prompt
    cid = correlation_id(gateway)
    rows = gateway.llm_rows(cid)
    completion_rows = [r for r in rows if r["ResponseMessages"] is not None]
    assert len(completion_rows) >= 9
    assert all(
        len(r["ResponseMessages"].encode()) <= 32 * 1024 for r in completion_rows
    )
    numbers = [r["SequenceNumber"] for r in rows]
    assert numbers == list(range(len(rows)))
    assert joined(rows, "ResponseMessages")[0]["content"] == prompt
    assert joined(rows, "RequestMessages")[0]["content"] == prompt
    assert rows[0]["IsStreamCompletion"] == 1
    assert rows[0]["TokenCountSource"] == "backend"


@pytest.mark.parametrize(
    ("headers", "query", "status", "body"),
    [
        ({}, "", 401, MISSING_KEY),
        ({"api-key": "0" * 32}, "", 401, INVALID_KEY),
        ({"api-key": ""}, "", 401, MISSING_KEY),
    ],
)
def test_missing_and_invalid_keys(
    gateway: RunningGateway,
    headers: dict[str, str],
    query: str,
    status: int,
    body: dict[str, Any],
) -> None:
    response = requests.post(
        chat_url(gateway) + query,
        headers=headers,
        json={"messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert response.status_code == status
    assert response.json() == body
    row = gateway.gateway_row()
    assert row["ResponseCode"] == status
    assert row["IsRequestSuccess"] == 0
    assert row["LastErrorSource"] == "authorization"
    assert row["BackendResponseCode"] is None
    assert gateway.rows("SELECT * FROM ApiManagementGatewayLlmLog") == []


@pytest.mark.parametrize("place", ["header", "bearer", "query"])
def test_key_accepted_in_each_place(gateway: RunningGateway, place: str) -> None:
    headers, url = {}, chat_url(gateway)
    if place == "header":
        headers["API-KEY"] = gateway.key
    elif place == "bearer":
        headers["Authorization"] = f"Bearer {gateway.key}"
    else:
        url += f"&subscription-key={gateway.key}"
    response = requests.post(
        url, headers=headers, json={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200
    row = gateway.gateway_row()
    expected = {
        "header": "header:api-key",
        "bearer": "header:authorization",
        "query": "query:subscription-key",
    }[place]
    assert row["SubscriptionKeySource"] == expected
    assert gateway.key not in row["Url"]


@pytest.mark.parametrize("state", ["suspended", "cancelled"])
def test_inactive_subscription_is_refused(gateway: RunningGateway, state: str) -> None:
    store = gateway.gateway._subscriptions
    assert store is not None
    store.create("team-a", "Team A", "/apis")
    key = store.key("team-a")
    store.set_state("team-a", state)  # type: ignore[arg-type]
    gateway.gateway._reload_keys(gateway.gateway.runtime.keys)

    response = requests.post(
        chat_url(gateway),
        headers={"api-key": key},
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 401
    assert response.json() == INVALID_KEY


def test_subscription_scope_is_enforced(gateway: RunningGateway) -> None:
    store = gateway.gateway._subscriptions
    assert store is not None
    store.create("other", "Other API only", "/apis/other-api")
    store.create("this", "This API only", "/apis/azure-openai")
    gateway.gateway._reload_keys(gateway.gateway.runtime.keys)
    body = {"messages": [{"role": "user", "content": "hi"}]}

    refused = requests.post(
        chat_url(gateway), headers={"api-key": store.key("other")}, json=body
    )
    allowed = requests.post(
        chat_url(gateway), headers={"api-key": store.key("this")}, json=body
    )

    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert gateway.gateway_row()["ApimSubscriptionId"] == "this"


def test_regenerated_key_replaces_the_old_one(gateway: RunningGateway) -> None:
    store = gateway.gateway._subscriptions
    assert store is not None
    old = gateway.key
    new = store.regenerate("master", "primary")
    gateway.gateway._reload_keys(gateway.gateway.runtime.keys)
    body = {"messages": [{"role": "user", "content": "hi"}]}

    assert (
        requests.post(
            chat_url(gateway), headers={"api-key": old}, json=body
        ).status_code
        == 401
    )
    assert (
        requests.post(
            chat_url(gateway), headers={"api-key": new}, json=body
        ).status_code
        == 200
    )
    secondary = store.key("master", "secondary")
    assert (
        requests.post(
            chat_url(gateway), headers={"api-key": secondary}, json=body
        ).status_code
        == 200
    )


def test_unknown_path_gets_apim_404(gateway: RunningGateway) -> None:
    response = requests.get(
        gateway.url + "/nothing/here", headers={"api-key": gateway.key}
    )
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "message": "Resource not found"}
    row = gateway.gateway_row()
    assert (row["ResponseCode"], row["ApiId"], row["LastErrorReason"]) == (
        404,
        None,
        "OperationNotFound",
    )


def test_unknown_deployment_gets_404(gateway: RunningGateway) -> None:
    response = requests.post(
        gateway.url
        + "/openai/deployments/nope/chat/completions?api-version=2024-10-21",
        headers={"api-key": gateway.key},
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 404
    assert gateway.gateway_row()["LastErrorReason"] == "DeploymentNotFound"


def test_missing_api_version_gets_clear_400(gateway: RunningGateway) -> None:
    response = requests.post(
        chat_url(gateway, None),
        headers={"api-key": gateway.key},
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 400
    assert "api-version" in response.json()["message"]
    row = gateway.gateway_row()
    assert (row["ResponseCode"], row["LastErrorReason"]) == (400, "ApiVersionMissing")
    assert row["BackendResponseCode"] is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"messages": [', "InvalidRequestBody"),
        (b"[1, 2]", "InvalidRequestBody"),
        (b"", "InvalidRequestBody"),
        (b"\xff\xfe not json", "InvalidRequestBody"),
    ],
)
def test_malformed_body_gets_400(
    gateway: RunningGateway, body: bytes, reason: str
) -> None:
    response = requests.post(
        chat_url(gateway),
        headers={"api-key": gateway.key, "Content-Type": "application/json"},
        data=body,
    )
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert gateway.gateway_row()["LastErrorReason"] == reason
    follow_up = requests.post(
        chat_url(gateway),
        headers={"api-key": gateway.key},
        json={"messages": [{"role": "user", "content": "still serving"}]},
    )
    assert follow_up.status_code == 200


def test_ten_megabyte_body_is_forwarded_and_logged_capped(
    gateway: RunningGateway,
) -> None:
    content = "a" * (10 * 2**20)
    response = requests.post(
        chat_url(gateway),
        headers={"api-key": gateway.key, "x-mock-reply": "ok"},
        json={"messages": [{"role": "user", "content": content}]},
        timeout=60,
    )
    assert response.status_code == 200
    cid = correlation_id(gateway)
    assert gateway.gateway_row(cid)["RequestSize"] > 10 * 2**20
    rows = gateway.llm_rows(cid)
    assert rows[0]["PromptTokens"] == response.json()["usage"]["prompt_tokens"]
    assert rows[0]["RequestMessagesTruncated"] == 1
    logged = joined(rows, "RequestMessages")[0]["content"]
    assert len(logged.encode()) < 2 * 2**20 + 1024
    assert "truncated by Tollhouse" in logged


def test_streamed_backend_drop_is_logged_and_gateway_keeps_serving(
    gateway: RunningGateway,
) -> None:
    body = {"messages": [{"role": "user", "content": "one two three four five six"}]}
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        response = requests.post(
            chat_url(gateway),
            headers={"api-key": gateway.key, "x-mock-drop-after": "3"},
            json={**body, "stream": True},
            stream=True,
            timeout=10,
        )
        for _ in response.iter_content(None):
            pass
    cid = correlation_id(gateway)
    row = gateway.gateway_row(cid)
    assert row["ErrorKind"] == "upstream_truncated"
    assert row["IsRequestSuccess"] == 0
    assert gateway.llm_rows(cid)[0]["ErrorKind"] == "upstream_truncated"
    ok = requests.post(chat_url(gateway), headers={"api-key": gateway.key}, json=body)
    assert ok.status_code == 200


def test_every_response_names_its_correlation_id(gateway: RunningGateway) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    responses = [
        requests.post(chat_url(gateway), headers={"api-key": gateway.key}, json=body),
        requests.post(
            chat_url(gateway),
            headers={"api-key": gateway.key},
            json={**body, "stream": True},
        ),
        requests.post(chat_url(gateway), json=body),
        requests.get(gateway.url + "/elsewhere"),
    ]
    ids = [r.headers["x-correlation-id"] for r in responses]
    gateway.wait_rows("SELECT 1 FROM ApiManagementGatewayLogs", count=4)
    logged = [
        r["CorrelationId"]
        for r in gateway.rows("SELECT CorrelationId FROM ApiManagementGatewayLogs")
    ]
    assert sorted(ids) == sorted(logged)
    assert len(set(ids)) == 4
