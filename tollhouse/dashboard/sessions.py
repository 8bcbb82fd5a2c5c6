"""Dashboard sessions: who logged in with the admin key, until when.

A session id is 32 random bytes, sent to the browser once in the session
cookie; the server keeps only its SHA-256, so a memory dump or a log line
cannot be replayed as a cookie.  Sessions live in memory: a restarted
gateway logs everyone out.  A session ends after `IDLE` seconds without a
request, `LIFETIME` seconds after login whatever happens, on logout, and
when the admin key it was opened with is regenerated.

Each session holds a CSRF token that every state-changing request must echo
(a hidden form field or the ``X-CSRF-Token`` header htmx sends).

`LoginThrottle` counts wrong admin keys by address: after `MAX_FAILURES`
within `FAILURE_WINDOW` seconds, that address's logins are refused until the
oldest failure leaves the window, whatever key they carry.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Seconds a session lasts after login, however busy.
LIFETIME = 8 * 3600.0
#: Seconds a session lasts without a request.
IDLE = 3600.0
#: Most sessions kept at once; the oldest goes first when a login needs room.
MAX_SESSIONS = 1000
#: Wrong admin keys one address may send within `FAILURE_WINDOW` seconds.
MAX_FAILURES = 10
FAILURE_WINDOW = 300.0
#: Most addresses whose failures are remembered; the oldest goes first.
MAX_ADDRESSES = 10_000


@dataclass
class Session:
    """One logged-in browser."""

    csrf_token: str
    key_digest: str
    started: float
    last_seen: float


class Sessions:
    """The open sessions, by the hash of their id."""

    def __init__(
        self,
        *,
        lifetime: float = LIFETIME,
        idle: float = IDLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.idle = idle
        self.clock = clock
        self._open: dict[str, Session] = {}

    def open(self, admin_key: str) -> tuple[str, Session]:
        """A new session for someone who gave ``admin_key``; its id and itself."""
        self._forget_expired()
        while len(self._open) >= MAX_SESSIONS:
            del self._open[next(iter(self._open))]
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), _digest(admin_key), now, now)
        self._open[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str, admin_key: str) -> Session | None:
        """The live session of ``session_id``, or None; it counts as a request.

        ``admin_key`` is the current admin key: a session opened with an
        older one has ended.
        """
        hashed = _digest(session_id)
        session = self._open.get(hashed)
        if session is None:
            return None
        now = self.clock()
        ended = (
            now - session.started >= self.lifetime
            or now - session.last_seen >= self.idle
            or not hmac.compare_digest(session.key_digest, _digest(admin_key))
        )
        if ended:
            del self._open[hashed]
            return None
        session.last_seen = now
        return session

    def close(self, session_id: str) -> None:
        """End ``session_id``'s session, if it is open."""
        self._open.pop(_digest(session_id), None)

    def __len__(self) -> int:
        return len(self._open)

    def _forget_expired(self) -> None:
        now = self.clock()
        for hashed, session in list(self._open.items()):
            if (
                now - session.started >= self.lifetime
                or now - session.last_seen >= self.idle
            ):
                del self._open[hashed]


class LoginThrottle:
    """Recent wrong logins by address, and how long an address must wait."""

    def __init__(
        self,
        *,
        limit: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def wait(self, address: str) -> float:
        """Seconds ``address`` must wait before its next login; 0 for none."""
        recent = self._recent(address)
        if len(recent) < self.limit:
            return 0.0
        return recent[0] + self.window - self.clock()

    def failed(self, address: str) -> None:
        """Count a wrong admin key from ``address``."""
        recent = self._recent(address)
        if not recent:
            while len(self._failures) >= MAX_ADDRESSES:
                del self._failures[next(iter(self._failures))]
            self._failures[address] = recent
        recent.append(self.clock())
        if len(recent) > self.limit:
            recent.popleft()

    def succeeded(self, address: str) -> None:
        """Forget ``address``'s failures: it knows the key."""
        self._failures.pop(address, None)

    def _recent(self, address: str) -> deque[float]:
        recent = self._failures.get(address, deque())
        horizon = self.clock() - self.window
        while recent and recent[0] <= horizon:
            recent.popleft()
        if not recent:
            self._failures.pop(address, None)
        return recent


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
