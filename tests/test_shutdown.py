"""Stopping the gateway: requests in flight, the grace period, draining logs."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import requests

from tests.test_cli import Served, start_serve

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"


def slow_stream(url: str, key: str, delay_ms: int, into: list[bytes]) -> None:
    try:
        response = requests.post(
            url + CHAT,
            headers={"api-key": key, "x-mock-chunk-delay-ms": str(delay_ms)},
            json={"messages": [{"role": "user", "content": "a b c"}], "stream": True},
            stream=True,
            timeout=60,
        )
        for chunk in response.iter_content(None):
            into.append(chunk)
    except requests.RequestException:
        into.append(b"<broken>")


def key_of(data_dir: Path) -> str:
    from tests.test_cli import tollhouse

    return tollhouse(
        "keys", "show", "master", "--data-dir", str(data_dir)
    ).stdout.strip()


def rows(data_dir: Path) -> list[tuple[int, str | None, str | None]]:
    with sqlite3.connect(data_dir / "tollhouse.db") as conn:
        return list(
            conn.execute(
                "SELECT ResponseCode, ErrorKind, LastErrorReason "
                "FROM ApiManagementGatewayLogs"
            )
        )


def streaming_client(
    served: Served, data_dir: Path, delay_ms: int
) -> tuple[threading.Thread, list[bytes]]:
    """A client thread reading a slow stream; returns once its first bytes came."""
    received: list[bytes] = []
    client = threading.Thread(
        target=slow_stream, args=(served.url, key_of(data_dir), delay_ms, received)
    )
    client.start()
    wait_for(lambda: received)
    return client, received


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_stream_in_flight_finishes_within_the_grace_period(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    served = start_serve(data_dir)
    client, received = streaming_client(served, data_dir, 300)

    served.process.send_signal(signal.SIGTERM)
    client.join(30)
    assert served.process.wait(30) == 0

    body = b"".join(received)
    assert body.endswith(b"data: [DONE]\n\n")
    assert rows(data_dir) == [(200, None, None)]


def test_cut_off_streams_are_logged_as_shutdown_not_disconnects(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "short-grace.yaml"
    config.write_text(
        "listener: {shutdown_timeout: 0.5}\n"
        "mock_backend: true\n"
        "backends: {mock: {url: 'mock:'}}\n"
        "apis: {azure-openai: {path: openai, backend: mock}}\n"
    )
    served = start_serve(data_dir, "--config", str(config))
    client, received = streaming_client(served, data_dir, 5000)

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(30) == 0
    client.join(30)

    assert received[-1] == b"<broken>"
    assert rows(data_dir) == [(200, "gateway_shutdown", "GatewayShutdown")]


def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    served = start_serve(data_dir)  # the default grace period: 30 s
    client, received = streaming_client(served, data_dir, 5000)

    served.process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    served.process.send_signal(signal.SIGINT)
    # Well inside the 30 s grace period the first signal alone would allow.
    assert served.process.wait(15) == 0
    client.join(30)
    assert rows(data_dir) == [(200, "gateway_shutdown", "GatewayShutdown")]
