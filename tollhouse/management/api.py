"""The management API: a listener of its own for operators, admin key required.

    GET  /openapi.json    the OpenAPI 3.1 document of every route (openapi.py)
    POST /query           {"query": "KQL text", "format": "json" | "csv" | "table"}
    /subscriptions...     list, create, regenerate, suspend (subscriptions.py)
    GET  /apis, /products, /backends    the configuration (configuration.py)
    GET  /logs, /logs/{correlation_id}    search the gateway log (logs.py)
    /policies..., /apis/{api}/operations/{operation}/policy    policy
                          documents: read, validate, replace (policies.py)
    /diagnostics, /apis/{api}/diagnostics    what the LLM log keeps, read
                          and changed at run time (diagnostics.py)
    GET  /usage           requests, errors and tokens by group (usage.py)

Every request carries the admin key, as ``Authorization: Bearer KEY`` or in
the ``api-key`` header.  ``/query`` answers with the JSON object
``{"columns": [...], "rows": [...], "render": {...} | null, "truncated":
bool}`` (or the same result as CSV or an aligned text table when ``format``
asks for it, with ``X-Result-Truncated: true`` when the row cap cut it).

Queries run in a small pool of threads, never on the event loop, so the
listener stays responsive while a slow one runs.  Refusals and failures
answer with an error body in APIM's shape plus an ``error`` object as
OpenAI and Azure clients read it::

    {"statusCode": 400, "message": "line 1, column 9: ...",
     "error": {"code": "InvalidQuery", "message": "...", "line": 1,
               "column": 9, "expected": ["..."]}}

==========  ===============================  ==================================
Status      ``error.code``                   When
==========  ===============================  ==================================
400         ``InvalidQuery``                 the query does not parse or names
                                             an unknown table, column, function
400         ``InvalidRequestBody``           not the JSON object the route takes
400         ``InvalidParameter``             a query parameter of ``/logs``
                                             or ``/usage`` that is not valid
400         ``InvalidPolicyDocument``        a replacement policy document that
                                             does not validate
401         ``AdminKeyMissing``,             no admin key, or a wrong one
            ``AdminKeyInvalid``
404, 405    ``NotFound``,                    another path or method
            ``MethodNotAllowed``
409         ``Conflict``                     a subscription id that exists, a
                                             policy scope without a policy file
413         ``RequestEntityTooLarge``        the body is larger than
                                             ``management.max_request_bytes``
500         ``InternalError``                anything unexpected (logged)
503         ``StoreUnavailable``             the store could not be read
504         ``QueryLimitExceeded``           the query ran past
                                             ``query.timeout_seconds``
==========  ===============================  ==================================

A result cut at ``query.max_rows`` is not an error: it comes back with
``"truncated": true``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from ..config import GatewayConfig
from ..console import ConsoleTickets
from ..dashboard import PREFIX as DASHBOARD
from ..dashboard import Dashboard
from ..diagnostics import DiagnosticsSettings
from ..errors import ManagementError, StoreError
from ..kql.errors import QueryError, QueryLimitExceeded
from ..kql.run import QueryEngine, QueryResult, run_query
from ..querying import (
    format_csv,
    format_json,
    format_table,
    query_engine,
    query_limits,
)
from ..subscriptions import SubscriptionStore
from . import openapi
from .bodies import bad_body, error_response, json_response, read_object
from .configuration import ConfigurationRoutes
from .diagnostics import DiagnosticsRoutes
from .keys import AdminKeys
from .logs import LogRoutes
from .policies import PolicyAccess, PolicyRoutes
from .subscriptions import SubscriptionRoutes
from .usage import UsageRoutes

logger = logging.getLogger(__name__)

#: Queries that run at once; more wait for a free thread.
QUERY_THREADS = 4

_FORMATS = ("json", "csv", "table")
_BODY_FIELDS = frozenset({"query", "format"})
_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="tollhouse-management"')
_CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "table": "text/plain; charset=utf-8",
}
_REFUSALS = {
    "AdminKeyMissing": "Access denied due to missing admin key. Send it as "
    "'Authorization: Bearer KEY' or in the api-key header.",
    "AdminKeyInvalid": "Access denied due to invalid admin key. "
    "`tollhouse admin-key` shows the current one.",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ManagementApi:
    """The management listener's application, its query pool and engine."""

    def __init__(
        self,
        config: GatewayConfig,
        admin_keys: AdminKeys,
        subscriptions: SubscriptionStore,
        keys_changed: Callable[[], None],
        policies: PolicyAccess,
        *,
        diagnostics: DiagnosticsSettings | None = None,
        console: ConsoleTickets | None = None,
        gateway_url: Callable[[], str] | None = None,
    ) -> None:
        self.config = config
        self._admin_keys = admin_keys
        self._engine: QueryEngine = query_engine(config)
        self._limits = query_limits(config)
        self._pool = ThreadPoolExecutor(QUERY_THREADS, "tollhouse-query")
        self.app = web.Application(
            client_max_size=config.management.max_request_bytes,
            middlewares=[self._errors, self._authorize],
        )
        router = self.app.router
        router.add_get("/openapi.json", self._openapi)
        router.add_post("/query", self._query)
        subscription_routes = SubscriptionRoutes(config, subscriptions, keys_changed)
        subscription_routes.add_to(router)
        ConfigurationRoutes(config).add_to(router)
        policy_routes = PolicyRoutes(config, policies)
        policy_routes.add_to(router)
        logs = LogRoutes(self._engine, self._pool, self._limits)
        logs.add_to(router)
        self.usage = UsageRoutes(self._engine, self._pool, self._limits)
        self.usage.add_to(router)
        self.diagnostics = diagnostics or DiagnosticsSettings(config)
        DiagnosticsRoutes(config, self.diagnostics).add_to(router)
        self.dashboard = Dashboard(
            config,
            admin_keys,
            logs,
            queries=self.run_query,
            subscriptions=subscription_routes,
            usage=self.usage,
            policies=policy_routes,
            diagnostics=self.diagnostics,
            console=(
                None
                if console is None or gateway_url is None
                else (console, gateway_url)
            ),
        )
        self.dashboard.mount(self.app)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock``, a bound listening socket."""
        # A query in flight at shutdown gets a second to finish, as the
        # gateway's own requests do once their grace period is over.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        host = self.config.management.host
        self.port = int(sock.getsockname()[1])
        logger.info("management API listening on http://%s:%d", host, self.port)
        if not _is_loopback(host):
            logger.warning(
                "the management API listens on %s, beyond loopback: anyone who "
                "can reach it there may try the admin key",
                host,
            )

    async def stop(self) -> None:
        """Stop listening and end the requests in flight."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._engine.close()

    # Middleware ------------------------------------------------------------

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ManagementError as error:
            return error_response(error)
        except web.HTTPException as exc:
            return error_response(_from_http(exc))
        except Exception:
            logger.exception(
                "management API: %s %s failed", request.method, request.path
            )
            return error_response(
                ManagementError(500, "InternalError", "Internal server error")
            )

    @web.middleware
    async def _authorize(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path.startswith(f"{DASHBOARD}/") or request.path == DASHBOARD:
            return await handler(request)  # its pages take a session instead
        presented = _presented_key(request)
        if presented is None:
            code = "AdminKeyMissing"
        elif not self._admin_keys.verify(presented):
            code = "AdminKeyInvalid"
        else:
            return await handler(request)
        logger.info(
            "management API refused a request from %s (%s)", request.remote, code
        )
        raise ManagementError(401, code, _REFUSALS[code], headers=(_CHALLENGE,))

    # GET /openapi.json ----------------------------------------------------

    async def _openapi(self, request: web.Request) -> web.Response:
        return json_response(openapi.document())

    # POST /query -----------------------------------------------------------

    async def run_query(self, text: str) -> QueryResult:
        """Run KQL ``text`` on the query pool, within the configured limits.

        Raises what `run_query` raises: `QueryError`, `QueryLimitExceeded`
        and `StoreError`.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, run_query, self._engine, text, self._limits
        )

    async def _query(self, request: web.Request) -> web.Response:
        text, fmt = await self._read_query(request)
        started = time.perf_counter()
        try:
            result = await self.run_query(text)
        except QueryLimitExceeded as exc:
            raise ManagementError(504, "QueryLimitExceeded", exc.message) from exc
        except QueryError as exc:
            raise _invalid_query(exc) from exc
        except StoreError as exc:
            logger.warning("management API: the store failed a query: %s", exc)
            raise ManagementError(503, "StoreUnavailable", str(exc)) from exc
        logger.info(
            "management API ran a query: %d rows in %.3f s",
            len(result.rows),
            time.perf_counter() - started,
            extra={"rows": len(result.rows), "truncated": result.truncated},
        )
        return _result_response(result, fmt)

    async def _read_query(self, request: web.Request) -> tuple[str, str]:
        body = await read_object(
            request,
            self.config.management.max_request_bytes,
            _BODY_FIELDS,
            example='{"query": "..."}',
        )
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise bad_body("'query' must be a non-empty string of KQL.")
        fmt = body.get("format", "json")
        if fmt not in _FORMATS:
            raise bad_body("'format' must be 'json', 'csv' or 'table'.")
        return text, fmt


def _result_response(result: QueryResult, fmt: str) -> web.Response:
    if fmt == "csv":
        body = format_csv(result).encode()
    elif fmt == "table":
        body = format_table(result).encode()
    else:
        body = format_json(result, complete=True)
    return web.Response(
        body=body,
        headers={
            "Content-Type": _CONTENT_TYPES[fmt],
            "X-Result-Truncated": "true" if result.truncated else "false",
        },
    )


def _invalid_query(error: QueryError) -> ManagementError:
    details = {
        "line": error.line,
        "column": error.column,
        "expected": list(error.expected),
    }
    return ManagementError(400, "InvalidQuery", str(error), details=details)


def _from_http(exc: web.HTTPException) -> ManagementError:
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ())))
        return ManagementError(
            405,
            "MethodNotAllowed",
            f"Method not allowed; this path takes {allowed}.",
            headers=(("Allow", allowed),),
        )
    if exc.status == 404:
        return ManagementError(404, "NotFound", "Resource not found")
    return ManagementError(exc.status, exc.reason.replace(" ", ""), exc.reason)


def _presented_key(request: web.BaseRequest) -> str | None:
    key = request.headers.get("api-key")
    if key is not None:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
