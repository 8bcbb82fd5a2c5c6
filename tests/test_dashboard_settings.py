"""The dashboard's Settings page: diagnostics per API over the global setting."""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.dashboard_support import csrf_token, login
from tests.management_support import ENVIRON, call, secured_config
from tests.support import RunningGateway
from tollhouse.config import ApiConfig, DiagnosticsConfig, GatewayConfig
from tollhouse.dashboard.settings import fields
from tollhouse.diagnostics import FIELDS

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
PAGE = "/dashboard/settings"
GLOBAL = "global"
OPENAI = "apis/azure-openai"
RAW = "apis/raw"
#: Every field of a form left empty: all of them inherit.
EMPTY = dict.fromkeys(FIELDS, "")
MESSAGE_BYTES = "'max_message_bytes' must be an integer from 1 to 1073741824."
BODY_BYTES = "'body_bytes' must be an integer from 0 to 8192."


def settings_config(data_dir: Path) -> GatewayConfig:
    """`secured_config` with file settings: a global one and a second API's."""
    config = secured_config(data_dir)
    raw = ApiConfig(
        path="raw",
        backend="mock",
        template="passthrough",
        display_name="Raw passthrough",
        openai_routes=False,
        diagnostics=DiagnosticsConfig(sampling_percentage=50.0, body_bytes=4096),
    )
    return dataclasses.replace(
        config,
        diagnostics=DiagnosticsConfig(max_message_bytes=100_000),
        apis={**config.apis, "raw": raw},
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = RunningGateway(settings_config(tmp_path / "data"), environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


class Operator:
    """A logged-in session on the Settings page."""

    def __init__(self, gw: RunningGateway) -> None:
        self.gw = gw
        self.browser = login(gw)
        self.token = csrf_token(gw, self.browser)

    def get(self, query: str = "") -> requests.Response:
        return self.browser.get(self.gw.management_url + PAGE + query, timeout=10)

    def post(
        self, path: str, form: dict[str, str], *, token: bool = True
    ) -> requests.Response:
        data = {"csrf_token": self.token, **form} if token else form
        return self.browser.post(
            f"{self.gw.management_url}{PAGE}/{path}",
            data=data,
            allow_redirects=False,
            timeout=10,
        )

    def save(self, scope: str, **values: str) -> requests.Response:
        """Post ``scope``'s form with ``values``, every other field empty."""
        return self.post(scope, {**EMPTY, **values})


@pytest.fixture
def operator(gateway: RunningGateway) -> Operator:
    return Operator(gateway)


def row(page: str, scope: str, name: str) -> str:
    """The table row of setting ``name`` in ``scope``'s card, unescaped."""
    anchor = "settings-" + scope.replace("/", "-")
    found = re.search(rf'<tr id="{anchor}-{name}-row".*?</tr>', page, re.S)
    assert found is not None, f"no row {name} in {scope}"
    return html.unescape(found[0])


def source(page: str, scope: str, name: str) -> str:
    """The layer a field's value comes from, as its badge's class says."""
    found = re.search(r"badge source source-([a-z-]+)", row(page, scope, name))
    assert found is not None
    return found[1]


def stored(gw: RunningGateway) -> dict[str, Any]:
    """The stored layers, as the management API reports them."""
    body = call(gw, "GET", "/diagnostics").json()
    apis = {f"apis/{api['api']}": api["stored"] for api in body["apis"]}
    return {GLOBAL: body["global"]["stored"], **apis}


NOTHING_STORED: dict[str, dict[str, Any]] = {GLOBAL: {}, OPENAI: {}, RAW: {}}


def logged_prompt(gw: RunningGateway, prompt: str) -> Any:
    """The prompt the LLM log kept of one chat of ``prompt``; None if none."""
    response = gw.post(CHAT, {"messages": [{"role": "user", "content": prompt}]})
    assert response.status_code == 200, response.text
    correlation_id = response.headers["x-correlation-id"]
    usage = gw.wait_rows(
        "SELECT 1 FROM ApiManagementGatewayLlmLog "
        "WHERE CorrelationId = ? AND SequenceNumber = 0",
        (correlation_id,),
    )
    assert usage, "the usage row never came"
    return gw.messages(correlation_id, "RequestMessages")


# Showing -------------------------------------------------------------------


def test_every_field_has_a_label_and_help() -> None:
    shown = fields()

    assert [f.name for f in shown] == list(FIELDS)
    for field in shown:
        assert field.label != field.name
        assert field.help
    kinds = {f.name: f.kind for f in shown}
    assert kinds["log_llm_messages"] == "bool"
    assert kinds["sampling_percentage"] == "float"
    assert kinds["max_message_bytes"] == "int"


def test_the_page_shows_each_value_and_the_layer_it_comes_from(
    operator: Operator,
) -> None:
    response = operator.get()

    assert response.status_code == 200
    page = response.text
    assert 'href="/dashboard/settings" aria-current="page"' in page
    assert "Every API" in page and "Raw passthrough" in page
    # The global setting: the file's size limit, the rest built in.
    assert "100,000 bytes (97.7 KiB)" in row(page, GLOBAL, "max_message_bytes")
    assert source(page, GLOBAL, "max_message_bytes") == "global-file"
    assert source(page, GLOBAL, "log_llm_messages") == "default"
    # An API without a setting of its own inherits the global one...
    limit = row(page, OPENAI, "max_message_bytes")
    assert source(page, OPENAI, "max_message_bytes") == "global-file"
    assert "<s>2,097,152 bytes (2 MiB)</s>" in limit
    # ... and one with file settings shows them over the global ones.
    sampling = row(page, RAW, "sampling_percentage")
    assert "50 %" in sampling
    assert "<s>100 %</s>" in sampling
    assert source(page, RAW, "sampling_percentage") == "api-file"
    assert source(page, RAW, "body_bytes") == "api-file"
    assert source(page, RAW, "always_log_errors") == "default"
    # Nothing is stored: no Inherit button, and Reset has nothing to do.
    assert 'name="field"' not in page
    assert page.count('disabled title="Nothing is stored for this scope"') == 3


def test_the_form_shows_what_each_empty_field_inherits(operator: Operator) -> None:
    page = operator.get().text

    logging = row(page, OPENAI, "log_llm_messages")
    assert '<option value="">inherit (on, default)</option>' in logging
    assert 'placeholder="inherit: 100000"' in row(page, OPENAI, "max_message_bytes")


# Changing ------------------------------------------------------------------


def test_saving_the_global_setting_applies_at_once(
    operator: Operator, gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    assert logged_prompt(gateway, "Before.") is not None

    with caplog.at_level(logging.INFO, logger="tollhouse.dashboard.settings"):
        response = operator.save(
            GLOBAL, log_llm_messages="false", sampling_percentage="75"
        )

    assert response.status_code == 303
    location = "/dashboard/settings?saved=global#settings-global"
    assert response.headers["Location"] == location
    assert stored(gateway) == {
        **NOTHING_STORED,
        GLOBAL: {"log_llm_messages": False, "sampling_percentage": 75.0},
    }
    changes = [
        r.getMessage()
        for r in caplog.records
        if r.name == "tollhouse.dashboard.settings"
    ]
    assert changes == ["dashboard set the diagnostics of global"]
    assert logged_prompt(gateway, "After.") is None
    page = operator.get("?saved=global").text
    assert "Saved. The next request is logged with it." in page
    assert source(page, OPENAI, "log_llm_messages") == "global-stored"
    assert source(page, RAW, "sampling_percentage") == "api-file"
    assert 'value="75"' in row(page, GLOBAL, "sampling_percentage")
    assert '<option value="false" selected>' in row(page, GLOBAL, "log_llm_messages")


def test_an_apis_setting_overrides_the_global_one(
    operator: Operator, gateway: RunningGateway
) -> None:
    operator.save(GLOBAL, log_llm_messages="false")

    response = operator.save(OPENAI, log_llm_messages="true", max_message_bytes="1000")

    assert response.status_code == 303
    assert stored(gateway)[OPENAI] == {
        "log_llm_messages": True,
        "max_message_bytes": 1000,
    }
    prompt = logged_prompt(gateway, "Logged for this API, " + "and cut " * 300)
    assert "truncated by Tollhouse" in prompt[0]["content"]
    page = operator.get().text
    logging = row(page, OPENAI, "log_llm_messages")
    assert source(page, OPENAI, "log_llm_messages") == "api-stored"
    assert '<s>off</s> <span class="layer">global · stored</span>' in logging
    assert "inherit (off, global · stored)" in logging
    assert source(page, RAW, "log_llm_messages") == "global-stored"


def test_a_field_left_empty_is_no_longer_stored(
    operator: Operator, gateway: RunningGateway
) -> None:
    operator.save(OPENAI, log_llm_messages="false", max_message_bytes="64")

    operator.save(OPENAI, max_message_bytes="64")

    assert stored(gateway)[OPENAI] == {"max_message_bytes": 64}
    assert logged_prompt(gateway, "Logged again.") is not None


def test_inherit_removes_one_field_from_the_stored_setting(
    operator: Operator, gateway: RunningGateway
) -> None:
    operator.save(OPENAI, log_llm_messages="false", max_message_bytes="64")
    page = operator.get().text
    assert 'name="field" value="max_message_bytes"' in row(
        page, OPENAI, "max_message_bytes"
    )

    response = operator.post(f"{OPENAI}/inherit", {"field": "max_message_bytes"})

    assert response.status_code == 303
    assert stored(gateway)[OPENAI] == {"log_llm_messages": False}
    page = operator.get().text
    assert source(page, OPENAI, "max_message_bytes") == "global-file"


@pytest.mark.parametrize("scope", [GLOBAL, OPENAI, RAW])
def test_reset_returns_a_scope_to_the_configuration(
    operator: Operator, gateway: RunningGateway, scope: str
) -> None:
    for each in (GLOBAL, OPENAI, RAW):
        operator.save(each, always_log_errors="false", body_bytes="10")

    response = operator.post(f"{scope}/reset", {})

    assert response.status_code == 303
    expected = {
        **NOTHING_STORED,
        **{
            s: {"always_log_errors": False, "body_bytes": 10}
            for s in (GLOBAL, OPENAI, RAW)
            if s != scope
        },
    }
    assert stored(gateway) == expected
    page = operator.get().text
    assert source(page, RAW, "body_bytes") == (
        "api-file" if scope == RAW else "api-stored"
    )


# Refusing ------------------------------------------------------------------


@pytest.mark.parametrize("scope", [GLOBAL, OPENAI])
@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("sampling_percentage", "150", "'sampling_percentage' must be a number from"),
        ("sampling_percentage", "-1", "'sampling_percentage' must be a number from"),
        ("sampling_percentage", "nan", "'sampling_percentage' must be a number from"),
        ("sampling_percentage", "lots", "'sampling_percentage' must be a number from"),
        ("max_message_bytes", "-5", MESSAGE_BYTES),
        ("max_message_bytes", "0", MESSAGE_BYTES),
        ("max_message_bytes", "1.5", MESSAGE_BYTES),
        ("max_message_bytes", "1" * 30, MESSAGE_BYTES),
        ("max_message_bytes", str(2**30 + 1), MESSAGE_BYTES),
        ("body_bytes", "-1", BODY_BYTES),
        ("body_bytes", "ten", BODY_BYTES),
        ("body_bytes", "8193", BODY_BYTES),
        ("body_bytes", str(2**64), BODY_BYTES),
        ("log_llm_messages", "maybe", "'log_llm_messages' must be true or false"),
    ],
)
def test_a_value_that_is_not_valid_is_refused_next_to_its_field(
    operator: Operator,
    gateway: RunningGateway,
    scope: str,
    name: str,
    value: str,
    reason: str,
) -> None:
    response = operator.save(scope, always_log_errors="false", **{name: value})

    assert response.status_code == 400
    page = response.text
    assert "Not saved: correct the settings marked below." in page
    refused = row(page, scope, name)
    assert 'class="invalid"' in refused
    assert reason in refused
    # The other field keeps what was chosen; nothing at all is stored.
    kept = row(page, scope, "always_log_errors")
    assert '<option value="false" selected>' in kept
    assert stored(gateway) == NOTHING_STORED


def test_every_refused_field_says_why(operator: Operator) -> None:
    response = operator.save(RAW, sampling_percentage="101", body_bytes="-1")

    assert response.status_code == 400
    assert "must be a number" in row(response.text, RAW, "sampling_percentage")
    assert "must be an integer" in row(response.text, RAW, "body_bytes")
    assert "invalid" not in row(response.text, RAW, "max_message_bytes")


def test_a_form_without_the_csrf_token_is_refused(
    operator: Operator, gateway: RunningGateway
) -> None:
    for path in (GLOBAL, f"{OPENAI}/reset", f"{OPENAI}/inherit"):
        form = {**EMPTY, "log_llm_messages": "false", "field": "log_llm_messages"}
        response = operator.post(path, form, token=False)
        assert response.status_code == 403
    assert stored(gateway) == NOTHING_STORED


def test_without_a_session_the_page_sends_to_the_login(gateway: RunningGateway) -> None:
    page = requests.get(
        gateway.management_url + PAGE, allow_redirects=False, timeout=10
    )
    assert page.status_code == 303
    assert page.headers["Location"] == "/dashboard/login?next=/dashboard/settings"

    form = requests.post(
        f"{gateway.management_url}{PAGE}/global",
        data={"log_llm_messages": "false"},
        allow_redirects=False,
        timeout=10,
    )
    assert form.status_code == 403
    assert stored(gateway) == NOTHING_STORED


def test_an_unknown_api_or_field_is_refused(
    operator: Operator, gateway: RunningGateway
) -> None:
    unknown_api = operator.save("apis/nope", log_llm_messages="false")
    assert unknown_api.status_code == 404
    assert "There is no API &#39;nope&#39;" in unknown_api.text

    unknown_field = operator.post(f"{OPENAI}/inherit", {"field": "colour"})
    assert unknown_field.status_code == 400
    assert stored(gateway) == NOTHING_STORED
