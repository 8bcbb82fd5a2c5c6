"""How the gateway authenticates to a backend.

Three kinds, chosen per backend: a key in a header (``api-key: KEY`` or
``Authorization: Bearer KEY``), an Entra ID token for Azure OpenAI obtained
with ``azure-identity`` and cached until shortly before it expires, or
nothing.  The client's own credentials never reach the backend: the pipeline
removes them before these headers are added.
"""

from __future__ import annotations

import asyncio
import logging
import time
import typing
from collections.abc import Mapping
from typing import Any, Protocol

from .config import BackendConfig, CredentialsConfig, substitute
from .errors import BackendConnectionFailure, ConfigError

logger = logging.getLogger(__name__)

# Refresh a token this many seconds before it expires.
TOKEN_REFRESH_MARGIN = 300.0


class AccessToken(Protocol):
    token: str
    expires_on: int


class AsyncTokenCredential(Protocol):
    """What azure-identity's async credentials offer (and test fakes imitate)."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken: ...

    async def close(self) -> None: ...


class BackendAuth(Protocol):
    async def headers(self) -> dict[str, str]: ...

    def secrets(self) -> tuple[str, ...]:
        """The credential values in use, which no log or error may show."""
        ...

    async def close(self) -> None: ...


class NoAuth:
    async def headers(self) -> dict[str, str]:
        return {}

    def secrets(self) -> tuple[str, ...]:
        return ()

    async def close(self) -> None:
        return None


class HeaderAuth:
    """A fixed key sent in a header."""

    def __init__(self, header: str, key: str) -> None:
        self._key = key
        if header.lower() == "authorization":
            self._headers = {"Authorization": f"Bearer {key}"}
        else:
            self._headers = {header: key}

    async def headers(self) -> dict[str, str]:
        return self._headers

    def secrets(self) -> tuple[str, ...]:
        return (self._key,)

    async def close(self) -> None:
        return None


class EntraAuth:
    """An Entra ID bearer token, fetched once and reused until near expiry."""

    def __init__(self, credential: AsyncTokenCredential, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._token = ""
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        if time.time() >= self._expires_on - TOKEN_REFRESH_MARGIN:
            await self._refresh()
        return {"Authorization": f"Bearer {self._token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self._token,) if self._token else ()

    async def _refresh(self) -> None:
        async with self._lock:
            if time.time() < self._expires_on - TOKEN_REFRESH_MARGIN:
                return
            try:
                token = await self._credential.get_token(self._scope)
            except Exception as exc:
                # Credential errors can hold tenant details: log the type only.
                logger.error("Entra ID token request failed: %s", type(exc).__name__)
                raise BackendConnectionFailure(
                    reason="BackendAuthenticationFailure"
                ) from exc
            self._token = token.token
            self._expires_on = float(token.expires_on)
            logger.info("obtained an Entra ID token for %s", self._scope)

    async def close(self) -> None:
        await self._credential.close()


def default_credential(client_id: str | None) -> AsyncTokenCredential:
    """azure-identity's DefaultAzureCredential (managed, workload identity, CLI)."""
    from azure.identity.aio import DefaultAzureCredential

    if client_id:
        credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    else:
        credential = DefaultAzureCredential()
    return typing.cast(AsyncTokenCredential, credential)


class ManagedIdentityTokens:
    """Tokens for ``authentication-managed-identity``, one cache per resource.

    ``make_credential`` gives the credential of a managed identity by its
    client id (None for the system-assigned one); azure-identity's
    DefaultAzureCredential unless a test hands in a fake.
    """

    def __init__(
        self,
        make_credential: typing.Callable[[str | None], AsyncTokenCredential]
        | None = None,
    ) -> None:
        self._make = make_credential or default_credential
        self._auths: dict[tuple[str, str | None], EntraAuth] = {}

    async def token(self, resource: str, client_id: str | None) -> str:
        key = (resource, client_id)
        auth = self._auths.get(key)
        if auth is None:
            scope = (
                resource if resource.endswith("/.default") else resource + "/.default"
            )
            auth = self._auths[key] = EntraAuth(self._make(client_id), scope)
        header = (await auth.headers())["Authorization"]
        return header.removeprefix("Bearer ")

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for auth in self._auths.values() for s in auth.secrets())

    async def close(self) -> None:
        for auth in self._auths.values():
            await auth.close()


def backend_auth(
    name: str,
    backend: BackendConfig,
    named_values: Mapping[str, str],
    environ: Mapping[str, str],
    credential: AsyncTokenCredential | None = None,
    *,
    source: str = "",
) -> BackendAuth:
    """Build the authentication for one backend from its configuration."""
    creds: CredentialsConfig = backend.credentials
    if creds.type == "header":
        key = _header_key(creds, named_values, environ)
        if not key.strip():
            what = f"environment variable {creds.env}" if creds.env else "the value"
            raise ConfigError(
                f"{what} is empty or not set: the backend key would be blank",
                source=source,
                path=f"backends.{name}.credentials.{'env' if creds.env else 'value'}",
            )
        return HeaderAuth(creds.header, key)
    if creds.type == "entra":
        return EntraAuth(credential or default_credential(creds.client_id), creds.scope)
    return NoAuth()


def _header_key(
    creds: CredentialsConfig,
    named_values: Mapping[str, str],
    environ: Mapping[str, str],
) -> str:
    if creds.env is not None:
        return environ.get(creds.env, "")
    return substitute(creds.value or "", named_values)
