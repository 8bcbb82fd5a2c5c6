"""The policy routes in the management API's OpenAPI document."""

from __future__ import annotations

from typing import Any

from .openapi_parts import (
    JSON,
    NULLABLE_STRING,
    STRING,
    describe,
    errors,
    object_schema,
    ok,
    path_id,
    ref,
)

_POLICY_ERROR = object_schema(
    ["line", "column", "message"],
    line={"type": "integer"},
    column={"type": "integer"},
    message=STRING,
)
POLICY_SCHEMAS: dict[str, Any] = {
    "PolicyError": _POLICY_ERROR,
    "PolicyText": {
        **object_schema(["xml"], xml={"type": "string", "minLength": 1}),
        "additionalProperties": False,
    },
    "PolicyValidation": object_schema(
        ["valid", "errors"],
        valid={"type": "boolean"},
        errors={"type": "array", "items": ref("PolicyError")},
    ),
    "PolicyDocument": object_schema(
        ["scope", "policyFile", "xml"],
        scope={"type": "string", "enum": ["global", "product", "api", "operation"]},
        policyFile=STRING,
        xml=STRING,
    ),
    "PolicyReplaced": object_schema(
        ["scope", "policyFile", "reloaded"],
        scope={"type": "string", "enum": ["global", "product", "api", "operation"]},
        policyFile=STRING,
        reloaded={"type": "boolean"},
    ),
    "EffectivePolicy": object_schema(
        ["api", "operation", "product", "xml", "elements"],
        api=STRING,
        operation=STRING,
        product=NULLABLE_STRING,
        xml=STRING,
        elements={
            "type": "array",
            "items": object_schema(
                ["name", "scope", "section", "path", "source", "line", "column"],
                name=STRING,
                scope={
                    "type": "string",
                    "enum": ["global", "product", "api", "operation"],
                },
                section=NULLABLE_STRING,
                path=STRING,
                source=STRING,
                line={"type": "integer"},
                column={"type": "integer"},
            ),
        },
    ),
}


def policy_body() -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/xml": {"schema": STRING},
            "text/xml": {"schema": STRING},
            JSON: {"schema": ref("PolicyText")},
        },
    }


def policy_paths() -> dict[str, Any]:
    api, operation = (
        path_id("api", "The API's id."),
        path_id("operation", "The operation's id, such as ChatCompletions_Create."),
    )
    product = path_id("product", "The product's id.")
    paths: dict[str, Any] = {
        "/apis/{api}/operations/{operation}/policy": {
            "parameters": [api, operation],
            "get": {
                **describe(
                    "getEffectivePolicy",
                    "The effective policy of an operation, its scopes merged.",
                    {
                        **ok(ref("EffectivePolicy"), "The effective document."),
                        **errors(404),
                    },
                    tag="policies",
                ),
                "parameters": [
                    {
                        "name": "product",
                        "in": "query",
                        "required": False,
                        "description": "Merge this product's document too.",
                        "schema": STRING,
                    }
                ],
            },
        },
        "/policies/validate": {
            "post": describe(
                "validatePolicy",
                "Check a policy document as the gateway would load it.",
                {
                    **ok(ref("PolicyValidation"), "Whether it is valid, and why."),
                    **errors(400, 413),
                },
                tag="policies",
                body=policy_body(),
            )
        },
    }
    scopes = {
        "/policies/global": ("Global", []),
        "/policies/products/{product}": ("Product", [product]),
        "/policies/apis/{api}": ("Api", [api]),
        "/policies/apis/{api}/operations/{operation}": ("Operation", [api, operation]),
    }
    for path, (name, parameters) in scopes.items():
        paths[path] = {
            "parameters": parameters,
            "get": describe(
                f"get{name}Policy",
                f"The policy document of the {name.lower()} scope, as written.",
                {**ok(ref("PolicyDocument"), "The document."), **errors(404)},
                tag="policies",
            ),
            "put": describe(
                f"replace{name}Policy",
                "Replace the document, if it validates, and reload the policies.",
                {
                    **ok(ref("PolicyReplaced"), "Written and reloaded."),
                    **errors(400, 404, 409, 413),
                },
                tag="policies",
                body=policy_body(),
            ),
        }
    return paths
