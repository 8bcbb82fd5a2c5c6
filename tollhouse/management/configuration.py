"""Read-only configuration routes of the management API.

    GET /apis          the APIs, each with its operations and deployments
    GET /apis/{api}    one API
    GET /products      the products and the APIs they grant
    GET /backends      each backend's URL and credential type

A backend shows its URL with credentials removed (user information, and the
values of credential-carrying query parameters) and the *type* of its
credentials only: never a header value, an environment variable's name or
a named value.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from yarl import URL

from ..config import ApiConfig, BackendConfig, GatewayConfig, ProductConfig
from ..pipeline import key_header
from ..routing import OPERATIONS, PASSTHROUGH, Operation
from .bodies import json_response, not_found


class ConfigurationRoutes:
    """The routes that show the gateway's APIs, products and backends."""

    def __init__(self, config: GatewayConfig) -> None:
        self._config = config

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/apis", self._apis)
        router.add_get("/apis/{api}", self._api)
        router.add_get("/products", self._products)
        router.add_get("/backends", self._backends)

    async def _apis(self, request: web.Request) -> web.Response:
        apis = [api_json(name, api) for name, api in self._config.apis.items()]
        return json_response({"value": apis, "count": len(apis)})

    async def _api(self, request: web.Request) -> web.Response:
        name = request.match_info["api"]
        api = self._config.apis.get(name)
        if api is None:
            raise not_found("API", name)
        return json_response(api_json(name, api))

    async def _products(self, request: web.Request) -> web.Response:
        products = [
            product_json(name, product)
            for name, product in self._config.products.items()
        ]
        return json_response({"value": products, "count": len(products)})

    async def _backends(self, request: web.Request) -> web.Response:
        backends = [
            backend_json(name, backend)
            for name, backend in self._config.backends.items()
        ]
        return json_response({"value": backends, "count": len(backends)})


def api_json(name: str, api: ApiConfig) -> dict[str, Any]:
    """An API as the management API shows it."""
    return {
        "id": name,
        "displayName": api.display_name or name,
        "path": api.path,
        "backend": api.backend,
        "template": api.template,
        "subscriptionRequired": api.subscription_required,
        "subscriptionKey": {
            "header": key_header(api),
            "query": api.subscription_key.query,
        },
        "defaultApiVersion": api.default_api_version,
        "openaiRoutes": api.openai_routes,
        "policyFile": api.policy_file,
        "deployments": [
            {"id": deployment, "model": settings.model}
            for deployment, settings in api.deployments.items()
        ],
        "operations": [
            _operation_json(api, op)
            for op in (OPERATIONS if api.template == "azure-openai" else (PASSTHROUGH,))
        ],
    }


def _operation_json(api: ApiConfig, op: Operation) -> dict[str, Any]:
    settings = api.operations.get(op.id)
    if op.suffix:
        method, template = "POST", f"/deployments/{{deployment-id}}/{op.suffix}"
    else:
        method, template = "*", "/*"
    return {
        "id": op.id,
        "displayName": op.name,
        "method": method,
        "urlTemplate": template,
        "policyFile": settings.policy_file if settings is not None else None,
    }


def product_json(name: str, product: ProductConfig) -> dict[str, Any]:
    """A product as the management API shows it."""
    return {
        "id": name,
        "displayName": product.display_name or name,
        "apis": list(product.apis),
        "policyFile": product.policy_file,
    }


def backend_json(name: str, backend: BackendConfig) -> dict[str, Any]:
    """A backend as the management API shows it: no secret, ever."""
    return {
        "id": name,
        "url": _public_url(backend.url),
        "kind": backend.kind,
        "credentialType": backend.credentials.type,
    }


def _public_url(url: str) -> str:
    """``url`` without user, password or any query value: any may be a key."""
    base, question, query = url.partition("?")
    if not base.startswith("mock:"):
        try:
            parsed = URL(base)
        except ValueError:
            return "(not a URL)"
        if parsed.user is not None or parsed.password is not None:
            parsed = parsed.with_user(None)
        base = str(parsed)
    if not question:
        return base
    names = [item.partition("=")[0] for item in query.split("&") if item]
    return base + "?" + "&".join(f"{name}=REDACTED" for name in names)
