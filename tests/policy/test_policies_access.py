"""Policies that admit, refuse or answer requests, and errors, through the gateway.

check-header, ip-filter, cors (preflights answered before the subscription
key check, as APIM does), mock-response and return-response, on-error for
policy failures, expression failures and the built-in steps' own errors,
and documents at the global, product, API and operation scopes with
``<base />``.  Each row is one document, one request, the backend's
replies and the exact effect; see `tests.policy.policy_cases`.
"""

from __future__ import annotations

import pytest
from openai import AzureOpenAI

from tests.policy.policy_cases import (
    ANSWER,
    CHAT,
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
from tests.support import JSON, Reply

NOT_AUTHORIZED = {"statusCode": 401, "message": "Not authorized"}
SECRET = "f6dc69a089844cf6b2019bae6d36fac8"
PREFLIGHT = {
    "Origin": "https://app.example.com",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,api-key",
}
NO_CORS = {
    "Access-Control-Allow-Origin": None,
    "Access-Control-Allow-Methods": None,
    "Access-Control-Allow-Headers": None,
}
MISSING_KEY = (
    "Access denied due to missing subscription key. Make sure to include "
    "subscription key when making requests to an API."
)
INVALID_KEY = (
    "Access denied due to invalid subscription key. Make sure to provide a "
    "valid key for an active subscription."
)
KEY_CHALLENGE = 'AzureApiManagementKey realm="gateway"'
NO_OPERATION = "Unable to match incoming request to an operation."
# A pass-through path: its operation takes any method.
MODELS = "/openai/models?api-version=2024-10-21"
EMBEDDINGS = "/openai/deployments/gpt-4o/embeddings?api-version=2024-10-21"


def _refused(source: str, reason: str, status: int) -> dict[str, object]:
    return {
        "ResponseCode": status,
        "LastErrorSource": source,
        "LastErrorReason": reason,
        "LastErrorSection": "inbound",
        "LastErrorScope": "api",
    }


def _mark(scope: str, section: str) -> str:
    return (
        f'<set-header name="x-order-{section}" exists-action="append">'
        f"<value>{scope}</value></set-header>"
    )


def _scoped(scope: str, *, base_first: bool) -> str:
    inbound = _mark(scope, "in")
    inbound = "<base />" + inbound if base_first else inbound + "<base />"
    return policies(inbound, outbound="<base />" + _mark(scope, "out"))


IGNORING_CASE = sample("check-header-ignore-case.xml")
ON_ERROR_DETAILS = sample("check-header.xml").replace(
    "</policies>", sample("on-error-details.xml").split("</inbound>")[1]
)
ON_ERROR_JSON = sample("on-error-json.xml")
ON_ERROR_MOCK = policies(
    sample("check-header.xml").split("<inbound>")[1].split("</inbound>")[0],
    on_error="<mock-response status-code='503' />",
)
PARSE_HEADER = sample("parse-header.xml")
PARSE_HEADER_WITH_ON_ERROR = sample("parse-header-on-error.xml")
KEY_ERRORS = sample("subscription-key-errors.xml")
MOCK_BY_HEADER = sample("mock-by-header.xml")
SET_STATUS = policies(outbound='<base /><set-status code="202" reason="Accepted" />')
# The operation's example, as APIM answers a mock-response from the API's
# definition.
MOCKED_CHAT = {
    "id": "chatcmpl-mock",
    "object": "chat.completion",
    "created": 1733310000,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "This is a mocked answer from the gateway.",
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
}
BASIC = "Basic dXNlcjpwYXNz"
SEE_CREDENTIALS = """<base />
<set-header name="x-auth" exists-action="override">
  <value>@(context.Request.Headers.GetValueOrDefault("Authorization", "none"))</value>
</set-header>
<set-header name="x-cookie" exists-action="override">
  <value>@(context.Request.Headers.GetValueOrDefault("Cookie", "none"))</value>
</set-header>
<set-header name="x-key" exists-action="override">
  <value>@{
    var key = context.Subscription.Key;
    var sent = context.Request.Headers.GetValueOrDefault("api-key", "");
    return key.Length > 0 && key == sent ? "presented" : "missing";
  }</value>
</set-header>"""
SET_CREDENTIALS = """<base />
<set-header name="Authorization" exists-action="override">
  <value>Bearer from-policy</value>
</set-header>
<set-header name="api-key" exists-action="override">
  <value>backend-secret</value>
</set-header>"""
PASS_AUTHORIZATION = """<base />
<set-header name="Authorization" exists-action="override">
  <value>@(context.Request.Headers.GetValueOrDefault("Authorization"))</value>
</set-header>"""
SCOPES = Setup(
    global_=policies(
        _mark("global", "in"),
        backend="<forward-request />",
        outbound=_mark("global", "out"),
    ),
    product=_scoped("product", base_first=False),
    api=_scoped("api", base_first=True),
    operation=_scoped("operation", base_first=False),
)


CASES = [
    # check-header, Microsoft's sample: missing, wrong case, listed.
    Case(
        "check-header-missing",
        Setup(api=sample("check-header.xml")),
        a=(),
        expect=Expect(
            status=401,
            headers={"WWW-Authenticate": None},
            body=NOT_AUTHORIZED,
            a=(),
            log=_refused("check-header", "HeaderNotFound", 401),
        ),
    ),
    Case(
        "check-header-wrong-value",
        Setup(api=sample("check-header.xml")),
        Call(headers={"x-client-secret": SECRET.upper()}),
        a=(),
        expect=Expect(
            status=401,
            body=NOT_AUTHORIZED,
            a=(),
            log=_refused("check-header", "HeaderValueNotAllowed", 401),
        ),
    ),
    Case(
        "check-header-listed-value",
        Setup(api=sample("check-header.xml")),
        Call(headers={"x-client-secret": SECRET}),
        expect=Expect(a=(Sent(headers={"x-client-secret": SECRET}),)),
    ),
    Case(
        "check-header-ignore-case",
        Setup(api=IGNORING_CASE),
        Call(headers={"X-Tier": "PREMIUM"}),
        expect=Expect(a=(Sent(headers={"X-Tier": "PREMIUM"}),)),
    ),
    Case(
        "check-header-ignore-case-refused",
        Setup(api=IGNORING_CASE),
        Call(headers={"X-Tier": "basic"}),
        a=(),
        expect=Expect(
            status=403,
            body={"statusCode": 403, "message": "Tier not allowed"},
            a=(),
            log=_refused("check-header", "HeaderValueNotAllowed", 403),
        ),
    ),
    # ip-filter forbid, Microsoft's sample: the caller (127.0.0.1) is not
    # listed; then listed.
    Case(
        "ip-filter-forbid-unlisted",
        Setup(api=sample("ip-filter-forbid.xml")),
        expect=Expect(log={"ResponseCode": 200, "CallerIpAddress": "127.0.0.1"}),
    ),
    Case(
        "ip-filter-forbid-listed",
        Setup(api=sample("ip-filter-forbid.xml").replace("13.66.201.169", "127.0.0.1")),
        a=(),
        expect=Expect(
            status=403,
            body={
                "statusCode": 403,
                "message": "Caller IP address 127.0.0.1 is not allowed. Access denied.",
            },
            a=(),
            log=_refused("ip-filter", "CallerIpNotAllowed", 403),
        ),
    ),
    # CORS: a preflight is answered by the cors policy alone, without a key.
    Case(
        "cors-preflight",
        Setup(api=sample("cors-preflight.xml")),
        Call(method="OPTIONS", headers=PREFLIGHT, body=None, key=None),
        a=(),
        expect=Expect(
            headers={
                "Access-Control-Allow-Origin": "https://app.example.com",
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "content-type,api-key",
                "Access-Control-Max-Age": "300",
                "Content-Length": "0",
            },
            body=b"",
            a=(),
            log={
                "ResponseCode": 200,
                "Method": "OPTIONS",
                "ApimSubscriptionId": None,
                "LastErrorSource": None,
            },
        ),
    ),
    Case(
        "cors-preflight-unknown-origin",
        Setup(api=sample("cors-preflight.xml")),
        Call(
            method="OPTIONS",
            headers={**PREFLIGHT, "Origin": "https://evil.example"},
            body=None,
            key=None,
        ),
        a=(),
        expect=Expect(headers=NO_CORS, body=b"", a=()),
    ),
    Case(
        "cors-preflight-method-not-allowed",
        Setup(api=sample("cors-preflight.xml")),
        Call(
            method="OPTIONS",
            headers={**PREFLIGHT, "Access-Control-Request-Method": "PUT"},
            body=None,
            key=None,
        ),
        a=(),
        expect=Expect(headers=NO_CORS, body=b"", a=()),
    ),
    Case(
        "cors-preflight-header-not-allowed",
        Setup(api=sample("cors-preflight.xml")),
        Call(
            method="OPTIONS",
            headers={**PREFLIGHT, "Access-Control-Request-Headers": "x-secret"},
            body=None,
            key=None,
        ),
        a=(),
        expect=Expect(headers=NO_CORS, body=b"", a=()),
    ),
    Case(
        "cors-preflight-any-origin",
        Setup(api=sample("cors-any-origin.xml")),
        Call(
            method="OPTIONS",
            headers={**PREFLIGHT, "Origin": "https://anyone.example"},
            body=None,
            key=None,
        ),
        a=(),
        expect=Expect(
            headers={
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Credentials": None,
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "content-type,api-key",
            },
            body=b"",
            a=(),
        ),
    ),
    # Without a cors policy a preflight is an ordinary call: no key, 401.
    Case(
        "preflight-without-cors-policy",
        Setup(api=sample("check-header.xml")),
        Call(method="OPTIONS", headers=PREFLIGHT, body=None, key=None),
        a=(),
        expect=Expect(
            status=404,
            headers={**NO_CORS, "WWW-Authenticate": None},
            body=apim_error(404, NO_OPERATION),
            a=(),
            log={"LastErrorReason": "OperationNotFound"},
        ),
    ),
    # A cors policy at operation scope answers too; at product scope it cannot,
    # since the product is known only from the key (as in APIM).
    Case(
        "cors-preflight-operation-scope",
        Setup(operation=sample("cors-any-origin.xml")),
        Call(method="OPTIONS", headers=PREFLIGHT, body=None, key=None),
        a=(),
        expect=Expect(headers={"Access-Control-Allow-Origin": "*"}, body=b"", a=()),
    ),
    Case(
        "cors-preflight-product-scope",
        Setup(product=sample("cors-any-origin.xml")),
        Call(method="OPTIONS", headers=PREFLIGHT, body=None, key=None),
        a=(),
        expect=Expect(
            status=404,
            headers=NO_CORS,
            body=apim_error(404, NO_OPERATION),
            a=(),
        ),
    ),
    # The actual request gets the CORS headers on the backend's response.
    Case(
        "cors-actual-request",
        Setup(api=sample("cors-preflight.xml")),
        Call(headers={"Origin": "http://localhost:8080"}),
        expect=Expect(
            headers={
                "Access-Control-Allow-Origin": "http://localhost:8080",
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Expose-Headers": "x-request-id",
                "Access-Control-Allow-Methods": None,
            },
            a=(Sent(headers={"Origin": "http://localhost:8080"}),),
        ),
    ),
    Case(
        "cors-actual-request-any-origin",
        Setup(api=sample("cors-any-origin.xml")),
        Call(headers={"Origin": "https://anyone.example"}),
        expect=Expect(headers={"Access-Control-Allow-Origin": "*"}),
    ),
    Case(
        "cors-post-from-unknown-origin-goes-on",
        Setup(api=sample("cors-preflight.xml")),
        Call(headers={"Origin": "https://evil.example"}),
        expect=Expect(headers=NO_CORS),
    ),
    Case(
        "cors-get-from-unknown-origin-ends",
        Setup(api=sample("cors-preflight.xml")),
        Call(
            method="GET",
            path=MODELS,
            headers={"Origin": "https://evil.example"},
            body=None,
        ),
        a=(),
        expect=Expect(headers=NO_CORS, body=b"", a=()),
    ),
    # mock-response and return-response answer without the backend.
    Case(
        "mock-response",
        Setup(api=sample("mock-response.xml")),
        a=(),
        expect=Expect(
            headers={"Content-Type": "application/json"},
            body=MOCKED_CHAT,
            a=(),
            log={"ResponseCode": 200, "BackendId": None, "BackendResponseCode": None},
        ),
    ),
    Case(
        "mock-response-embeddings",
        Setup(api=sample("mock-response.xml")),
        Call(path=EMBEDDINGS, body={"input": "hi"}),
        a=(),
        expect=Expect(
            headers={"Content-Type": "application/json"},
            body={
                "object": "list",
                "data": [
                    {"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093]}
                ],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            },
            a=(),
        ),
    ),
    Case(
        "mock-response-not-json-has-no-example",
        Setup(
            api=policies(
                "<mock-response status-code='200' content-type='text/plain' />"
            )
        ),
        a=(),
        expect=Expect(headers={"Content-Type": "text/plain"}, body=b"", a=()),
    ),
    Case(
        "mock-response-in-on-error",
        Setup(api=ON_ERROR_MOCK),
        a=(),
        expect=Expect(
            status=503,
            body=b"",
            a=(),
            log={"ResponseCode": 503, "LastErrorSource": "check-header"},
        ),
    ),
    Case(
        "return-response-by-header",
        Setup(api=MOCK_BY_HEADER),
        Call(headers={"x-mock": "true"}),
        a=(),
        expect=Expect(
            headers={"Content-Type": "application/json"},
            body={"choices": [{"message": {"role": "assistant", "content": "mocked"}}]},
            a=(),
        ),
    ),
    Case(
        "return-response-condition-false",
        Setup(api=MOCK_BY_HEADER),
        Call(headers={"x-mock": "false"}),
        expect=Expect(body=ANSWER),
    ),
    Case(
        "return-response-unauthorized-sample",
        Setup(api=sample("unauthorized-response.xml")),
        a=(),
        expect=Expect(
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            body=b"",
            a=(),
            log={"ResponseCode": 401, "LastErrorSource": None},
        ),
    ),
    Case(
        "set-status-in-outbound",
        Setup(api=SET_STATUS),
        expect=Expect(status=202, body=ANSWER),
    ),
    # on-error: LastError's fields, the response it starts from, its answer.
    Case(
        "on-error-details-as-headers",
        Setup(api=ON_ERROR_DETAILS),
        a=(),
        expect=Expect(
            status=401,
            headers={
                "ErrorSource": "check-header",
                "ErrorReason": "HeaderNotFound",
                "ErrorMessage": "Not authorized",
                "ErrorScope": "api",
                "ErrorSection": "inbound",
                "ErrorPath": "check-header[1]",
                "ErrorStatusCode": "401",
                "Content-Type": "application/json; charset=utf-8",
            },
            body=NOT_AUTHORIZED,
            a=(),
            log=_refused("check-header", "HeaderNotFound", 401),
        ),
    ),
    Case(
        "on-error-returns-json",
        Setup(api=ON_ERROR_JSON),
        a=(),
        expect=Expect(
            status=403,
            headers={"Content-Type": "application/json"},
            body={
                "error": {
                    "code": "NO_SECRET",
                    "reason": "HeaderNotFound",
                    "policy": "secret-check",
                    "status": 401,
                }
            },
            a=(),
            log=_refused("check-header", "HeaderNotFound", 403),
        ),
    ),
    # An expression that fails at run time: 500, and on-error runs.
    Case(
        "expression-failure",
        Setup(api=PARSE_HEADER),
        Call(headers={"x-count": "ten"}),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log={
                **_refused("set-variable", "ExpressionValueEvaluationFailure", 500),
                "LastErrorMessage": "Expression evaluation failed. "
                "The input string 'ten' was not in a correct format.",
            },
        ),
    ),
    Case(
        "expression-failure-on-error",
        Setup(api=PARSE_HEADER_WITH_ON_ERROR),
        Call(headers={"x-count": "ten"}),
        a=(),
        expect=Expect(
            status=400,
            headers={"x-error": "set-variable: ExpressionValueEvaluationFailure"},
            body=b"Expression evaluation failed. "
            b"The input string 'ten' was not in a correct format.",
            a=(),
            log=_refused("set-variable", "ExpressionValueEvaluationFailure", 400),
        ),
    ),
    Case(
        "expression-succeeds",
        Setup(api=PARSE_HEADER_WITH_ON_ERROR),
        Call(headers={"x-count": "21"}),
        expect=Expect(
            headers={"x-error": None},
            a=(Sent(headers={"x-count": "21", "x-count-doubled": "42"}),),
        ),
    ),
    # The built-in subscription check fails before any policy: on-error runs.
    Case(
        "missing-key-on-error",
        Setup(api=KEY_ERRORS),
        Call(key=None),
        a=(),
        expect=Expect(
            status=401,
            headers={"Content-Type": "application/json", "WWW-Authenticate": None},
            body={
                "error": {
                    "code": "SubscriptionKeyNotFound",
                    "source": "authorization",
                    "status": 401,
                }
            },
            a=(),
            log={
                "ResponseCode": 401,
                "LastErrorSource": "authorization",
                "LastErrorReason": "SubscriptionKeyNotFound",
                "LastErrorScope": "global",
            },
        ),
    ),
    Case(
        "invalid-key-on-error-adds-a-header",
        Setup(api=KEY_ERRORS),
        Call(headers={"api-key": "0" * 32}, key=None),
        a=(),
        expect=Expect(
            status=401,
            headers={
                "x-key-error": "SubscriptionKeyInvalid",
                "WWW-Authenticate": KEY_CHALLENGE,
            },
            body=apim_error(401, INVALID_KEY),
            a=(),
            log={"ResponseCode": 401, "LastErrorReason": "SubscriptionKeyInvalid"},
        ),
    ),
    # Scopes: global, product, API and operation, merged through <base />.
    Case(
        "scopes-with-a-product",
        SCOPES,
        Call(key="starter"),
        expect=Expect(
            headers={"x-order-out": "global, product, api, operation"},
            a=(Sent(headers={"x-order-in": "operation, product, global, api"}),),
            log={"ProductId": "starter", "ResponseCode": 200},
        ),
    ),
    Case(
        "scopes-without-a-product",
        SCOPES,
        expect=Expect(
            headers={"x-order-out": "global, api, operation"},
            a=(Sent(headers={"x-order-in": "operation, global, api"}),),
        ),
    ),
    Case(
        "scopes-another-operation",
        SCOPES,
        Call(path=EMBEDDINGS, body={"input": "hi"}, key="starter"),
        a=(Reply([b'{"object":"list","data":[]}'], headers=JSON),),
        expect=Expect(
            headers={"x-order-out": "global, product, api"},
            body=b'{"object":"list","data":[]}',
            a=(
                Sent(
                    path_qs=EMBEDDINGS,
                    headers={"x-order-in": "product, global, api"},
                    body={"input": "hi"},
                ),
            ),
        ),
    ),
    # Policies see every header the client sent, its credentials included;
    # the backend gets those only when a policy sets them.
    Case(
        "check-header-authorization",
        Setup(api=sample("check-header-authorization.xml")),
        Call(headers={"Authorization": SECRET}),
        expect=Expect(a=(Sent(headers={"Authorization": None, "api-key": None}),)),
    ),
    Case(
        "check-header-authorization-missing",
        Setup(api=sample("check-header-authorization.xml")),
        a=(),
        expect=Expect(
            status=401,
            body=NOT_AUTHORIZED,
            a=(),
            log=_refused("check-header", "HeaderNotFound", 401),
        ),
    ),
    Case(
        "credentials-seen-not-sent",
        Setup(api=policies(SEE_CREDENTIALS)),
        Call(headers={"Authorization": BASIC, "Cookie": "session=1"}),
        expect=Expect(
            a=(
                Sent(
                    headers={
                        "x-auth": BASIC,
                        "x-cookie": "session=1",
                        "x-key": "presented",
                        "Authorization": None,
                        "api-key": None,
                        "Cookie": None,
                    }
                ),
            )
        ),
    ),
    Case(
        "credentials-set-by-policy-are-sent",
        Setup(api=policies(SET_CREDENTIALS)),
        Call(headers={"Authorization": BASIC}),
        expect=Expect(
            a=(
                Sent(
                    headers={
                        "Authorization": "Bearer from-policy",
                        "api-key": "backend-secret",
                    }
                ),
            )
        ),
    ),
    Case(
        "credential-passed-through-by-policy",
        Setup(api=policies(PASS_AUTHORIZATION)),
        Call(headers={"Authorization": BASIC}),
        expect=Expect(a=(Sent(headers={"Authorization": BASIC, "api-key": None}),)),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_policy(harness: Harness, case: Case) -> None:
    harness.run(case)


def test_chat_reaches_the_backend_unchanged(harness: Harness) -> None:
    """The control: an API without a document forwards the call as it came."""
    harness.run(Case("plain", Setup(), expect=Expect(a=(Sent(body=CHAT),))))


def test_the_openai_package_reads_a_mocked_answer(harness: Harness) -> None:
    """A mock-response answers as the operation would: the SDK parses it."""
    gateway = harness.gateway(Setup(api=sample("mock-response.xml")))
    harness.a.seen.clear()
    client = AzureOpenAI(
        azure_endpoint=gateway.url, api_key=gateway.key, api_version="2024-10-21"
    )

    chat = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )

    answer = chat.choices[0].message.content
    assert answer == "This is a mocked answer from the gateway."
    assert chat.usage is not None and chat.usage.total_tokens == 21
    assert not harness.a.seen
