"""The ``/diagnostics`` routes: what the LLM log keeps, read and changed.

``PUT`` takes the layer of settings to store for its scope, replacing the one
stored before: ``{"log_llm_messages": false}`` turns message logging off,
``{}`` returns the scope to what the configuration file says.  The change is
written to the settings database and applies to the next request; the order
in which the layers win is in `tollhouse.diagnostics`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..config import GatewayConfig
from ..diagnostics import (
    FIELDS,
    DiagnosticsSettings,
    InvalidDiagnostics,
    check_layer,
)
from ..errors import ManagementError
from .bodies import json_response, not_found, read_object

_EXAMPLE = '{"log_llm_messages": false, "sampling_percentage": 25}'


class DiagnosticsRoutes:
    """The global and per-API diagnostics settings."""

    def __init__(self, config: GatewayConfig, settings: DiagnosticsSettings) -> None:
        self._config = config
        self._settings = settings

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/diagnostics", self._all)
        router.add_put("/diagnostics", self._put_global)
        router.add_get("/apis/{api}/diagnostics", self._api)
        router.add_put("/apis/{api}/diagnostics", self._put_api)

    async def _all(self, request: web.Request) -> web.Response:
        return json_response(self._overview())

    async def _put_global(self, request: web.Request) -> web.Response:
        layer = await self._read_layer(request)
        self._settings.set_global(layer)
        return json_response(self._overview())

    async def _api(self, request: web.Request) -> web.Response:
        api_id = self._api_id(request)
        return json_response(self._settings.describe_api(api_id))

    async def _put_api(self, request: web.Request) -> web.Response:
        api_id = self._api_id(request)
        layer = await self._read_layer(request)
        self._settings.set_api(api_id, layer)
        return json_response(self._settings.describe_api(api_id))

    def _overview(self) -> dict[str, Any]:
        return {
            "global": self._settings.describe_global(),
            "apis": [self._settings.describe_api(a) for a in self._config.apis],
        }

    def _api_id(self, request: web.Request) -> str:
        api_id = request.match_info["api"]
        if api_id not in self._config.apis:
            raise not_found("API", api_id)
        return api_id

    async def _read_layer(self, request: web.Request) -> dict[str, Any]:
        body = await read_object(
            request,
            self._config.management.max_request_bytes,
            FIELDS,
            example=_EXAMPLE,
        )
        try:
            return check_layer(body)
        except InvalidDiagnostics as exc:
            raise ManagementError(400, "InvalidRequestBody", str(exc)) from exc
