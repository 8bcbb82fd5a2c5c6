"""Request and response bodies of the management API, and its 4xx errors.

Every route reads JSON through `read_object` and answers through
`json_response` or a `ManagementError`, so a refusal looks the same whatever
route made it: APIM's ``statusCode``/``message`` and an ``error`` object.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from aiohttp import web

from ..errors import ManagementError

#: Sent with every response that shows a subscription key in full.
NO_STORE = {"Cache-Control": "no-store"}


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """``data`` as a JSON response."""
    return web.Response(
        status=status,
        body=orjson.dumps(data),
        content_type="application/json",
        headers=headers,
    )


def error_response(error: ManagementError) -> web.Response:
    """The JSON error body: APIM's ``statusCode``/``message`` and ``error``."""
    body = {
        "statusCode": error.status,
        "message": error.message,
        "error": {"code": error.code, "message": error.message, **error.details},
    }
    return web.Response(
        status=error.status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=dict(error.headers),
    )


async def read_object(
    request: web.Request, limit: int, fields: Collection[str], *, example: str
) -> dict[str, Any]:
    """The request body, a JSON object with no field outside ``fields``.

    An empty body counts as ``{}``.  ``example`` shows a good body in the
    message that refuses a body that is no object.
    """
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(limit) from None
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_body(f"The body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_body(f"The body must be a JSON object such as {example}.")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        known = " and ".join(", ".join(repr(f) for f in sorted(fields)).rsplit(", ", 1))
        raise bad_body(f"Unknown field {unknown[0]!r}; the fields are {known}.")
    return body


def optional_string(body: dict[str, Any], field: str, default: str) -> str:
    """``body[field]``, a non-empty string, or ``default`` when it is absent."""
    value = body.get(field, default)
    if not isinstance(value, str) or not value.strip():
        raise bad_body(f"{field!r} must be a non-empty string.")
    return value


def bad_body(message: str) -> ManagementError:
    return ManagementError(400, "InvalidRequestBody", message)


def not_found(kind: str, name: str) -> ManagementError:
    return ManagementError(404, "NotFound", f"There is no {kind} {name!r}.")


def too_large(limit: int) -> ManagementError:
    return ManagementError(
        413,
        "RequestEntityTooLarge",
        f"The request body is larger than this API accepts ({limit} bytes).",
    )
