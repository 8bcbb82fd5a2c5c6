"""Values policies put on the wire are checked at the policy, through the gateway.

A status code outside 200-599, a reason phrase or header value holding a
control character, and a header name that is not a token fail the policy
that sets them, as an expression giving a value of the wrong kind does
(``ExpressionValueEvaluationFailure``): on-error runs, and without it the
client gets APIM's 500.  Nothing reaches aiohttp that it would refuse while
sending, so the client always gets an answer and the log row says why.
Each row is one document, one request, the backend's replies and the exact
effect; see `tests.policy.policy_cases`.
"""

from __future__ import annotations

import pytest

from tests.policy.policy_cases import (
    BACKEND_PATH,
    Call,
    Case,
    Expect,
    Harness,
    Sent,
    Setup,
    apim_error,
    params,
    policies,
)
from tests.support import AZURE_CHAT

FAILED = "Expression evaluation failed. "
FORBIDDEN = "a control character HTTP does not allow"


def _failed(
    source: str, message: str, section: str = "inbound", backend: int | None = None
) -> dict[str, object]:
    return {
        "ResponseCode": 500,
        "IsRequestSuccess": 0,
        "LastErrorSource": source,
        "LastErrorReason": "ExpressionValueEvaluationFailure",
        "LastErrorMessage": FAILED + message,
        "LastErrorSection": section,
        "LastErrorScope": "api",
        "BackendResponseCode": backend,
    }


def _header(name: str, value: str) -> str:
    return (
        f'<set-header name="{name}" exists-action="override">'
        f"<value>{value}</value></set-header>"
    )


def _returned(code: str, reason: str = "x") -> str:
    return policies(
        f'<return-response><set-status code="{code}" reason="{reason}" />'
        "</return-response>"
    )


def _status_case(code: int) -> Case:
    return Case(
        f"return-response-status-{code}",
        Setup(api=_returned(f"@({code})")),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_failed(
                "set-status",
                f"code must be an HTTP status code from 200 to 599, got {code}",
            ),
        ),
    )


def _inbound_refused(name: str, header: str, value: str, codepoint: str) -> Case:
    """A header value bound for the backend that HTTP refuses: never sent."""
    return Case(
        f"inbound-header-value-with-{name}",
        Setup(api=policies("<base />" + _header(header, value))),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_failed(
                "set-header",
                f"the value of header '{header}' holds {FORBIDDEN} (U+{codepoint})",
            ),
        ),
    )


INJECTED = '@("a\\r\\nInjected: 1")'
ON_ERROR_ANSWERS = policies(
    '<return-response><set-status code="@(1000)" reason="x" /></return-response>',
    on_error='<return-response><set-status code="418" '
    'reason="@(context.LastError.Reason)" /></return-response>',
)
ON_ERROR_KEEPS_RESPONSE = policies(
    outbound="<base />" + _header("X-A", INJECTED),
    on_error="<base />" + _header("x-error", "@(context.LastError.Source)"),
)
CORS_MAX_AGE = policies(
    "<cors><allowed-origins><origin>https://app.example.com</origin>"
    "</allowed-origins>"
    '<allowed-methods preflight-result-max-age="@(&quot;300\\r\\nX: 1&quot;)">'
    "<method>POST</method></allowed-methods>"
    "<allowed-headers><header>*</header></allowed-headers></cors><base />"
)
PREFLIGHT = {
    "Origin": "https://app.example.com",
    "Access-Control-Request-Method": "POST",
}
REWRITE = policies(
    "<base /><rewrite-uri "
    'template="@(&quot;/deployments/{deployment-id}/a b/caf\u00e9&quot;)" />'
)
CHECK_HEADER_STATUS = policies(
    '<check-header name="x-needed" failed-check-httpcode="@(101)" '
    'failed-check-error-message="missing" ignore-case="true" />'
)


CASES = [
    # The tester's case: the client got no answer and the log said 200.
    Case(
        "outbound-header-value-with-crlf",
        Setup(api=policies(outbound="<base />" + _header("X-A", INJECTED))),
        expect=Expect(
            status=500,
            headers={"X-A": None, "Injected": None},
            body=apim_error(500),
            log=_failed(
                "set-header",
                f"the value of header 'X-A' holds {FORBIDDEN} (U+000D)",
                section="outbound",
                backend=200,
            ),
        ),
    ),
    # Going to the backend: it is never called.
    _inbound_refused("lf", "X-B", '@("a\\nb")', "000A"),
    _inbound_refused("nul", "X-C", '@("a" + (char)0)', "0000"),
    _inbound_refused("del", "X-D", '@("a\\u007Fb")', "007F"),
    # A tab is allowed inside a value.
    Case(
        "inbound-header-value-with-tab",
        Setup(api=policies("<base />" + _header("X-E", '@("a\\tb")'))),
        expect=Expect(a=(Sent(headers={"X-E": "a\tb"}),)),
    ),
    Case(
        "header-name-from-expression-with-crlf",
        Setup(api=policies("<base />" + _header('@("X-F\\r\\nG")', "v"))),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_failed("set-header", "'X-F\\r\\nG' is not a header name"),
        ),
    ),
    Case(
        "return-response-header-value-with-crlf",
        Setup(
            api=policies(
                "<return-response>" + _header("X-G", INJECTED) + "</return-response>"
            )
        ),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_failed(
                "set-header", f"the value of header 'X-G' holds {FORBIDDEN} (U+000D)"
            ),
        ),
    ),
    # Statuses: the wire showed "HTTP/1.1 1000 x"; a 101 left the client
    # waiting.  1xx are not final statuses a gateway may answer with.
    *(_status_case(code) for code in (1000, -5, 99, 101, 199)),
    Case(
        "return-response-status-599",
        Setup(api=_returned("@(599)")),
        a=(),
        expect=Expect(status=599, body=b"", a=()),
    ),
    Case(
        "return-response-status-not-whole",
        Setup(api=_returned('@("404.5")')),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_failed(
                "set-status",
                "code must be an HTTP status code from 200 to 599, got 404.5",
            ),
        ),
    ),
    Case(
        "outbound-status-1000",
        Setup(
            api=policies(outbound='<base /><set-status code="@(1000)" reason="x" />')
        ),
        expect=Expect(
            status=500,
            body=apim_error(500),
            log=_failed(
                "set-status",
                "code must be an HTTP status code from 200 to 599, got 1000",
                section="outbound",
                backend=200,
            ),
        ),
    ),
    Case(
        "reason-with-crlf",
        Setup(api=_returned("@(200)", '@("OK\\r\\nInjected: 1")')),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_failed("set-status", f"reason holds {FORBIDDEN} (U+000D)"),
        ),
    ),
    # on-error runs for these failures like for any other.
    Case(
        "on-error-answers-a-bad-status",
        Setup(api=ON_ERROR_ANSWERS),
        a=(),
        expect=Expect(
            status=418,
            body=b"",
            a=(),
            log={
                **_failed(
                    "set-status",
                    "code must be an HTTP status code from 200 to 599, got 1000",
                ),
                "ResponseCode": 418,
            },
        ),
    ),
    Case(
        "on-error-sees-a-bad-header",
        Setup(api=ON_ERROR_KEEPS_RESPONSE),
        expect=Expect(
            status=500,
            headers={"X-A": None, "x-error": "set-header"},
            body=apim_error(500),
            log=_failed(
                "set-header",
                f"the value of header 'X-A' holds {FORBIDDEN} (U+000D)",
                section="outbound",
                backend=200,
            ),
        ),
    ),
    Case(
        "check-header-status-101",
        Setup(api=CHECK_HEADER_STATUS),
        a=(),
        expect=Expect(
            status=500,
            body=apim_error(500),
            a=(),
            log=_failed(
                "check-header",
                "failed-check-httpcode must be an HTTP status code from 200 to "
                "599, got 101",
            ),
        ),
    ),
    # A preflight's Max-Age from an expression, as any header value.
    Case(
        "cors-max-age-with-crlf",
        Setup(api=CORS_MAX_AGE),
        Call(method="OPTIONS", headers=PREFLIGHT, body=None, key=None),
        a=(),
        expect=Expect(
            status=500,
            headers={"Access-Control-Max-Age": None, "X": None},
            body=apim_error(500),
            a=(),
            log=_failed("cors", f"preflight-result-max-age holds {FORBIDDEN} (U+000D)"),
        ),
    ),
    # A path a policy writes is escaped as sent: the backend's request line
    # held "a b" as it was, and the backend refused it.
    Case(
        "rewrite-uri-path-with-space",
        Setup(api=REWRITE),
        expect=Expect(
            a=(
                Sent(
                    path_qs="/openai/deployments/gpt-4o/a%20b/caf%C3%A9"
                    "?api-version=2024-10-21"
                ),
            )
        ),
    ),
    # Query values are percent-encoded: a line break cannot break the URL.
    Case(
        "query-parameter-with-crlf",
        Setup(
            api=policies(
                '<base /><set-query-parameter name="q" exists-action="override">'
                '<value>@("a\\r\\nb c")</value></set-query-parameter>'
            )
        ),
        Call(path=AZURE_CHAT),
        expect=Expect(a=(Sent(path_qs=BACKEND_PATH + "&q=a%0D%0Ab%20c"),)),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_policy(harness: Harness, case: Case) -> None:
    harness.run(case)
