"""Backend credentials: header keys and Entra ID tokens (from a fake credential)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import (
    Reply,
    RunningGateway,
    ScriptedBackend,
    scripted_config,
    secret_key_config,
)
from tollhouse.config import BackendConfig, CredentialsConfig
from tollhouse.credentials import (
    TOKEN_REFRESH_MARGIN,
    EntraAuth,
    HeaderAuth,
    backend_auth,
)
from tollhouse.errors import BackendConnectionFailure, ConfigError

BODY = b'{"id":"c1","object":"chat.completion","choices":[],"usage":null}'
JSON_REPLY = Reply(chunks=(BODY,), headers=(("Content-Type", "application/json"),))


@dataclasses.dataclass
class Token:
    token: str
    expires_on: int


class FakeCredential:
    """Hands out numbered tokens that live ``lifetime`` seconds."""

    def __init__(self, lifetime: float = 3600.0, fail: bool = False) -> None:
        self.lifetime = lifetime
        self.fail = fail
        self.calls: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.calls.append(scopes)
        if self.fail:
            raise RuntimeError("tenant 1234 said no")
        return Token(f"token-{len(self.calls)}", int(time.time() + self.lifetime))

    async def close(self) -> None:
        self.closed = True


def seen_header(backend: ScriptedBackend, name: str) -> list[str | None]:
    return [
        next((v for k, v in seen.headers if k.lower() == name), None)
        for seen in backend.seen
    ]


def chat(gateway: RunningGateway) -> requests.Response:
    return requests.post(
        gateway.url + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
        headers={"api-key": gateway.key},
        json={"messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )


def test_entra_token_is_cached_and_sent(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    credential = FakeCredential()
    config = scripted_config(
        tmp_path,
        backend.url,
        backend=lambda b: dataclasses.replace(
            b, credentials=CredentialsConfig(type="entra")
        ),
    )
    backend.reply(JSON_REPLY, JSON_REPLY, JSON_REPLY)
    with RunningGateway(config, credential_factory=lambda name: credential) as gateway:
        assert [chat(gateway).status_code for _ in range(3)] == [200, 200, 200]

    assert credential.calls == [("https://cognitiveservices.azure.com/.default",)]
    assert seen_header(backend, "authorization") == ["Bearer token-1"] * 3
    assert seen_header(backend, "api-key") == [None] * 3
    assert credential.closed


async def test_entra_token_is_refreshed_before_expiry() -> None:
    credential = FakeCredential(lifetime=TOKEN_REFRESH_MARGIN + 1)
    auth = EntraAuth(credential, "scope/.default")
    first = await auth.headers()
    assert first == {"Authorization": "Bearer token-1"}
    # One second of life beyond the margin: within the margin on the next call.
    time.sleep(1.1)
    assert await auth.headers() == {"Authorization": "Bearer token-2"}


async def test_entra_failure_is_a_backend_error_without_details() -> None:
    auth = EntraAuth(FakeCredential(fail=True), "scope/.default")
    with pytest.raises(BackendConnectionFailure) as caught:
        await auth.headers()
    assert caught.value.reason == "BackendAuthenticationFailure"
    assert "1234" not in caught.value.message


def test_entra_failure_answers_500(tmp_path: Path, backend: ScriptedBackend) -> None:
    config = scripted_config(
        tmp_path,
        backend.url,
        backend=lambda b: dataclasses.replace(
            b, credentials=CredentialsConfig(type="entra")
        ),
    )
    fake = FakeCredential(fail=True)
    with RunningGateway(config, credential_factory=lambda name: fake) as gateway:
        response = chat(gateway)
        row = gateway.gateway_row()
    assert response.status_code == 500
    assert response.json()["message"] == "Internal server error"
    assert response.json()["activityId"] == row["CorrelationId"]
    assert row["LastErrorReason"] == "BackendAuthenticationFailure"
    assert backend.seen == []


@pytest.mark.parametrize(
    ("creds", "environ", "expected"),
    [
        (
            CredentialsConfig(type="header", value="{{aoai}}"),
            {},
            {"api-key": "named-secret"},
        ),
        (
            CredentialsConfig(type="header", header="Authorization", env="OPENAI_KEY"),
            {"OPENAI_KEY": "sk-env"},
            {"Authorization": "Bearer sk-env"},
        ),
        (CredentialsConfig(type="none"), {}, {}),
    ],
)
async def test_header_credentials(
    creds: CredentialsConfig, environ: dict[str, str], expected: dict[str, str]
) -> None:
    backend = BackendConfig(url="http://x", credentials=creds)
    auth = backend_auth("b", backend, {"aoai": "named-secret"}, environ)
    assert await auth.headers() == expected


@pytest.mark.parametrize(
    ("creds", "environ", "path"),
    [
        (CredentialsConfig(type="header", env="NOPE"), {}, "credentials.env"),
        (
            CredentialsConfig(type="header", env="NOPE"),
            {"NOPE": " "},
            "credentials.env",
        ),
        (CredentialsConfig(type="header", value="{{empty}}"), {}, "credentials.value"),
    ],
)
def test_missing_or_empty_backend_key_is_a_config_error(
    creds: CredentialsConfig, environ: dict[str, str], path: str
) -> None:
    backend = BackendConfig(url="http://x", credentials=creds)
    with pytest.raises(ConfigError, match="is empty or not set") as caught:
        backend_auth("b", backend, {"empty": ""}, environ, source="gw.yaml")
    assert caught.value.source == "gw.yaml"
    assert caught.value.path == f"backends.b.{path}"


def test_backend_key_replaces_client_key_and_is_never_logged(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    config = secret_key_config(tmp_path, backend.url, "UPSTREAM-KEY-0042")
    backend.reply(JSON_REPLY)
    with RunningGateway(config) as gateway:
        assert chat(gateway).status_code == 200
        client_key = gateway.key
        gateway.gateway_row()
    assert seen_header(backend, "api-key") == ["UPSTREAM-KEY-0042"]
    database = b"".join(p.read_bytes() for p in tmp_path.glob("tollhouse.db*"))
    assert b"UPSTREAM-KEY-0042" not in database
    assert client_key.encode() not in database
    assert isinstance(HeaderAuth("api-key", "x"), HeaderAuth)


def test_backend_key_from_environment_is_scrubbed_everywhere(
    tmp_path: Path, backend: ScriptedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOLLHOUSE_TEST_BACKEND_KEY", "ENV-UPSTREAM-KEY-7781")
    config = scripted_config(
        tmp_path,
        backend.url,
        backend=lambda b: dataclasses.replace(
            b,
            credentials=CredentialsConfig(
                type="header", header="Authorization", env="TOLLHOUSE_TEST_BACKEND_KEY"
            ),
        ),
    )
    echo = (
        b'{"error":{"message":"Incorrect API key provided: ENV-UPSTREAM-KEY-7781",'
        b'"type":"invalid_request_error"}}'
    )
    backend.reply(Reply(chunks=(echo,), status=401, headers=JSON_REPLY.headers))
    with RunningGateway(config) as gateway:
        response = chat(gateway)
        row = gateway.gateway_row()
    assert seen_header(backend, "authorization") == ["Bearer ENV-UPSTREAM-KEY-7781"]
    assert response.status_code == 401
    assert "ENV-UPSTREAM-KEY-7781" not in response.text
    assert "Incorrect API key provided: REDACTED" in response.text
    assert row["LastErrorMessage"] == "Incorrect API key provided: REDACTED"
    database = b"".join(p.read_bytes() for p in tmp_path.glob("tollhouse.db*"))
    assert b"ENV-UPSTREAM-KEY-7781" not in database


def test_client_query_string_is_forwarded_as_encoded(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    backend.reply(JSON_REPLY)
    with RunningGateway(scripted_config(tmp_path, backend.url)) as gateway:
        key = gateway.key
        response = requests.post(
            gateway.url + "/openai/deployments/d/chat/completions"
            f"?api-version=2024-10-21&x=a%20b&subscription-key={key}&y=%2F+",
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 200
    assert backend.seen[0].path_qs.endswith("?api-version=2024-10-21&x=a%20b&y=%2F+")
