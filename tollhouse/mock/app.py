"""The mock backend's aiohttp application: routes, one pipeline, start and stop.

Every route resolves to an operation and runs the same pipeline: check the
Azure ``api-version``, read the ``x-mock-*`` directives, wait the asked
latency, answer an asked fault or parse the body and build the reply, then
send it.  A middleware records each request in ``app[LAST_REQUESTS]``; a
response-prepare hook stamps Azure's headers on every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from tollhouse.mock.chat import chat_completions, completions
from tollhouse.mock.errors import RequestRejected, fault, not_found
from tollhouse.mock.exchange import Exchange, azure_model
from tollhouse.mock.media import (
    embeddings,
    form_fields,
    images,
    models,
    speech,
    transcriptions,
)
from tollhouse.mock.replies import Body, Reply
from tollhouse.mock.responses import responses
from tollhouse.mock.settings import Directives, MockSettings
from tollhouse.mock.wire import add_common_headers, pause, send

logger = logging.getLogger(__name__)
# Under the gateway's access logger, so that one switch silences both.
access_logger = logging.getLogger("tollhouse.access.mock")

_DEFAULT_SETTINGS: Final = MockSettings()
_MAX_BODY: Final = 64 * 1024 * 1024  # audio uploads are large
_SHUTDOWN_TIMEOUT: Final = 2.0
_RECORDED: Final = 100


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request as the mock received it, for in-process tests to inspect."""

    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes


LAST_REQUESTS: Final = web.AppKey[deque[ReceivedRequest]]("last_requests")


@dataclass(frozen=True, slots=True)
class Operation:
    """What a route does: how its body is read and how its reply is built."""

    name: str
    build: Callable[[Exchange], Reply]
    body: Literal["json", "form", "none"] = "json"


_CHAT: Final = Operation("chat/completions", chat_completions)
_COMPLETIONS: Final = Operation("completions", completions)
_EMBEDDINGS: Final = Operation("embeddings", embeddings)
_RESPONSES: Final = Operation("responses", responses)
_IMAGES: Final = Operation("images/generations", images)
_TRANSCRIPTIONS: Final = Operation("audio/transcriptions", transcriptions, "form")
_SPEECH: Final = Operation("audio/speech", speech)
_MODELS: Final = Operation("models", models, "none")

_POST_OPERATIONS: Final = (
    _CHAT,
    _COMPLETIONS,
    _EMBEDDINGS,
    _RESPONSES,
    _IMAGES,
    _TRANSCRIPTIONS,
    _SPEECH,
)
_AZURE_PREFIX: Final = "/openai/deployments/{deployment}/"
_OPENAI_PREFIXES: Final = ("/v1/", "/openai/v1/")


class _Pipeline:
    """Runs every operation route through the same steps."""

    def __init__(self, settings: MockSettings) -> None:
        self._settings = settings

    def handler(self, operation: Operation) -> Handler:
        """The request handler of a route that serves ``operation``."""
        return functools.partial(self.serve, operation)

    async def serve(
        self, operation: Operation, request: web.Request
    ) -> web.StreamResponse:
        """Answer ``request`` to ``operation`` as the request's headers ask."""
        azure = "deployment" in request.match_info
        if azure and "api-version" not in request.query:
            return _respond(
                not_found(azure=True, method=request.method, path=request.path)
            )

        try:
            directives = Directives.from_headers(request.headers, self._settings)
        except RequestRejected as rejected:
            return _respond(rejected.reply())

        await pause(directives.latency_ms)
        reply = await self._reply(operation, request, directives, azure=azure)
        return await send(request, reply, directives)

    async def stamp(self, request: web.Request, response: web.StreamResponse) -> None:
        """Add Azure's headers to ``response`` just before its head is sent."""
        add_common_headers(request, response, self._settings.region)

    async def _reply(
        self,
        operation: Operation,
        request: web.Request,
        directives: Directives,
        *,
        azure: bool,
    ) -> Reply:
        if directives.status is not None:
            return fault(directives.status, directives.retry_after, azure=azure)
        try:
            exchange = await self._exchange(operation, request, directives, azure)
            return operation.build(exchange)
        except RequestRejected as rejected:
            return rejected.reply()

    async def _exchange(
        self,
        operation: Operation,
        request: web.Request,
        directives: Directives,
        azure: bool,
    ) -> Exchange:
        raw = await request.read()
        # The whole header: a multipart body needs its boundary parameter.
        content_type = request.headers.get("content-type", "")
        body = _parse_body(operation, raw, content_type)
        if azure:
            model = azure_model(request.match_info["deployment"])
        else:
            model = _body_model(operation, body)
        forced = _echo_document(request, raw) if directives.echo else directives.reply
        return Exchange(azure, model, body, directives, self._settings, forced)


def create_mock_app(settings: MockSettings = _DEFAULT_SETTINGS) -> web.Application:
    """Build the mock backend's application, answering like Azure OpenAI and OpenAI.

    The application records the last requests it received in
    ``app[LAST_REQUESTS]``.
    """
    app = web.Application(middlewares=[_record], client_max_size=_MAX_BODY)
    app[LAST_REQUESTS] = deque(maxlen=_RECORDED)
    pipeline = _Pipeline(settings)

    for operation in _POST_OPERATIONS:
        handler = pipeline.handler(operation)
        app.router.add_post(_AZURE_PREFIX + operation.name, handler)
        for prefix in _OPENAI_PREFIXES:
            app.router.add_post(prefix + operation.name, handler)
    for prefix in _OPENAI_PREFIXES:
        app.router.add_get(prefix + _MODELS.name, pipeline.handler(_MODELS))
    # Azure's Responses API without a deployment in the path: the model is in
    # the body and api-version in the query, as AzureOpenAI clients call it.
    app.router.add_post("/openai/responses", pipeline.handler(_RESPONSES))
    app.router.add_route("*", "/{tail:.*}", _unknown_path)

    app.on_response_prepare.append(pipeline.stamp)
    return app


async def start_mock(
    host: str, port: int, settings: MockSettings = _DEFAULT_SETTINGS
) -> tuple[web.AppRunner, int]:
    """Serve the mock backend on ``host``:``port`` (0 picks a free port).

    Returns the runner, whose ``cleanup()`` stops the server, and the port
    it is bound to.
    """
    runner = web.AppRunner(
        create_mock_app(settings),
        access_log=access_logger,
        shutdown_timeout=_SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound: int = runner.addresses[0][1]
    return runner, bound


def run_mock(host: str, port: int, settings: MockSettings) -> None:
    """Serve the mock backend until SIGINT or SIGTERM, then shut down cleanly."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_signalled(host, port, settings))


async def _serve_until_signalled(host: str, port: int, settings: MockSettings) -> None:
    runner, bound = await start_mock(host, port, settings)
    logger.info("mock backend listening on http://%s:%d", host, bound)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows has no signal handlers in asyncio; Ctrl-C still interrupts.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)

    try:
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await runner.cleanup()
        logger.info("mock backend stopped")


@web.middleware
async def _record(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Remember what arrived, before anything can answer it."""
    body = await request.read()
    received = ReceivedRequest(
        method=request.method,
        path=request.path,
        query_string=request.rel_url.raw_query_string,
        headers=list(request.headers.items()),
        body=body,
    )
    request.app[LAST_REQUESTS].append(received)
    return await handler(request)


async def _unknown_path(request: web.Request) -> web.StreamResponse:
    path = request.path
    azure = path.startswith("/openai/") and not path.startswith("/openai/v1/")
    return _respond(not_found(azure=azure, method=request.method, path=path))


def _respond(body: Body) -> web.Response:
    """A plain response, for answers that no directive may change."""
    return web.Response(
        body=body.data,
        status=body.status,
        content_type=body.content_type,
        headers=body.headers,
    )


def _parse_body(operation: Operation, raw: bytes, content_type: str) -> dict[str, Any]:
    if operation.body == "none":
        return {}
    if operation.body == "form":
        return form_fields(raw, content_type)

    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestRejected(
            "We could not parse the JSON body of your request. The API expects "
            f"a JSON object ({error})."
        ) from error
    if not isinstance(document, dict):
        raise RequestRejected("The JSON body of the request must be an object.")
    return document


def _body_model(operation: Operation, body: dict[str, Any]) -> str:
    if operation.body == "none":
        return ""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestRejected("you must provide a model parameter", param="model")
    return model


def _echo_document(request: web.Request, raw: bytes) -> str:
    """What ``x-mock-echo-headers`` replies: the request as the mock got it."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    document = {
        "method": request.method,
        "path": request.path,
        "query": request.rel_url.raw_query_string,
        "headers": headers,
        "body": raw.decode("utf-8", errors="replace"),
    }
    return orjson.dumps(document).decode()
