"""Which headers cross the gateway, and which are kept out of the logs.

One rule for every operation, streamed or not: hop-by-hop headers never
cross; the client's credentials never reach the backend; the backend's
``Set-Cookie`` never reaches the client; everything else is forwarded as it
is (``x-ms-region``, ``apim-request-id``, ``x-ratelimit-*``, ``retry-after``
and the rest).  Logged headers have every credential removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Sent with every response so a caller can find its request in the log
# (`tollhouse logs show ID`, the CorrelationId column).
CORRELATION_ID = "x-correlation-id"

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# The test console's ticket (`tollhouse.console`): a credential like a key.
CONSOLE_TICKET = "x-tollhouse-console"

# Never logged, whatever the API's configuration says.
SECRET_HEADERS = frozenset(
    {
        CONSOLE_TICKET,
        "api-key",
        "authorization",
        "ocp-apim-subscription-key",
        "x-api-key",
        "cookie",
        "set-cookie",
        "proxy-authorization",
    }
)

# The client's credentials for the gateway: none of them reaches a backend
# unless a policy puts it there.
CREDENTIAL_HEADERS = frozenset(
    {
        CONSOLE_TICKET,
        "api-key",
        "authorization",
        "ocp-apim-subscription-key",
        "x-api-key",
        "cookie",
    }
)

# Request headers the gateway's HTTP client sets itself towards the backend.
_SENT_BY_CLIENT = frozenset(
    {
        "host",
        "content-length",
        "accept-encoding",
        "expect",
        # aiohttp has already decoded a compressed request body.
        "content-encoding",
    }
)
_REQUEST_DROP = HOP_BY_HOP | CREDENTIAL_HEADERS | _SENT_BY_CLIENT

_RESPONSE_DROP = HOP_BY_HOP | {"content-length", "set-cookie"}


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def backend_request_headers(
    client_headers: Sequence[tuple[str, str]], key_headers: frozenset[str]
) -> list[tuple[str, str]]:
    """The client's headers as sent on to the backend, credentials removed.

    ``key_headers`` are the subscription-key headers of every API (lower
    case): a key meant for one API must not reach another's backend either.
    """
    drop = _REQUEST_DROP | _connection_tokens(client_headers) | key_headers
    kept = [(n, v) for n, v in client_headers if n.lower() not in drop]
    # Bodies must stay readable for the log; the client still gets what the
    # backend sends if it compresses anyway.
    kept.append(("Accept-Encoding", "identity"))
    return kept


def policy_view_headers(
    client_headers: Sequence[tuple[str, str]],
) -> list[tuple[str, str]]:
    """The client's headers as policies see them: credentials included.

    Only what concerns the client's own connection is gone; which
    credentials go on to the backend is decided when the request is sent
    (`policy_request_headers`).
    """
    drop = HOP_BY_HOP | _connection_tokens(client_headers)
    return [(n, v) for n, v in client_headers if n.lower() not in drop]


def client_credentials(
    client_headers: Sequence[tuple[str, str]], key_headers: frozenset[str]
) -> dict[str, list[str]]:
    """The client's credential headers (lower-case name to values)."""
    names = CREDENTIAL_HEADERS | key_headers
    found: dict[str, list[str]] = {}
    for name, value in client_headers:
        if name.lower() in names:
            found.setdefault(name.lower(), []).append(value)
    return found


def policy_request_headers(
    headers: Sequence[tuple[str, str]],
    withheld: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Request headers as policies left them, ready to send to the backend.

    ``withheld`` names (lower case) the client's credentials that no policy
    replaced; they stay behind, as does what the HTTP client sets itself.
    What a policy set (an ``api-key`` from a named value, say) goes as it is.
    """
    drop = HOP_BY_HOP | _connection_tokens(headers) | _SENT_BY_CLIENT
    drop = drop.union(withheld)
    kept = [(n, v) for n, v in headers if n.lower() not in drop]
    kept.append(("Accept-Encoding", "identity"))
    return kept


def client_response_headers(
    backend_headers: Sequence[tuple[str, str]],
) -> list[tuple[str, str]]:
    """The backend's response headers as sent on to the client."""
    drop = _RESPONSE_DROP | _connection_tokens(backend_headers)
    return [(n, v) for n, v in backend_headers if n.lower() not in drop]


def loggable(
    headers: Iterable[tuple[str, str]], key_headers: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Headers for the gateway log: credentials left out, repeats joined."""
    secret = SECRET_HEADERS | key_headers if key_headers else SECRET_HEADERS
    logged: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in secret:
            continue
        logged[lower] = f"{logged[lower]}, {value}" if lower in logged else value
    return logged


def first(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), if any."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None
