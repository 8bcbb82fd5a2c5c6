"""What the gateway knows about one request while it runs, for its log rows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import GatewayError
from .llm import LlmResult
from .routing import Route
from .subscriptions import Subscription

if TYPE_CHECKING:
    from .console import Ticket
    from .policy.engine import TraceStep


@dataclass(slots=True)
class Exchange:
    """One request through the pipeline: filled in step by step, then logged."""

    correlation_id: str
    method: str
    url: str
    caller_ip: str
    client_headers: list[tuple[str, str]]
    protocol: str
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)

    # Matching and the subscription check.
    route: Route | None = None
    subscription: Subscription | None = None
    key_source: str | None = None
    # The key itself, for ``context.Subscription.Key``; no log row has it.
    subscription_key: str = field(default="", repr=False)
    # The API's diagnostics ``body_bytes``: how much of each body the gateway
    # log keeps (0, the default: none, and nothing is copied).
    body_bytes: int = 0

    # The request.
    request_size: int = 0
    request_json: Any = None
    api_version: str | None = None
    deployment: str | None = None
    stream: bool = False
    injected_usage: bool = False
    # The first ``body_bytes`` bytes of the client's body.
    request_body: bytes | None = field(default=None, repr=False)

    # The backend exchange.
    backend_id: str | None = None
    backend_url: str | None = None
    backend_method: str | None = None
    backend_status: int | None = None
    backend_request_id: str | None = None
    backend_region: str | None = None
    backend_started: float | None = None
    backend_timeout: float | None = None  # a forward-request policy's
    backend_ended: float | None = None

    # The response.
    status: int = 0
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_size: int = 0
    first_byte: float | None = None
    error_body: str | None = None
    # The first ``body_bytes`` bytes of the body the client got, as text
    # would read them (decoded when the backend compressed it), or None.
    response_body: bytes | None = field(default=None, repr=False)

    # What went wrong, if anything.
    error: GatewayError | None = None
    error_kind: str | None = None
    error_message: str | None = None
    client_disconnected: bool = False

    # The LLM call.
    llm: LlmResult | None = None

    # The policies' steps, and the test console's ticket when it sent this.
    policy_trace: list[TraceStep] | None = None
    console: Ticket | None = None

    def elapsed_ms(self, until: float | None = None) -> float:
        end = time.perf_counter() if until is None else until
        return round((end - self.started) * 1000.0, 3)
