"""The gateway's state after start-up: built once, then only read."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_plus

from aiohttp import web

from .callers import TrustedProxies
from .config import BackendConfig, DiagnosticsConfig, GatewayConfig
from .console import ConsoleTickets
from .credentials import BackendAuth, ManagedIdentityTokens
from .diagnostics import DiagnosticsSettings
from .policy.registry import PolicyRegistry
from .routing import Route, Router
from .store.writer import LogWriter
from .subscriptions import KeyIndex
from .transport import Transport

# Query parameters that may carry a credential; their values are never logged.
_SECRET_QUERY = frozenset(
    {"subscription-key", "api-key", "key", "code", "sig", "token", "access_token"}
)
_SAFE_PATH = "/:@!$&'()*+,;=-._~"
# The shortest base-URL query value treated as a secret to scrub.
_SCRUBBED_LENGTH = 8


@dataclass
class RuntimeBackend:
    """A backend ready to be called: its base URL resolved, its auth built."""

    name: str
    config: BackendConfig
    base_url: str
    auth: BackendAuth

    def url_for(
        self, route: Route, deployment: str | None, query: Sequence[str]
    ) -> str:
        """The backend URL for a matched route, with the client's query kept.

        ``query`` holds the client's ``name=value`` items as it encoded them;
        they are forwarded byte for byte.
        """
        path = route.remainder
        if self.config.kind == "openai":
            query = [
                q for q in query if unquote_plus(q.partition("=")[0]) != "api-version"
            ]
            if route.shape == "deployment":
                path = "/" + route.operation.suffix
            elif route.shape == "v1" and path.startswith("/v1/"):
                path = path[len("/v1") :]
        base, _, base_query = self.base_url.partition("?")
        url = base + quote(path, safe=_SAFE_PATH)
        items = [base_query, *query] if base_query else list(query)
        return f"{url}?{'&'.join(items)}" if items else url

    def loggable_url(self, url: str) -> str:
        """``url`` without credentials: user info, the base URL's own query
        values (a function key, say) and credential-looking parameters."""
        scheme, sep, rest = url.partition("://")
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            authority = "REDACTED@" + authority.rpartition("@")[2]
            url = f"{scheme}{sep}{authority}{slash}{path}"
        base_query = self.base_url.partition("?")[2]
        names = frozenset(
            unquote_plus(item.partition("=")[0]).lower()
            for item in base_query.split("&")
            if item
        )
        return redact_url(url, names)

    @functools.cached_property
    def url_secrets(self) -> tuple[str, ...]:
        """The base URL's own query values and password, as logs must not
        show them (a function key, say); values under 8 characters are too
        common to scrub."""
        base_query = self.base_url.partition("?")[2]
        values = [item.partition("=")[2] for item in base_query.split("&")]
        authority = self.base_url.partition("://")[2].partition("/")[0]
        if "@" in authority:
            values.append(authority.rpartition("@")[0].partition(":")[2])
        found = {unquote_plus(value) for value in values} | set(values)
        return tuple(value for value in found if len(value) >= _SCRUBBED_LENGTH)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` (empty ones aside) replaced."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "REDACTED")
    return text


def redact_url(url: str, extra: frozenset[str] = frozenset()) -> str:
    """``url`` with the values of credential-carrying query parameters removed."""
    base, question, rest = url.partition("?")
    if not question:
        return url
    query, hash_sign, fragment = rest.partition("#")
    secret = _SECRET_QUERY | extra if extra else _SECRET_QUERY
    items = query.split("&")
    changed = False
    for i, item in enumerate(items):
        name, equals, _ = item.partition("=")
        if equals and unquote_plus(name).lower() in secret:
            items[i] = f"{name}=REDACTED"
            changed = True
    if not changed:
        return url
    return f"{base}?{'&'.join(items)}{hash_sign}{fragment}"


@dataclass
class Lifecycle:
    """The one thing about the runtime that changes after start: stopping."""

    stopping: bool = False


@dataclass
class Runtime:
    """Everything a request needs, shared by all requests."""

    config: GatewayConfig
    router: Router
    keys: KeyIndex
    backends: dict[str, RuntimeBackend]
    transport: Transport
    writer: LogWriter
    product_apis: dict[str, tuple[str, ...]] = field(default_factory=dict)
    callers: TrustedProxies = field(default_factory=TrustedProxies)
    policies: PolicyRegistry = field(default_factory=PolicyRegistry.forwarding)
    managed_identity: ManagedIdentityTokens = field(
        default_factory=ManagedIdentityTokens
    )
    secrets: tuple[str, ...] = ()
    key_query_names: frozenset[str] = frozenset()
    key_header_names: frozenset[str] = frozenset()
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    # Changed by the management API; read per request (see diagnostics.py).
    diagnostics: DiagnosticsSettings | None = None
    # Issued by the dashboard's test console, claimed by the pipeline.
    console: ConsoleTickets = field(default_factory=ConsoleTickets)

    def diagnostics_for(self, api_id: str | None) -> DiagnosticsConfig:
        """The diagnostics setting a request to ``api_id`` is logged with.

        A request that matched no API (None) is logged with the global one.
        """
        if self.diagnostics is None:
            api = self.config.apis.get(api_id or "")
            return api.diagnostics if api is not None else self.config.diagnostics
        return self.diagnostics.for_api(api_id or "")

    def loggable_request_url(self, request: web.BaseRequest) -> str:
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        return redact_url(url, self.key_query_names)

    def scrub(self, text: str, *extra: str) -> str:
        """``text`` with every secret named value and backend credential, and
        each of ``extra`` (a caller's key, say), replaced."""
        return scrub(text, (*self.secret_values(), *extra))

    def secret_values(self) -> list[str]:
        """Named-value secrets and backend credentials now in use."""
        found = list(self.secrets)
        for backend in self.backends.values():
            found.extend(backend.auth.secrets())
            found.extend(backend.url_secrets)
        found.extend(self.managed_identity.secrets())
        return found
