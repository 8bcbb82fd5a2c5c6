"""The OpenAPI 3.1 document of the management API, served at /openapi.json.

The document is declared here, next to nothing else, and a test checks it
against the routes the application really has, so a route cannot be added
without describing it.  Like every route, ``/openapi.json`` takes the admin
key: the document reveals nothing secret, but one rule for every path is
simpler to reason about than a list of exceptions.
"""

from __future__ import annotations

from typing import Any

from .. import __version__

_JSON = "application/json"
_ERROR_REASONS = {
    400: "The request is not valid; the message says why.",
    401: "No admin key, or a wrong one.",
    404: "No such resource.",
    409: "The resource exists already.",
    413: "The body is larger than management.max_request_bytes.",
    503: "The store could not be read.",
    504: "The query ran past query.timeout_seconds.",
}
_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _collection(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["value", "count"],
        "properties": {
            "value": {"type": "array", "items": _ref(item)},
            "count": {"type": "integer", "minimum": 0},
        },
    }


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _errors(*statuses: int) -> dict[str, Any]:
    """References to the error responses, 401 always among them."""
    return {
        str(status): {"$ref": f"#/components/responses/{status}"}
        for status in sorted({401, *statuses})
    }


def _ok(schema: dict[str, Any], description: str, status: int = 200) -> Any:
    return {
        str(status): {
            "description": description,
            "content": {_JSON: {"schema": schema}},
        }
    }


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": schema}}}


def _operation(
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


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": _STRING,
    }


_SCHEMAS: dict[str, Any] = {
    "Error": _object(
        ["statusCode", "message", "error"],
        statusCode={"type": "integer"},
        message=_STRING,
        error={
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": _STRING, "message": _STRING},
            "additionalProperties": True,
        },
    ),
    "Subscription": _object(
        ["id", "displayName", "scope", "state", "createdDate", "updatedDate"],
        id=_STRING,
        displayName=_STRING,
        scope={
            "type": "string",
            "description": "/apis, /apis/{api-id} or /products/{product-id}",
        },
        state={
            "type": "string",
            "enum": [
                "active",
                "suspended",
                "cancelled",
                "expired",
                "rejected",
                "submitted",
            ],
        },
        createdDate={"type": "string", "format": "date-time"},
        updatedDate={"type": "string", "format": "date-time"},
    ),
    "NewSubscription": {
        **_object(
            ["id"],
            id={
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9._~-]{0,79}$",
            },
            displayName={"type": "string", "minLength": 1},
            scope={
                "type": "string",
                "default": "/apis",
                "pattern": "^/(apis|apis/[^/]+|products/[^/]+)$",
            },
        ),
        "additionalProperties": False,
    },
    "CreatedSubscription": {
        "allOf": [
            _ref("Subscription"),
            _object(
                ["primaryKey", "secondaryKey"], primaryKey=_STRING, secondaryKey=_STRING
            ),
        ]
    },
    "RegeneratedKey": {
        "allOf": [
            _ref("Subscription"),
            {
                "type": "object",
                "properties": {"primaryKey": _STRING, "secondaryKey": _STRING},
                "minProperties": 1,
            },
        ]
    },
    "Regenerate": {
        **_object(["key"], key={"type": "string", "enum": ["primary", "secondary"]}),
        "additionalProperties": False,
    },
    "Operation": _object(
        ["id", "displayName", "method", "urlTemplate", "policyFile"],
        id=_STRING,
        displayName=_STRING,
        method=_STRING,
        urlTemplate=_STRING,
        policyFile=_NULLABLE_STRING,
    ),
    "Api": _object(
        [
            "id",
            "displayName",
            "path",
            "backend",
            "template",
            "subscriptionRequired",
            "subscriptionKey",
            "defaultApiVersion",
            "openaiRoutes",
            "policyFile",
            "deployments",
            "operations",
        ],
        id=_STRING,
        displayName=_STRING,
        path=_STRING,
        backend=_STRING,
        template={"type": "string", "enum": ["azure-openai", "passthrough"]},
        subscriptionRequired={"type": "boolean"},
        subscriptionKey=_object(["header", "query"], header=_STRING, query=_STRING),
        defaultApiVersion=_NULLABLE_STRING,
        openaiRoutes={"type": "boolean"},
        policyFile=_NULLABLE_STRING,
        deployments={
            "type": "array",
            "items": _object(["id", "model"], id=_STRING, model=_NULLABLE_STRING),
        },
        operations={"type": "array", "items": _ref("Operation")},
    ),
    "Product": _object(
        ["id", "displayName", "apis", "policyFile"],
        id=_STRING,
        displayName=_STRING,
        apis={"type": "array", "items": _STRING},
        policyFile=_NULLABLE_STRING,
    ),
    "Backend": _object(
        ["id", "url", "kind", "credentialType"],
        id=_STRING,
        url={"type": "string", "description": "Without credentials."},
        kind={"type": "string", "enum": ["azure-openai", "openai"]},
        credentialType={"type": "string", "enum": ["none", "header", "entra"]},
    ),
    "Query": {
        **_object(
            ["query"],
            query={"type": "string", "minLength": 1},
            format={"type": "string", "enum": ["json", "csv", "table"]},
        ),
        "additionalProperties": False,
    },
    "QueryResult": _object(
        ["columns", "rows", "render", "truncated"],
        columns={
            "type": "array",
            "items": _object(["name", "type"], name=_STRING, type=_STRING),
        },
        rows={"type": "array", "items": {"type": "array"}},
        render={"type": ["object", "null"]},
        truncated={"type": "boolean"},
    ),
}

_SUBSCRIPTION_ID = _path_id("id", "The subscription's id.")
_STATE_CHANGES = {
    "suspend": "Suspend a subscription: its keys are refused until activated.",
    "activate": "Activate a suspended or cancelled subscription.",
    "cancel": "Cancel a subscription: its keys are refused.",
}


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/openapi.json": {
            "get": _operation(
                "getOpenApi",
                "This document.",
                {**_ok({"type": "object"}, "The OpenAPI 3.1 document."), **_errors()},
                tag="meta",
            )
        },
        "/query": {
            "post": _operation(
                "runQuery",
                "Run a KQL query over the gateway and LLM logs.",
                {
                    "200": {
                        "description": "The result; CSV or text when format asks.",
                        "headers": {
                            "X-Result-Truncated": {"schema": {"type": "string"}}
                        },
                        "content": {
                            _JSON: {"schema": _ref("QueryResult")},
                            "text/csv": {"schema": _STRING},
                            "text/plain": {"schema": _STRING},
                        },
                    },
                    **_errors(400, 413, 503, 504),
                },
                tag="logs",
                body=_body(_ref("Query")),
            )
        },
        "/subscriptions": {
            "get": _operation(
                "listSubscriptions",
                "The subscriptions, without their keys.",
                {**_ok(_collection("Subscription"), "The subscriptions."), **_errors()},
                tag="subscriptions",
            ),
            "post": _operation(
                "createSubscription",
                "Create a subscription; its two keys are shown this once.",
                {
                    **_ok(_ref("CreatedSubscription"), "Created.", 201),
                    **_errors(400, 409, 413),
                },
                tag="subscriptions",
                body=_body(_ref("NewSubscription")),
            ),
        },
        "/subscriptions/{id}": {
            "parameters": [_SUBSCRIPTION_ID],
            "get": _operation(
                "getSubscription",
                "One subscription, without its keys.",
                {**_ok(_ref("Subscription"), "The subscription."), **_errors(404)},
                tag="subscriptions",
            ),
        },
        "/subscriptions/{id}/regenerate": {
            "parameters": [_SUBSCRIPTION_ID],
            "post": _operation(
                "regenerateSubscriptionKey",
                "Replace one key; the new key is shown this once.",
                {
                    **_ok(_ref("RegeneratedKey"), "The new key."),
                    **_errors(400, 404, 413),
                },
                tag="subscriptions",
                body=_body(_ref("Regenerate")),
            ),
        },
    }
    for action, summary in _STATE_CHANGES.items():
        paths[f"/subscriptions/{{id}}/{action}"] = {
            "parameters": [_SUBSCRIPTION_ID],
            "post": _operation(
                f"{action}Subscription",
                summary,
                {
                    **_ok(_ref("Subscription"), "The changed subscription."),
                    **_errors(404),
                },
                tag="subscriptions",
            ),
        }
    paths.update(
        {
            "/apis": {
                "get": _operation(
                    "listApis",
                    "The APIs with their operations.",
                    {**_ok(_collection("Api"), "The APIs."), **_errors()},
                    tag="configuration",
                )
            },
            "/apis/{api}": {
                "parameters": [_path_id("api", "The API's id.")],
                "get": _operation(
                    "getApi",
                    "One API with its operations.",
                    {**_ok(_ref("Api"), "The API."), **_errors(404)},
                    tag="configuration",
                ),
            },
            "/products": {
                "get": _operation(
                    "listProducts",
                    "The products and the APIs they grant.",
                    {**_ok(_collection("Product"), "The products."), **_errors()},
                    tag="configuration",
                )
            },
            "/backends": {
                "get": _operation(
                    "listBackends",
                    "The backends: URL and credential type, never a secret.",
                    {**_ok(_collection("Backend"), "The backends."), **_errors()},
                    tag="configuration",
                )
            },
        }
    )
    return paths


def _responses() -> dict[str, Any]:
    return {
        str(status): {
            "description": description,
            "content": {_JSON: {"schema": _ref("Error")}},
        }
        for status, description in _ERROR_REASONS.items()
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the management API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tollhouse management API",
            "version": __version__,
            "description": "Operate a Tollhouse gateway. Every route takes the "
            "admin key, as 'Authorization: Bearer KEY' or in the api-key header.",
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "responses": _responses(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "api-key"},
            },
        },
    }
