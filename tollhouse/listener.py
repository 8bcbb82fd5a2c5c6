"""The HTTP listener: aiohttp's low-level server, with APIM-shaped protocol errors.

aiohttp answers a request it cannot parse (a bad request line, a header
with a NUL byte, a header line too long) itself, with a plain-text body that
quotes the offending bytes and a traceback in the process log.  Those bytes
may be a subscription key, so here such requests get an APIM-shaped error
that quotes nothing, one log line without the bytes, and a gateway log row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from .ids import new_correlation_id

logger = logging.getLogger(__name__)

#: Called with (caller address, status, reason) for each refused message.
OnMalformed = Callable[[str, int, str], None]


class _Handler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        reason = type(exc).__name__ if exc is not None else "Error"
        remote = request.remote or ""
        logger.info("refused a malformed request from %s (%s)", remote, reason)
        server = self._manager
        if isinstance(server, Server):
            server.malformed(remote, status, reason)
        text = (
            "The request is not valid HTTP."
            if status < 500
            else HTTPStatus(status).phrase
        )
        response = web.Response(
            status=status,
            body=orjson.dumps({"statusCode": status, "message": text}),
            content_type="application/json",
        )
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # After an answer sent without reading the body (a 401, a 404),
        # aiohttp reads the rest; a body that does not decode is the
        # client's fault, already answered, not an error of the gateway's.
        failure = kwargs.get("exc_info")
        if isinstance(failure, HttpProcessingError | RequestPayloadError):
            logger.info("dropped an unread request body that did not decode")
            return
        super().log_exception(*args, **kwargs)


class Server(web.Server):
    """aiohttp's low-level server whose connections answer protocol errors safely."""

    def __init__(
        self, handler: Any, *, on_malformed: OnMalformed | None = None, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self._on_malformed = on_malformed

    def __call__(self) -> RequestHandler:
        # aiohttp builds its RequestHandler here; ours differs only in errors.
        return _Handler(self, loop=self._loop, **self._kwargs)

    def malformed(self, remote: str, status: int, reason: str) -> None:
        if self._on_malformed is None:
            return
        try:
            self._on_malformed(remote, status, reason)
        except Exception:
            logger.exception("could not log a malformed request")


def malformed_row(remote: str, status: int, reason: str, region: str) -> dict[str, Any]:
    """The gateway log row of a message that never became a request."""
    from .records import iso_time

    return {
        "TimeGenerated": iso_time(time.time()),
        "CorrelationId": new_correlation_id(),
        "CallerIpAddress": remote,
        "ResponseCode": status,
        "ResponseSize": 0,
        "RequestSize": 0,
        "IsRequestSuccess": 0,
        "Cache": "none",
        "Region": region,
        "LastErrorSource": "request",
        "LastErrorReason": reason,
        "LastErrorMessage": "The request is not valid HTTP.",
        "LastErrorSection": "inbound",
        "LastErrorScope": "global",
        "ErrorKind": "malformed_http",
        "ClientDisconnected": 0,
    }
