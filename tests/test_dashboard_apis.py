"""The dashboard's APIs and policies page: list, effective policy, editors."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.dashboard_support import csrf_token, login
from tests.management_support import (
    BACKEND_SECRETS,
    ENVIRON,
    POLICY_FILES,
    policied_config,
)
from tests.support import RunningGateway

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
HELLO = {"messages": [{"role": "user", "content": "hi"}]}
PAGE = "/dashboard/apis"
CHOSEN = {"api": "azure-openai", "operation": "ChatCompletions_Create", "product": ""}
OPERATION = "apis/azure-openai/operations/ChatCompletions_Create"
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


class Operator:
    """A logged-in session on the page, keeping every page it saw."""

    def __init__(self, gw: RunningGateway) -> None:
        self.gw = gw
        self.browser = login(gw)
        self.token = csrf_token(gw, self.browser)
        self.pages: list[str] = []

    def get(self, query: str = "") -> requests.Response:
        response = self.browser.get(self.gw.management_url + PAGE + query, timeout=10)
        self.pages.append(response.text)
        return response

    def post(self, action: str, scope: str, text: str) -> requests.Response:
        response = self.browser.post(
            f"{self.gw.management_url}{PAGE}/policy/{action}",
            data={"csrf_token": self.token, "scope": scope, "xml": text, **CHOSEN},
            allow_redirects=False,
            timeout=10,
        )
        self.pages.append(response.text)
        return response


@pytest.fixture
def operator(gateway: RunningGateway) -> Operator:
    return Operator(gateway)


def test_the_page_lists_apis_operations_backends_and_products(
    operator: Operator,
) -> None:
    page = operator.get().text
    assert "APIs and policies" in page
    assert "Azure OpenAI" in page or "azure-openai" in page
    assert "ChatCompletions_Create" in page
    assert "embeddings_create" in page
    assert "Starter" in page
    assert "by-header" in page and ">header<" in page
    assert 'href="/dashboard/apis"' in page  # in the navigation
    assert "<dt>Deployments</dt>" in page
    assert '<code>gpt-4o-deployment</code> <span class="hint">(gpt-4o)</span>' in page


def test_the_effective_policy_shows_each_policys_scope(
    operator: Operator, policies: Path
) -> None:
    page = operator.get(
        "?api=azure-openai&operation=ChatCompletions_Create&product=starter"
    ).text
    assert '<span class="badge scope scope-global">global</span>' in page
    assert '<span class="badge scope scope-api">api</span>' in page
    # The merged document, escaped, with each policy's scope.
    assert "&lt;!-- api scope: " in page
    assert "&lt;set-header name=" in page
    assert "<set-header" not in page
    # An editor per scope with a file, holding the file's text.
    for name in ("global.xml", "starter.xml", "api.xml", "chat.xml"):
        assert f"/<wbr>{name}" in page
    assert POLICY_FILES["api.xml"] in html.unescape(page)


def test_validate_says_valid_or_where_the_errors_are(operator: Operator) -> None:
    valid = operator.post("validate", OPERATION, FORBID_LOOPBACK)
    assert valid.status_code == 200
    assert "The document is valid." in valid.text

    invalid = operator.post("validate", OPERATION, BROKEN)
    assert invalid.status_code == 200
    assert "line 3, column" in invalid.text
    assert "The document is valid." not in invalid.text
    # The editor keeps what was typed.
    assert 'rate-limit calls="many"' in html.unescape(invalid.text)


def test_save_refuses_an_invalid_document(operator: Operator, policies: Path) -> None:
    before = (policies / "chat.xml").read_text()
    response = operator.post("save", OPERATION, BROKEN)
    assert response.status_code == 400
    assert "Not saved" in response.text
    assert "line 3, column" in response.text
    assert (policies / "chat.xml").read_text() == before


def test_save_replaces_the_document_and_the_gateway_runs_it(
    operator: Operator, gateway: RunningGateway, policies: Path
) -> None:
    assert gateway.post(CHAT, HELLO).status_code == 200
    response = operator.post("save", OPERATION, FORBID_LOOPBACK)
    assert response.status_code == 200, response.text
    assert "Saved; the gateway runs it" in response.text
    assert (policies / "chat.xml").read_text() == FORBID_LOOPBACK
    assert gateway.post(CHAT, HELLO).status_code == 403
    page = operator.get("?api=azure-openai&operation=ChatCompletions_Create").text
    assert '<span class="badge scope scope-operation">operation</span>' in page


def test_a_scope_without_a_file_names_the_key_to_set(operator: Operator) -> None:
    page = operator.get("?api=azure-openai&operation=embeddings_create").text
    assert "apis.azure-openai.operations.embeddings_create.policy_file" in page


def test_a_post_without_the_csrf_token_is_refused(
    operator: Operator, policies: Path
) -> None:
    before = (policies / "chat.xml").read_text()
    response = operator.browser.post(
        f"{operator.gw.management_url}{PAGE}/policy/save",
        data={"scope": OPERATION, "xml": FORBID_LOOPBACK, **CHOSEN},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 403
    assert (policies / "chat.xml").read_text() == before


def test_no_backend_secret_in_any_page(operator: Operator) -> None:
    operator.get()
    operator.get("?api=azure-openai&operation=ChatCompletions_Create&product=starter")
    operator.post("validate", OPERATION, POLICY_FILES["global.xml"])
    operator.post("save", "global", POLICY_FILES["global.xml"])
    operator.post("save", OPERATION, BROKEN)
    assert len(operator.pages) == 5
    for page in operator.pages:
        for secret in BACKEND_SECRETS:
            assert secret not in page
