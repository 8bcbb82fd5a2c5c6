"""Table-driven policy cases run through a real gateway on loopback.

A `Case` is one policy document (or a set of documents at several scopes,
a `Setup`), one request, the scripted backends' replies and the exact
effect expected: the client's status, chosen headers and body, what each
backend received (or that it was never called) and chosen gateway log
columns.  `Harness` starts one gateway per setup and reuses it for every
case of that setup; the two scripted backends live as long as the module.

The gateway has two backends: ``default-models`` (the API's own, backend
A) and ``small-models`` (backend B), both Azure OpenAI style, so that
``set-backend-service backend-id`` can route between them; the named value
``{{backend-b}}`` is B's base URL, for ``base-url``.  Besides the built-in
all-access subscription (``master``) there is ``starter``, a subscription to
the product ``starter`` (display name "Starter").

Expected header values may be `ACTIVITY` (the correlation id, which is also
``context.RequestId``) or a compiled pattern the value must match whole.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import (
    AZURE_CHAT,
    JSON,
    Reply,
    RunningGateway,
    ScriptedBackend,
    Seen,
    chat_body,
)
from tollhouse.config import (
    ApiConfig,
    BackendConfig,
    GatewayConfig,
    NamedValueConfig,
    OperationConfig,
    ProductConfig,
)

DATA = Path(__file__).parent / "data"
SAMPLES = DATA / "samples"
FRAGMENTS = DATA / "fragments"

API_ID = "azure-openai"
PRODUCT_ID = "starter"
CHAT = {"messages": [{"role": "user", "content": "hi"}]}
CHAT_BYTES = json.dumps(CHAT).encode()
ANSWER = chat_body("hello")
OK = Reply([ANSWER], headers=JSON)
BACKEND_PATH = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
ACTIVITY = "<the response's x-correlation-id>"
"""Stands for the correlation id in an expected body or header."""

Expected = str | re.Pattern[str] | None
"""An expected header value: exact, a pattern to match whole, or absent."""


def sample(name: str) -> str:
    """The text of a sample document in ``data/samples``."""
    return (SAMPLES / name).read_text(encoding="utf-8")


def policies(inbound: str = "<base />", **sections: str) -> str:
    """A document from its sections' inner XML; left-out sections inherit."""
    parts = [f"<inbound>{inbound}</inbound>"]
    for name in ("backend", "outbound", "on_error"):
        if name in sections:
            tag = name.replace("_", "-")
            parts.append(f"<{tag}>{sections[name]}</{tag}>")
    return "<policies>" + "".join(parts) + "</policies>"


def apim_error(status: int, message: str = "") -> dict[str, Any]:
    """APIM's own error body; a 5xx tells only the activity id."""
    if status >= 500:
        return {
            "statusCode": status,
            "message": "Internal server error",
            "activityId": ACTIVITY,
        }
    return {"statusCode": status, "message": message}


@dataclass(frozen=True)
class Setup:
    """The documents of one gateway, by scope, and what else it needs."""

    api: str | None = None
    global_: str | None = None
    product: str | None = None
    operation: str | None = None
    fragments: bool = False
    managed_identity: bool = False


@dataclass(frozen=True)
class Call:
    """The client's request; ``key`` names the subscription whose key it sends."""

    method: str = "POST"
    path: str = AZURE_CHAT
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | dict[str, Any] | None = field(default_factory=lambda: CHAT)
    key: str | None = "master"


@dataclass(frozen=True)
class Sent:
    """What one backend received; ``headers`` maps chosen names (None: absent)."""

    method: str = "POST"
    path_qs: str = BACKEND_PATH
    headers: Mapping[str, Expected] = field(default_factory=dict)
    body: bytes | dict[str, Any] = CHAT_BYTES


@dataclass(frozen=True)
class Expect:
    """The exact effect: status, chosen headers (None: absent), body, backends, log.

    ``body`` is bytes as sent, or a dict compared with the parsed JSON.
    ``a`` and ``b`` list what backends A and B received, in order.
    """

    status: int = 200
    headers: Mapping[str, Expected] = field(default_factory=dict)
    body: bytes | dict[str, Any] = ANSWER
    a: tuple[Sent, ...] = (Sent(),)
    b: tuple[Sent, ...] = ()
    log: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One table row: a setup, a request, replies, the expected effect."""

    id: str
    setup: Setup
    call: Call = field(default_factory=Call)
    a: tuple[Reply, ...] = (OK,)
    b: tuple[Reply, ...] = ()
    expect: Expect = field(default_factory=Expect)


def params(cases: list[Case]) -> list[Any]:
    """``cases`` as pytest parameters, each named by its id."""
    return [pytest.param(case, id=case.id) for case in cases]


# Running cases --------------------------------------------------------------


class FakeCredential:
    """An azure-identity credential that hands out one fixed token."""

    def __init__(self, token: str = "mi-token") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.scopes.append(scopes)
        return _Token(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass


@dataclass
class _Token:
    token: str
    expires_on: int


class Harness:
    """Two scripted backends for a module and one gateway per `Setup`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.a = ScriptedBackend().start()
        self.b = ScriptedBackend().start()
        self.credential = FakeCredential()
        self._gateways: dict[Setup, RunningGateway] = {}
        self._started = 0

    def close(self) -> None:
        for gateway in self._gateways.values():
            gateway.stop()
        self.a.stop()
        self.b.stop()

    def gateway(self, setup: Setup) -> RunningGateway:
        """The running gateway of ``setup``, started on first use."""
        found = self._gateways.get(setup)
        if found is None:
            self._started += 1
            found = self._gateways[setup] = self._start(setup, self._started)
        return found

    def _start(self, setup: Setup, number: int) -> RunningGateway:
        home = self.directory / f"gateway-{number}"
        home.mkdir()
        config = self.config(setup, home)
        kwargs: dict[str, Any] = {}
        if setup.managed_identity:
            kwargs["credential_factory"] = lambda name: self.credential
        gateway = RunningGateway(config, **kwargs).start()
        store = gateway.gateway._subscriptions
        assert store is not None
        store.create(PRODUCT_ID, "Starter team", f"/products/{PRODUCT_ID}")
        gateway.gateway._reload_keys(gateway.gateway.runtime.keys)
        return gateway

    def config(self, setup: Setup, home: Path) -> GatewayConfig:
        def written(name: str, text: str | None) -> str | None:
            if text is None:
                return None
            path = home / name
            path.write_text(text, encoding="utf-8")
            return str(path)

        operations = {}
        operation_file = written("operation.xml", setup.operation)
        if operation_file is not None:
            operations["ChatCompletions_Create"] = OperationConfig(operation_file)
        return GatewayConfig(
            data_dir=str(home / "data"),
            backends={
                "default-models": BackendConfig(url=self.a.url + "/openai"),
                "small-models": BackendConfig(url=self.b.url + "/openai"),
            },
            apis={
                API_ID: ApiConfig(
                    path="openai",
                    backend="default-models",
                    policy_file=written("api.xml", setup.api),
                    operations=operations,
                )
            },
            products={
                PRODUCT_ID: ProductConfig(
                    apis=(API_ID,),
                    display_name="Starter",
                    policy_file=written("product.xml", setup.product),
                )
            },
            policy_file=written("global.xml", setup.global_),
            policy_fragments_dir=str(FRAGMENTS) if setup.fragments else None,
            named_values={"backend-b": NamedValueConfig(value=self.b.url)},
        )

    @contextlib.contextmanager
    def scripted(self, case: Case) -> Iterator[RunningGateway]:
        """The case's gateway with the backends reset to its replies."""
        gateway = self.gateway(case.setup)
        for backend, replies in ((self.a, case.a), (self.b, case.b)):
            backend.replies.clear()
            backend.seen.clear()
            backend.reply(*replies)
        yield gateway

    def send(self, gateway: RunningGateway, call: Call) -> requests.Response:
        headers = dict(call.headers)
        if call.key is not None:
            store = gateway.gateway._subscriptions
            assert store is not None
            headers.setdefault("api-key", store.key(call.key))
        body = call.body
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        return requests.request(
            call.method, gateway.url + call.path, data=body, headers=headers, timeout=10
        )

    def run(self, case: Case) -> None:
        """Send the case's request and check every expected effect."""
        with self.scripted(case) as gateway:
            response = self.send(gateway, case.call)
            correlation_id = response.headers["x-correlation-id"]
            check(gateway, response, case.expect)
            for backend, wanted in ((self.a, case.expect.a), (self.b, case.expect.b)):
                received = seen(backend.seen)
                assert received == expected_seen(wanted, received, correlation_id)


Received = tuple[str, str, dict[str, str], Any]
"""What a backend received: method, path and query, headers, parsed body."""


def check(gateway: RunningGateway, response: requests.Response, expect: Expect) -> None:
    """The client's status, headers and body, and the gateway log row."""
    correlation_id = response.headers["x-correlation-id"]
    assert response.status_code == expect.status, response.content
    shown = {name: response.headers.get(name) for name in expect.headers}
    assert shown == _expected(expect.headers, shown, correlation_id)
    if isinstance(expect.body, bytes):
        assert response.content == expect.body
    else:
        wanted = {
            k: correlation_id if v == ACTIVITY else v for k, v in expect.body.items()
        }
        assert response.json() == wanted
    if expect.log:
        row = gateway.gateway_row(correlation_id)
        assert {name: row[name] for name in expect.log} == dict(expect.log)


def _expected(
    wanted: Mapping[str, Expected],
    actual: Mapping[str, str | None],
    correlation_id: str,
) -> dict[str, str | None]:
    """``wanted`` as plain values: a pattern the actual value matches is that value."""
    result: dict[str, str | None] = {}
    for name, value in wanted.items():
        got = actual.get(name.lower(), actual.get(name))
        if isinstance(value, re.Pattern):
            matched = got is not None and value.fullmatch(got) is not None
            result[name] = got if matched else f"<matching {value.pattern}>"
        else:
            result[name] = correlation_id if value == ACTIVITY else value
    return result


def seen(received: list[Seen]) -> list[Received]:
    """What a backend received, in the shape `expected_seen` gives."""
    return [
        (s.method, s.path_qs, _all_headers(s.headers), _body(s.body)) for s in received
    ]


def expected_seen(
    wanted: tuple[Sent, ...], received: list[Received], correlation_id: str
) -> list[Received]:
    """``wanted`` with each request's unchecked headers taken as received."""
    rows = []
    for index, sent in enumerate(wanted):
        headers = dict(received[index][2]) if index < len(received) else {}
        checked = _expected(sent.headers, headers, correlation_id)
        for name, value in checked.items():
            if value is None:
                headers.pop(name.lower(), None)
            else:
                headers[name.lower()] = value
        body = sent.body if isinstance(sent.body, dict) else _body(sent.body)
        rows.append((sent.method, sent.path_qs, headers, body))
    return rows


def _all_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else raw
    except ValueError:
        return raw


__all__ = [
    "ACTIVITY",
    "ANSWER",
    "BACKEND_PATH",
    "CHAT",
    "CHAT_BYTES",
    "Call",
    "Case",
    "Expect",
    "FakeCredential",
    "Harness",
    "Received",
    "OK",
    "Sent",
    "Setup",
    "apim_error",
    "params",
    "policies",
    "sample",
]
