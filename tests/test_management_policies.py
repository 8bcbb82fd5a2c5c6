"""The management API's policy routes: effective, validate, read, replace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.management_support import (
    ENVIRON,
    POLICY_FILES,
    assert_error,
    call,
    policied_config,
    secured_gateway,
)
from tests.support import RunningGateway
from tollhouse.policy.loader import DEFAULT_GLOBAL_POLICY
from tollhouse.policy.registry import DEFAULT_SCOPE_POLICY

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
HELLO = {"messages": [{"role": "user", "content": "hi"}]}
EFFECTIVE = "/apis/azure-openai/operations/ChatCompletions_Create/policy"
OPERATION_SCOPE = "/policies/apis/azure-openai/operations/ChatCompletions_Create"
FORBID_LOOPBACK = """<policies>
    <inbound>
        <base />
        <ip-filter action="forbid">
            <address>127.0.0.1</address>
        </ip-filter>
    </inbound>
</policies>
"""
BROKEN = """<policies>
    <inbound>
        <rate-limit calls="many" />
        <no-such-policy />
    </inbound>
</policies>
"""


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    return tmp_path / "policies"


@pytest.fixture
def gateway(tmp_path: Path, policies: Path) -> Iterator[RunningGateway]:
    config = policied_config(tmp_path / "data", policies)
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[RunningGateway]:
    """A gateway without any policy file."""
    gw = secured_gateway(tmp_path / "bare")
    try:
        yield gw
    finally:
        gw.stop()


def put_xml(gw: RunningGateway, path: str, text: str) -> requests.Response:
    return requests.put(
        gw.management_url + path,
        data=text.encode(),
        headers={
            "Authorization": f"Bearer {gw.admin_key}",
            "Content-Type": "application/xml",
        },
        timeout=10,
    )


# The effective policy ------------------------------------------------------


def test_the_effective_policy_shows_each_element_with_its_scope(
    gateway: RunningGateway, policies: Path
) -> None:
    response = call(gateway, "GET", EFFECTIVE)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["api"], body["operation"], body["product"]) == (
        "azure-openai",
        "ChatCompletions_Create",
        None,
    )
    top = [
        (e["name"], e["scope"], e["section"], e["path"])
        for e in body["elements"]
        if e["path"].count("/") == 1
    ]
    assert top == [
        ("set-variable", "global", "inbound", "inbound/set-variable[1]"),
        ("set-header", "api", "inbound", "inbound/set-header[1]"),
        ("forward-request", "global", "backend", "backend/forward-request[1]"),
    ]
    assert body["elements"][0]["source"] == str(policies / "global.xml")
    # A secret named value shows as its reference, never as its value.
    assert 'value="{{backend-key}}"' in body["xml"]
    assert "named-secret-77c1" not in response.text
    assert f"<!-- api scope: {policies / 'api.xml'} -->" in body["xml"]


def test_the_effective_policy_with_a_product(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", EFFECTIVE + "?product=starter")
    assert response.status_code == 200
    assert response.json()["product"] == "starter"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/apis/nope/operations/ChatCompletions_Create/policy",
            "There is no API 'nope'.",
        ),
        (
            "/apis/azure-openai/operations/Nope/policy",
            "There is no operation of API 'azure-openai' 'Nope'.",
        ),
        (EFFECTIVE + "?product=nope", "There is no product 'nope'."),
    ],
)
def test_the_effective_policy_of_something_unknown_is_404(
    gateway: RunningGateway, path: str, message: str
) -> None:
    assert assert_error(call(gateway, "GET", path), 404, "NotFound") == message


# Validation --------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml"])
def test_a_valid_document_validates(gateway: RunningGateway, content_type: str) -> None:
    response = call(
        gateway,
        "POST",
        "/policies/validate",
        data=FORBID_LOOPBACK.encode(),
        content_type=content_type,
    )
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": []}


def test_validation_reports_what_policy_check_prints(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    response = call(gateway, "POST", "/policies/validate", {"xml": BROKEN})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False

    # The CLI's lines are FILE:LINE:COLUMN: message, for the same errors.
    from tollhouse.policy.registry import gateway_loader

    broken = tmp_path / "broken.xml"
    broken.write_text(BROKEN, encoding="utf-8")
    loader = gateway_loader(gateway.config, ENVIRON)
    printed = [str(error) for error in loader.check(broken)]
    shown = [
        f"{broken}:{e['line']}:{e['column']}: {e['message']}" for e in body["errors"]
    ]
    assert shown == printed
    assert len(shown) == 2


def test_validation_sees_the_gateways_named_values(gateway: RunningGateway) -> None:
    text = POLICY_FILES["global.xml"].replace("backend-key", "unknown-value")
    body = call(gateway, "POST", "/policies/validate", {"xml": text}).json()
    assert body["valid"] is False
    assert "unknown-value" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "data", "message"),
    [
        ({"xml": ""}, None, "'xml' must be the text of a policy document."),
        ({"text": "x"}, None, 'The body must be the JSON object {"xml": "..."}.'),
        (None, b"{", None),
    ],
)
def test_validation_refuses_a_body_it_cannot_read(
    gateway: RunningGateway,
    body: object,
    data: bytes | None,
    message: str | None,
) -> None:
    response = call(
        gateway, "POST", "/policies/validate", body, data=data, content_type=None
    )
    got = assert_error(response, 400, "InvalidRequestBody")
    if message is not None:
        assert got == message


def test_validation_refuses_another_content_type(gateway: RunningGateway) -> None:
    response = call(
        gateway,
        "POST",
        "/policies/validate",
        data=b"<policies />",
        content_type="text/plain",
    )
    message = assert_error(response, 400, "InvalidRequestBody")
    assert "application/xml or text/xml" in message


# Reading and replacing ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "scope", "name"),
    [
        ("/policies/global", "global", "global.xml"),
        ("/policies/products/starter", "product", "starter.xml"),
        ("/policies/apis/azure-openai", "api", "api.xml"),
        (OPERATION_SCOPE, "operation", "chat.xml"),
    ],
)
def test_a_scopes_document_as_written(
    gateway: RunningGateway, policies: Path, path: str, scope: str, name: str
) -> None:
    response = call(gateway, "GET", path)
    assert response.status_code == 200
    assert response.json() == {
        "scope": scope,
        "policyFile": str(policies / name),
        "xml": POLICY_FILES[name],
    }


def test_a_scope_without_a_document_is_404(bare: RunningGateway) -> None:
    message = assert_error(call(bare, "GET", OPERATION_SCOPE), 404, "NotFound")
    assert message == (
        "The operation 'ChatCompletions_Create' of API 'azure-openai' has no "
        "policy document; apis.azure-openai.operations.ChatCompletions_Create."
        "policy_file is not set."
    )


@pytest.mark.parametrize(
    ("path", "scope", "name", "default"),
    [
        ("/policies/global", "global", "global.xml", DEFAULT_GLOBAL_POLICY),
        (
            "/policies/apis/azure-openai",
            "api",
            "azure-openai.xml",
            DEFAULT_SCOPE_POLICY,
        ),
    ],
)
def test_the_embedded_defaults_documents_are_written_and_editable(
    bare: RunningGateway, path: str, scope: str, name: str, default: str
) -> None:
    file = Path(bare.config.data_dir) / "policies" / name
    response = call(bare, "GET", path)
    assert response.status_code == 200
    assert response.json() == {"scope": scope, "policyFile": str(file), "xml": default}
    assert file.read_text() == default
    assert put_xml(bare, path, FORBID_LOOPBACK).status_code == 200
    assert file.read_text() == FORBID_LOOPBACK


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/policies/products/nope", "There is no product 'nope'."),
        ("/policies/apis/nope", "There is no API 'nope'."),
        (
            "/policies/apis/azure-openai/operations/Nope",
            "There is no operation of API 'azure-openai' 'Nope'.",
        ),
    ],
)
def test_an_unknown_scope_is_404(
    gateway: RunningGateway, path: str, message: str
) -> None:
    assert assert_error(call(gateway, "GET", path), 404, "NotFound") == message
    response = put_xml(gateway, path, FORBID_LOOPBACK)
    assert assert_error(response, 404, "NotFound") == message


def test_a_replacement_runs_on_the_next_request(
    gateway: RunningGateway, policies: Path
) -> None:
    assert gateway.post(CHAT, HELLO).status_code == 200

    response = put_xml(gateway, OPERATION_SCOPE, FORBID_LOOPBACK)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "scope": "operation",
        "policyFile": str(policies / "chat.xml"),
        "reloaded": True,
    }
    assert (policies / "chat.xml").read_text(encoding="utf-8") == FORBID_LOOPBACK
    assert sorted(p.name for p in policies.iterdir()) == sorted(POLICY_FILES)
    assert gateway.post(CHAT, HELLO).status_code == 403
    shown = call(gateway, "GET", EFFECTIVE).json()
    assert "ip-filter" in [e["name"] for e in shown["elements"]]


def test_a_replacement_that_does_not_validate_changes_nothing(
    gateway: RunningGateway, policies: Path
) -> None:
    response = call(gateway, "PUT", OPERATION_SCOPE, {"xml": BROKEN})

    message = assert_error(response, 400, "InvalidPolicyDocument")
    assert message.startswith("The document has 2 error(s); the first: 3:")
    errors = response.json()["error"]["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [(3, 9), (4, 9)]
    assert (policies / "chat.xml").read_text(encoding="utf-8") == POLICY_FILES[
        "chat.xml"
    ]
    assert gateway.post(CHAT, HELLO).status_code == 200


def test_a_section_the_scope_does_not_allow_is_refused(
    gateway: RunningGateway,
) -> None:
    # ip-filter runs inbound only; in outbound it does not validate.
    text = FORBID_LOOPBACK.replace("inbound", "outbound")
    response = put_xml(gateway, "/policies/apis/azure-openai", text)
    assert_error(response, 400, "InvalidPolicyDocument")


def test_a_scope_without_a_policy_file_is_409(bare: RunningGateway) -> None:
    response = put_xml(bare, OPERATION_SCOPE, FORBID_LOOPBACK)
    message = assert_error(response, 409, "Conflict")
    assert message == (
        "The operation 'ChatCompletions_Create' of API 'azure-openai' has no "
        "policy file to write; set apis.azure-openai.operations."
        "ChatCompletions_Create.policy_file in the configuration, then restart "
        "the gateway."
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", EFFECTIVE),
        ("POST", "/policies/validate"),
        ("GET", "/policies/global"),
        ("PUT", "/policies/global"),
        ("GET", OPERATION_SCOPE),
        ("PUT", OPERATION_SCOPE),
    ],
)
@pytest.mark.parametrize(
    ("key", "code"), [("", "AdminKeyMissing"), ("0" * 64, "AdminKeyInvalid")]
)
def test_the_policy_routes_need_the_admin_key(
    gateway: RunningGateway,
    policies: Path,
    method: str,
    path: str,
    key: str,
    code: str,
) -> None:
    response = call(gateway, method, path, {"xml": FORBID_LOOPBACK}, key=key)
    assert_error(response, 401, code)
    assert (policies / "global.xml").read_text(encoding="utf-8") == POLICY_FILES[
        "global.xml"
    ]
