"""The log routes in the management API's OpenAPI document."""

from __future__ import annotations

from typing import Any

from .openapi_parts import (
    NULLABLE_STRING,
    STRING,
    describe,
    errors,
    ok,
    path_id,
    ref,
)

_NUMBER = {"type": ["number", "null"]}
_INTEGER = {"type": ["integer", "null"]}
_OBJECT = {"type": ["object", "null"]}
_SUMMARY_FIELDS: dict[str, Any] = {
    "time": STRING,
    "correlationId": STRING,
    "method": NULLABLE_STRING,
    "path": NULLABLE_STRING,
    "status": _INTEGER,
    "subscription": NULLABLE_STRING,
    "api": NULLABLE_STRING,
    "operation": NULLABLE_STRING,
    "deployment": NULLABLE_STRING,
    "callerIp": NULLABLE_STRING,
    "tokens": {
        "type": ["object", "null"],
        "description": "prompt, completion, total and source (how obtained).",
    },
    "totalTime": _NUMBER,
    "error": {
        "type": ["object", "null"],
        "description": "LastErrorSource, LastErrorReason and the error kind.",
    },
}
_MESSAGES = {
    "type": ["object", "null"],
    "description": "truncated, messages (null when not JSON) and text then.",
}

LOG_SCHEMAS: dict[str, Any] = {
    "LogSummary": {
        "type": "object",
        "required": list(_SUMMARY_FIELDS),
        "properties": _SUMMARY_FIELDS,
    },
    "LogPage": {
        "type": "object",
        "required": ["value", "count", "next"],
        "properties": {
            "value": {"type": "array", "items": ref("LogSummary")},
            "count": {"type": "integer", "minimum": 0},
            "next": {
                "type": ["string", "null"],
                "description": "The cursor of the next page; null on the last.",
            },
        },
    },
    "LogDetail": {
        "allOf": [
            ref("LogSummary"),
            {
                "type": "object",
                "required": [
                    "url",
                    "requestHeaders",
                    "responseHeaders",
                    "prompt",
                    "completion",
                    "usage",
                    "timings",
                    "lastError",
                ],
                "properties": {
                    "url": NULLABLE_STRING,
                    "product": NULLABLE_STRING,
                    "backend": NULLABLE_STRING,
                    "backendStatus": _INTEGER,
                    "apiVersion": NULLABLE_STRING,
                    "requestHeaders": {},
                    "responseHeaders": {},
                    "prompt": _MESSAGES,
                    "completion": _MESSAGES,
                    "usage": _OBJECT,
                    "timings": {"type": "object"},
                    "lastError": _OBJECT,
                },
            },
        ]
    },
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_FILTERS = [
    _query("from", "Requests at or after this time (ISO 8601).", STRING),
    _query("to", "Requests before this time (ISO 8601).", STRING),
    _query("subscription", "The subscription's id.", STRING),
    _query("api", "The API's id.", STRING),
    _query("operation", "The operation's id.", STRING),
    _query("deployment", "The deployment.", STRING),
    _query(
        "status",
        "A status code (429) or class (4xx).",
        {"type": "string", "pattern": "^[1-5]([0-9][0-9]|[xX][xX])$"},
    ),
    _query("caller_ip", "The caller's address.", STRING),
    _query("text", "Text in the prompt or completion, any case.", STRING),
    _query(
        "limit",
        "Requests on the page.",
        {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    ),
    _query("cursor", "The 'next' of the page before.", STRING),
]


def log_paths() -> dict[str, Any]:
    """The ``/logs`` paths."""
    return {
        "/logs": {
            "get": {
                **describe(
                    "listLogs",
                    "Requests in the gateway log, newest first, a page at a time.",
                    {**ok(ref("LogPage"), "A page."), **errors(400, 503, 504)},
                    tag="logs",
                ),
                "parameters": _FILTERS,
            }
        },
        "/logs/{correlation_id}": {
            "parameters": [path_id("correlation_id", "The request's correlation id.")],
            "get": describe(
                "getLog",
                "One request: headers, prompt, completion, usage, timings, error.",
                {
                    **ok(ref("LogDetail"), "The request."),
                    **errors(404, 503, 504),
                },
                tag="logs",
            ),
        },
    }
