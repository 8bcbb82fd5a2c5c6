"""Building blocks of the management API's OpenAPI document."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
ERROR_REASONS = {
    400: "The request is not valid; the message says why.",
    401: "No admin key, or a wrong one.",
    404: "No such resource.",
    409: "The resource exists already, or the scope has no policy file.",
    413: "The body is larger than management.max_request_bytes.",
    503: "The store could not be read.",
    504: "The query ran past query.timeout_seconds.",
}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def collection(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["value", "count"],
        "properties": {
            "value": {"type": "array", "items": ref(item)},
            "count": {"type": "integer", "minimum": 0},
        },
    }


def object_schema(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def errors(*statuses: int) -> dict[str, Any]:
    """References to the error responses, 401 always among them."""
    return {
        str(status): {"$ref": f"#/components/responses/{status}"}
        for status in sorted({401, *statuses})
    }


def ok(schema: dict[str, Any], description: str, status: int = 200) -> Any:
    return {
        str(status): {
            "description": description,
            "content": {JSON: {"schema": schema}},
        }
    }


def json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def describe(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    tag: str,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": STRING,
    }
