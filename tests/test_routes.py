"""Route shapes, pass-through operations and backend failures, end to end."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
import requests

from tests.support import (
    DeploymentConfig,
    Reply,
    RunningGateway,
    ScriptedBackend,
    scripted_config,
)
from tollhouse.config import ApiConfig, ProductConfig, TimeoutsConfig
from tollhouse.routing import Router
from tollhouse.runtime import redact_url

JSON = (("Content-Type", "application/json"),)
CHAT = b'{"id":"c1","object":"chat.completion","model":"m","choices":[]}'


@pytest.mark.parametrize(
    ("path", "operation", "shape", "deployment"),
    [
        (
            "/openai/deployments/d1/chat/completions",
            "ChatCompletions_Create",
            "deployment",
            "d1",
        ),
        (
            "/openai/deployments/d1/completions",
            "Completions_Create",
            "deployment",
            "d1",
        ),
        ("/openai/deployments/d1/embeddings", "embeddings_create", "deployment", "d1"),
        ("/openai/deployments/d1/responses", "Responses_Create", "deployment", "d1"),
        (
            "/openai/deployments/d1/images/generations",
            "ImageGenerations_Create",
            "deployment",
            "d1",
        ),
        (
            "/openai/deployments/d1/audio/transcriptions",
            "Transcriptions_Create",
            "deployment",
            "d1",
        ),
        ("/openai/deployments/d1/audio/speech", "Speech_Create", "deployment", "d1"),
        ("/openai/responses", "Responses_Create", "v1", None),
        ("/openai/v1/chat/completions", "ChatCompletions_Create", "v1", None),
        ("/openai/v1/responses", "Responses_Create", "v1", None),
        ("/openai/v1/embeddings", "embeddings_create", "v1", None),
        ("/v1/chat/completions", "ChatCompletions_Create", "v1", None),
        ("/v1/completions", "Completions_Create", "v1", None),
        ("/openai/v1/models", "passthrough", "passthrough", None),
        ("/openai/deployments/d1/unknown", "passthrough", "passthrough", "d1"),
        (
            "/openai/deployments/d1/chat/completions/",
            "passthrough",
            "passthrough",
            "d1",
        ),
        ("/openai/files", "passthrough", "passthrough", None),
        ("/v1/models", "passthrough", "passthrough", None),
    ],
)
def test_router(path: str, operation: str, shape: str, deployment: str | None) -> None:
    router = Router({"azure-openai": ApiConfig(path="openai", backend="b")})
    route = router.match(path)
    assert route is not None
    assert (route.operation.id, route.shape, route.deployment) == (
        operation,
        shape,
        deployment,
    )
    assert route.api_id == "azure-openai"


@pytest.mark.parametrize(
    "path", ["/", "/openaix/deployments/d/chat/completions", "/v2/x"]
)
def test_router_no_match(path: str) -> None:
    router = Router({"azure-openai": ApiConfig(path="openai", backend="b")})
    assert router.match(path) is None


def test_openai_style_root_route_maps_model_to_deployment(
    gateway: RunningGateway,
) -> None:
    response = requests.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway.key}"},
        json={
            "model": "gpt-4o-deployment",
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert response.status_code == 200
    row = gateway.gateway_row()
    assert (row["DeploymentName"], row["OperationId"], row["ApiVersion"]) == (
        "gpt-4o-deployment",
        "ChatCompletions_Create",
        None,
    )


def test_v1_route_without_model_is_400(gateway: RunningGateway) -> None:
    response = requests.post(
        gateway.url + "/openai/v1/chat/completions",
        headers={"api-key": gateway.key},
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 400
    assert "model" in response.json()["message"]


def test_images_and_audio_are_forwarded_unchanged(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    image_reply = b'{"created":1,"data":[{"url":"https://example.invalid/i.png"}]}'
    audio_reply = b"\x00\x01RIFF-not-json\xff"
    backend.reply(
        Reply(chunks=(image_reply,), headers=JSON),
        Reply(chunks=(audio_reply,), headers=(("Content-Type", "audio/wav"),)),
    )
    multipart = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n\x00\x01\x02\r\n--xyz--\r\n"
    )
    with RunningGateway(scripted_config(tmp_path, backend.url)) as gateway:
        base = gateway.url + "/openai/deployments/dalle/"
        image = requests.post(
            base + "images/generations?api-version=2024-10-21",
            headers={"api-key": gateway.key},
            json={"prompt": "a lighthouse", "n": 1},
        )
        audio = requests.post(
            base + "audio/transcriptions?api-version=2024-10-21",
            headers={
                "api-key": gateway.key,
                "Content-Type": "multipart/form-data; boundary=xyz",
            },
            data=multipart,
        )
        rows = gateway.wait_rows("SELECT * FROM ApiManagementGatewayLogs", count=2)
        llm = gateway.rows("SELECT * FROM ApiManagementGatewayLlmLog")

    assert (image.status_code, image.content) == (200, image_reply)
    assert (audio.status_code, audio.content) == (200, audio_reply)
    assert backend.seen[0].body == b'{"prompt": "a lighthouse", "n": 1}'
    assert backend.seen[1].body == multipart
    assert backend.seen[1].path_qs == (
        "/openai/deployments/dalle/audio/transcriptions?api-version=2024-10-21"
    )
    assert [r["OperationId"] for r in rows] == [
        "ImageGenerations_Create",
        "Transcriptions_Create",
    ]
    assert llm == []


def test_other_paths_pass_through(tmp_path: Path, backend: ScriptedBackend) -> None:
    backend.reply(Reply(chunks=(b'{"data":[]}',), headers=JSON))
    with RunningGateway(scripted_config(tmp_path, backend.url)) as gateway:
        key = gateway.key
        response = requests.get(
            gateway.url + "/openai/files?purpose=batch&subscription-key=" + key
        )
        row = gateway.gateway_row()
    assert (response.status_code, response.json()) == (200, {"data": []})
    assert backend.seen[0].path_qs == "/openai/files?purpose=batch"
    assert row["OperationId"] == "passthrough"
    assert key not in row["Url"]
    assert "subscription-key=REDACTED" in row["Url"]


def test_backend_that_refuses_connections_gives_500(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    config = scripted_config(tmp_path, f"http://127.0.0.1:{dead_port}")
    with RunningGateway(config) as gateway:
        response = requests.post(
            gateway.url
            + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
            headers={"api-key": gateway.key},
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
        row = gateway.gateway_row()
    body = response.json()
    assert response.status_code == 500
    assert body == {
        "statusCode": 500,
        "message": "Internal server error",
        "activityId": row["CorrelationId"],
    }
    assert (
        row["ResponseCode"],
        row["LastErrorReason"],
        row["LastErrorSection"],
        row["ErrorKind"],
    ) == (500, "BackendConnectionFailure", "backend", "upstream_unreachable")
    assert row["BackendResponseCode"] is None


def test_slow_first_byte_times_out_with_500(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    backend.reply(Reply(chunks=(CHAT,), headers=JSON, head_delay=1.0))
    config = scripted_config(
        tmp_path,
        backend.url,
        backend=lambda b: dataclasses.replace(
            b, timeouts=TimeoutsConfig(first_byte=0.2)
        ),
    )
    with RunningGateway(config) as gateway:
        response = requests.post(
            gateway.url
            + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
            headers={"api-key": gateway.key},
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
        row = gateway.gateway_row()
    assert response.status_code == 500
    assert response.json()["activityId"] == row["CorrelationId"]
    assert row["LastErrorReason"] == "Timeout"


def test_product_scoped_subscription(tmp_path: Path, backend: ScriptedBackend) -> None:
    config = scripted_config(
        tmp_path,
        backend.url,
        api=lambda a: dataclasses.replace(
            a, deployments={"d": DeploymentConfig()}, default_api_version="2024-10-21"
        ),
    )
    config = dataclasses.replace(
        config, products={"starter": ProductConfig(apis=("azure-openai",))}
    )
    backend.reply(Reply(chunks=(CHAT,), headers=JSON))
    with RunningGateway(config) as gateway:
        store = gateway.gateway._subscriptions
        assert store is not None
        store.create("p1", "Product sub", "/products/starter")
        store.create("p2", "Other product", "/products/elsewhere")
        gateway.gateway._reload_keys(gateway.gateway.runtime.keys)
        url = gateway.url + "/openai/deployments/d/chat/completions"
        body = {"messages": [{"role": "user", "content": "hi"}]}
        allowed = requests.post(url, headers={"api-key": store.key("p1")}, json=body)
        row = gateway.gateway_row()
        refused = requests.post(url, headers={"api-key": store.key("p2")}, json=body)

    assert allowed.status_code == 200
    assert (row["ApimSubscriptionId"], row["ProductId"], row["ApiVersion"]) == (
        "p1",
        "starter",
        "2024-10-21",
    )
    assert backend.seen[0].path_qs.endswith("?api-version=2024-10-21")
    assert refused.status_code == 401


def test_openai_kind_backend_gets_model_in_body(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    config = scripted_config(
        tmp_path,
        backend.url,
        kind="openai",
        api=lambda a: dataclasses.replace(
            a, deployments={"gemma": DeploymentConfig(model="gemma-3-270m")}
        ),
    )
    backend.reply(
        Reply(chunks=(CHAT,), headers=JSON), Reply(chunks=(CHAT,), headers=JSON)
    )
    with RunningGateway(config) as gateway:
        for url in (
            "/openai/deployments/gemma/chat/completions?api-version=2024-10-21",
            "/v1/chat/completions",
        ):
            response = requests.post(
                gateway.url + url,
                headers={"api-key": gateway.key},
                json={
                    "model": "gemma",
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
            assert response.status_code == 200
    assert [s.path_qs for s in backend.seen] == ["/v1/chat/completions"] * 2
    assert all(b'"model":"gemma-3-270m"' in s.body for s in backend.seen)


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("http://h/p", "http://h/p"),
        ("http://h/p?api-version=1", "http://h/p?api-version=1"),
        (
            "http://h/p?api-version=1&subscription-key=abc",
            "http://h/p?api-version=1&subscription-key=REDACTED",
        ),
        ("http://h/p?API-KEY=abc#frag", "http://h/p?API-KEY=REDACTED#frag"),
        ("http://h/p?sig=x&code=y&flag", "http://h/p?sig=REDACTED&code=REDACTED&flag"),
        ("http://h/p?subscription%2Dkey=abc", "http://h/p?subscription%2Dkey=REDACTED"),
        ("http://h/p?mykey=abc", "http://h/p?mykey=abc"),
    ],
)
def test_redact_url(url: str, logged: str) -> None:
    assert redact_url(url) == logged
    assert redact_url("http://h/p?custom=1", frozenset({"custom"})) == (
        "http://h/p?custom=REDACTED"
    )


def test_azure_responses_route_logs_its_api_version(gateway: RunningGateway) -> None:
    response = requests.post(
        gateway.url + "/openai/responses?api-version=2024-10-21",
        headers={"api-key": gateway.key},
        json={"model": "gpt-4o-deployment", "input": "hello"},
    )
    assert response.status_code == 200
    cid = response.headers["x-correlation-id"]
    assert gateway.gateway_row(cid)["ApiVersion"] == "2024-10-21"
    assert gateway.llm_rows(cid)[0]["ApiVersion"] == "2024-10-21"


def test_refused_request_logs_its_declared_size(gateway: RunningGateway) -> None:
    response = requests.post(
        gateway.url + "/openai/deployments/gpt-4o-deployment/chat/completions"
        "?api-version=2024-10-21",
        data=b'{"messages": []}',
    )
    assert response.status_code == 401
    assert (
        gateway.gateway_row(response.headers["x-correlation-id"])["RequestSize"] == 16
    )


@pytest.mark.parametrize("method", ["GET", "OPTIONS", "PUT", "DELETE"])
def test_a_template_operation_answers_only_its_method(
    tmp_path: Path, backend: ScriptedBackend, method: str
) -> None:
    with RunningGateway(scripted_config(tmp_path, backend.url)) as gateway:
        response = requests.request(
            method,
            gateway.url + "/openai/deployments/gpt-4o/chat/completions"
            "?api-version=2024-10-21",
            headers={"api-key": gateway.key},
        )
        row = gateway.gateway_row()
    assert (response.status_code, response.json()) == (
        404,
        {
            "statusCode": 404,
            "message": "Unable to match incoming request to an operation.",
        },
    )
    assert (row["LastErrorReason"], row["OperationId"]) == ("OperationNotFound", None)
    assert backend.seen == []
