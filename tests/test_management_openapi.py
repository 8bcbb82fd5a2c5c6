"""The management API's OpenAPI document, fuzzing against it, and secrets."""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from tests.management_support import (
    BACKEND_SECRETS,
    ENVIRON,
    assert_error,
    call,
    policied_config,
    secured_gateway,
)
from tests.support import RunningGateway
from tollhouse.dashboard import PREFIX as DASHBOARD
from tollhouse.management import openapi

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()


def test_the_document_describes_every_route_and_no_other(
    gateway: RunningGateway,
) -> None:
    management = gateway.gateway.management
    assert management is not None
    served = {
        (method.lower(), resource.canonical)
        for resource in management.app.router.resources()
        for route in resource
        for method in [route.method]
        if method.lower() in METHODS
        # The dashboard's pages are HTML for people, not part of the API.
        and not resource.canonical.startswith(DASHBOARD)
    }
    described = {
        (method, path)
        for path, item in openapi.document()["paths"].items()
        for method in item
        if method in METHODS
    }
    assert served == described


def test_the_document_is_served(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == openapi.document()


@pytest.mark.parametrize(
    ("key", "code"), [("", "AdminKeyMissing"), ("0" * 64, "AdminKeyInvalid")]
)
def test_the_document_needs_the_admin_key(
    gateway: RunningGateway, key: str, code: str
) -> None:
    assert_error(call(gateway, "GET", "/openapi.json", key=key), 401, code)


def test_the_document_refuses_other_methods(gateway: RunningGateway) -> None:
    assert_error(call(gateway, "POST", "/openapi.json"), 405, "MethodNotAllowed")


@pytest.fixture
def policied(tmp_path: Path) -> Iterator[RunningGateway]:
    """A gateway with secrets and a policy document at every scope."""
    config = policied_config(tmp_path / "data", tmp_path / "policies")
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


def test_no_get_shows_a_key_or_a_secret(policied: RunningGateway) -> None:
    gateway = policied
    created = call(gateway, "POST", "/subscriptions", {"id": "team-a"}).json()
    assert gateway.post(CHAT, {"messages": [{"role": "user", "content": "hi"}]}).ok
    deadline = time.monotonic() + 10
    logged = call(gateway, "GET", "/logs").json()["value"]
    while not logged and time.monotonic() < deadline:
        time.sleep(0.05)
        logged = call(gateway, "GET", "/logs").json()["value"]
    filled = {
        "{correlation_id}": logged[0]["correlationId"],
        "{id}": "team-a",
        "{api}": "azure-openai",
        "{product}": "starter",
        "{operation}": "ChatCompletions_Create",
    }
    kept = [
        gateway.key,
        gateway.admin_key,
        created["primaryKey"],
        created["secondaryKey"],
        *BACKEND_SECRETS,
    ]

    paths = [
        functools.reduce(lambda p, kv: p.replace(*kv), filled.items(), path)
        for path, item in openapi.document()["paths"].items()
        if "get" in item
    ]
    for path in paths:
        response = call(gateway, "GET", path)
        assert response.status_code == 200, path
        for secret in kept:
            assert secret not in response.text, (path, secret)


def test_schemathesis_finds_no_server_error(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    # Bounded: few examples per operation, loopback only, a time budget.
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        gateway.management_url + "/openapi.json",
        # Both ways of sending the key, so neither is filled with noise.
        "--header",
        f"Authorization: Bearer {gateway.admin_key}",
        "--header",
        f"api-key: {gateway.admin_key}",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        "5",
        "--max-time",
        "30",
        "--request-timeout",
        "10",
        "--seed",
        "1",
        "--no-color",
    ]
    result = run(command, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[Any]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )
