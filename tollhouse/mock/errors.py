"""Error bodies of the mock backend, in the shapes Azure OpenAI and OpenAI use.

Two shapes exist on the wire.  Azure OpenAI answers routing and quota
failures with ``{"error": {"code": "429", "message": "…"}}``; OpenAI, and
Azure for request validation, with ``{"error": {"message", "type", "param",
"code"}}``.  `RequestRejected` is raised inside the mock when a request
cannot be served; the pipeline turns it into a body here and it never
leaves the mock.
"""

from __future__ import annotations

import http
import logging
import math
from typing import Final

import orjson

from tollhouse.mock.replies import Body

logger = logging.getLogger(__name__)

# status -> (message, OpenAI error type, OpenAI error code)
_FAULTS: Final[dict[int, tuple[str, str, str | None]]] = {
    400: ("The request is invalid.", "invalid_request_error", None),
    401: (
        "Access denied due to an invalid subscription key or a wrong API endpoint.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("The request is not allowed for this resource.", "permission_error", None),
    404: ("Resource not found", "invalid_request_error", None),
    408: ("The request timed out.", "timeout", None),
    413: ("The request body is too large.", "invalid_request_error", None),
    500: (
        "The server had an error while processing your request.",
        "server_error",
        None,
    ),
    502: ("The backend answered with a bad gateway error.", "server_error", None),
    503: (
        "The service is temporarily overloaded. Please try again later.",
        "server_error",
        None,
    ),
    504: ("The backend did not answer in time.", "server_error", None),
}


class RequestRejected(Exception):
    """A request the mock refuses, answered in the OpenAI error shape.

    Raised by operations and by header parsing; the app's pipeline answers it.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code

    def reply(self) -> Body:
        """The error response for this rejection."""
        error_type = "invalid_request_error" if self.status < 500 else "server_error"
        return openai_error(
            self.status, self.message, error_type, param=self.param, code=self.code
        )


def openai_error(
    status: int,
    message: str,
    error_type: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Body:
    """An error in the OpenAI shape (also Azure's shape for bad requests)."""
    error = {"message": message, "type": error_type, "param": param, "code": code}
    return Body(orjson.dumps({"error": error}), status=status, headers=headers)


def azure_error(
    status: int, message: str, *, headers: dict[str, str] | None = None
) -> Body:
    """An error in the Azure OpenAI shape, whose code is the status as a string."""
    error = {"code": str(status), "message": message}
    return Body(orjson.dumps({"error": error}), status=status, headers=headers)


def not_found(*, azure: bool, method: str, path: str) -> Body:
    """The 404 either family answers for a path it does not serve."""
    if azure:
        return azure_error(404, "Resource not found")
    return openai_error(404, f"Invalid URL ({method} {path})", "invalid_request_error")


def fault(status: int, retry_after: float | None, *, azure: bool) -> Body:
    """The error a request asked for with ``x-mock-status``.

    With ``retry_after`` (seconds) the answer also tells the client when to
    come back and that its rate-limit budget is spent.
    """
    message, error_type, code = _describe(status, retry_after)
    headers = _retry_headers(retry_after) if retry_after is not None else None
    if azure:
        return azure_error(status, message, headers=headers)
    return openai_error(status, message, error_type, code=code, headers=headers)


def _describe(status: int, retry_after: float | None) -> tuple[str, str, str | None]:
    if status == 429:
        seconds = math.ceil(retry_after) if retry_after is not None else 60
        message = (
            f"Rate limit reached for this deployment. Try again in {seconds} seconds."
        )
        return message, "requests", "rate_limit_exceeded"
    if status in _FAULTS:
        return _FAULTS[status]

    error_type = "server_error" if status >= 500 else "invalid_request_error"
    try:
        return http.HTTPStatus(status).phrase + ".", error_type, None
    except ValueError:
        return f"The mock backend answered {status} on request.", error_type, None


def _retry_headers(retry_after: float) -> dict[str, str]:
    return {
        "retry-after": str(math.ceil(retry_after)),
        "retry-after-ms": str(round(retry_after * 1000)),
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "0",
    }
