"""The management API's read-only configuration routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.management_support import (
    BACKEND_SECRETS,
    assert_error,
    call,
    secured_gateway,
)
from tests.support import RunningGateway
from tollhouse.management.configuration import _public_url
from tollhouse.routing import OPERATIONS


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


def test_the_apis_with_their_operations(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/apis")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [api] = body["value"]
    operations = api.pop("operations")
    assert api == {
        "id": "azure-openai",
        "displayName": "Azure OpenAI",
        "path": "openai",
        "backend": "mock",
        "template": "azure-openai",
        "subscriptionRequired": True,
        "subscriptionKey": {"header": "api-key", "query": "subscription-key"},
        "defaultApiVersion": None,
        "openaiRoutes": True,
        "policyFile": str(Path(gateway.config.data_dir, "policies/azure-openai.xml")),
        "deployments": [{"id": "gpt-4o-deployment", "model": "gpt-4o"}],
    }
    assert [op["id"] for op in operations] == [op.id for op in OPERATIONS]
    assert operations[0] == {
        "id": "ChatCompletions_Create",
        "displayName": "Creates a completion for the chat message",
        "method": "POST",
        "urlTemplate": "/deployments/{deployment-id}/chat/completions",
        "policyFile": None,
    }


def test_one_api(gateway: RunningGateway) -> None:
    listed = call(gateway, "GET", "/apis").json()["value"][0]
    response = call(gateway, "GET", "/apis/azure-openai")
    assert response.status_code == 200
    assert response.json() == listed


def test_an_unknown_api_is_404(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/apis/nope")
    assert assert_error(response, 404, "NotFound") == "There is no API 'nope'."


def test_the_products(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/products")
    assert response.status_code == 200
    assert response.json() == {
        "value": [
            {
                "id": "starter",
                "displayName": "Starter",
                "apis": ["azure-openai"],
                "policyFile": None,
            }
        ],
        "count": 1,
    }


def test_the_backends_show_no_secret(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/backends")

    assert response.status_code == 200
    assert response.json() == {
        "value": [
            {
                "id": "mock",
                "url": "mock:/openai",
                "kind": "azure-openai",
                "credentialType": "none",
            },
            {
                "id": "by-header",
                "url": "https://example.test/openai?api-key=REDACTED",
                "kind": "azure-openai",
                "credentialType": "header",
            },
            {
                "id": "by-named-value",
                "url": "https://example.test/v1",
                "kind": "openai",
                "credentialType": "header",
            },
            {
                "id": "by-env",
                "url": "https://example.test/openai",
                "kind": "azure-openai",
                "credentialType": "header",
            },
        ],
        "count": 4,
    }
    for secret in (*BACKEND_SECRETS, "BACKEND_KEY_ENV", "backend-key", "operator"):
        assert secret not in response.text


@pytest.mark.parametrize(
    "path", ["/apis", "/apis/azure-openai", "/products", "/backends"]
)
@pytest.mark.parametrize(
    ("key", "code"), [("", "AdminKeyMissing"), ("0" * 64, "AdminKeyInvalid")]
)
def test_every_route_needs_the_admin_key(
    gateway: RunningGateway, path: str, key: str, code: str
) -> None:
    assert_error(call(gateway, "GET", path, key=key), 401, code)


@pytest.mark.parametrize("path", ["/apis", "/products", "/backends"])
def test_the_configuration_is_read_only(gateway: RunningGateway, path: str) -> None:
    response = call(gateway, "POST", path, {})
    assert_error(response, 405, "MethodNotAllowed")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mock:/openai?code=QUERYSECRET-abc123", "mock:/openai?code=REDACTED"),
        (
            "https://fn.test/api?x-functions-key=S2&apikey=S3&api_key=S4&auth=S10",
            "https://fn.test/api?x-functions-key=REDACTED&apikey=REDACTED"
            "&api_key=REDACTED&auth=REDACTED",
        ),
        ("https://user:pw@aoai.test/openai", "https://aoai.test/openai"),
        ("https://aoai.test/openai", "https://aoai.test/openai"),
    ],
)
def test_a_backend_url_shows_no_query_value(url: str, shown: str) -> None:
    assert _public_url(url) == shown
