"""Tickets of the test console: a dashboard request sent as a chosen subscription.

The dashboard's Test console sends its request to the gateway's own listener
over loopback, so it runs the whole pipeline (route, subscription check,
policies, backend, log rows) exactly as a client's would.  Keys are stored
only as hashes, so the console cannot present the chosen subscription's key;
it presents a ticket in the `HEADER` header instead.

A ticket is 32 random bytes, good for one request within `TICKET_SECONDS`
of being issued, and names the subscription the request is sent as (or
none, to send only the headers the operator typed).  The pipeline claims it
when the request arrives; it then stands for that subscription's key, whose
state and scope are checked as for a key.  Once the request is logged, the
ticket hands back what happened: the correlation id and the steps taken,
each policy among them.  The header is a credential like a key: it is never
logged and never reaches a backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exchange import Exchange

logger = logging.getLogger(__name__)

#: The request header that carries a ticket.
HEADER = "X-Tollhouse-Console"
#: What the log's ``SubscriptionKeySource`` says of a request sent with one.
KEY_SOURCE = f"header:{HEADER.lower()}"
#: Seconds a ticket waits for its request.
TICKET_SECONDS = 30.0
#: Most tickets waiting at once; the oldest goes when a new one needs room.
MAX_TICKETS = 64


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One step of a console request: where it was and what came of it."""

    step: str  # route, subscription, inbound, backend, outbound, on-error, ...
    scope: str  # the policy's document scope, or "" for the gateway's own steps
    name: str  # a policy id, or what the gateway did
    outcome: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a console request, once it was logged."""

    correlation_id: str
    status: int
    elapsed_ms: float
    trace: tuple[TraceEntry, ...]
    error: str | None = None


@dataclass(eq=False)
class Ticket:
    """One console request on its way: whom it is sent as, and how it ended."""

    subscription_id: str | None
    expires: float
    done: asyncio.Future[Outcome] = field(repr=False)

    def finish(self, exchange: Exchange) -> None:
        """Hand back what ``exchange`` says happened (once; later calls do nothing)."""
        if not self.done.done():
            self.done.set_result(outcome(exchange))


class ConsoleTickets:
    """The tickets issued and not yet claimed, by the hash of their text.

    One object, shared by the dashboard that issues tickets and the pipeline
    that claims them.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._waiting: dict[str, Ticket] = {}

    def issue(self, subscription_id: str | None) -> tuple[str, Ticket]:
        """A new ticket for a request sent as ``subscription_id``; its text too."""
        self._forget_expired()
        while len(self._waiting) >= MAX_TICKETS:
            del self._waiting[next(iter(self._waiting))]
        text = secrets.token_urlsafe(32)
        ticket = Ticket(
            subscription_id,
            self._clock() + TICKET_SECONDS,
            asyncio.get_running_loop().create_future(),
        )
        self._waiting[_digest(text)] = ticket
        return text, ticket

    def claim(self, text: str) -> Ticket | None:
        """The ticket ``text`` names, now used up; None if none or expired."""
        ticket = self._waiting.pop(_digest(text), None)
        if ticket is None or ticket.expires <= self._clock():
            return None
        return ticket

    def withdraw(self, text: str) -> None:
        """Forget ``text`` unclaimed (its request never reached the gateway)."""
        self._waiting.pop(_digest(text), None)

    def __len__(self) -> int:
        return len(self._waiting)

    def _forget_expired(self) -> None:
        now = self._clock()
        for text, ticket in list(self._waiting.items()):
            if ticket.expires <= now:
                del self._waiting[text]


def outcome(exchange: Exchange) -> Outcome:
    """The console's account of ``exchange``: its steps in the order taken."""
    policies = [
        TraceEntry(step.section, step.scope, step.policy_id, step.outcome)
        for step in exchange.policy_trace or ()
    ]
    # The backend answered between the backend section and the outbound one.
    after = next(
        (i for i, e in enumerate(policies) if e.step in ("outbound", "on-error")),
        len(policies),
    )
    trace = [
        *_arrival(exchange),
        *policies[:after],
        *_backend(exchange),
        *policies[after:],
    ]
    error = exchange.error
    message = None if error is None else f"{error.reason}: {error.message}"
    trace.append(TraceEntry("response", "", str(exchange.status), message or "sent"))
    return Outcome(
        exchange.correlation_id,
        exchange.status,
        exchange.elapsed_ms(),
        tuple(trace),
        message,
    )


def _arrival(exchange: Exchange) -> list[TraceEntry]:
    route = exchange.route
    if route is None:
        return [TraceEntry("route", "", exchange.url, "no API or operation matches")]
    entries = [
        TraceEntry("route", "", f"{route.api_id} / {route.operation.id}", "matched")
    ]
    subscription = exchange.subscription
    if subscription is not None:
        how = "the console's ticket" if exchange.key_source == KEY_SOURCE else "a key"
        entries.append(
            TraceEntry(
                "subscription", "", subscription.id, f"{subscription.state}, by {how}"
            )
        )
    elif route.api.subscription_required:
        entries.append(TraceEntry("subscription", "", "-", "refused"))
    else:
        entries.append(TraceEntry("subscription", "", "-", "not required"))
    return entries


def _backend(exchange: Exchange) -> list[TraceEntry]:
    if exchange.backend_url is None:
        return []
    if exchange.backend_status is not None:
        answer = f"answered {exchange.backend_status}"
    else:
        answer = exchange.error_kind or "no answer"
    if exchange.backend_started is not None and exchange.backend_ended is not None:
        took = (exchange.backend_ended - exchange.backend_started) * 1000.0
        answer += f" in {took:.0f} ms"
    method = exchange.backend_method or exchange.method
    target = f"{method} {exchange.backend_url}"
    return [TraceEntry("backend", "", target, answer)]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
