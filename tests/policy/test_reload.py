"""Policy documents reload on change and on request, without dropping requests."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support import (
    AZURE_CHAT,
    JSON,
    Reply,
    RunningGateway,
    ScriptedBackend,
    chat_body,
    scripted_config,
)
from tests.test_cli import start_serve
from tests.test_shutdown import key_of

AZURE_MOCK_CHAT = (
    "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
)

POLICY = """<policies>
    <inbound><base /></inbound>
    <backend><base /></backend>
    <outbound>
        <base />
        <set-header name="x-policy-version" exists-action="override">
            <value>{version}</value>
        </set-header>
    </outbound>
    <on-error><base /></on-error>
</policies>
"""


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # A new modification time even on file systems with coarse clocks.
    stamp = time.time_ns() + 10**9
    os.utime(path, ns=(stamp, stamp))


def _gateway(tmp_path: Path, backend: ScriptedBackend) -> tuple[RunningGateway, Path]:
    policy = tmp_path / "api.xml"
    _write(policy, POLICY.format(version="1"))
    config = scripted_config(
        tmp_path / "data",
        backend.url,
        api=lambda api: dataclasses.replace(api, policy_file=str(policy)),
    )
    return RunningGateway(config), policy


def _version(gw: RunningGateway) -> str | None:
    response = gw.post(AZURE_CHAT, {"messages": []})
    assert response.status_code == 200
    return response.headers.get("x-policy-version")


def _wait_for_version(gw: RunningGateway, wanted: str) -> str | None:
    deadline = time.monotonic() + 10
    seen = _version(gw)
    while seen != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = _version(gw)
    return seen


@pytest.fixture
def replying(backend: ScriptedBackend) -> ScriptedBackend:
    backend.reply(*[Reply([chat_body("hi")], headers=JSON) for _ in range(400)])
    return backend


def test_a_changed_file_is_used_for_new_requests(
    tmp_path: Path, replying: ScriptedBackend
) -> None:
    gw, policy = _gateway(tmp_path, replying)
    with gw:
        assert _version(gw) == "1"
        _write(policy, POLICY.format(version="2"))

        assert _wait_for_version(gw, "2") == "2"
        assert gw.gateway.policy_watcher is not None
        assert gw.gateway.policy_watcher.reloads >= 1


def test_an_invalid_change_keeps_the_documents_in_use(
    tmp_path: Path, replying: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    gw, policy = _gateway(tmp_path, replying)
    with gw, caplog.at_level(logging.ERROR, logger="tollhouse.policy.reload"):
        _write(policy, POLICY.replace("<set-header", "<set-heder"))
        watcher = gw.gateway.policy_watcher
        assert watcher is not None
        deadline = time.monotonic() + 10
        while watcher.failures == 0 and time.monotonic() < deadline:
            time.sleep(0.05)

        assert watcher.failures == 1
        assert _version(gw) == "1"
        assert (
            f"{policy}:8:9: </set-header> does not match <set-heder> opened at 6:9"
        ) in caplog.text

        # Fixing the file recovers.
        _write(policy, POLICY.format(version="3"))
        assert _wait_for_version(gw, "3") == "3"


def test_a_reload_on_request_drops_no_request(
    tmp_path: Path, replying: ScriptedBackend
) -> None:
    gw, policy = _gateway(tmp_path, replying)
    statuses: list[int] = []

    def client() -> None:
        for _ in range(60):
            statuses.append(gw.post(AZURE_CHAT, {"messages": []}).status_code)

    with gw:
        thread = threading.Thread(target=client)
        thread.start()
        for version in range(2, 7):
            _write(policy, POLICY.format(version=version))
            gw._thread.loop.call_soon_threadsafe(gw.gateway.reload_policies)
            time.sleep(0.05)
        thread.join(60)

        assert statuses == [200] * 60
        assert _wait_for_version(gw, "6") == "6"


def test_sighup_reloads_a_served_gateway(tmp_path: Path) -> None:
    policy = tmp_path / "api.xml"
    _write(policy, POLICY.format(version="1"))
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "mock_backend: true\n"
        "backends: {mock: {url: 'mock:'}}\n"
        "apis: {azure-openai: {path: openai, backend: mock, policy_file: api.xml}}\n",
        encoding="utf-8",
    )
    served = start_serve(tmp_path / "data", "--config", str(config))
    try:
        key = key_of(tmp_path / "data")
        assert _served_version(served.url, key) == "1"

        # Same size and modification time: only the signal can tell.
        before = policy.stat()
        policy.write_text(POLICY.format(version="2"), encoding="utf-8")
        os.utime(policy, ns=(before.st_atime_ns, before.st_mtime_ns))
        time.sleep(1.5)
        assert _served_version(served.url, key) == "1"
        served.process.send_signal(signal.SIGHUP)

        deadline = time.monotonic() + 10
        while _served_version(served.url, key) != "2":
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.1)
    finally:
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(30) == 0


def _served_version(url: str, key: str) -> str | None:
    response = requests.post(
        url + AZURE_MOCK_CHAT,
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={"api-key": key},
        timeout=10,
    )
    assert response.status_code == 200
    return response.headers.get("x-policy-version")
