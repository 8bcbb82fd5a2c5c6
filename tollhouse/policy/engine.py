"""Running an effective policy document over one request.

The pipeline calls `PolicyRun.run_section` for inbound, backend and outbound
in turn, and `PolicyRun.run_on_error` when anything fails: a built-in step
(the subscription check, say), a policy's refusal (``ip-filter``) or a
failing expression.  As in APIM, the failure is first recorded in
``context.LastError`` and ``context.Response`` becomes the error's own
response (its status and APIM body), then on-error runs; when it does not
return a response itself, the client gets ``context.Response`` as on-error
left it.

Policies act on the request's `PolicyContext`.  What they cannot express
there is kept on the run: the backend the request goes to, whether its URL
was rewritten, and the response a ``return-response`` built, which ends
the pipeline.  The policies themselves live in `tollhouse.policy.policies`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from typing import TYPE_CHECKING

from ..errors import ExpressionError, GatewayError, PolicyFailure
from .catalogue import FINAL_STATUSES
from .context import Body, LastError, PolicyContext, Response
from .document import Document, Element, Section, Value
from .expressions import to_text

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)


class Flow(Enum):
    """What happens after a policy ran."""

    NEXT = "next"  # go on with the next policy
    RETURN = "return"  # a response is ready: skip the rest of the pipeline


Handler = Callable[["PolicyRun", Element], Awaitable[Flow]]
"""Runs one policy element."""

Forward = Callable[["PolicyRun", float | None], Awaitable[None]]
"""Sends the request as the context holds it; sets ``context.Response``."""


@dataclass(slots=True)
class Target:
    """Where forward-request sends the request.

    ``backend`` names a configured backend, whose timeouts apply and, unless
    ``credentials`` is False (``set-backend-service base-url``), whose
    credentials are added.  ``base`` is the URL the request path is relative
    to.  Until ``rewritten`` the request goes to ``url``, which the gateway
    computed from the client's (its query forwarded byte for byte); after a
    policy changed the path, query or base, to ``context.Request.Url``.
    """

    backend: str
    base: str
    url: str = ""
    credentials: bool = True
    rewritten: bool = False
    path_rewritten: bool = False


TokenSource = Callable[[str, "str | None"], Awaitable[str]]
"""An Entra ID access token for (resource, managed identity client id)."""


@dataclass(frozen=True)
class Services:
    """What policies reach outside the request: backends, tokens, the clock."""

    backend_urls: Mapping[str, str] = field(default_factory=dict)
    token: TokenSource | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    max_retry_wait: float = 30.0


@dataclass(slots=True)
class TraceStep:
    """One entry of the request's policy trace."""

    section: str
    scope: str  # of the document the policy is in
    policy_id: str
    outcome: str


@dataclass
class PolicyRun:
    """One request's way through its effective policy document."""

    document: Document
    context: PolicyContext
    target: Target
    forward: Forward
    handlers: Mapping[str, Handler]
    services: Services = field(default_factory=Services)
    url_for: Callable[[str], str] | None = None  # a backend's URL for this request
    original_body: Body | None = None  # the client's, until a policy replaces it
    # The client's credential headers (lower-case names), and the request
    # headers a policy set: see `withheld_credentials`.
    client_credentials: Mapping[str, list[str]] = field(default_factory=dict)
    headers_set: set[str] = field(default_factory=set)
    section: Section = Section.INBOUND
    building: Response | None = None  # inside a return-response
    returned: Response | None = None
    forwarded: bool = False
    trace: list[TraceStep] = field(default_factory=list)
    response_headers: list[tuple[str, str]] = field(default_factory=list)

    def withheld_credentials(self) -> list[str]:
        """The client's credential headers that stay out of the backend request.

        Policies see every header the client sent, its key and
        ``Authorization`` included; the backend gets none of those unless a
        policy set the header (``set-header``) or changed its value
        (``authentication-managed-identity``).
        """
        headers = self.context.request.headers
        return [
            name
            for name, values in self.client_credentials.items()
            if name not in self.headers_set and headers.get_all(name) == values
        ]

    async def run_section(self, section: Section) -> Flow:
        """Run one section; `Flow.RETURN` once a response is ready.

        A policy's failure propagates as `PolicyFailure` (or the
        `GatewayError` a forwarded request raised); call `run_on_error`.
        """
        self.section = section
        return await self.run_elements(self.document.section(section))

    async def run_elements(self, elements: Sequence[Element]) -> Flow:
        for element in elements:
            if await self.run_element(element) is Flow.RETURN:
                return Flow.RETURN
        return Flow.NEXT

    async def run_element(self, element: Element) -> Flow:
        handler = self.handlers[element.name]
        try:
            flow = await handler(self, element)
        except PolicyFailure as failure:
            _place(failure, self, element)
            self.note(element, f"failed: {failure.reason}")
            raise
        except GatewayError:
            self.note(element, "failed")
            raise
        self.note(element, flow.value)
        return flow

    async def run_on_error(
        self, error: GatewayError, response: Response | None = None
    ) -> bool:
        """Record ``error`` in ``context.LastError`` and run on-error.

        ``response`` is the error's own response (APIM's body for it), which
        on-error then sees and changes in ``context.Response``; without it
        the response keeps its headers and body and takes the error's status.
        True when on-error answered (a ``return-response``, say); the
        caller then sends `returned`, otherwise ``context.Response``.  An
        error inside on-error ends it; the first error is kept.
        """
        self.context.last_error = last_error(error)
        if response is not None:
            self.context.response = response
        else:
            self.context.response.status_code = error.status
            self.context.response.status_reason = reason_phrase(error.status)
        self.section = Section.ON_ERROR
        try:
            flow = await self.run_elements(self.document.section(Section.ON_ERROR))
        except GatewayError as second:
            logger.warning(
                "on-error failed too (%s: %s)", second.reason, second.message
            )
            return False
        return flow is Flow.RETURN or self.returned is not None

    def note(self, element: Element, outcome: str) -> None:
        step = TraceStep(
            self.section.value, element.scope.value, element.policy_id, outcome
        )
        self.trace.append(step)

    # Values ----------------------------------------------------------------

    def evaluate(self, element: Element, value: Value) -> object:
        """The value of an attribute or text: its constant or its expression's."""
        if value.expression is None:
            return value.parsed if value.parsed is not None else value.text
        try:
            return value.expression.evaluate(self.context)
        except ExpressionError as exc:
            raise expression_failure(element, str(exc)) from exc

    def text(self, element: Element, value: Value | None) -> str:
        """A value as text, as C#'s ``ToString()`` prints it."""
        if value is None:
            return ""
        result = self.evaluate(element, value)
        return result if isinstance(result, str) else to_text(result)

    def attribute_text(self, element: Element, name: str, default: str = "") -> str:
        value = element.attribute(name)
        return default if value is None else self.text(element, value)

    def flag(self, element: Element, name: str, default: bool = False) -> bool:
        value = element.attribute(name)
        if value is None:
            return default
        result = self.evaluate(element, value)
        if isinstance(result, bool):
            return result
        text = to_text(result).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise expression_failure(element, f"{name} must be true or false, got {text!r}")

    def number(self, element: Element, name: str, default: float = 0.0) -> float:
        value = element.attribute(name)
        if value is None:
            return default
        result = self.evaluate(element, value)
        try:
            return float(result if isinstance(result, int | float) else to_text(result))
        except ValueError:
            raise expression_failure(
                element, f"{name} must be a number, got {to_text(result)!r}"
            ) from None

    def status_code(self, element: Element, name: str, default: int = 200) -> int:
        """A status the client may get: a whole number from 200 to 599.

        A 1xx is an interim answer: sent as the final one, it would leave the
        client waiting for another.
        """
        number = self.number(element, name, default)
        if number.is_integer() and int(number) in FINAL_STATUSES:
            return int(number)
        shown = int(number) if number.is_integer() else number
        raise expression_failure(
            element,
            f"{name} must be an HTTP status code from {FINAL_STATUSES[0]} to "
            f"{FINAL_STATUSES[-1]}, got {shown}",
        )


def expression_failure(element: Element, detail: str) -> PolicyFailure:
    """APIM's error for an expression that failed while a policy ran."""
    return PolicyFailure(
        f"Expression evaluation failed. {detail}",
        status=500,
        reason="ExpressionValueEvaluationFailure",
        source=element.name,
    )


def last_error(error: GatewayError) -> LastError:
    """``context.LastError`` for ``error``."""
    if isinstance(error, PolicyFailure):
        return LastError(
            source=error.source,
            reason=error.reason,
            message=error.message,
            scope=error.scope,
            section=error.section,
            path=error.path,
            policy_id=error.policy_id,
        )
    return LastError(
        source=error.source,
        reason=error.reason,
        message=error.message,
        scope=error.scope,
        section=error.section,
    )


def _place(failure: PolicyFailure, run: PolicyRun, element: Element) -> None:
    # The innermost policy that failed places the error; a choose or retry
    # around it passes it on untouched.  The source is that policy, not the
    # part (a <value>, a <when>) whose expression failed.
    if failure.scope:
        return
    failure.source = element.name
    failure.scope = element.scope.value
    failure.section = run.section.value
    failure.path = element.path
    failure.policy_id = _customer_id(element) or element.policy_id


def _customer_id(element: Element) -> str:
    value = element.attribute("id")
    return value.text if value is not None else ""


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
