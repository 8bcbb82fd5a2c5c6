"""Policies in the request pipeline: the context, forwarding and the answer.

The pipeline hands a request here once its built-in steps (route,
subscription, body) have run, when its effective document does more than
forward.  `PolicyStage.run` builds the `PolicyContext`, runs inbound,
backend (where ``forward-request`` calls the backend) and outbound, and
turns what the policies left into the client's response: the backend's
stream relayed as it comes, a whole response, or a ``return-response``.
`PolicyStage.on_error` runs a document's on-error for any failure,
including the built-in steps' own (a missing subscription key, say).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from aiohttp import web

from .. import headers as hdrs
from ..errors import BackendStatusFailure, GatewayError
from ..exchange import Exchange
from ..relay import (
    WholeResponse,
    error_text,
    is_stream,
    read_whole,
    relay_stream,
    send,
    whole_response,
)
from ..runtime import Runtime
from ..transport import BackendRequest, BackendResponse
from .context import (
    Api,
    Body,
    Deployment,
    Headers,
    Operation,
    PolicyContext,
    Product,
    Response,
    Subscription,
    Url,
)
from .document import Document, Section
from .engine import Flow, PolicyRun, Services, Target, reason_phrase
from .policies import HANDLERS

logger = logging.getLogger(__name__)

BodyRewriter = Callable[[Exchange, str, bytes], bytes]
"""The pipeline's own changes (model name, stream usage) to the client's body,
for the backend of that name."""

ErrorDescriber = Callable[[GatewayError], WholeResponse]
"""APIM's own response to an error: its status, headers and JSON body."""


class PolicyStage:
    """Runs effective policy documents for the pipeline; one per gateway."""

    def __init__(self, runtime: Runtime, services: Services) -> None:
        self.runtime = runtime
        self.services = services
        self.apis = _apis(runtime)

    def start(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        document: Document,
        *,
        backend_url: str = "",
        body: bytes = b"",
        url_for: Callable[[str], str] | None = None,
    ) -> PolicyRun:
        """A run for ``request``; ``backend_url`` is where it would go unchanged."""
        route = exchange.route
        backend = route.api.backend if route is not None else ""
        base = self.runtime.backends[backend].base_url if backend else ""
        context = _context(
            self.runtime, request, exchange, backend_url, body, self.apis
        )
        target = Target(backend=backend, base=base.partition("?")[0], url=backend_url)
        return PolicyRun(
            document=document,
            context=context,
            target=target,
            forward=_unset_forward,
            handlers=HANDLERS,
            services=self.services,
            url_for=url_for,
            original_body=context.request.body,
            client_credentials=hdrs.client_credentials(
                list(request.headers.items()), self.runtime.key_header_names
            ),
        )

    async def run(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        run: PolicyRun,
        rewrite_body: BodyRewriter,
    ) -> web.StreamResponse:
        """Inbound, backend, outbound, then the client's response."""
        forwarder = _Forwarder(self.runtime, request, exchange, rewrite_body)
        run.forward = forwarder.forward
        try:
            for section in (Section.INBOUND, Section.BACKEND, Section.OUTBOUND):
                if await run.run_section(section) is Flow.RETURN:
                    forwarder.drop_stream()
                    return self.returned(exchange, run)
        except BaseException:
            forwarder.drop_stream()
            raise
        return await forwarder.respond(run)

    async def on_error(
        self,
        exchange: Exchange,
        run: PolicyRun,
        error: GatewayError,
        describe: ErrorDescriber,
    ) -> web.StreamResponse | None:
        """The response to ``error`` once on-error ran, or None to send the error's own.

        As in APIM, on-error starts from the error's response (``describe``
        gives it), or from the backend's for `BackendStatusFailure`, and the
        client gets what on-error returns or leaves in ``context.Response``.
        """
        exchange.error = error
        keeps_response = isinstance(error, BackendStatusFailure)
        if not run.document.section(Section.ON_ERROR) and not keeps_response:
            return None
        response = None if keeps_response else as_response(describe(error))
        answered = await run.run_on_error(error, response)
        final = (run.returned or Response()) if answered else run.context.response
        whole = _whole(final, run)
        # The log keeps the error body the client got, not the one replaced.
        exchange.error_body = error_text(whole.body)
        return whole_response(exchange, whole)

    async def preflight(
        self, exchange: Exchange, run: PolicyRun
    ) -> web.StreamResponse | None:
        """APIM's answer to a CORS preflight, or None without a ``cors`` policy.

        Only the ``cors`` policies of the inbound section run, before the
        subscription key is checked (browsers send no key with a
        preflight); when none of them answers, the answer is an empty 200.
        """
        inbound = run.document.section(Section.INBOUND)
        policies = [element for element in inbound if element.name == "cors"]
        if not policies:
            return None
        run.section = Section.INBOUND
        for element in policies:
            if await run.run_element(element) is Flow.RETURN:
                break
        return self.returned(exchange, run)

    def returned(self, exchange: Exchange, run: PolicyRun) -> web.Response:
        """The response a ``return-response`` (or mock, or CORS) built."""
        return whole_response(exchange, _whole(run.returned or Response(), run))


class _Forwarder:
    """forward-request for one request: send, keep the stream, answer."""

    def __init__(
        self,
        runtime: Runtime,
        request: web.BaseRequest,
        exchange: Exchange,
        rewrite_body: BodyRewriter,
    ) -> None:
        self.runtime = runtime
        self.request = request
        self.exchange = exchange
        self.rewrite_body = rewrite_body
        self.stream: BackendResponse | None = None
        self.body: Body | None = None  # the backend's, as read
        self.decoded_head: bytes | None = None  # of the backend's, for the log

    async def forward(self, run: PolicyRun, timeout: float | None) -> None:
        # A retry's earlier attempt: its stream goes, and what it said about
        # the backend's error no longer describes the request.
        self.drop_stream()
        exchange = self.exchange
        exchange.error_kind = exchange.error_message = exchange.error_body = None
        backend_request = await self._backend_request(run)
        response = await send(
            self.runtime, self.exchange, backend_request, timeout=timeout
        )
        context = run.context
        context.response = Response(
            status_code=response.status,
            status_reason=response.reason or "",
            headers=Headers(hdrs.client_response_headers(response.headers)),
        )
        if is_stream(response):
            self.stream = response
            return
        whole = await read_whole(self.runtime, self.exchange, response)
        context.response.headers = Headers(whole.headers)
        self.body = context.response.body = Body(whole.body)
        self.decoded_head = whole.decoded_head

    async def _backend_request(self, run: PolicyRun) -> BackendRequest:
        context, target = run.context, run.target
        exchange = self.exchange
        backend = self.runtime.backends[target.backend]
        url = str(context.request.url) if target.rewritten else target.url
        headers = hdrs.policy_request_headers(
            context.request.headers.items(), run.withheld_credentials()
        )
        if target.credentials:
            auth = await backend.auth.headers()
            names = {name.lower() for name in auth}
            headers = [(n, v) for n, v in headers if n.lower() not in names]
            headers.extend(auth.items())
        body = context.request.body
        content = b"" if body is None else body.content
        if body is not None and body is run.original_body:
            content = self.rewrite_body(exchange, target.backend, content)

        # A base-url names no backend entity: the log's BackendId stays empty.
        exchange.backend_id = target.backend if target.credentials else None
        exchange.backend_url = backend.loggable_url(url)
        exchange.backend_method = context.request.method
        return BackendRequest(context.request.method, url, headers, content)

    async def respond(self, run: PolicyRun) -> web.StreamResponse:
        context = run.context
        if self.stream is not None and context.response.body is None:
            head = (
                context.response.status_code,
                context.response.status_reason,
                [*context.response.headers.items(), *run.response_headers],
            )
            stream, self.stream = self.stream, None
            return await relay_stream(
                self.runtime, self.request, self.exchange, stream, head=head
            )
        self.drop_stream()
        return whole_response(self.exchange, self._whole(run))

    def _whole(self, run: PolicyRun) -> WholeResponse:
        whole = _whole(run.context.response, run)
        if run.context.response.body is not self.body:
            # A policy's body replaces the backend's: its encoding goes too.
            whole.headers = [
                (n, v) for n, v in whole.headers if n.lower() != "content-encoding"
            ]
        else:
            whole.decoded_head = self.decoded_head
        return whole

    def drop_stream(self) -> None:
        if self.stream is not None:
            self.stream.abort()
            self.stream = None


def as_response(whole: WholeResponse) -> Response:
    """``whole`` as the context's `Response`, for on-error to see and change."""
    return Response(
        status_code=whole.status,
        status_reason=whole.reason or reason_phrase(whole.status),
        headers=Headers(whole.headers),
        body=Body(whole.body),
    )


def _whole(response: Response, run: PolicyRun) -> WholeResponse:
    """``response`` as the client is to get it, with the CORS headers added."""
    headers = [*response.headers.items(), *run.response_headers]
    body = response.body.content if response.body is not None else b""
    reason = response.status_reason or None
    return WholeResponse(response.status_code, reason, headers, body)


async def _unset_forward(run: PolicyRun, timeout: float | None) -> None:
    raise GatewayError("forward-request ran outside the pipeline.")


def _context(
    runtime: Runtime,
    request: web.BaseRequest,
    exchange: Exchange,
    backend_url: str,
    body: bytes,
    apis: dict[str, Api],
) -> PolicyContext:
    headers = hdrs.policy_view_headers(list(request.headers.items()))
    route = exchange.route
    parameters = {}
    if route is not None and route.deployment is not None:
        parameters["deployment-id"] = route.deployment
    context = PolicyContext.for_request(
        request.method,
        backend_url or exchange.url,
        headers=headers,
        body=body,
        ip_address=exchange.caller_ip,
        matched_parameters=parameters,
    )
    context.request.original_url = Url.parse(exchange.url)
    context.request_id = _request_id(exchange.correlation_id)
    context.deployment = Deployment(region=runtime.config.listener.region)
    _describe_call(runtime, exchange, context, apis)
    return context


def _describe_call(
    runtime: Runtime,
    exchange: Exchange,
    context: PolicyContext,
    apis: dict[str, Api],
) -> None:
    subscription = exchange.subscription
    if subscription is not None:
        # Keys are stored only as hashes: expressions see the one presented.
        context.subscription = Subscription(
            id=subscription.id,
            key=exchange.subscription_key,
            name=subscription.display_name,
        )
        if subscription.product_id is not None:
            product = runtime.config.products.get(subscription.product_id)
            name = product.display_name if product is not None else None
            context.product = Product(
                id=subscription.product_id, name=name or subscription.product_id
            )
    route = exchange.route
    if route is None:
        return
    context.api = apis.get(route.api_id)
    context.operation = Operation(
        id=route.operation.id,
        method=exchange.method,
        name=route.operation.name,
        url_template=_url_template(route.operation.suffix),
    )


def _apis(runtime: Runtime) -> dict[str, Api]:
    """``context.Api`` of every API, made once: nothing changes them."""
    apis = {}
    for api_id, api in runtime.config.apis.items():
        backend = runtime.backends[api.backend]
        apis[api_id] = Api(
            id=api_id,
            name=api.display_name or api_id,
            path=api.path,
            service_url=Url.parse(backend.base_url.partition("?")[0]),
        )
    return apis


def _url_template(suffix: str) -> str:
    return f"/deployments/{{deployment-id}}/{suffix}" if suffix else "/*"


def _request_id(correlation_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(correlation_id)
    except ValueError:
        return uuid.uuid4()
