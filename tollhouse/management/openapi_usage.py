"""The diagnostics and usage routes in the management API's OpenAPI document."""

from __future__ import annotations

from typing import Any

from ..config import MAX_BODY_BYTES, MAX_MESSAGE_BYTES
from .openapi_parts import (
    STRING,
    describe,
    errors,
    json_body,
    object_schema,
    ok,
    path_id,
    ref,
)
from .usage import GROUPS

_COUNT = {"type": "integer", "minimum": 0}
_SETTINGS: dict[str, Any] = {
    "log_llm_messages": {"type": "boolean"},
    "max_message_bytes": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_MESSAGE_BYTES,
    },
    "sampling_percentage": {"type": "number", "minimum": 0, "maximum": 100},
    "always_log_errors": {"type": "boolean"},
    "body_bytes": {"type": "integer", "minimum": 0, "maximum": MAX_BODY_BYTES},
}
_LAYER = {
    "type": "object",
    "additionalProperties": False,
    "properties": _SETTINGS,
    "description": "Some of the settings; the others come from below.",
}
_COUNTS = ("requests", "errors", "blocked")
_TOKENS = ("promptTokens", "completionTokens", "totalTokens", "estimated")

USAGE_SCHEMAS: dict[str, Any] = {
    "DiagnosticsLayer": _LAYER,
    "Diagnostics": object_schema(list(_SETTINGS), **_SETTINGS),
    "GlobalDiagnostics": object_schema(
        ["effective", "configured", "stored"],
        effective=ref("Diagnostics"),
        configured=ref("DiagnosticsLayer"),
        stored=ref("DiagnosticsLayer"),
    ),
    "ApiDiagnostics": object_schema(
        ["api", "effective", "overrides", "configured", "stored"],
        api=STRING,
        effective=ref("Diagnostics"),
        overrides={
            "type": "object",
            "description": "The fields this API overrides, each with where "
            "the value comes from: 'configuration' or 'store'.",
            "additionalProperties": {"enum": ["configuration", "store"]},
        },
        configured=ref("DiagnosticsLayer"),
        stored=ref("DiagnosticsLayer"),
    ),
    "DiagnosticsOverview": object_schema(
        ["global", "apis"],
        **{
            "global": ref("GlobalDiagnostics"),
            "apis": {"type": "array", "items": ref("ApiDiagnostics")},
        },
    ),
    "UsageCounts": object_schema(
        [*_COUNTS, *_TOKENS], **dict.fromkeys((*_COUNTS, *_TOKENS), _COUNT)
    ),
    "UsageGroup": {
        "allOf": [
            ref("UsageCounts"),
            object_schema(
                ["key"],
                key={
                    "type": ["string", "null"],
                    "description": "The group: an id, or the start of the day "
                    "or hour; null for requests without one.",
                },
            ),
        ]
    },
    "Usage": object_schema(
        ["from", "to", "by", "value", "total", "truncated"],
        **{
            "from": STRING,
            "to": STRING,
            "by": {"enum": list(GROUPS)},
            "value": {"type": "array", "items": ref("UsageGroup")},
            "total": ref("UsageCounts"),
            "truncated": {"type": "boolean"},
        },
    ),
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def usage_paths() -> dict[str, Any]:
    """The ``/diagnostics`` and ``/usage`` paths."""
    layer = json_body(ref("DiagnosticsLayer"))
    return {
        "/diagnostics": {
            "get": describe(
                "getDiagnostics",
                "The global diagnostics setting and each API's effective one.",
                {**ok(ref("DiagnosticsOverview"), "The settings."), **errors()},
                tag="diagnostics",
            ),
            "put": describe(
                "replaceGlobalDiagnostics",
                "Store the global setting's fields that override the file's.",
                {
                    **ok(ref("DiagnosticsOverview"), "The settings now."),
                    **errors(400, 413),
                },
                tag="diagnostics",
                body=layer,
            ),
        },
        "/apis/{api}/diagnostics": {
            "parameters": [path_id("api", "The API's id.")],
            "get": describe(
                "getApiDiagnostics",
                "An API's effective setting and the fields it overrides.",
                {**ok(ref("ApiDiagnostics"), "The setting."), **errors(404)},
                tag="diagnostics",
            ),
            "put": describe(
                "replaceApiDiagnostics",
                "Store the API's fields that override the file and the global.",
                {
                    **ok(ref("ApiDiagnostics"), "The setting now."),
                    **errors(400, 404, 413),
                },
                tag="diagnostics",
                body=layer,
            ),
        },
        "/usage": {
            "get": {
                **describe(
                    "getUsage",
                    "Requests, errors, blocked requests and tokens by group.",
                    {**ok(ref("Usage"), "The usage."), **errors(400, 503, 504)},
                    tag="usage",
                ),
                "parameters": [
                    _query("from", "Start, included (ISO 8601).", STRING),
                    _query("to", "End, excluded (ISO 8601); default now.", STRING),
                    _query(
                        "by",
                        "What to group by.",
                        {"enum": list(GROUPS), "default": "subscription"},
                    ),
                ],
            }
        },
    }
