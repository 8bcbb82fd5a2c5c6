"""The exceptions Tollhouse raises, one tree for the whole package.

    TollhouseError
    ├── ConfigError                 configuration file or setting is wrong
    │   └── PolicyDocumentError     a policy document does not load (file:line:col)
    ├── ExpressionError             a policy expression failed while it ran
    ├── StoreError                  the log/settings store failed
    ├── QueryError                  a KQL query is wrong (line, column, caret)
    │   └── QueryLimitExceeded      a query ran past its row or time limit
    ├── ManagementError             ends a management API call (status, code)
    └── GatewayError                ends a request with an APIM-shaped error body
        ├── BadRequest              400
        │   ├── MissingApiVersion
        │   └── InvalidRequestBody
        ├── Unauthorized            401
        │   ├── MissingSubscriptionKey
        │   └── InvalidSubscriptionKey
        ├── NotFound                404
        ├── RequestTimeout          408, the request body came too slowly
        ├── PayloadTooLarge         413
        ├── ClientClosedRequest     499, the client left before its request ended
        ├── BackendError            5xx, the backend could not be reached or was slow
        │   ├── BackendConnectionFailure
        │   └── BackendTimeout
        └── PolicyFailure           a policy refused or failed the request
            └── BackendStatusFailure  the backend answered 4xx/5xx, on-error asked

A `GatewayError` carries what APIM records about a failure: the HTTP status
and message the client gets, and the error source, reason and section that
land in the gateway log's `LastError*` columns.  Foreign errors (the HTTP
client's, the database driver's) are translated into this tree once, where
they are caught, and chained with ``from``.
"""

from __future__ import annotations

from typing import Any


class TollhouseError(Exception):
    """Base of every error Tollhouse raises on purpose."""


class ConfigError(TollhouseError):
    """A configuration file or setting is wrong.

    ``source`` names the file (or "command line"), ``path`` the key path
    inside it such as ``backends.azure.url``.
    """

    def __init__(self, message: str, *, source: str = "", path: str = "") -> None:
        self.message = message
        self.source = source
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.path) if part)
        return f"{where}: {self.message}" if where else self.message


class PolicyDocumentError(ConfigError):
    """A policy document does not load.

    ``line`` and ``column`` (1-based) point into ``source``, the document's
    file, so that the message reads ``FILE:LINE:COLUMN: message``.
    """

    def __init__(self, message: str, *, source: str, line: int, column: int) -> None:
        self.line = line
        self.column = column
        super().__init__(message, source=source)

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


class ExpressionError(TollhouseError):
    """A policy expression failed while it was evaluated.

    The policy engine turns it into a `PolicyFailure` with the reason
    ``ExpressionValueEvaluationFailure`` and the failing policy as source.
    """


class StoreError(TollhouseError):
    """The store (SQLite, PostgreSQL) refused or failed an operation."""


class QueryError(TollhouseError):
    """A KQL query cannot be compiled or run.

    ``line`` and ``column`` (1-based) point into ``source``, the query text;
    ``expected`` lists what would have been accepted there.  ``str(error)``
    is ``line L, column C: message`` followed by the query's line and a caret
    under the column, ready to show to whoever typed the query.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int = 0,
        column: int = 0,
        expected: list[str] | None = None,
        source: str = "",
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.expected = list(expected or [])
        self.source = source
        super().__init__(self.__str__())

    @property
    def caret(self) -> str:
        """The query's line at fault and, below it, a caret under the column."""
        lines = self.source.splitlines()
        if not 1 <= self.line <= len(lines):
            return ""
        text = lines[self.line - 1]
        pad = "".join("\t" if c == "\t" else " " for c in text[: self.column - 1])
        return f"{text}\n{pad}^"

    def __str__(self) -> str:
        if not self.line:
            return self.message
        caret = self.caret
        head = f"line {self.line}, column {self.column}: {self.message}"
        return f"{head}\n{caret}" if caret else head


class QueryLimitExceeded(QueryError):
    """A query hit its row cap or time limit while it ran."""


class GatewayError(TollhouseError):
    """An error that ends a request; the client gets an APIM-shaped body."""

    status = 500
    reason = "InternalError"
    source = "gateway"
    section = "inbound"
    scope = "global"
    default_message = "Internal server error"

    def __init__(
        self, message: str | None = None, *, reason: str | None = None
    ) -> None:
        self.message = message or self.default_message
        if reason is not None:
            self.reason = reason
        super().__init__(self.message)


class BadRequest(GatewayError):
    status = 400
    reason = "BadRequest"
    default_message = "The request is not valid."


class MissingApiVersion(BadRequest):
    reason = "ApiVersionMissing"
    source = "configuration"
    default_message = (
        "The api-version query parameter is required for this operation, "
        "for example ?api-version=2024-10-21."
    )


class InvalidRequestBody(BadRequest):
    reason = "InvalidRequestBody"
    source = "request"


class Unauthorized(GatewayError):
    status = 401
    source = "authorization"


class MissingSubscriptionKey(Unauthorized):
    reason = "SubscriptionKeyNotFound"
    default_message = (
        "Access denied due to missing subscription key. Make sure to include "
        "subscription key when making requests to an API."
    )


class InvalidSubscriptionKey(Unauthorized):
    reason = "SubscriptionKeyInvalid"
    default_message = (
        "Access denied due to invalid subscription key. Make sure to provide "
        "a valid key for an active subscription."
    )


class NotFound(GatewayError):
    status = 404
    reason = "OperationNotFound"
    source = "configuration"
    default_message = "Resource not found"


class RequestTimeout(GatewayError):
    status = 408
    reason = "RequestTimeout"
    source = "request"
    default_message = "The request body did not arrive in time."


class PayloadTooLarge(GatewayError):
    status = 413
    reason = "RequestEntityTooLarge"
    source = "request"
    default_message = "The request body is larger than this gateway accepts."


class ClientClosedRequest(GatewayError):
    status = 499
    reason = "ClientConnectionFailure"
    source = "client"
    default_message = "The client closed the connection."


class BackendError(GatewayError):
    status = 500
    source = "forward-request"
    section = "backend"
    default_message = "Internal server error"


class BackendConnectionFailure(BackendError):
    reason = "BackendConnectionFailure"


class BackendTimeout(BackendError):
    reason = "Timeout"


class PolicyFailure(GatewayError):
    """A policy refused the request or failed; `context.LastError` describes it.

        Unlike the fixed errors above, source, reason, section and status come
        from the policy that failed, so they are set per instance.  ``scope`` is
        the scope of the document that held the policy (global, product, api,
        operation), ``path`` the policy's place in its section and ``policy_id``
    its ``id`` attribute or, without one, its path in the document.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        reason: str,
        source: str,
        section: str = "inbound",
        scope: str = "",
        path: str = "",
        policy_id: str = "",
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status
        self.source = source
        self.section = section
        self.scope = scope
        self.path = path
        self.policy_id = policy_id


class BackendStatusFailure(PolicyFailure):
    """The backend answered 400-599 to a ``fail-on-error-status-code`` forward.

    Unlike other failures it does not replace the response: on-error sees
    the backend's in ``context.Response``, and the client gets that one
    unless on-error changes it.
    """


class ManagementError(TollhouseError):
    """Ends a management API call with a JSON error body.

    ``code`` is the body's ``error.code`` (``InvalidQuery``,
    ``AdminKeyMissing``, ...); ``details`` are more fields of ``error``
    (``line``, ``column``, ``expected``); ``headers`` go with the response.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers
