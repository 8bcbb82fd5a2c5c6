"""`tollhouse policy trace`: a sample request through an operation's policies.

The offline counterpart of APIM's request trace.  The request is matched to
an API and operation of the configuration, its effective document is built
from every scope, and its sections run one policy at a time.  The backend
is not called unless asked: ``forward-request`` then answers with a sample
response (200 and a small chat completion, or what the caller gives).  The
result lists each step and its outcome, the request as it would reach the
backend, and the response the client would get.  Nothing is logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import orjson

from .. import headers as hdrs
from ..callers import TrustedProxies, parse_networks
from ..config import GatewayConfig, resolve_named_values
from ..credentials import BackendAuth, backend_auth
from ..errors import (
    BackendConnectionFailure,
    BackendStatusFailure,
    GatewayError,
    NotFound,
)
from ..pipeline import error_whole, key_header
from ..routing import Route, Router
from .context import (
    Api,
    Body,
    Headers,
    Operation,
    PolicyContext,
    Product,
    Response,
    Subscription,
    Url,
)
from .document import Document, Section
from .engine import Flow, PolicyRun, Services, Target, TraceStep, reason_phrase
from .gateway import as_response
from .policies import HANDLERS
from .registry import PolicyRegistry

logger = logging.getLogger(__name__)

MOCK_HOST = "http://mock-backend"
SAMPLE_BODY = orjson.dumps(
    {
        "id": "chatcmpl-trace",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Sample answer."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
)


@dataclass
class SampleRequest:
    """What `trace` sends through the policies."""

    method: str
    url: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    caller_ip: str = "127.0.0.1"
    subscription: str | None = None
    product: str | None = None


@dataclass
class SampleBackend:
    """How forward-request answers: the real backend, or this sample."""

    call: bool = False
    status: int = 200
    body: bytes = SAMPLE_BODY
    content_type: str = "application/json"


@dataclass
class TraceResult:
    """What happened to the sample request."""

    api: str | None
    operation: str | None
    steps: list[TraceStep] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: str | None = None


async def trace(
    config: GatewayConfig,
    sample: SampleRequest,
    backend: SampleBackend,
    environ: Mapping[str, str],
) -> TraceResult:
    """Run ``sample`` through its operation's effective policy document."""
    registry = PolicyRegistry.load(config, environ)
    route = Router(config.apis).match(urlsplit(sample.url).path or "/")
    document = registry.effective(
        sample.product,
        route.api_id if route is not None else None,
        route.operation.id if route is not None else None,
    )
    named = resolve_named_values(config, environ)
    auths = {
        name: backend_auth(name, b, named, environ, source=config.source)
        for name, b in config.backends.items()
        if b.credentials.type != "entra" or backend.call
    }
    forwarder = _SampleForwarder(config, auths, backend)
    run = _run_for(config, sample, route, document, forwarder)
    result = TraceResult(
        api=route.api_id if route is not None else None,
        operation=route.operation.id if route is not None else None,
        steps=run.trace,
        forwarded=forwarder.sent,
    )
    await _run_sections(run, route, result)
    response = run.returned or run.context.response
    result.status = response.status_code
    result.reason = response.status_reason
    result.headers = [*response.headers.items(), *run.response_headers]
    result.body = response.body.content if response.body is not None else b""
    return result


async def _run_sections(
    run: PolicyRun, route: Route | None, result: TraceResult
) -> None:
    try:
        if route is None:
            raise NotFound()
        for section in (Section.INBOUND, Section.BACKEND, Section.OUTBOUND):
            if await run.run_section(section) is Flow.RETURN:
                return
    except GatewayError as error:
        # As the gateway does: on-error starts from APIM's response to the
        # error, or from the backend's when its status was the failure.
        result.error = f"{error.source}: {error.reason}: {error.message}"
        own = None
        if not isinstance(error, BackendStatusFailure):
            own = as_response(error_whole(error, str(run.context.request_id)))
        await run.run_on_error(error, own)


def _run_for(
    config: GatewayConfig,
    sample: SampleRequest,
    route: Route | None,
    document: Document,
    forwarder: _SampleForwarder,
) -> PolicyRun:
    callers = TrustedProxies(parse_networks(config.listener.trusted_proxies))
    forwarded_for = [v for n, v in sample.headers if n.lower() == "x-forwarded-for"]
    caller = callers.caller(sample.caller_ip, forwarded_for)
    backend = route.api.backend if route is not None else ""
    base = _base_url(config, backend) if backend else ""
    context = PolicyContext.for_request(
        sample.method,
        _backend_url(base, route, sample.url),
        headers=hdrs.policy_view_headers(list(sample.headers)),
        body=sample.body,
        ip_address=caller,
        matched_parameters=_parameters(route),
    )
    context.request.original_url = Url.parse(sample.url)
    context.request_id = uuid.uuid4()
    _describe(config, context, sample, route)
    return PolicyRun(
        document=document,
        context=context,
        target=Target(backend=backend, base=base.partition("?")[0]),
        forward=forwarder.forward,
        handlers=HANDLERS,
        services=Services(
            backend_urls={n: _base_url(config, n) for n in config.backends},
            token=_sample_token,
        ),
        original_body=context.request.body,
        client_credentials=hdrs.client_credentials(
            list(sample.headers),
            frozenset(key_header(api).lower() for api in config.apis.values()),
        ),
    )


def _base_url(config: GatewayConfig, name: str) -> str:
    """A backend's URL; the in-process mock shows as host ``mock-backend``."""
    backend = config.backends[name]
    if not backend.url.startswith("mock:"):
        return backend.url
    path = backend.url[len("mock:") :]
    return MOCK_HOST + (
        path or ("/openai" if backend.kind == "azure-openai" else "/v1")
    )


def _backend_url(base: str, route: Route | None, url: str) -> str:
    if route is None or not base:
        return url
    query = urlsplit(url).query
    target = base.partition("?")[0].rstrip("/") + route.remainder
    return f"{target}?{query}" if query else target


def _parameters(route: Route | None) -> dict[str, str]:
    if route is None or route.deployment is None:
        return {}
    return {"deployment-id": route.deployment}


def _describe(
    config: GatewayConfig,
    context: PolicyContext,
    sample: SampleRequest,
    route: Route | None,
) -> None:
    if sample.subscription is not None:
        context.subscription = Subscription(
            id=sample.subscription, name=sample.subscription
        )
    if sample.product is not None:
        context.product = Product(id=sample.product, name=sample.product)
    if route is None:
        return
    context.api = Api(
        id=route.api_id,
        name=route.api.display_name or route.api_id,
        path=route.api.path,
        service_url=Url.parse(_base_url(config, route.api.backend)),
    )
    context.operation = Operation(
        id=route.operation.id,
        method=sample.method.upper(),
        name=route.operation.name,
    )


async def _sample_token(resource: str, client_id: str | None) -> str:
    return f"sample-token-for-{resource}"


class _SampleForwarder:
    """forward-request for a trace: the sample response, or the real backend."""

    def __init__(
        self,
        config: GatewayConfig,
        auths: Mapping[str, BackendAuth],
        backend: SampleBackend,
    ) -> None:
        self.config = config
        self.auths = auths
        self.backend = backend
        self.sent: list[str] = []

    async def forward(self, run: PolicyRun, timeout: float | None) -> None:
        request = run.context.request
        url = str(request.url)
        headers = hdrs.policy_request_headers(
            request.headers.items(), run.withheld_credentials()
        )
        shown = ", ".join(
            f"{name}: {'REDACTED' if name.lower() in hdrs.SECRET_HEADERS else value}"
            for name, value in headers
        )
        self.sent.append(f"{request.method} {url} [{shown}]")
        if not self.backend.call:
            run.context.response = Response(
                status_code=self.backend.status,
                status_reason=reason_phrase(self.backend.status),
                headers=Headers([("Content-Type", self.backend.content_type)]),
                body=Body(self.backend.body),
            )
            return
        await self._call(run, url, headers, timeout)

    async def _call(
        self,
        run: PolicyRun,
        url: str,
        headers: list[tuple[str, str]],
        timeout: float | None,
    ) -> None:
        auth = self.auths.get(run.target.backend)
        if run.target.credentials and auth is not None:
            headers.extend((await auth.headers()).items())
        body = run.context.request.body
        content = body.content if body is not None else b""
        limit = aiohttp.ClientTimeout(total=timeout or 120.0)
        try:
            async with (
                aiohttp.ClientSession(timeout=limit) as session,
                session.request(
                    run.context.request.method, url, headers=headers, data=content
                ) as answer,
            ):
                data = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BackendConnectionFailure() from exc
        run.context.response = Response(
            status_code=answer.status,
            status_reason=answer.reason or "",
            headers=Headers(hdrs.client_response_headers(list(answer.headers.items()))),
            body=Body(data),
        )
