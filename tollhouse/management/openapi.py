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
from .openapi_logs import LOG_SCHEMAS, log_paths
from .openapi_parts import (
    ERROR_REASONS,
    JSON,
    NULLABLE_STRING,
    STRING,
    collection,
    describe,
    errors,
    json_body,
    object_schema,
    ok,
    path_id,
    ref,
)
from .openapi_policies import POLICY_SCHEMAS, policy_paths
from .openapi_usage import USAGE_SCHEMAS, usage_paths

_SCHEMAS: dict[str, Any] = {
    "Error": object_schema(
        ["statusCode", "message", "error"],
        statusCode={"type": "integer"},
        message=STRING,
        error={
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": STRING, "message": STRING},
            "additionalProperties": True,
        },
    ),
    "Subscription": object_schema(
        ["id", "displayName", "scope", "state", "createdDate", "updatedDate"],
        id=STRING,
        displayName=STRING,
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
        **object_schema(
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
            ref("Subscription"),
            object_schema(
                ["primaryKey", "secondaryKey"], primaryKey=STRING, secondaryKey=STRING
            ),
        ]
    },
    "RegeneratedKey": {
        "allOf": [
            ref("Subscription"),
            {
                "type": "object",
                "properties": {"primaryKey": STRING, "secondaryKey": STRING},
                "minProperties": 1,
            },
        ]
    },
    "Regenerate": {
        **object_schema(
            ["key"], key={"type": "string", "enum": ["primary", "secondary"]}
        ),
        "additionalProperties": False,
    },
    "Operation": object_schema(
        ["id", "displayName", "method", "urlTemplate", "policyFile"],
        id=STRING,
        displayName=STRING,
        method=STRING,
        urlTemplate=STRING,
        policyFile=NULLABLE_STRING,
    ),
    "Api": object_schema(
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
        id=STRING,
        displayName=STRING,
        path=STRING,
        backend=STRING,
        template={"type": "string", "enum": ["azure-openai", "passthrough"]},
        subscriptionRequired={"type": "boolean"},
        subscriptionKey=object_schema(["header", "query"], header=STRING, query=STRING),
        defaultApiVersion=NULLABLE_STRING,
        openaiRoutes={"type": "boolean"},
        policyFile=NULLABLE_STRING,
        deployments={
            "type": "array",
            "items": object_schema(["id", "model"], id=STRING, model=NULLABLE_STRING),
        },
        operations={"type": "array", "items": ref("Operation")},
    ),
    "Product": object_schema(
        ["id", "displayName", "apis", "policyFile"],
        id=STRING,
        displayName=STRING,
        apis={"type": "array", "items": STRING},
        policyFile=NULLABLE_STRING,
    ),
    "Backend": object_schema(
        ["id", "url", "kind", "credentialType"],
        id=STRING,
        url={"type": "string", "description": "Without credentials."},
        kind={"type": "string", "enum": ["azure-openai", "openai"]},
        credentialType={"type": "string", "enum": ["none", "header", "entra"]},
    ),
    "Query": {
        **object_schema(
            ["query"],
            query={"type": "string", "minLength": 1},
            format={"type": "string", "enum": ["json", "csv", "table"]},
        ),
        "additionalProperties": False,
    },
    "QueryResult": object_schema(
        ["columns", "rows", "render", "truncated"],
        columns={
            "type": "array",
            "items": object_schema(["name", "type"], name=STRING, type=STRING),
        },
        rows={"type": "array", "items": {"type": "array"}},
        render={"type": ["object", "null"]},
        truncated={"type": "boolean"},
    ),
    **POLICY_SCHEMAS,
    **LOG_SCHEMAS,
    **USAGE_SCHEMAS,
}

_SUBSCRIPTION_ID = path_id("id", "The subscription's id.")
_STATE_CHANGES = {
    "suspend": "Suspend a subscription: its keys are refused until activated.",
    "activate": "Activate a suspended or cancelled subscription.",
    "cancel": "Cancel a subscription: its keys are refused.",
}


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/openapi.json": {
            "get": describe(
                "getOpenApi",
                "This document.",
                {**ok({"type": "object"}, "The OpenAPI 3.1 document."), **errors()},
                tag="meta",
            )
        },
        "/query": {
            "post": describe(
                "runQuery",
                "Run a KQL query over the gateway and LLM logs.",
                {
                    "200": {
                        "description": "The result; CSV or text when format asks.",
                        "headers": {
                            "X-Result-Truncated": {"schema": {"type": "string"}}
                        },
                        "content": {
                            JSON: {"schema": ref("QueryResult")},
                            "text/csv": {"schema": STRING},
                            "text/plain": {"schema": STRING},
                        },
                    },
                    **errors(400, 413, 503, 504),
                },
                tag="logs",
                body=json_body(ref("Query")),
            )
        },
        "/subscriptions": {
            "get": describe(
                "listSubscriptions",
                "The subscriptions, without their keys.",
                {**ok(collection("Subscription"), "The subscriptions."), **errors()},
                tag="subscriptions",
            ),
            "post": describe(
                "createSubscription",
                "Create a subscription; its two keys are shown this once.",
                {
                    **ok(ref("CreatedSubscription"), "Created.", 201),
                    **errors(400, 409, 413),
                },
                tag="subscriptions",
                body=json_body(ref("NewSubscription")),
            ),
        },
        "/subscriptions/{id}": {
            "parameters": [_SUBSCRIPTION_ID],
            "get": describe(
                "getSubscription",
                "One subscription, without its keys.",
                {**ok(ref("Subscription"), "The subscription."), **errors(404)},
                tag="subscriptions",
            ),
        },
        "/subscriptions/{id}/regenerate": {
            "parameters": [_SUBSCRIPTION_ID],
            "post": describe(
                "regenerateSubscriptionKey",
                "Replace one key; the new key is shown this once.",
                {
                    **ok(ref("RegeneratedKey"), "The new key."),
                    **errors(400, 404, 413),
                },
                tag="subscriptions",
                body=json_body(ref("Regenerate")),
            ),
        },
    }
    for action, summary in _STATE_CHANGES.items():
        paths[f"/subscriptions/{{id}}/{action}"] = {
            "parameters": [_SUBSCRIPTION_ID],
            "post": describe(
                f"{action}Subscription",
                summary,
                {
                    **ok(ref("Subscription"), "The changed subscription."),
                    **errors(404),
                },
                tag="subscriptions",
            ),
        }
    paths.update(
        {
            "/apis": {
                "get": describe(
                    "listApis",
                    "The APIs with their operations.",
                    {**ok(collection("Api"), "The APIs."), **errors()},
                    tag="configuration",
                )
            },
            "/apis/{api}": {
                "parameters": [path_id("api", "The API's id.")],
                "get": describe(
                    "getApi",
                    "One API with its operations.",
                    {**ok(ref("Api"), "The API."), **errors(404)},
                    tag="configuration",
                ),
            },
            "/products": {
                "get": describe(
                    "listProducts",
                    "The products and the APIs they grant.",
                    {**ok(collection("Product"), "The products."), **errors()},
                    tag="configuration",
                )
            },
            "/backends": {
                "get": describe(
                    "listBackends",
                    "The backends: URL and credential type, never a secret.",
                    {**ok(collection("Backend"), "The backends."), **errors()},
                    tag="configuration",
                )
            },
        }
    )
    paths.update(policy_paths())
    paths.update(log_paths())
    paths.update(usage_paths())
    return paths


def _responses() -> dict[str, Any]:
    return {
        str(status): {
            "description": description,
            "content": {JSON: {"schema": ref("Error")}},
        }
        for status, description in ERROR_REASONS.items()
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
