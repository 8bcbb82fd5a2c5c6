"""Correlation ids: GUIDs that sort by time (UUID version 7, RFC 9562).

APIM's `CorrelationId` is a GUID.  A time-ordered one keeps the log
tables' unique indexes append-only: a random (version 4) id lands on a
random index page, which makes each insert slower as the log grows.  The ids
only have to be unique, not secret, so their random bits come from the
fast generator rather than from the operating system.
"""

from __future__ import annotations

import random
import time

_RAND_A_BITS = 12
_RAND_B_BITS = 62


def new_correlation_id() -> str:
    """A new UUID version 7 as the usual 36-character string."""
    millis = time.time_ns() // 1_000_000
    rand_a = random.getrandbits(_RAND_A_BITS)
    rand_b = random.getrandbits(_RAND_B_BITS)
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | rand_a << 64
    value |= 0b10 << 62 | rand_b
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
