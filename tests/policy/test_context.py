"""The context model: headers, URLs, bodies and the request factory."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tollhouse.policy.context import (
    Body,
    Headers,
    LastError,
    PolicyContext,
    Request,
    Response,
    Url,
)


def test_headers_are_case_insensitive_and_keep_first_spelling() -> None:
    headers = Headers([("Content-Type", "a"), ("content-type", "b"), ("X-One", "1")])
    assert headers.get("CONTENT-TYPE") == "a,b"
    assert headers.get_all("content-TYPE") == ["a", "b"]
    assert headers.names() == ["Content-Type", "X-One"]
    assert headers.items() == [
        ("Content-Type", "a"),
        ("Content-Type", "b"),
        ("X-One", "1"),
    ]
    assert "x-one" in headers
    assert len(headers) == 2
    assert list(headers) == ["Content-Type", "X-One"]


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (lambda h: h.set("x-one", "2"), [("x-one", "2"), ("Other", "o")]),
        (
            lambda h: h.set("New", ["a", "b"]),
            [("X-One", "1"), ("Other", "o"), ("New", "a"), ("New", "b")],
        ),
        (
            lambda h: h.append("x-one", "3"),
            [("X-One", "1"), ("X-One", "3"), ("Other", "o")],
        ),
        (lambda h: h.remove("X-ONE"), [("Other", "o")]),
        (lambda h: h.remove("absent"), [("X-One", "1"), ("Other", "o")]),
    ],
)
def test_headers_mutations(
    operation: Callable[[Headers], None], expected: list[tuple[str, str]]
) -> None:
    headers = Headers([("X-One", "1"), ("Other", "o")])
    operation(headers)
    assert headers.items() == expected


def test_headers_get_default_and_copy() -> None:
    headers = Headers([("A", "1")])
    copy = headers.copy()
    copy.append("A", "2")
    assert headers.get("missing") is None
    assert headers.get("missing", "d") == "d"
    assert headers.get_all("missing") == []
    assert headers.get("a") == "1"
    assert copy.get("a") == "1,2"


@pytest.mark.parametrize(
    ("text", "parts", "rendered"),
    [
        (
            "https://gw.example/openai/chat?api-version=2024-10-21",
            ("https", "gw.example", 443, "/openai/chat", "?api-version=2024-10-21"),
            "https://gw.example/openai/chat?api-version=2024-10-21",
        ),
        (
            "http://127.0.0.1:8080/v1/models",
            ("http", "127.0.0.1", 8080, "/v1/models", ""),
            "http://127.0.0.1:8080/v1/models",
        ),
        (
            "http://h/",
            ("http", "h", 80, "/", ""),
            "http://h/",
        ),
        (
            "https://h:443/p?a=1&a=2&b=x%20y",
            ("https", "h", 443, "/p", "?a=1&a=2&b=x%20y"),
            "https://h/p?a=1&a=2&b=x%20y",
        ),
        ("https://h", ("https", "h", 443, "/", ""), "https://h/"),
    ],
)
def test_url_parse(text: str, parts: tuple[object, ...], rendered: str) -> None:
    url = Url.parse(text)
    assert (url.scheme, url.host, url.port, url.path, url.query_string) == parts
    assert str(url) == rendered


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/deployments/a b/chat", "/deployments/a%20b/chat"),
        ("/a\r\nHost: evil", "/a%0D%0AHost:%20evil"),
        ("/kept%20escape/50%", "/kept%20escape/50%25"),
        ("/caf\u00e9/{x}", "/caf%C3%A9/%7Bx%7D"),
        ("/a;b=c:d@e/-._~!$&'()*+,", "/a;b=c:d@e/-._~!$&'()*+,"),
    ],
)
def test_a_url_escapes_what_its_path_cannot_hold(path: str, sent: str) -> None:
    url = Url.parse("http://h/?q=1")
    url.path = path

    assert str(url) == f"http://h{sent}?q=1"
    assert url.path == path


def test_url_query_and_copy() -> None:
    url = Url.parse("https://h/p?a=1&a=2&B=3")
    copy = url.copy()
    copy.query.set("a", "9")
    assert url.query.get("a") == "1,2"
    assert url.query.get("b") == "3"
    assert copy.query.get("a") == "9"


@pytest.mark.parametrize(
    ("content", "reads", "remaining", "consumed"),
    [
        (b"abc", [True, True], b"abc", False),
        (b"abc", [False], b"", True),
        (b"abc", [True, False, True], b"", True),
        ("héllo", [True], "héllo".encode(), False),
    ],
)
def test_body_reads(
    content: bytes | str, reads: list[bool], remaining: bytes, consumed: bool
) -> None:
    body = Body(content)
    first = body.read(preserve=reads[0])
    for preserve in reads[1:]:
        body.read(preserve=preserve)
    assert first == (content.encode() if isinstance(content, str) else content)
    assert body.content == remaining
    assert body.consumed is consumed


def test_consumed_body_reads_empty() -> None:
    body = Body(b"x")
    assert body.read(preserve=False) == b"x"
    assert body.read(preserve=True) == b""


def test_for_request() -> None:
    context = PolicyContext.for_request(
        "post",
        "https://gw/openai/deployments/d1/chat/completions?api-version=v",
        headers=[("Api-Key", "k"), ("Accept", "a")],
        body=b"{}",
        ip_address="10.0.0.7",
        matched_parameters={"deployment-id": "d1"},
    )
    request = context.request
    assert request.method == "POST"
    assert str(request.url) == str(request.original_url)
    assert request.url is not request.original_url
    assert request.headers.get("api-key") == "k"
    assert request.ip_address == "10.0.0.7"
    assert request.matched_parameters == {"deployment-id": "d1"}
    assert request.body is not None and request.body.content == b"{}"
    assert context.response.status_code == 200
    assert context.last_error is None
    assert context.user is None
    assert context.variables == {}


@pytest.mark.parametrize("body", [None, b"", ""])
def test_for_request_without_body(body: bytes | str | None) -> None:
    context = PolicyContext.for_request("GET", "https://gw/", body=body)
    assert context.request.body is None


def test_defaults() -> None:
    before = datetime.now(UTC)
    context = PolicyContext()
    assert isinstance(context.request, Request)
    assert isinstance(context.response, Response)
    assert context.response.status_reason == "OK"
    assert isinstance(context.request_id, uuid.UUID)
    assert context.timestamp.tzinfo is UTC
    assert before <= context.timestamp <= datetime.now(UTC)
    assert context.deployment.service_name == "tollhouse"
    assert context.api is None and context.product is None


def test_elapsed_grows() -> None:
    context = PolicyContext(started=time.perf_counter() - 2)
    assert context.elapsed >= timedelta(seconds=2)


def test_last_error_fields() -> None:
    error = LastError(
        source="ip-filter",
        reason="CallerIpNotAllowed",
        message="Caller IP address 1.2.3.4 is not allowed",
        scope="api",
        section="inbound",
        path="policies/inbound/ip-filter[1]",
        policy_id="ip-filter[1]",
    )
    assert (error.source, error.reason, error.section) == (
        "ip-filter",
        "CallerIpNotAllowed",
        "inbound",
    )
