"""The Test console: a request sent through the gateway as a chosen subscription.

    GET  /console       the form: API, operation, its template parameters,
                        the subscription to send as, headers and body (a
                        chat completion to start with)
    POST /console/send  send it; the answer streams as it arrives

The request goes to the gateway's own listener over loopback, so it takes
the whole pipeline (the subscription check, the policies, the backend, the
log rows) like any client's; a ticket in the ``X-Tollhouse-Console`` header
stands for the chosen subscription's key (`tollhouse.console`).  As in
APIM's test console, policies see no key in ``context.Subscription.Key``.

``/console/send`` takes a JSON object from the page's script (``api``,
``operation``, ``params`` for the URL template, ``query``, ``method`` and
``path`` for a pass-through API, ``subscription`` (an id, or empty to send
only the typed headers), ``headers`` as ``Name: value`` lines and ``body``)
and answers with one JSON object per line, each sent as soon as it is known::

    {"event": "request", "method": "POST", "url": "http://127.0.0.1:8080/..."}
    {"event": "response", "status": 200, "reason": "OK", "headers": [[n, v]]}
    {"event": "body", "text": "..."}           (as many as the body takes)
    {"event": "end", "correlationId": "...", "status": 200, "elapsedMs": 12.5,
     "trace": [{"step", "scope", "name", "outcome"}], "error": null,
     "logUrl": "/dashboard/logs/..."}
    {"event": "failed", "message": "..."}      (the gateway could not be reached)

A request the console cannot build (an unknown API, a header line without
a colon) is refused with 400 and ``{"message": ...}`` before anything is
sent.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web
from yarl import URL

from ..console import HEADER, ConsoleTickets, Outcome
from ..management.configuration import api_json
from ..management.subscriptions import SubscriptionRoutes
from ..subscriptions import MASTER_ID
from .site import PREFIX

if TYPE_CHECKING:
    from collections.abc import Callable

    from .site import Dashboard

logger = logging.getLogger(__name__)

#: The api-version the form starts with when an API names none.
API_VERSION = "2025-01-01-preview"
#: The body the form starts with for each kind of operation.
EXAMPLES: dict[str, dict[str, Any]] = {
    "chat": {
        "messages": [
            {
                "role": "system",
                "content": "You are an AI assistant that helps people find "
                "information.",
            },
            {
                "role": "user",
                "content": "Explain in two sentences what an API gateway does.",
            },
        ],
        "temperature": 0.7,
        "top_p": 0.95,
        "max_tokens": 800,
    },
    "completions": {"prompt": "An API gateway is", "max_tokens": 100},
    "embeddings": {"input": "An API gateway in front of a language model."},
    "responses": {"input": "Explain in two sentences what an API gateway does."},
    "images": {"prompt": "A lighthouse at dusk", "n": 1, "size": "1024x1024"},
}
#: Most bytes of a response the page is sent; the rest is read and dropped.
MAX_SHOWN_BYTES = 2 * 1024 * 1024
#: Seconds to wait for the request's log row once its response has ended.
OUTCOME_SECONDS = 5.0
#: Headers the console's HTTP client sets itself.
_OWN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "expect",
        "upgrade",
        "te",
        HEADER.lower(),
    }
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PARAMETER = re.compile(r"\{([^{}]+)\}")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_FIELDS = frozenset(
    {
        "api",
        "operation",
        "params",
        "query",
        "method",
        "path",
        "subscription",
        "headers",
        "body",
    }
)


class ConsoleRefusal(Exception):
    """A console request that cannot be built; the message says why."""


@dataclass(frozen=True)
class Planned:
    """A console request ready to send."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    subscription: str | None


class ConsolePage:
    """The Test console's routes."""

    def __init__(
        self,
        dashboard: Dashboard,
        tickets: ConsoleTickets,
        gateway_url: Callable[[], str],
        subscriptions: SubscriptionRoutes,
    ) -> None:
        self._dashboard = dashboard
        self._tickets = tickets
        self._gateway_url = gateway_url
        self._subscriptions = subscriptions
        self._client: aiohttp.ClientSession | None = None

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/console", self._page)
        router.add_post("/console/send", self._send)

    async def close(self, app: web.Application) -> None:
        """Close the console's HTTP client (the dashboard's clean-up)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _page(self, request: web.Request) -> web.Response:
        config = self._dashboard.config
        apis = [api_json(name, api) for name, api in config.apis.items()]
        for api in apis:
            api["exampleApiVersion"] = api["defaultApiVersion"] or API_VERSION
        subscriptions = [
            {"id": s.id, "name": s.display_name, "scope": s.scope}
            for s in self._subscriptions.list()
            if s.active
        ]
        return self._dashboard.render(
            request,
            "console.html",
            apis=apis,
            subscriptions=subscriptions,
            default_subscription=MASTER_ID,
            gateway_url=self._gateway_url(),
            setup=orjson.dumps(
                {
                    "apis": apis,
                    "examples": EXAMPLES,
                    "gateway": self._gateway_url(),
                    "methods": _METHODS,
                }
            )
            .decode()
            # Inside a <script> element: no text of it may close the element.
            .replace("<", "\\u003c"),
        )

    async def _send(self, request: web.Request) -> web.StreamResponse:
        try:
            planned = self.plan(await _read_form(request))
        except ConsoleRefusal as refusal:
            return web.json_response({"message": str(refusal)}, status=400)

        stream = web.StreamResponse(
            headers={
                "Content-Type": "application/x-ndjson; charset=utf-8",
                "Cache-Control": "no-store",
            }
        )
        await stream.prepare(request)
        await _event(
            stream, {"event": "request", "method": planned.method, "url": planned.url}
        )
        ticket_text, ticket = self._tickets.issue(planned.subscription)
        headers = [*planned.headers, (HEADER, ticket_text)]
        logger.info(
            "test console: %s %s as %s",
            planned.method,
            planned.url,
            planned.subscription or "no subscription",
        )
        try:
            await self._relay(stream, planned, headers)
            outcome = await self._outcome(ticket.done)
            await _event(stream, _ended(outcome))
            await stream.write_eof()
        except _PageGone:
            logger.info("test console: the page left before the answer ended")
            self._tickets.withdraw(ticket_text)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            self._tickets.withdraw(ticket_text)
            await self._failed(stream, exc)
        return stream

    async def _outcome(self, done: asyncio.Future[Outcome]) -> Outcome | None:
        try:
            return await asyncio.wait_for(asyncio.shield(done), OUTCOME_SECONDS)
        except TimeoutError:
            return None

    async def _failed(self, stream: web.StreamResponse, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        message = f"The gateway at {self._gateway_url()} could not be reached: "
        with contextlib.suppress(_PageGone):
            await _event(stream, {"event": "failed", "message": message + reason})
            await stream.write_eof()

    def plan(self, form: dict[str, Any]) -> Planned:
        """The request ``form`` asks for, or `ConsoleRefusal` saying what is wrong."""
        config = self._dashboard.config
        api_id = _text(form, "api")
        api = config.apis.get(api_id)
        if api is None:
            raise ConsoleRefusal(f"There is no API {api_id!r}.")
        described = api_json(api_id, api)
        operation_id = _text(form, "operation")
        operation = next(
            (op for op in described["operations"] if op["id"] == operation_id), None
        )
        if operation is None:
            raise ConsoleRefusal(
                f"The API {api_id!r} has no operation {operation_id!r}."
            )
        if operation["method"] == "*":
            method = _text(form, "method").upper() or "POST"
            if method not in _METHODS:
                raise ConsoleRefusal(f"Choose a method among {', '.join(_METHODS)}.")
            path = _path(_text(form, "path"))
        else:
            method = operation["method"]
            path = _fill(operation["urlTemplate"], form.get("params"))
        root = api.path.strip("/")
        url = self._gateway_url() + (f"/{root}" if root else "") + path
        query = _text(form, "query").strip().lstrip("?")
        if query:
            url += "?" + quote(query, safe="=&;%+/:,@!$'()*~-._")
        subscription = _text(form, "subscription") or None
        if subscription is not None and not any(
            s.id == subscription for s in self._subscriptions.list()
        ):
            raise ConsoleRefusal(f"There is no subscription {subscription!r}.")
        headers = _headers(_text(form, "headers"))
        if not any(name.lower() == "user-agent" for name, _ in headers):
            headers.append(("User-Agent", "Tollhouse test console"))
        body = _text(form, "body").encode()
        return Planned(method, url, headers, body, subscription)

    async def _relay(
        self,
        stream: web.StreamResponse,
        planned: Planned,
        headers: list[tuple[str, str]],
    ) -> None:
        """Send ``planned`` to the gateway and stream its answer into ``stream``."""
        async with self._session().request(
            planned.method,
            # As built: dot segments go to the gateway, which judges them.
            URL(planned.url, encoded=True),
            headers=headers,
            data=planned.body or None,
            allow_redirects=False,
        ) as answer:
            await _event(
                stream,
                {
                    "event": "response",
                    "status": answer.status,
                    "reason": answer.reason or "",
                    "headers": list(answer.headers.items()),
                },
            )
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            shown = 0
            cut_short = ""
            try:
                async for chunk in answer.content.iter_any():
                    if shown >= MAX_SHOWN_BYTES:
                        continue  # read to the end: the gateway logs it whole
                    chunk = chunk[: MAX_SHOWN_BYTES - shown]
                    shown += len(chunk)
                    if text := decoder.decode(chunk):
                        await _event(stream, {"event": "body", "text": text})
            except aiohttp.ClientPayloadError as exc:
                cut_short = f"\n[the answer ended before it was complete: {exc}]"
            tail = decoder.decode(b"", final=True)
            if shown >= MAX_SHOWN_BYTES:
                tail += f"\n[the console shows the first {MAX_SHOWN_BYTES} bytes]"
            if tail := tail + cut_short:
                await _event(stream, {"event": "body", "text": tail})

    def _session(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(
                # What the operator typed is what the gateway gets.
                skip_auto_headers=("Accept-Encoding", "Content-Type", "User-Agent"),
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=600),
            )
        return self._client


async def _read_form(request: web.Request) -> dict[str, Any]:
    try:
        form = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ConsoleRefusal(
            "The console sends a JSON object; reload the page."
        ) from exc
    if not isinstance(form, dict):
        raise ConsoleRefusal("The console sends a JSON object; reload the page.")
    unknown = set(form) - _FIELDS
    if unknown:
        raise ConsoleRefusal(f"Unknown fields: {', '.join(sorted(unknown))}.")
    return form


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConsoleRefusal(f"{name!r} must be text.")
    return value


def _fill(template: str, params: Any) -> str:
    """``template`` with each ``{name}`` replaced by its encoded parameter."""
    params = params or {}
    if not isinstance(params, dict):
        raise ConsoleRefusal("'params' must map template parameters to values.")

    def value(match: re.Match[str]) -> str:
        given = params.get(match[1], "")
        if not isinstance(given, str) or not given.strip():
            raise ConsoleRefusal(f"Fill in the template parameter {match[1]!r}.")
        return quote(given.strip(), safe="")

    return _PARAMETER.sub(value, template)


def _path(text: str) -> str:
    path = text.strip() or "/"
    if not path.startswith("/"):
        path = "/" + path
    if any(c in "?#\x7f" or ord(c) < 0x20 for c in path):
        raise ConsoleRefusal(
            "The path may not hold '?', '#' or control characters; "
            "put query parameters in the query field."
        )
    return quote(path, safe="/%:@!$&'()*+,;=-._~")


def _headers(text: str) -> list[tuple[str, str]]:
    """``Name: value`` lines as headers; blank lines are skipped."""
    headers = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not _HEADER_NAME.match(name):
            raise ConsoleRefusal(
                f"Header line {number} is not 'Name: value': {line.strip()[:80]!r}."
            )
        if name.lower() in _OWN_HEADERS:
            raise ConsoleRefusal(
                f"Header line {number}: the console sets {name} itself; remove it."
            )
        if any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in value):
            raise ConsoleRefusal(f"Header line {number} holds a control character.")
        headers.append((name, value))
    return headers


def _ended(outcome: Outcome | None) -> dict[str, Any]:
    if outcome is None:
        return {
            "event": "end",
            "correlationId": None,
            "trace": [],
            "error": "The gateway did not report on this request in time.",
        }
    return {
        "event": "end",
        "correlationId": outcome.correlation_id,
        "status": outcome.status,
        "elapsedMs": outcome.elapsed_ms,
        "trace": [
            {
                "step": entry.step,
                "scope": entry.scope,
                "name": entry.name,
                "outcome": entry.outcome,
            }
            for entry in outcome.trace
        ],
        "error": outcome.error,
        "logUrl": f"{PREFIX}/logs/{outcome.correlation_id}",
    }


class _PageGone(Exception):
    """The page that asked stopped reading: nobody is left to tell."""


async def _event(stream: web.StreamResponse, event: dict[str, Any]) -> None:
    try:
        await stream.write(orjson.dumps(event) + b"\n")
    except (ConnectionError, RuntimeError) as exc:
        raise _PageGone() from exc
