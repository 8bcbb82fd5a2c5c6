"""How long a running query may still take.

One `Deadline` per query: SQLite calls it as its progress handler, and the
functions SQLite calls back into Python for (regular expressions, ``has``)
take their time limit from it.  Either way, running out marks it `passed`,
which is how the runner tells a query stopped for time from one that failed.
"""

from __future__ import annotations

import time


class Deadline:
    """The instant a query must stop by, ``timeout`` seconds from now."""

    def __init__(self, timeout: float) -> None:
        self._at = time.monotonic() + timeout
        self.passed = False

    def remaining(self) -> float:
        """Seconds left; zero or less once the time is up."""
        return self._at - time.monotonic()

    def expire(self) -> None:
        """Mark the time as up: a function ran out of it."""
        self.passed = True

    def __call__(self) -> int:
        """SQLite's progress handler: non-zero stops the statement."""
        if not self.passed:
            self.passed = self.remaining() <= 0
        return int(self.passed)
