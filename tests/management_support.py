"""Shared by the management API's tests: a gateway with secrets to keep."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import requests

from tests.support import RunningGateway, default_config
from tollhouse.config import (
    BackendConfig,
    CredentialsConfig,
    GatewayConfig,
    NamedValueConfig,
    OperationConfig,
    ProductConfig,
)

#: Secrets of the gateway `secured_config` describes; no response shows them.
BACKEND_SECRETS = (
    "header-secret-3f9a",
    "named-secret-77c1",
    "url-password-51d0",
    "query-secret-e2b4",
    "env-secret-9c08",
)
ENVIRON = {"BACKEND_KEY_ENV": "env-secret-9c08"}


def secured_config(data_dir: Path) -> GatewayConfig:
    """The embedded default plus a product and backends that hold secrets."""
    config = default_config(data_dir)
    backends = {
        **config.backends,
        "by-header": BackendConfig(
            url="https://operator:url-password-51d0@example.test/openai"
            "?api-key=query-secret-e2b4",
            credentials=CredentialsConfig(type="header", value="header-secret-3f9a"),
        ),
        "by-named-value": BackendConfig(
            url="https://example.test/v1",
            kind="openai",
            credentials=CredentialsConfig(
                type="header", header="Authorization", value="{{backend-key}}"
            ),
        ),
        "by-env": BackendConfig(
            url="https://example.test/openai",
            credentials=CredentialsConfig(type="header", env="BACKEND_KEY_ENV"),
        ),
    }
    return dataclasses.replace(
        config,
        backends=backends,
        named_values={
            "backend-key": NamedValueConfig(value="named-secret-77c1", secret=True)
        },
        products={
            "starter": ProductConfig(apis=("azure-openai",), display_name="Starter")
        },
    )


#: The policy documents of `policied_config`, by file name.
POLICY_FILES = {
    "global.xml": """<policies>
    <inbound>
        <set-variable name="backend-key" value="{{backend-key}}" />
    </inbound>
    <backend>
        <forward-request />
    </backend>
    <outbound />
    <on-error />
</policies>
""",
    "starter.xml": "<policies><inbound><base /></inbound></policies>\n",
    "api.xml": """<policies>
    <inbound>
        <base />
        <set-header name="x-api-scope" exists-action="override">
            <value>api</value>
        </set-header>
    </inbound>
</policies>
""",
    "chat.xml": "<policies><inbound><base /></inbound></policies>\n",
}


def policied_config(data_dir: Path, policy_dir: Path) -> GatewayConfig:
    """`secured_config` with a document at every scope, written to ``policy_dir``."""
    policy_dir.mkdir(parents=True, exist_ok=True)
    for name, text in POLICY_FILES.items():
        (policy_dir / name).write_text(text, encoding="utf-8")
    config = secured_config(data_dir)
    api = dataclasses.replace(
        config.apis["azure-openai"],
        policy_file=str(policy_dir / "api.xml"),
        operations={
            "ChatCompletions_Create": OperationConfig(str(policy_dir / "chat.xml"))
        },
    )
    starter = dataclasses.replace(
        config.products["starter"], policy_file=str(policy_dir / "starter.xml")
    )
    return dataclasses.replace(
        config,
        policy_file=str(policy_dir / "global.xml"),
        apis={"azure-openai": api},
        products={"starter": starter},
    )


def secured_gateway(data_dir: Path) -> RunningGateway:
    """A started gateway of `secured_config`; the caller stops it."""
    return RunningGateway(secured_config(data_dir), environ=ENVIRON).start()


def call(
    gw: RunningGateway,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    data: bytes | None = None,
    content_type: str | None = None,
) -> requests.Response:
    """``method path`` on the management API, with the admin key by default."""
    secret = gw.admin_key if key is None else key
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return requests.request(
        method,
        gw.management_url + path,
        json=body,
        data=data,
        headers=headers,
        timeout=10,
    )


def assert_error(response: requests.Response, status: int, code: str) -> str:
    """The error body in APIM's shape; its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["statusCode"] == status
    assert body["error"]["code"] == code
    assert body["error"]["message"] == body["message"]
    message: str = body["message"]
    return message
