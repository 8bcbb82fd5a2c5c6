"""The management API's diagnostics settings, layered over the file's."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.management_support import ENVIRON, assert_error, call, secured_config
from tests.support import RunningGateway
from tollhouse.config import DiagnosticsConfig, load_config
from tollhouse.errors import ConfigError

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
API = "/apis/azure-openai/diagnostics"
DEFAULTS = {
    "log_llm_messages": True,
    "max_message_bytes": 2 * 2**20,
    "sampling_percentage": 100.0,
    "always_log_errors": True,
    "body_bytes": 0,
}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = RunningGateway(secured_config(tmp_path / "data"), environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


def message_rows(gw: RunningGateway, prompt: str) -> int:
    """How many message rows the LLM log holds for one chat of ``prompt``."""
    response = gw.post(CHAT, {"messages": [{"role": "user", "content": prompt}]})
    assert response.status_code == 200, response.text
    correlation_id = response.headers["x-correlation-id"]
    query = (
        "ApiManagementGatewayLlmLog"
        f' | where CorrelationId == "{correlation_id}"'
        " | summarize rows = count(), messages = countif(SequenceNumber > 0)"
    )
    deadline = time.monotonic() + 10
    while True:
        rows = call(gw, "POST", "/query", {"query": query}).json()["rows"]
        if rows[0][0] or time.monotonic() > deadline:
            assert rows[0][0] >= 1, "the usage row never came"
            return int(rows[0][1])
        time.sleep(0.05)


def test_without_stored_settings_the_defaults_apply(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/diagnostics")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["global"] == {"effective": DEFAULTS, "configured": {}, "stored": {}}
    assert body["apis"] == [
        {
            "api": "azure-openai",
            "effective": DEFAULTS,
            "overrides": {},
            "configured": {},
            "stored": {},
        }
    ]
    assert call(gateway, "GET", API).json() == body["apis"][0]


def test_turning_message_logging_off_applies_to_the_next_request(
    gateway: RunningGateway,
) -> None:
    assert message_rows(gateway, "Before the change.") == 2

    response = call(gateway, "PUT", API, {"log_llm_messages": False})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["effective"] == {**DEFAULTS, "log_llm_messages": False}
    assert body["overrides"] == {"log_llm_messages": "store"}
    assert body["stored"] == {"log_llm_messages": False}
    assert message_rows(gateway, "After the change.") == 0

    # An empty layer returns the API to the file's setting.
    assert call(gateway, "PUT", API, {}).json()["overrides"] == {}
    assert message_rows(gateway, "Back on.") == 2


def test_an_apis_setting_overrides_the_global_one(gateway: RunningGateway) -> None:
    response = call(gateway, "PUT", "/diagnostics", {"log_llm_messages": False})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["global"]["stored"] == {"log_llm_messages": False}
    assert body["apis"][0]["effective"]["log_llm_messages"] is False
    assert body["apis"][0]["overrides"] == {}
    assert message_rows(gateway, "Globally off.") == 0

    call(gateway, "PUT", API, {"log_llm_messages": True, "max_message_bytes": 64})
    detail = call(gateway, "GET", API).json()
    assert detail["effective"]["log_llm_messages"] is True
    assert detail["overrides"] == {
        "log_llm_messages": "store",
        "max_message_bytes": "store",
    }
    assert message_rows(gateway, "On for this API, " + "long " * 40) == 2


def test_stored_settings_survive_a_restart(tmp_path: Path) -> None:
    config = secured_config(tmp_path / "data")
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        call(gw, "PUT", "/diagnostics", {"sampling_percentage": 0.5})
        call(gw, "PUT", API, {"always_log_errors": False})
    finally:
        gw.stop()

    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        body = call(gw, "GET", "/diagnostics").json()
    finally:
        gw.stop()
    assert body["global"]["stored"] == {"sampling_percentage": 0.5}
    assert body["apis"][0]["effective"] == {
        **DEFAULTS,
        "sampling_percentage": 0.5,
        "always_log_errors": False,
    }


def test_the_files_settings_are_the_layers_below(tmp_path: Path) -> None:
    config = secured_config(tmp_path / "data")
    api = dataclasses.replace(
        config.apis["azure-openai"],
        diagnostics=DiagnosticsConfig(sampling_percentage=50.0),
    )
    config = dataclasses.replace(
        config,
        diagnostics=DiagnosticsConfig(max_message_bytes=1000, sampling_percentage=10),
        apis={"azure-openai": api},
    )
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        call(gw, "PUT", API, {"max_message_bytes": 2000})
        body = call(gw, "GET", "/diagnostics").json()
    finally:
        gw.stop()

    assert body["global"]["effective"]["max_message_bytes"] == 1000
    assert body["global"]["configured"] == {
        "max_message_bytes": 1000,
        "sampling_percentage": 10,
    }
    detail = body["apis"][0]
    assert detail["effective"]["sampling_percentage"] == 50.0
    assert detail["effective"]["max_message_bytes"] == 2000
    assert detail["overrides"] == {
        "max_message_bytes": "store",
        "sampling_percentage": "configuration",
    }


def test_a_files_given_fields_are_its_overrides(tmp_path: Path) -> None:
    path = tmp_path / "tollhouse.yaml"
    path.write_text(
        "diagnostics: {log_llm_messages: false}\n"
        "backends: {b: {url: 'https://example.test/openai'}}\n"
        "apis:\n"
        "  a: {path: openai, backend: b, diagnostics: {log_llm_messages: true}}\n",
        encoding="utf-8",
    )

    config = load_config(path)

    assert config.diagnostics.given == frozenset({"log_llm_messages"})
    assert config.apis["a"].diagnostics.given == frozenset({"log_llm_messages"})


@pytest.mark.parametrize(
    ("yaml", "where"),
    [
        ("diagnostics: {sampling_percentage: 101}", "diagnostics.sampling_percentage"),
        ("diagnostics: {max_message_bytes: 0}", "diagnostics.max_message_bytes"),
    ],
)
def test_the_files_global_setting_is_checked(
    tmp_path: Path, yaml: str, where: str
) -> None:
    path = tmp_path / "tollhouse.yaml"
    path.write_text(yaml + "\n", encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert raised.value.path == where


@pytest.mark.parametrize("path", ["/diagnostics", API])
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"sampling_percentage": 101}, "'sampling_percentage' must be a number"),
        ({"sampling_percentage": -1}, "from 0 to 100"),
        ({"sampling_percentage": "all"}, "'sampling_percentage' must be a number"),
        ({"max_message_bytes": 0}, "'max_message_bytes' must be an integer"),
        ({"max_message_bytes": 1.5}, "from 1 to 1073741824"),
        ({"max_message_bytes": 2**70}, "from 1 to 1073741824"),
        ({"body_bytes": -1}, "'body_bytes' must be an integer from 0 to 8192."),
        ({"body_bytes": 8193}, "'body_bytes' must be an integer from 0 to 8192."),
        ({"log_llm_messages": "no"}, "'log_llm_messages' must be true or false"),
        ({"always_log_errors": 1}, "'always_log_errors' must be true or false"),
        ({"colour": "red"}, "Unknown field 'colour'"),
        ([False], "must be a JSON object"),
    ],
)
def test_a_setting_that_is_not_valid_is_refused(
    gateway: RunningGateway, path: str, body: Any, reason: str
) -> None:
    message = assert_error(call(gateway, "PUT", path, body), 400, "InvalidRequestBody")

    assert reason in message
    assert call(gateway, "GET", API).json()["stored"] == {}


def test_a_body_that_is_not_json_is_refused(gateway: RunningGateway) -> None:
    response = call(gateway, "PUT", API, data=b"{nope", content_type="application/json")

    assert "not valid JSON" in assert_error(response, 400, "InvalidRequestBody")


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_an_unknown_api_is_not_found(gateway: RunningGateway, method: str) -> None:
    response = call(gateway, method, "/apis/nope/diagnostics", {})

    assert "There is no API 'nope'" in assert_error(response, 404, "NotFound")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/diagnostics"), ("PUT", "/diagnostics"), ("GET", API), ("PUT", API)],
)
@pytest.mark.parametrize(
    ("key", "code"), [("", "AdminKeyMissing"), ("wrong", "AdminKeyInvalid")]
)
def test_the_admin_key_is_required(
    gateway: RunningGateway, method: str, path: str, key: str, code: str
) -> None:
    response = call(gateway, method, path, {"log_llm_messages": False}, key=key)

    assert_error(response, 401, code)
    assert call(gateway, "GET", API).json()["stored"] == {}
