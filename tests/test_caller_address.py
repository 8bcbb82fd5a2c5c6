"""`CallerIpAddress` through the gateway: the TCP peer, or a trusted proxy's word."""

from __future__ import annotations

import dataclasses
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


def _gateway(tmp_path: Path, backend: ScriptedBackend, *proxies: str) -> RunningGateway:
    config = scripted_config(tmp_path / "data", backend.url)
    listener = dataclasses.replace(config.listener, trusted_proxies=proxies)
    return RunningGateway(dataclasses.replace(config, listener=listener))


def _caller(gw: RunningGateway, headers: dict[str, str | None]) -> str:
    response = gw.post(AZURE_CHAT, {"messages": []}, headers=headers)
    assert response.status_code == 200
    row = gw.gateway_row(response.headers["x-correlation-id"])
    return str(row["CallerIpAddress"])


@pytest.mark.parametrize(
    ("proxies", "forwarded", "caller"),
    [
        ((), "198.51.100.9", "127.0.0.1"),
        (("127.0.0.1",), "198.51.100.9", "198.51.100.9"),
        (("127.0.0.0/8",), "1.1.1.1, 198.51.100.9, 127.0.0.5", "198.51.100.9"),
        (("10.0.0.0/8",), "198.51.100.9", "127.0.0.1"),
    ],
)
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path,
    backend: ScriptedBackend,
    proxies: tuple[str, ...],
    forwarded: str,
    caller: str,
) -> None:
    backend.reply(Reply([chat_body("hi")], headers=JSON))
    with _gateway(tmp_path, backend, *proxies) as gw:
        assert _caller(gw, {"X-Forwarded-For": forwarded}) == caller


def test_the_peer_address_is_the_one_the_client_connected_from(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    backend.reply(Reply([chat_body("hi")], headers=JSON))
    with _gateway(tmp_path, backend) as gw:
        session = requests.Session()
        # Bind the client to another loopback address than 127.0.0.1.
        adapter = requests.adapters.HTTPAdapter()
        adapter.init_poolmanager(1, 1, source_address=("127.0.0.2", 0))
        session.mount("http://", adapter)
        response = session.post(
            gw.url + AZURE_CHAT,
            json={"messages": []},
            headers={"api-key": gw.key},
            timeout=10,
        )

        assert response.status_code == 200
        row = gw.gateway_row(response.headers["x-correlation-id"])
        assert row["CallerIpAddress"] == "127.0.0.2"
