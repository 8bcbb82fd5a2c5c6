"""The ``context`` object that policy expressions read, as plain Python.

The engine builds one `PolicyContext` per request, fills it in as the
request moves through the pipeline and mutates it as policies run
(``set-header`` changes ``request.headers``, ``set-variable`` writes
``variables``, an error sets ``last_error``).  Expressions see the same
objects under APIM's names: ``context.Request.Headers`` is
``context.request.headers`` here.  Which C# member maps to which attribute
is declared once, in ``tollhouse.policy.expressions.lib_context``.

    context = PolicyContext.for_request(
        "POST",
        "https://gateway.example/openai/deployments/d1/chat/completions?api-version=2024-10-21",
        headers=[("Content-Type", "application/json")],
        body=b'{"model": "gpt-4o"}',
        ip_address="10.0.0.7",
    )
    context.variables["retries"] = 0
    context.response.status_code = 403

Values put in ``variables`` are expression values: ``str``, ``bool``,
``int``, ``float``, ``Decimal``, ``None``, ``datetime``, ``timedelta``,
``uuid.UUID``, ``bytes``, lists of those, or JSON tokens.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlsplit

__all__ = [
    "Api",
    "Body",
    "Deployment",
    "Headers",
    "LastError",
    "Operation",
    "PolicyContext",
    "Product",
    "Request",
    "Response",
    "Subscription",
    "Url",
    "User",
]


# Characters a URL path cannot hold as they are (RFC 3986's pchar and "/"),
# and a "%" that starts no escape.
_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]|%(?![0-9A-Fa-f]{2})")


class Headers:
    """A case-insensitive dictionary of names to several values, in order.

    Used for request and response headers and for query parameters.  A
    name keeps the spelling it was first added with.  ``get`` joins several
    values with ``","`` as APIM's ``GetValueOrDefault`` does.
    """

    __slots__ = ("_entries",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._entries: dict[str, tuple[str, list[str]]] = {}
        for name, value in items:
            self.append(name, value)

    def get(self, name: str, default: str | None = None) -> str | None:
        """All values of ``name`` joined with ``","``, or ``default``."""
        entry = self._entries.get(name.lower())
        return ",".join(entry[1]) if entry else default

    def get_all(self, name: str) -> list[str]:
        """The values of ``name``, empty when it is absent."""
        entry = self._entries.get(name.lower())
        return list(entry[1]) if entry else []

    def set(self, name: str, values: str | Iterable[str]) -> None:
        """Replace every value of ``name``; it takes this spelling, keeps its place."""
        listed = [values] if isinstance(values, str) else list(values)
        self._entries[name.lower()] = (name, listed)

    def append(self, name: str, value: str) -> None:
        """Add one value after the existing ones."""
        entry = self._entries.setdefault(name.lower(), (name, []))
        entry[1].append(value)

    def remove(self, name: str) -> None:
        """Drop ``name`` and all its values; absent names are ignored."""
        self._entries.pop(name.lower(), None)

    def names(self) -> list[str]:
        """The names, spelt as first added, in order."""
        return [name for name, _ in self._entries.values()]

    def items(self) -> list[tuple[str, str]]:
        """One ``(name, value)`` pair per value, for sending on the wire."""
        return [(name, v) for name, values in self._entries.values() for v in values]

    def copy(self) -> Headers:
        return Headers(self.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


@dataclass(slots=True)
class Url:
    """A request URL split the way APIM's ``IUrl`` shows it."""

    scheme: str = "https"
    host: str = "localhost"
    port: int = 443
    path: str = "/"
    query: Headers = field(default_factory=Headers)

    @classmethod
    def parse(cls, text: str) -> Url:
        """Split an absolute URL; the port defaults from the scheme."""
        parts = urlsplit(text)
        scheme = parts.scheme or "https"
        port = parts.port or (80 if scheme == "http" else 443)
        query = Headers(parse_qsl(parts.query, keep_blank_values=True))
        return cls(scheme, parts.hostname or "", port, parts.path or "/", query)

    @property
    def query_string(self) -> str:
        """``?a=1&b=2``, or empty when there is no query."""
        pairs = [
            f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in self.query.items()
        ]
        return "?" + "&".join(pairs) if pairs else ""

    def copy(self) -> Url:
        return Url(self.scheme, self.host, self.port, self.path, self.query.copy())

    def __str__(self) -> str:
        default = {"http": 80, "https": 443}.get(self.scheme)
        port = "" if self.port == default else f":{self.port}"
        path = _encoded_path(self.path)
        return f"{self.scheme}://{self.host}{port}{path}{self.query_string}"


def _encoded_path(path: str) -> str:
    """The path as sent: its escapes kept, what a path cannot hold escaped.

    A policy may write a space or a line break into the path (rewrite-uri,
    base-url); sent as it is, it would break the backend's request line.
    """
    return _PATH_UNSAFE.sub(lambda m: quote(m.group(), safe=""), path)


class Body:
    """A message body that an expression may read once, or keep with preserveContent.

    ``As<T>()`` without ``preserveContent: true`` consumes the body as in
    APIM: it reads the content and leaves the body empty, so the engine must
    send `content` (empty once consumed) unless a policy sets a new body.
    """

    __slots__ = ("_content", "consumed")

    def __init__(self, content: bytes | str = b"") -> None:
        self._content = content.encode() if isinstance(content, str) else content
        self.consumed = False

    @property
    def content(self) -> bytes:
        """What is left to send: the bytes, or nothing once consumed."""
        return b"" if self.consumed else self._content

    def read(self, *, preserve: bool) -> bytes:
        """The content for an expression; without ``preserve`` it is consumed."""
        content = self.content
        if not preserve:
            self.consumed = True
        return content

    def __repr__(self) -> str:
        return f"Body({len(self._content)} bytes, consumed={self.consumed})"


@dataclass(slots=True)
class Request:
    """``context.Request``; ``body`` is None when the request has none."""

    method: str = "GET"
    url: Url = field(default_factory=Url)
    original_url: Url = field(default_factory=Url)
    ip_address: str = ""
    headers: Headers = field(default_factory=Headers)
    matched_parameters: dict[str, str] = field(default_factory=dict)
    body: Body | None = None


@dataclass(slots=True)
class Response:
    """``context.Response``; before the backend answers it is 200 with no body."""

    status_code: int = 200
    status_reason: str = "OK"
    headers: Headers = field(default_factory=Headers)
    body: Body | None = None


@dataclass(slots=True)
class Subscription:
    """``context.Subscription``: the subscription whose key the caller used."""

    id: str = ""
    key: str = ""
    name: str = ""
    primary_key: str = ""
    secondary_key: str = ""
    start_date: datetime | None = None
    end_date: datetime | None = None


@dataclass(slots=True)
class Product:
    """``context.Product``."""

    id: str = ""
    name: str = ""


@dataclass(slots=True)
class Api:
    """``context.Api``; ``service_url`` is the backend URL."""

    id: str = ""
    name: str = ""
    path: str = ""
    protocols: list[str] = field(default_factory=lambda: ["https"])
    service_url: Url = field(default_factory=Url)
    version: str = ""


@dataclass(slots=True)
class Operation:
    """``context.Operation``."""

    id: str = ""
    method: str = ""
    name: str = ""
    url_template: str = ""


@dataclass(slots=True)
class User:
    """``context.User`` (null for requests without one)."""

    id: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""


@dataclass(slots=True)
class Deployment:
    """``context.Deployment``: this gateway."""

    region: str = ""
    service_name: str = "tollhouse"
    gateway_id: str = ""


@dataclass(slots=True)
class LastError:
    """``context.LastError``: what failed, in APIM's terms."""

    source: str = ""
    reason: str = ""
    message: str = ""
    scope: str = ""
    section: str = ""
    path: str = ""
    policy_id: str = ""


@dataclass(slots=True)
class PolicyContext:
    """Everything ``context`` shows an expression during one request.

    ``user``, ``subscription``, ``product``, ``api``, ``operation`` and
    ``last_error`` are None until known (``context.User`` is null for
    requests without a user, as in APIM).  ``Elapsed`` is measured from
    ``started``, a `time.perf_counter` reading.
    """

    request: Request = field(default_factory=Request)
    response: Response = field(default_factory=Response)
    subscription: Subscription | None = None
    product: Product | None = None
    api: Api | None = None
    operation: Operation | None = None
    user: User | None = None
    deployment: Deployment = field(default_factory=Deployment)
    variables: dict[str, object] = field(default_factory=dict)
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    last_error: LastError | None = None

    @classmethod
    def for_request(
        cls,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | str | None = None,
        ip_address: str = "",
        matched_parameters: dict[str, str] | None = None,
    ) -> PolicyContext:
        """A context for a request as it arrived; ``OriginalUrl`` is ``url``.

        An empty or missing ``body`` leaves ``context.Request.Body`` null.
        """
        parsed = Url.parse(url)
        request = Request(
            method=method.upper(),
            url=parsed,
            original_url=parsed.copy(),
            ip_address=ip_address,
            headers=Headers(headers),
            matched_parameters=dict(matched_parameters or {}),
            body=Body(body) if body else None,
        )
        return cls(request=request)

    @property
    def elapsed(self) -> timedelta:
        """Time since the request arrived."""
        return timedelta(seconds=time.perf_counter() - self.started)
