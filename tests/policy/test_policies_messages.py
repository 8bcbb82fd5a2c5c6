"""Policies that rewrite the request and the response, run through the gateway.

Headers (set-header on the request and on the response), the query
(set-query-parameter), the URL (rewrite-uri), the method (set-method), the
body (set-body from an expression), variables read in later sections,
trace, and fragments.  Each row is one document, one request, the backend's
replies and the exact effect; see `tests.policy.policy_cases`.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.policy.policy_cases import (
    ACTIVITY,
    ANSWER,
    BACKEND_PATH,
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
from tests.support import AZURE_CHAT, JSON, Reply, chat_body

WEATHER = json.dumps(
    {
        "lat": 33.44,
        "current": {"temp": 292.55},
        "minutely": [],
        "hourly": [],
        "daily": [],
        "alerts": [],
    }
).encode()


def header(name: str, *values: str, action: str = "override") -> str:
    """A set-header policy with constant (or expression) values."""
    parts = "".join(f"<value>{value}</value>" for value in values)
    return f'<set-header name="{name}" exists-action="{action}">{parts}</set-header>'


def _expression_failure(source: str, section: str = "inbound") -> dict[str, object]:
    return {
        "ResponseCode": 500,
        "LastErrorSource": source,
        "LastErrorReason": "ExpressionValueEvaluationFailure",
        "LastErrorSection": section,
        "LastErrorScope": "api",
    }


REQUEST_HEADERS = policies(
    "<base />"
    + header("x-added", "one")
    + header("x-override", "policy")
    + header("x-keep", "new", action="skip")
    + header("x-new", "new", action="skip")
    + header("x-multi", "b", action="append")
    + header("x-drop", action="delete")
    + header("x-from-expression", "@(context.Request.Method.ToLower())", "@(1+1)")
)
RESPONSE_HEADERS = policies(
    outbound="<base />"
    + header("x-backend", action="delete")
    + header("x-multi", "b", action="append")
    + header("x-keep", "policy", action="skip")
    + header("x-fresh", "fresh", action="skip")
    + header("x-status", "@(context.Response.StatusCode.ToString())")
)
CALLER_HEADERS_BY_SUBSCRIPTION = sample("forward-caller-headers.xml").replace(
    "context.User.Id", "context.Subscription.Id"
)
API_VERSION_OVERRIDE = policies(
    '<base /><set-query-parameter name="api-version" exists-action="override">'
    "<value>2025-01-01-preview</value></set-query-parameter>"
    '<set-query-parameter name="tag" exists-action="append">'
    "<value>b</value><value>c</value></set-query-parameter>"
)
REWRITE_WITH_QUERY = policies(
    '<base /><rewrite-uri template="/deployments/{deployment-id}/completions?x=1" />'
)
REWRITE_WITHOUT_UNMATCHED = policies(
    '<base /><rewrite-uri template="/deployments/{deployment-id}/completions?x=1" '
    'copy-unmatched-params="false" />'
)
REQUEST_BODY = policies(
    """<base />
    <set-body>@{
        var body = context.Request.Body.As<JObject>(preserveContent: true);
        body["max_tokens"] = 50;
        body["user"] = context.Subscription.Id;
        return body.ToString();
    }</set-body>"""
)
RESPONSE_BODY = policies(
    outbound="""<base />
    <set-body>@{
        var body = context.Response.Body.As<JObject>();
        body["choices"][0]["message"]["content"] = "changed";
        body.Remove("usage");
        return body.ToString(Newtonsoft.Json.Formatting.None);
    }</set-body>"""
)
VARIABLES = sample("variables-in-every-section.xml")
FRAGMENTS = policies(
    '<include-fragment fragment-id="request-id" /><base />',
    outbound='<base /><include-fragment fragment-id="strip-headers" />',
)


CASES = [
    # set-header on the request: every exists-action, constants and expressions.
    Case(
        "set-header-request-actions",
        Setup(api=REQUEST_HEADERS),
        Call(
            headers={
                "x-override": "client",
                "x-keep": "old",
                "x-multi": "a",
                "x-drop": "gone",
            }
        ),
        expect=Expect(
            a=(
                Sent(
                    headers={
                        "x-added": "one",
                        "x-override": "policy",
                        "x-keep": "old",
                        "x-new": "new",
                        "x-multi": "a, b",
                        "x-drop": None,
                        "x-from-expression": "post, 2",
                    }
                ),
            )
        ),
    ),
    # set-header in outbound acts on the backend's response.
    Case(
        "set-header-response-actions",
        Setup(api=RESPONSE_HEADERS),
        a=(
            Reply(
                [ANSWER],
                headers=(
                    *JSON,
                    ("x-backend", "internal"),
                    ("x-multi", "a"),
                    ("x-keep", "backend"),
                ),
            ),
        ),
        expect=Expect(
            headers={
                "x-backend": None,
                "x-multi": "a, b",
                "x-keep": "backend",
                "x-fresh": "fresh",
                "x-status": "200",
                "Content-Type": "application/json",
            }
        ),
    ),
    # Microsoft's "forward context information" sample reads context.User,
    # which is null for a call made without a user: APIM fails the policy.
    Case(
        "forward-caller-headers-without-user",
        Setup(api=sample("forward-caller-headers.xml")),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_expression_failure("set-header"),
        ),
    ),
    Case(
        "forward-caller-headers-by-subscription",
        Setup(api=CALLER_HEADERS_BY_SUBSCRIPTION),
        a=(
            Reply(
                [ANSWER],
                headers=(
                    *JSON,
                    ("X-Powered-By", "ASP.NET"),
                    ("X-AspNet-Version", "4.0.30319"),
                ),
            ),
        ),
        expect=Expect(
            headers={"X-Powered-By": None, "X-AspNet-Version": None},
            a=(Sent(headers={"x-request-context-data": "master, local"}),),
        ),
    ),
    # set-query-parameter: override, skip, delete (the product sample).
    Case(
        "set-query-parameter-product",
        Setup(api=sample("product-query-parameter.xml")),
        Call(path=AZURE_CHAT + "&debug=1", key="starter"),
        expect=Expect(
            a=(
                Sent(
                    path_qs=BACKEND_PATH + "&x-product-name=Starter&api-key=12345678901"
                ),
            ),
            log={"ResponseCode": 200, "ProductId": "starter"},
        ),
    ),
    Case(
        "set-query-parameter-skip-keeps-the-callers",
        Setup(api=sample("product-query-parameter.xml")),
        Call(path=AZURE_CHAT + "&api-key=mine&debug=1", key="starter"),
        expect=Expect(
            a=(Sent(path_qs=BACKEND_PATH + "&api-key=mine&x-product-name=Starter"),)
        ),
    ),
    # The built-in all-access subscription belongs to no product.
    Case(
        "set-query-parameter-without-product",
        Setup(api=sample("product-query-parameter.xml")),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_expression_failure("set-query-parameter"),
        ),
    ),
    Case(
        "set-query-parameter-override-and-append",
        Setup(api=API_VERSION_OVERRIDE),
        Call(path=AZURE_CHAT + "&tag=a"),
        expect=Expect(
            a=(
                Sent(
                    path_qs="/openai/deployments/gpt-4o/chat/completions"
                    "?api-version=2025-01-01-preview&tag=a&tag=b&tag=c"
                ),
            )
        ),
    ),
    Case(
        "choose-on-user-agent-mobile",
        Setup(api=sample("mobile-user-agent.xml")),
        Call(headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"}),
        expect=Expect(a=(Sent(path_qs=BACKEND_PATH + "&mobile=true"),)),
    ),
    Case(
        "choose-on-user-agent-desktop",
        Setup(api=sample("mobile-user-agent.xml")),
        Call(headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}),
        expect=Expect(a=(Sent(path_qs=BACKEND_PATH + "&mobile=false"),)),
    ),
    # rewrite-uri: {deployment-id} from the matched operation; the query.
    Case(
        "rewrite-uri-copies-unmatched-params",
        Setup(api=REWRITE_WITH_QUERY),
        Call(path=AZURE_CHAT + "&extra=2"),
        expect=Expect(
            a=(
                Sent(
                    path_qs="/openai/deployments/gpt-4o/completions"
                    "?x=1&api-version=2024-10-21&extra=2"
                ),
            )
        ),
    ),
    Case(
        "rewrite-uri-without-unmatched-params",
        Setup(api=REWRITE_WITHOUT_UNMATCHED),
        Call(path=AZURE_CHAT + "&extra=2"),
        expect=Expect(a=(Sent(path_qs="/openai/deployments/gpt-4o/completions?x=1"),)),
    ),
    # Microsoft's sample: the second rewrite-uri wins and drops the query.
    Case(
        "rewrite-uri-sample",
        Setup(api=sample("rewrite-uri.xml")),
        expect=Expect(a=(Sent(path_qs="/openai/put"),)),
    ),
    Case(
        "set-method",
        Setup(api=policies("<base /><set-method>PUT</set-method>")),
        expect=Expect(a=(Sent(method="PUT"),)),
    ),
    # set-body from an expression over the request's JSON, kept readable.
    Case(
        "set-body-request-jobject",
        Setup(api=REQUEST_BODY),
        expect=Expect(a=(Sent(body={**CHAT, "max_tokens": 50, "user": "master"}),)),
    ),
    Case(
        "set-body-response-jobject",
        Setup(api=RESPONSE_BODY),
        expect=Expect(
            headers={"Content-Type": "application/json"},
            body=chat_body("changed").replace(
                b',"usage":{"prompt_tokens":12,"completion_tokens":5,'
                b'"total_tokens":17}',
                b"",
            ),
        ),
    ),
    # Microsoft's "filter response content" sample, for the Starter product.
    Case(
        "filter-response-body-for-starter",
        Setup(api=sample("filter-response-body.xml")),
        Call(key="starter"),
        a=(Reply([WEATHER], headers=JSON),),
        expect=Expect(body={"lat": 33.44}),
    ),
    Case(
        "filter-response-body-without-product",
        Setup(api=sample("filter-response-body.xml")),
        a=(Reply([WEATHER], headers=JSON),),
        expect=Expect(
            status=500,
            body=apim_error(500),
            log={
                **_expression_failure("choose", "outbound"),
                "BackendResponseCode": 200,
            },
        ),
    ),
    # Variables set in inbound and backend, read in outbound.
    Case(
        "variables-across-sections",
        Setup(api=VARIABLES),
        Call(headers={"x-tier": "premium"}, body={**CHAT, "model": "gpt-4o-mini"}),
        expect=Expect(
            headers={
                "x-tier": "premium",
                "x-model": "gpt-4o-mini",
                "x-attempted": "True",
            },
            a=(Sent(body={**CHAT, "model": "gpt-4o-mini"}),),
        ),
    ),
    Case(
        "variables-defaults",
        Setup(api=VARIABLES),
        expect=Expect(
            headers={"x-tier": "standard", "x-model": "none", "x-attempted": "True"}
        ),
    ),
    # The sample times the call across sections and sets the method.
    Case(
        "variables-timing-sample",
        Setup(api=sample("variables-across-sections.xml")),
        expect=Expect(headers={"x-elapsed-ms": re.compile(r"\d+")}),
    ),
    # trace writes to the request's trace only: nothing changes.
    Case(
        "trace-has-no-effect",
        Setup(api=sample("trace-message.xml")),
        expect=Expect(headers={"Content-Type": "application/json"}),
    ),
    # Fragments: the request id unless the caller sent one; headers stripped.
    Case(
        "fragments-add-request-id",
        Setup(api=FRAGMENTS, fragments=True),
        a=(Reply([ANSWER], headers=(*JSON, ("x-powered-by", "ASP.NET"))),),
        expect=Expect(
            headers={"x-powered-by": None},
            a=(Sent(headers={"x-request-id": ACTIVITY}),),
        ),
    ),
    Case(
        "fragments-keep-the-callers-request-id",
        Setup(api=FRAGMENTS, fragments=True),
        Call(headers={"x-request-id": "caller-7"}),
        expect=Expect(a=(Sent(headers={"x-request-id": "caller-7"}),)),
    ),
    # A failure inside a fragment is the failing policy's, at the including
    # document's scope (the fragment reads context.User).
    Case(
        "fragment-expression-failure",
        Setup(api=sample("with-fragments.xml"), fragments=True),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_expression_failure("set-header"),
        ),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_policy(harness: Harness, case: Case) -> None:
    harness.run(case)
