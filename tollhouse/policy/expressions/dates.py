"""DateTime, TimeSpan and Guid text the way .NET writes and reads it.

A C# ``DateTime`` is a Python `datetime`: aware (UTC) for
``DateTimeKind.Utc``, naive otherwise (local times are kept as naive
values).  Formatting uses .NET's invariant culture, so ``ToString()`` is
``01/02/2024 15:04:05`` and ``ToString("o")`` is
``2024-01-02T15:04:05.0000000Z``.  ``DateTime.Parse`` reads ISO 8601, the
invariant ``MM/dd/yyyy HH:mm:ss`` form and RFC 1123; a time with an offset
is returned in UTC (.NET would convert it to the server's local time, which
is UTC on APIM's gateways).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from .runtime import fail

EPOCH = datetime(1, 1, 1)
TICKS_PER_SECOND = 10_000_000

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_STANDARD = {
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "f": "dddd, dd MMMM yyyy HH:mm",
    "F": "dddd, dd MMMM yyyy HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "m": "MMMM dd",
    "M": "MMMM dd",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "U": "dddd, dd MMMM yyyy HH:mm:ss",
    "y": "yyyy MMMM",
    "Y": "yyyy MMMM",
}
_RUN = re.compile(
    r"(d+|f+|F+|g+|h+|H+|K|m+|M+|s+|t+|y+|z+|'[^']*'?|\"[^\"]*\"?|\\.|%|.)", re.S
)
_INVARIANT = re.compile(
    r"\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?\s*\Z"
)


def naive(value: datetime) -> datetime:
    """The wall-clock reading, which is what .NET compares and subtracts."""
    return value.replace(tzinfo=None)


def ticks(value: datetime) -> int:
    """``DateTime.Ticks``: 100-nanosecond intervals since 0001-01-01."""
    delta = naive(value) - EPOCH
    return (
        delta.days * 86400 + delta.seconds
    ) * TICKS_PER_SECOND + delta.microseconds * 10


def timespan_ticks(value: timedelta) -> int:
    """``TimeSpan.Ticks``."""
    return (
        value.days * 86400 + value.seconds
    ) * TICKS_PER_SECOND + value.microseconds * 10


def format_datetime(value: datetime, spec: str = "") -> str:
    """``DateTime.ToString(spec)`` in the invariant culture."""
    if not spec:
        spec = "G"
    if len(spec) == 1:
        if spec not in _STANDARD:
            fail(f"Input string '{spec}' was not in a correct format.")
        if spec in "rRuU" and value.tzinfo is not None:
            value = value.astimezone(UTC)
        spec = _STANDARD[spec]
    out: list[str] = []
    for run in _RUN.findall(spec):
        part = _datetime_part(value, run)
        if run[0] == "F" and not part and out and out[-1] == ".":
            out.pop()
        out.append(part)
    return "".join(out)


def _datetime_part(value: datetime, run: str) -> str:
    head, size = run[0], len(run)
    if head in "'\"":
        return run[1:-1] if run.endswith(head) and size > 1 else run[1:]
    if head == "\\":
        return run[1:]
    if head == "%":
        return ""
    if head in "fF":
        digits = f"{value.microsecond:06d}0"[: min(size, 7)]
        return digits.rstrip("0") if head == "F" else digits
    simple = _SIMPLE.get(head)
    if simple is not None:
        return simple(value, size)
    return run


def _year(value: datetime, size: int) -> str:
    if size <= 2:
        return str(value.year % 100).rjust(size, "0")
    return str(value.year).rjust(size, "0")


def _month(value: datetime, size: int) -> str:
    if size >= 3:
        name = _MONTHS[value.month - 1]
        return name if size > 3 else name[:3]
    return str(value.month).rjust(size, "0")


def _day(value: datetime, size: int) -> str:
    if size >= 3:
        name = _DAYS[value.weekday()]
        return name if size > 3 else name[:3]
    return str(value.day).rjust(size, "0")


def _zone(value: datetime, size: int) -> str:
    offset = value.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    if size == 1:
        return f"{sign}{hours}"
    return f"{sign}{hours:02d}" + (f":{rest:02d}" if size >= 3 else "")


_SIMPLE = {
    "y": _year,
    "M": _month,
    "d": _day,
    "H": lambda v, n: str(v.hour).rjust(min(n, 2), "0"),
    "h": lambda v, n: str(v.hour % 12 or 12).rjust(min(n, 2), "0"),
    "m": lambda v, n: str(v.minute).rjust(min(n, 2), "0"),
    "s": lambda v, n: str(v.second).rjust(min(n, 2), "0"),
    "t": lambda v, n: ("AM" if v.hour < 12 else "PM")[:n],
    "g": lambda v, n: "A.D.",
    "K": lambda v, n: (
        ""
        if v.tzinfo is None
        else ("Z" if v.utcoffset() == timedelta(0) else _zone(v, 3))
    ),
    "z": _zone,
}


def parse_datetime(text: object) -> datetime:
    """``DateTime.Parse`` for the forms policies meet in practice."""
    if text is None:
        fail("String reference not set to an instance of a String. (Parameter 's')")
    raw = str(text).strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        parsed = _parse_other(raw)
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return parsed


def _parse_other(raw: str) -> datetime:
    match = _INVARIANT.match(raw)
    if match:
        month, day, year, hour, minute, second, half = match.groups()
        clock = int(hour or 0)
        if half:
            clock = clock % 12 + (12 if half.lower() == "pm" else 0)
        try:
            return datetime(
                int(year),
                int(month),
                int(day),
                clock,
                int(minute or 0),
                int(second or 0),
            )
        except ValueError:
            pass
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        fail(f"String '{raw}' was not recognized as a valid DateTime.")


def format_timespan(value: timedelta, spec: str = "") -> str:
    """``TimeSpan.ToString(spec)``: "c" (the default), "g", "G" or custom."""
    total = timespan_ticks(value)
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400 * TICKS_PER_SECOND)
    hours, rest = divmod(rest, 3600 * TICKS_PER_SECOND)
    minutes, rest = divmod(rest, 60 * TICKS_PER_SECOND)
    seconds, fraction = divmod(rest, TICKS_PER_SECOND)
    if spec in ("", "c", "t", "T"):
        day = f"{days}." if days else ""
        tail = f".{fraction:07d}" if fraction else ""
        return f"{sign}{day}{hours:02d}:{minutes:02d}:{seconds:02d}{tail}"
    if spec == "g":
        day = f"{days}:" if days else ""
        tail = f".{fraction:07d}".rstrip("0").rstrip(".")
        return f"{sign}{day}{hours}:{minutes:02d}:{seconds:02d}{tail}"
    if spec == "G":
        return f"{sign}{days}:{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:07d}"
    parts = {"d": days, "h": hours, "m": minutes, "s": seconds}
    return "".join(_timespan_part(parts, fraction, run) for run in _RUN.findall(spec))


def _timespan_part(parts: dict[str, int], fraction: int, run: str) -> str:
    head = run[0]
    if head in parts:
        return str(parts[head]).rjust(len(run), "0")
    if head in "fF":
        digits = f"{fraction:07d}"[: len(run)]
        return digits.rstrip("0") if head == "F" else digits
    if head in "'\"":
        return run[1:-1]
    if head == "\\":
        return run[1:]
    fail(f"Input string '{run}' was not in a correct TimeSpan format.")


def format_guid(value: uuid.UUID, spec: str = "") -> str:
    """``Guid.ToString(spec)`` for "D" (default), "N", "B" and "P"."""
    text = str(value)
    forms = {"": text, "D": text, "N": value.hex, "B": f"{{{text}}}", "P": f"({text})"}
    form = forms.get(spec.upper())
    if form is None:
        fail(
            'Format string can be only "D", "d", "N", "n", "P", "p", '
            '"B", "b", "X" or "x".'
        )
    return form


def parse_guid(text: object) -> uuid.UUID:
    """``Guid.Parse``: any of the forms ToString writes."""
    try:
        return uuid.UUID(str(text).strip())
    except ValueError:
        fail(f"Unrecognized Guid format: '{text}'.")


def parse_timespan(text: object) -> timedelta:
    """``TimeSpan.Parse``: ``[-][d.]hh:mm[:ss[.fffffff]]`` or a number of days."""
    match = re.fullmatch(
        r"\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?\s*",
        str(text),
    )
    try:
        if match is None:
            if re.fullmatch(r"\s*-?\d+\s*", str(text)):
                return timedelta(days=int(str(text)))
            fail(f"String '{text}' was not recognized as a valid TimeSpan.")
        minus, days, hours, minutes, seconds, fraction = match.groups()
        span = timedelta(
            days=int(days or 0),
            hours=int(hours),
            minutes=int(minutes),
            seconds=int(seconds or 0),
            microseconds=int((fraction or "0").ljust(7, "0")) // 10,
        )
    except OverflowError:
        fail(f"The TimeSpan string '{text}' is out of range.")
    return -span if minus else span
