"""Policies that choose and call the backend, run through the gateway.

Conditional routing (by the body's ``model``, by a header, by the query) to
two backends with set-backend-service ``backend-id`` and ``base-url``;
retry around forward-request on 429 and 503, and failing over to the other
backend (B39 of the gateway failure cases); forward-request's timeout and
fail-on-error-status-code; authentication-managed-identity; streaming
through policies.  Each row is one document, one request, the backends'
replies and the exact effect; see `tests.policy.policy_cases`.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.policy.policy_cases import (
    ANSWER,
    CHAT,
    OK,
    Call,
    Case,
    Expect,
    Harness,
    Sent,
    Setup,
    apim_error,
    params,
    policies,
    sample,
)
from tests.support import AZURE_CHAT, JSON, Reply, chat_chunks, per_event

THROTTLED_BODY = b'{"error":{"code":"429","message":"Rate limit is exceeded."}}'
THROTTLED = Reply([THROTTLED_BODY], status=429, headers=(*JSON, ("retry-after", "30")))
BUSY = Reply([b'{"error":{"message":"busy"}}'], status=503, headers=JSON)
BROKEN = Reply([b'{"error":{"message":"boom"}}'], status=500, headers=JSON)
STREAM = b"".join(chat_chunks("Hel", "lo"))
STREAMED = Reply(chat_chunks("Hel", "lo"))
STREAM_CHAT = {**CHAT, "stream": True}
STREAM_SENT = {**STREAM_CHAT, "stream_options": {"include_usage": True}}

ROUTE_BY_MODEL = sample("route-by-model.xml").replace(
    "https://premium.example.com/openai", "{{backend-b}}/premium"
)
ROUTE_BY_QUERY = sample("route-by-query-version.xml").replace(
    "http://backend.example.com", "{{backend-b}}"
)
ROUTE_BY_HEADER = sample("route-by-header.xml")
RETRY = sample("retry-throttled-or-busy.xml")
# B39: a throttled backend is retried on the other one.
FAILOVER = sample("failover-on-throttle.xml")
TIMEOUT = policies(backend='<forward-request timeout-ms="300" />')
FAIL_ON_STATUS_WITH_DETAILS = sample("forward-without-base.xml").replace(
    "</policies>", sample("on-error-details.xml").split("</inbound>")[1]
)
MANAGED_IDENTITY = sample("managed-identity-header.xml")
STREAM_HEADERS = policies(
    '<base /><set-header name="x-in" exists-action="override">'
    "<value>in</value></set-header>",
    outbound='<base /><set-header name="x-out" exists-action="override">'
    "<value>@(context.Response.StatusCode.ToString())</value></set-header>",
)


def _routed(backend: str, status: int = 200) -> dict[str, object]:
    return {"ResponseCode": status, "BackendId": backend, "LastErrorSource": None}


CASES = [
    # Microsoft's model-routing sample: the body's model picks the backend.
    Case(
        "route-by-model-small",
        Setup(api=ROUTE_BY_MODEL),
        Call(body={**CHAT, "model": "gpt-4o-mini"}),
        a=(),
        b=(OK,),
        expect=Expect(
            a=(),
            b=(Sent(body={**CHAT, "model": "gpt-4o-mini"}),),
            log=_routed("small-models"),
        ),
    ),
    Case(
        "route-by-model-default",
        Setup(api=ROUTE_BY_MODEL),
        Call(body={**CHAT, "model": "gpt-4o"}),
        expect=Expect(
            a=(Sent(body={**CHAT, "model": "gpt-4o"}),),
            log=_routed("default-models"),
        ),
    ),
    # ... and a header picks a base URL, ignoring case.
    Case(
        "route-by-header-to-base-url",
        Setup(api=ROUTE_BY_MODEL),
        Call(headers={"x-tier": "PREMIUM"}, body={**CHAT, "model": "gpt-4o"}),
        a=(),
        b=(OK,),
        expect=Expect(
            a=(),
            b=(
                Sent(
                    path_qs="/premium/deployments/gpt-4o/chat/completions"
                    "?api-version=2024-10-21",
                    headers={"x-tier": "PREMIUM"},
                    body={**CHAT, "model": "gpt-4o"},
                ),
            ),
            log={"BackendId": None, "BackendResponseCode": 200},
        ),
    ),
    Case(
        "route-by-header-to-backend-id",
        Setup(api=ROUTE_BY_HEADER),
        Call(headers={"x-route": "small"}),
        a=(),
        b=(OK,),
        expect=Expect(
            a=(), b=(Sent(headers={"x-route": "small"}),), log=_routed("small-models")
        ),
    ),
    Case(
        "route-by-header-absent",
        Setup(api=ROUTE_BY_HEADER),
        expect=Expect(log=_routed("default-models")),
    ),
    # Microsoft's version-routing sample, its base URLs on backend B.
    Case(
        "route-by-query-version",
        Setup(api=ROUTE_BY_QUERY),
        Call(path=AZURE_CHAT + "&version=2024-03"),
        a=(),
        b=(OK,),
        expect=Expect(
            a=(),
            b=(
                Sent(
                    path_qs="/api/9.1/deployments/gpt-4o/chat/completions"
                    "?api-version=2024-10-21&version=2024-03"
                ),
            ),
        ),
    ),
    Case(
        "route-by-query-version-unknown",
        Setup(api=ROUTE_BY_QUERY),
        Call(path=AZURE_CHAT + "&version=2022-01"),
        expect=Expect(
            a=(
                Sent(
                    path_qs="/openai/deployments/gpt-4o/chat/completions"
                    "?api-version=2024-10-21&version=2022-01"
                ),
            )
        ),
    ),
    # retry around forward-request: the backend sees every attempt, the
    # client the last answer, and the log describes that answer only.
    Case(
        "retry-429-then-503-then-ok",
        Setup(api=RETRY),
        a=(THROTTLED, BUSY, OK),
        expect=Expect(
            a=(Sent(), Sent(), Sent()),
            log={
                "ResponseCode": 200,
                "BackendResponseCode": 200,
                "ErrorKind": None,
                "LastErrorSource": None,
                "IsRequestSuccess": 1,
            },
        ),
    ),
    Case(
        "retry-exhausted",
        Setup(api=RETRY),
        a=(THROTTLED, THROTTLED, THROTTLED, OK),
        expect=Expect(
            status=429,
            headers={"retry-after": "30"},
            body=THROTTLED_BODY,
            a=(Sent(), Sent(), Sent()),
            log={
                "ResponseCode": 429,
                "BackendResponseCode": 429,
                "ErrorKind": "upstream_rate_limited",
            },
        ),
    ),
    Case(
        "retry-condition-false",
        Setup(api=RETRY),
        a=(BROKEN, OK),
        expect=Expect(status=500, body=b'{"error":{"message":"boom"}}', a=(Sent(),)),
    ),
    # Microsoft's throttling sample: the first retry is immediate.
    Case(
        "retry-throttled-sample-first-fast-retry",
        Setup(api=sample("retry-throttled.xml")),
        a=(THROTTLED, OK),
        expect=Expect(a=(Sent(), Sent()), log={"ResponseCode": 200}),
    ),
    Case(
        "failover-on-429-streams-from-the-other-backend",
        Setup(api=FAILOVER),
        Call(body=STREAM_CHAT),
        a=(THROTTLED,),
        b=(STREAMED,),
        expect=Expect(
            headers={"Content-Type": "text/event-stream"},
            body=STREAM,
            a=(Sent(body=STREAM_SENT),),
            b=(Sent(body=STREAM_SENT),),
            log={
                "ResponseCode": 200,
                "BackendId": "small-models",
                "BackendResponseCode": 200,
                "ErrorKind": None,
            },
        ),
    ),
    Case(
        "failover-not-needed",
        Setup(api=FAILOVER),
        expect=Expect(log=_routed("default-models")),
    ),
    # forward-request: a backend slower than the timeout.
    Case(
        "forward-request-timeout",
        Setup(api=TIMEOUT),
        a=(Reply([ANSWER], headers=JSON, head_delay=1.0),),
        expect=Expect(
            status=500,
            headers={"Content-Type": "application/json; charset=utf-8"},
            body=apim_error(500),
            log={
                "ResponseCode": 500,
                "LastErrorSource": "forward-request",
                "LastErrorReason": "Timeout",
                "LastErrorSection": "backend",
                "LastErrorScope": "api",
                "ErrorKind": "upstream_timeout",
            },
        ),
    ),
    Case(
        "forward-request-in-time",
        Setup(api=sample("forward-with-timeout.xml")),
        expect=Expect(log={"ResponseCode": 200, "LastErrorSource": None}),
    ),
    # fail-on-error-status-code: on-error runs over the backend's response.
    Case(
        "fail-on-error-status-code",
        Setup(api=sample("forward-without-base.xml")),
        a=(THROTTLED,),
        expect=Expect(
            status=429,
            headers={"retry-after": "30"},
            body=THROTTLED_BODY,
            log={
                "ResponseCode": 429,
                "LastErrorSource": "forward-request",
                "LastErrorReason": "BackendResponseError",
                "LastErrorSection": "backend",
                "LastErrorScope": "api",
            },
        ),
    ),
    Case(
        "fail-on-error-status-code-on-error-details",
        Setup(api=FAIL_ON_STATUS_WITH_DETAILS),
        a=(BUSY,),
        expect=Expect(
            status=503,
            headers={
                "ErrorSource": "forward-request",
                "ErrorReason": "BackendResponseError",
                "ErrorMessage": "The backend answered 503.",
                "ErrorScope": "api",
                "ErrorSection": "backend",
                "ErrorStatusCode": "503",
            },
            body=b'{"error":{"message":"busy"}}',
        ),
    ),
    Case(
        "fail-on-error-status-code-success",
        Setup(api=FAIL_ON_STATUS_WITH_DETAILS),
        expect=Expect(headers={"ErrorSource": None}),
    ),
    # authentication-managed-identity: a token from the (fake) credential.
    Case(
        "managed-identity-header",
        Setup(api=MANAGED_IDENTITY, managed_identity=True),
        expect=Expect(a=(Sent(headers={"Authorization": "Bearer mi-token"}),)),
    ),
    Case(
        "managed-identity-variable-sample",
        Setup(api=sample("managed-identity.xml"), managed_identity=True),
        expect=Expect(a=(Sent(headers={"Authorization": "Bearer mi-token"}),)),
    ),
    Case(
        "managed-identity-without-identity",
        Setup(api=MANAGED_IDENTITY),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log={
                "LastErrorSource": "authentication-managed-identity",
                "LastErrorReason": "ManagedIdentityTokenFailure",
            },
        ),
    ),
    # A streamed answer through forward-request buffer-response="false".
    Case(
        "stream-without-buffering",
        Setup(api=sample("stream-without-buffering.xml")),
        Call(body=STREAM_CHAT),
        a=(STREAMED,),
        expect=Expect(body=STREAM, a=(Sent(body=STREAM_SENT),)),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_policy(harness: Harness, case: Case) -> None:
    harness.run(case)


def test_managed_identity_asks_for_the_resources_default_scope(
    harness: Harness,
) -> None:
    (case,) = [case for case in CASES if case.id == "managed-identity-header"]
    harness.run(case)

    assert ("https://cognitiveservices.azure.com/.default",) in (
        harness.credential.scopes
    )


def test_a_stream_through_policies_goes_event_by_event(harness: Harness) -> None:
    case = Case(
        "stream",
        Setup(api=STREAM_HEADERS),
        Call(body=STREAM_CHAT),
        a=(Reply(chat_chunks("Hel", "lo"), delay=0.3),),
    )
    with harness.scripted(case) as gateway:
        started = time.monotonic()
        response = requests.post(
            gateway.url + AZURE_CHAT,
            data=json.dumps(STREAM_CHAT),
            headers={"api-key": gateway.key, "Content-Type": "application/json"},
            stream=True,
            timeout=10,
        )
        arrivals = [
            (time.monotonic() - started, chunk) for chunk in response.iter_content(None)
        ]
        correlation_id = response.headers["x-correlation-id"]
        llm = gateway.llm_rows(correlation_id)

    assert response.status_code == 200
    assert response.headers["x-out"] == "200"
    assert b"".join(chunk for _, chunk in arrivals) == STREAM
    # Each event arrives on its own, as the backend wrote it, not at the end.
    assert [chunk for _, chunk in arrivals] == per_event(STREAM)
    assert arrivals[0][0] < 0.25 and arrivals[-1][0] > 0.5
    assert [s.headers for s in harness.a.seen if ("x-in", "in") in s.headers]
    assert [row["SequenceNumber"] for row in llm] == [0, 1, 2]
    assert llm[0]["IsStreamCompletion"] == 1
    assert llm[0]["FinishReason"] == "stop"
    assert gateway.messages(correlation_id, "ResponseMessages") == [
        {"role": "assistant", "content": "Hello", "finish_reason": "stop", "index": 0}
    ]
