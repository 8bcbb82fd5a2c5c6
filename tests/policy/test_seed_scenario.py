"""The seed's IP restriction policy, pasted as written, in front of a backend.

The walkthrough's document has placeholders for the office and internal
ranges and for the backend id; the test fills them in with real values and
calls the gateway from addresses inside and outside the ranges.
"""

from __future__ import annotations

import dataclasses
import json
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

SEED = Path(__file__).parent / "data" / "seed-ip-restriction.xml"
FILLED = {
    "YOUR_OFFICE_IP_START": "127.0.0.1",
    "YOUR_OFFICE_IP_END": "127.0.0.1",
    "YOUR_INTERNAL_NETWORK_START": "10.0.0.1",
    "YOUR_INTERNAL_NETWORK_END": "10.255.255.254",
    "YOUR_OPENAI_BACKEND_ID": "scripted",
}
FIRST_WHEN_BODY = {
    "error": {
        "code": "IP_BLOCKED",
        "message": "Access denied: Your IP address is not allowed",
    }
}


def _seed_policy(*, without_first_when: bool = False) -> str:
    text = SEED.read_text(encoding="utf-8")
    for placeholder, value in FILLED.items():
        text = text.replace(placeholder, value)
    if without_first_when:
        start = text.index('<when condition="@(context.Response.StatusCode == 403)">')
        end = text.index("</when>", start) + len("</when>")
        text = text[:start] + text[end:]
    return text


def _gateway(
    tmp_path: Path, backend: ScriptedBackend, policy: str, *proxies: str
) -> RunningGateway:
    policy_file = tmp_path / "api-policy.xml"
    policy_file.write_text(policy, encoding="utf-8")
    config = scripted_config(
        tmp_path / "data",
        backend.url,
        api=lambda api: dataclasses.replace(api, policy_file=str(policy_file)),
    )
    listener = dataclasses.replace(config.listener, trusted_proxies=proxies)
    return RunningGateway(dataclasses.replace(config, listener=listener))


def _post_from(gw: RunningGateway, source: str) -> requests.Response:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter()
    adapter.init_poolmanager(1, 1, source_address=(source, 0))
    session.mount("http://", adapter)
    return session.post(
        gw.url + AZURE_CHAT,
        json={"messages": [{"role": "user", "content": "안녕하세요"}]},
        headers={"api-key": gw.key},
        timeout=10,
    )


def test_a_caller_inside_the_ranges_reaches_the_model(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    backend.reply(Reply([chat_body("안녕하세요!")], headers=JSON))
    with _gateway(tmp_path, backend, _seed_policy()) as gw:
        response = _post_from(gw, "127.0.0.1")

        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "안녕하세요!"
        row = gw.gateway_row(response.headers["x-correlation-id"])
        assert row["ResponseCode"] == 200
        assert row["LastErrorSource"] is None
        assert len(backend.seen) == 1


def test_a_caller_outside_gets_the_first_matching_when(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    with _gateway(tmp_path, backend, _seed_policy()) as gw:
        response = _post_from(gw, "127.0.0.2")

        assert response.status_code == 403
        assert response.reason == "Forbidden"
        assert response.headers["Content-Type"] == "application/json"
        assert (
            response.content
            == json.dumps(FIRST_WHEN_BODY, separators=(",", ":")).encode()
        )
        row = gw.gateway_row(response.headers["x-correlation-id"])
        assert row["ResponseCode"] == 403
        assert row["CallerIpAddress"] == "127.0.0.2"
        assert row["LastErrorSource"] == "ip-filter"
        assert row["LastErrorReason"] == "CallerIpNotAllowed"
        assert row["LastErrorSection"] == "inbound"
        assert row["LastErrorScope"] == "api"
        # The log has the body the client got, not APIM's default replaced.
        assert row["ResponseBody"] == response.text
        assert row["ResponseSize"] == len(response.content)
        assert backend.seen == []


def test_without_the_first_when_the_second_adds_source_and_reason(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    policy = _seed_policy(without_first_when=True)
    with _gateway(tmp_path, backend, policy) as gw:
        response = _post_from(gw, "127.0.0.2")

        assert response.status_code == 403
        assert response.json() == {
            "error": {
                **FIRST_WHEN_BODY["error"],
                "source": "ip-filter",
                "reason": "CallerIpNotAllowed",
            }
        }


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [
        ("10.20.30.40", 200),
        ("203.0.113.9", 403),
        ("2001:db8::5", 403),
        ("::ffff:10.1.1.1", 200),
    ],
)
def test_callers_behind_a_trusted_proxy(
    tmp_path: Path, backend: ScriptedBackend, forwarded: str, status: int
) -> None:
    backend.reply(Reply([chat_body("hi")], headers=JSON))
    with _gateway(tmp_path, backend, _seed_policy(), "127.0.0.1") as gw:
        response = gw.post(
            AZURE_CHAT, {"messages": []}, headers={"X-Forwarded-For": forwarded}
        )

        assert response.status_code == status
        row = gw.gateway_row(response.headers["x-correlation-id"])
        expected_ip = forwarded.removeprefix("::ffff:")
        assert row["CallerIpAddress"] == expected_ip
