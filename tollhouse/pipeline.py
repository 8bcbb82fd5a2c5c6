"""The one request pipeline every route shape runs.

    match API + operation ─► subscription key ─► read and check the body
    ─► build the backend request ─► send ─► relay the response
    always ─► gateway log row + LLM log rows ─► the log writer

When the operation's effective policy document does more than forward,
`PolicyStage` runs it around the backend call; a CORS preflight is answered
by its ``cors`` policies before the subscription key is checked, and any
error runs its on-error section.

Each step is a method of `Pipeline`; any `GatewayError` raised on the way
becomes an APIM-shaped error response, and the log rows are written in a
``finally`` so that rejected, failed and abandoned requests are logged too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import Any
from urllib.parse import quote, unquote_plus

import orjson
from aiohttp import ClientError, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDict

from . import console
from . import headers as hdrs
from .config import AZURE_OPENAI_TEMPLATE, ApiConfig
from .errors import (
    BadRequest,
    ClientClosedRequest,
    GatewayError,
    InvalidRequestBody,
    InvalidSubscriptionKey,
    MissingApiVersion,
    MissingSubscriptionKey,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
)
from .exchange import Exchange
from .ids import new_correlation_id
from .policy.document import Document
from .policy.engine import PolicyRun, Services
from .policy.gateway import PolicyStage
from .policy.registry import is_plain_forward
from .records import build_record
from .relay import WholeResponse, keep_response_head, relay_response
from .routing import PASSTHROUGH, Route
from .runtime import Runtime
from .transport import BackendRequest

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("tollhouse.access")

_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
# Azure accepts stream_options from this api-version on.
_STREAM_OPTIONS_SINCE = "2024-08-01"
_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)
_JWT = re.compile(r"[\w-]+\.[\w-]+\.[\w-]*", re.ASCII)
# Sent with the subscription key's own 401s (not with a policy's).
_KEY_CHALLENGE = ("WWW-Authenticate", 'AzureApiManagementKey realm="gateway"')


class Pipeline:
    """Runs requests through the gateway; one instance per gateway."""

    def __init__(self, runtime: Runtime, services: Services | None = None) -> None:
        self.runtime = runtime
        self.policies = PolicyStage(
            runtime,
            services
            or Services(
                backend_urls={n: b.base_url for n, b in runtime.backends.items()}
            ),
        )
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request is in flight."""
        await self._idle.wait()

    def cancel_in_flight(self) -> int:
        """Cut off every request in flight (a stopping gateway's last resort)."""
        for task in self._in_flight:
            task.cancel()
        return len(self._in_flight)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            self._idle.clear()
        try:
            return await self._handle(request)
        finally:
            self._in_flight.discard(task)
            if not self._in_flight:
                self._idle.set()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        exchange = _new_exchange(request, self.runtime)
        response: web.StreamResponse | None = None
        try:
            response = await self._run(request, exchange)
        except GatewayError as exc:
            response = self._error_response(exchange, exc)
        except Exception as exc:
            logger.exception(
                "request %s failed in the gateway", exchange.correlation_id
            )
            response = self._error_response(exchange, GatewayError())
            exchange.error_kind = "gateway_error"
            exchange.error_message = type(exc).__name__
        except asyncio.CancelledError:
            _note_cancelled(exchange, self.runtime.lifecycle.stopping)
            raise
        finally:
            # Logged once the response is on its way, off the latency path.
            asyncio.get_running_loop().call_soon(self._log, exchange)
        return response

    async def _run(
        self, request: web.BaseRequest, exchange: Exchange
    ) -> web.StreamResponse:
        run: PolicyRun | None = None
        try:
            # Which API and operation, and who is calling.
            _check_path(request.raw_path)
            route = self.runtime.router.match(request.path)
            if route is None:
                raise NotFound()
            exchange.route = route
            exchange.body_bytes = self.runtime.diagnostics_for(route.api_id).body_bytes
            if _is_preflight(request):
                # Browsers send no subscription key with a CORS preflight.
                answer = await self._preflight(request, exchange)
                if answer is not None:
                    return answer
            if route.operation is not PASSTHROUGH and request.method != "POST":
                # The template's operations are POSTs: another method matches
                # no operation, as in APIM.
                exchange.route = None
                raise NotFound("Unable to match incoming request to an operation.")
            self._authorize(request, exchange, route)

            # The body, checked as far as the operation needs it.
            body = await self._read_body(request, exchange)
            self._check_request(request, exchange, route, body)

            # The backend call, and the response relayed as it comes, with
            # the policies of the operation around it when it has any.
            document = self._document(exchange)
            if is_plain_forward(document):
                backend_request = await self._backend_request(
                    request, exchange, route, body
                )
                return await relay_response(
                    self.runtime, request, exchange, backend_request
                )
            run = self._policy_run(request, exchange, document, body)
            return await self.policies.run(request, exchange, run, self._body_rewriter)
        except GatewayError as error:
            if isinstance(error, ClientClosedRequest) or exchange.client_disconnected:
                raise
            if run is None:
                run = self._policy_run(request, exchange, self._document(exchange))
            answer = await self.policies.on_error(
                exchange, run, error, functools.partial(self._error_whole, exchange)
            )
            if answer is None:
                raise
            return answer

    async def _preflight(
        self, request: web.BaseRequest, exchange: Exchange
    ) -> web.StreamResponse | None:
        """The ``cors`` policies' answer to a preflight, if the API has any."""
        run = self._policy_run(request, exchange, self._document(exchange))
        return await self.policies.preflight(exchange, run)

    def _document(self, exchange: Exchange) -> Document:
        """The effective policy document of the request, as far as it is known."""
        route = exchange.route
        subscription = exchange.subscription
        return self.runtime.policies.effective(
            subscription.product_id if subscription is not None else None,
            route.api_id if route is not None else None,
            route.operation.id if route is not None else None,
        )

    def _policy_run(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        document: Document,
        body: bytes = b"",
    ) -> PolicyRun:
        route = exchange.route
        if route is None:
            run = self.policies.start(request, exchange, document)
            exchange.policy_trace = run.trace
            return run
        query = _forward_query(request, exchange)

        def url_for(backend: str) -> str:
            chosen = self.runtime.backends[backend]
            return chosen.url_for(route, exchange.deployment, query)

        run = self.policies.start(
            request,
            exchange,
            document,
            backend_url=url_for(route.api.backend),
            body=body,
            url_for=url_for,
        )
        exchange.policy_trace = run.trace
        return run

    def _body_rewriter(self, exchange: Exchange, backend: str, body: bytes) -> bytes:
        assert exchange.route is not None
        kind = self.runtime.backends[backend].config.kind
        return self._rewrite_body(exchange, exchange.route, kind, body)

    # Subscription keys ----------------------------------------------------

    def _authorize(
        self, request: web.BaseRequest, exchange: Exchange, route: Route
    ) -> None:
        # Until the body is read, its declared size is what the log can say.
        exchange.request_size = request.content_length or 0
        api = route.api
        if console.HEADER in request.headers and self._console_ticket(exchange, route):
            return
        found = _presented_keys(request, key_header(api), api.subscription_key.query)
        if not found:
            if api.subscription_required:
                raise MissingSubscriptionKey()
            return
        keys = {key for _, key in found}
        if len(keys) > 1:
            raise InvalidSubscriptionKey(
                "Access denied: the request carries two different subscription "
                "keys. Send one key, in one place.",
                reason="SubscriptionKeyConflict",
            )
        exchange.key_source = found[0][0]
        key = keys.pop()
        subscription = self.runtime.keys.find(key)
        if subscription is None or not subscription.active:
            if api.subscription_required:
                raise InvalidSubscriptionKey()
            return
        if not subscription.allows(route.api_id, self.runtime.product_apis):
            raise InvalidSubscriptionKey()
        exchange.subscription = subscription
        exchange.subscription_key = key

    def _console_ticket(self, exchange: Exchange, route: Route) -> bool:
        """Whether the test console's ticket named the subscription; raise if bad.

        A ticket without a subscription leaves the keys the console's
        operator typed to be checked as any client's.
        """
        ticket = exchange.console
        if ticket is None:
            raise InvalidSubscriptionKey(
                "Access denied: the test console's ticket has expired or was "
                "used already. Send the request again from the console."
            )
        if ticket.subscription_id is None:
            return False
        subscription = self.runtime.keys.by_id(ticket.subscription_id)
        if subscription is None or not subscription.active:
            raise InvalidSubscriptionKey()
        if not subscription.allows(route.api_id, self.runtime.product_apis):
            raise InvalidSubscriptionKey()
        exchange.key_source = console.KEY_SOURCE
        exchange.subscription = subscription
        return True

    # The request body -----------------------------------------------------

    async def _read_body(self, request: web.BaseRequest, exchange: Exchange) -> bytes:
        limit = self.runtime.config.listener.max_request_bytes
        if request.content_length is not None and request.content_length > limit:
            exchange.request_size = request.content_length
            raise PayloadTooLarge()
        chunks: list[bytes] = []
        try:
            await _continue(request)
            if request.content.is_eof():
                # It all came with the headers: nothing to wait for.
                size = await _gather(request, exchange, chunks, limit)
            else:
                async with asyncio.timeout(self.runtime.config.listener.body_timeout):
                    size = await _gather(request, exchange, chunks, limit)
        except TimeoutError as exc:
            exchange.request_size = sum(len(chunk) for chunk in chunks)
            _keep_request_head(exchange, chunks)
            raise RequestTimeout() from exc
        except (HttpProcessingError, RequestPayloadError) as exc:
            if _transport_gone(request):
                exchange.client_disconnected = True
                exchange.error_kind = "client_disconnected"
                raise ClientClosedRequest() from exc
            # A body aiohttp could not decode (a Content-Encoding that lies).
            raise InvalidRequestBody(
                "The request body could not be read; check its Content-Encoding."
            ) from exc
        except (ClientError, ConnectionError) as exc:
            exchange.client_disconnected = True
            exchange.error_kind = "client_disconnected"
            raise ClientClosedRequest() from exc
        exchange.request_size = size
        _keep_request_head(exchange, chunks)
        return b"".join(chunks)

    def _check_request(
        self, request: web.BaseRequest, exchange: Exchange, route: Route, body: bytes
    ) -> None:
        if route.shape == "deployment":
            exchange.api_version = _api_version(request.query, route.api)
        elif "api-version" in request.query:
            # /openai/responses and friends: optional, but logged when given.
            exchange.api_version = _api_version(request.query, route.api)
        exchange.deployment = route.deployment
        if route.llm_kind is not None and request.method == "POST":
            exchange.request_json = _parse_json(body)
            exchange.stream = exchange.request_json.get("stream") is True
            if route.shape == "v1":
                exchange.deployment = _body_model(exchange.request_json)
        # Every path naming a deployment, whatever its method or operation.
        deployments = route.api.deployments
        unchecked = not deployments or exchange.deployment is None
        if not unchecked and exchange.deployment not in deployments:
            raise NotFound(
                "The API deployment for this resource does not exist.",
                reason="DeploymentNotFound",
            )

    # The backend request --------------------------------------------------

    async def _backend_request(
        self, request: web.BaseRequest, exchange: Exchange, route: Route, body: bytes
    ) -> BackendRequest:
        backend = self.runtime.backends[route.api.backend]
        url = backend.url_for(
            route, exchange.deployment, _forward_query(request, exchange)
        )
        body = self._rewrite_body(exchange, route, backend.config.kind, body)
        headers = hdrs.backend_request_headers(
            list(request.headers.items()), self.runtime.key_header_names
        )
        headers.extend((await backend.auth.headers()).items())

        exchange.backend_id = route.api.backend
        exchange.backend_url = backend.loggable_url(url)
        exchange.backend_method = request.method
        return BackendRequest(request.method, url, headers, body)

    def _rewrite_body(
        self, exchange: Exchange, route: Route, backend_kind: str, body: bytes
    ) -> bytes:
        if exchange.request_json is None:
            return body
        # A copy: a retry, or a policy's other backend, starts again from the
        # client's body.
        payload = dict(exchange.request_json)
        changed = False
        if backend_kind == "openai" and route.shape == "deployment":
            payload["model"] = self._backend_model(route.api, exchange.deployment)
            changed = True
        elif backend_kind == "openai" and route.shape == "v1":
            model = self._backend_model(route.api, exchange.deployment)
            changed = model != payload.get("model")
            payload["model"] = model
        if self._should_inject_usage(exchange, route):
            options = payload.get("stream_options")
            merged = dict(options) if isinstance(options, dict) else {}
            merged["include_usage"] = True
            payload["stream_options"] = merged
            exchange.injected_usage = True
            changed = True
        return orjson.dumps(payload) if changed else body

    def _backend_model(self, api: ApiConfig, deployment: str | None) -> str:
        known = api.deployments.get(deployment or "")
        if known is not None and known.model:
            return known.model
        return deployment or ""

    def _should_inject_usage(self, exchange: Exchange, route: Route) -> bool:
        if not exchange.stream or route.llm_kind not in ("chat", "completions"):
            return False
        options = exchange.request_json.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            return False
        backend = self.runtime.backends[route.api.backend].config
        if backend.stream_usage != "auto":
            return backend.stream_usage == "always"
        if backend.kind == "openai" or exchange.api_version is None:
            return True
        return exchange.api_version[:10] >= _STREAM_OPTIONS_SINCE

    # Errors and the log ---------------------------------------------------

    def _error_response(self, exchange: Exchange, error: GatewayError) -> web.Response:
        whole = self._error_whole(exchange, error)
        headers = [*whole.headers, (hdrs.CORRELATION_ID, exchange.correlation_id)]
        exchange.status = error.status
        exchange.response_size = len(whole.body)
        exchange.response_headers = headers
        keep_response_head(exchange, whole)
        response = web.Response(status=error.status, body=whole.body, headers=headers)
        if isinstance(error, RequestTimeout | PayloadTooLarge):
            # The rest of the body is still on its way: the connection is
            # not fit for another request.
            response.force_close()
        return response

    def _error_whole(self, exchange: Exchange, error: GatewayError) -> WholeResponse:
        """APIM's own response to ``error``; its body is kept for the log."""
        exchange.error = error
        whole = error_whole(error, exchange.correlation_id)
        exchange.error_body = whole.body.decode()
        return whole

    def _log(self, exchange: Exchange) -> None:
        try:
            record = build_record(self.runtime, exchange)
            self.runtime.writer.submit(record)
        except Exception:
            # A log row that cannot be built must not take the response with it.
            logger.exception("could not log request %s", exchange.correlation_id)
            return
        finally:
            if exchange.console is not None:
                exchange.console.finish(exchange)
        access_logger.info(
            "%s %s %s %d %.1fms",
            exchange.caller_ip,
            exchange.method,
            exchange.route.operation.id if exchange.route else "-",
            exchange.status,
            exchange.elapsed_ms(),
            extra={"correlation_id": exchange.correlation_id},
        )


def error_whole(error: GatewayError, correlation_id: str) -> WholeResponse:
    """APIM's own response to ``error``: its status and JSON body."""
    body: dict[str, Any] = {"statusCode": error.status, "message": error.message}
    if error.status >= 500:
        # As APIM does: the client learns only the activity id; the log
        # keeps what went wrong.
        body["message"] = "Internal server error"
        body["activityId"] = correlation_id
    headers = [("Content-Type", "application/json; charset=utf-8")]
    if isinstance(error, Unauthorized):
        headers.append(_KEY_CHALLENGE)
    return WholeResponse(error.status, None, headers, orjson.dumps(body))


def _note_cancelled(exchange: Exchange, stopping: bool) -> None:
    """A request cut off before its response was complete."""
    if exchange.error is not None or exchange.client_disconnected:
        return  # the relay has said why already
    if not exchange.status:
        exchange.status = 503
    exchange.error_kind = "gateway_shutdown" if stopping else "cancelled"
    exchange.error = GatewayError(
        "The gateway stopped before the response was complete.",
        reason="GatewayShutdown" if stopping else "Cancelled",
    )


def _new_exchange(request: web.BaseRequest, runtime: Runtime) -> Exchange:
    exchange = Exchange(
        correlation_id=new_correlation_id(),
        method=request.method,
        url="",
        caller_ip=runtime.callers.caller(
            request.remote or "", request.headers.getall("X-Forwarded-For", ())
        ),
        client_headers=list(request.headers.items()),
        protocol=f"HTTP/{request.version.major}.{request.version.minor}",
    )
    exchange.url = runtime.loggable_request_url(request)
    ticket = request.headers.get(console.HEADER)
    if ticket is not None:
        exchange.console = runtime.console.claim(ticket)
    return exchange


def key_header(api: ApiConfig) -> str:
    """The header an API takes subscription keys in."""
    if api.subscription_key.header:
        return api.subscription_key.header
    if api.template == AZURE_OPENAI_TEMPLATE:
        return "api-key"
    return "Ocp-Apim-Subscription-Key"


def _presented_keys(
    request: web.BaseRequest, header: str, query: str
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for value in request.headers.getall(header, []):
        if value.strip():
            found.append((f"header:{header.lower()}", value.strip()))
    for value in request.headers.getall("Authorization", []):
        bearer = _BEARER.match(value)
        # A JWT is the caller's identity for the policies, never a key.
        if bearer is not None and not _JWT.fullmatch(bearer.group(1)):
            found.append(("header:authorization", bearer.group(1)))
    for value in request.query.getall(query, []):
        if value:
            found.append((f"query:{query}", value))
    return found


def _api_version(query: MultiDict[str] | Any, api: ApiConfig) -> str:
    versions = query.getall("api-version", [])
    if not versions:
        if api.default_api_version:
            return api.default_api_version
        raise MissingApiVersion()
    if len(versions) > 1:
        raise BadRequest("Give the api-version query parameter once.")
    version = str(versions[0])
    if not _API_VERSION.fullmatch(version):
        raise BadRequest(
            f"The api-version {version!r} is not valid; expected a date such as "
            "2024-10-21 or 2025-01-01-preview.",
            reason="ApiVersionInvalid",
        )
    return version


def _forward_query(request: web.BaseRequest, exchange: Exchange) -> list[str]:
    """The client's query items as it encoded them, minus its subscription key."""
    assert exchange.route is not None
    drop = exchange.route.api.subscription_key.query
    raw = request.rel_url.raw_query_string
    items = [item for item in raw.split("&") if item]
    kept = [item for item in items if unquote_plus(item.partition("=")[0]) != drop]
    if exchange.api_version and "api-version" not in request.query:
        kept.append(f"api-version={quote(exchange.api_version, safe='')}")
    return kept


# Dot segments and encoded separators in the raw path: after decoding they
# would lead the backend URL out of the API's base path.
_UNSAFE_PATH = re.compile(r"%2[eEfF]|%5[cC]|\\|(^|/)\.{1,2}(/|$)")


def _is_preflight(request: web.BaseRequest) -> bool:
    headers = request.headers
    return (
        request.method == "OPTIONS"
        and "Origin" in headers
        and "Access-Control-Request-Method" in headers
    )


def _check_path(raw_path: str) -> None:
    path = raw_path.partition("?")[0]
    if _UNSAFE_PATH.search(path):
        raise BadRequest(
            "The request path holds '.' or '..' segments or encoded separators, "
            "which this gateway does not forward.",
            reason="InvalidPath",
        )


def _transport_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _gather(
    request: web.BaseRequest, exchange: Exchange, chunks: list[bytes], limit: int
) -> int:
    """Read the body into ``chunks``; its size, or 413 past ``limit`` bytes."""
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            exchange.request_size = size
            _keep_request_head(exchange, chunks)
            raise PayloadTooLarge()
        chunks.append(chunk)
    return size


async def _continue(request: web.BaseRequest) -> None:
    """Tell a client that sent ``Expect: 100-continue`` to go on with its body."""
    expect = request.headers.get("Expect")
    if expect is None or request.version < (1, 1):
        return
    if expect.strip().lower() != "100-continue":
        return
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def _keep_request_head(exchange: Exchange, chunks: list[bytes]) -> None:
    """Keep the start of the client's body when the API's diagnostics log it."""
    left = exchange.body_bytes
    if not left:
        return
    head = bytearray()
    for chunk in chunks:
        head += chunk[:left]
        left -= len(chunk)
        if left <= 0:
            break
    exchange.request_body = bytes(head)


def _body_model(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestBody("The request body must name a `model`.")
    return model


def _parse_json(body: bytes) -> dict[str, Any]:
    if not body:
        raise InvalidRequestBody(
            "The request body is empty; a JSON object is required."
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestBody(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidRequestBody("The request body must be a JSON object.")
    return payload
