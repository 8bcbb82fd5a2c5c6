"""The batched log writer: requests hand records over, one thread stores them.

`LogWriter.submit` is called on the event loop for every request.  It never
waits for the store and never raises: it appends the record to a queue that is
bounded in rows and in bytes, and when that queue is full it appends the record
to the spool file instead (see `tollhouse.store.spool`).  Only if even that
fails is the record dropped, counted in `WriterStats.dropped` and logged.

One writer thread takes batches from the queue (bounded in rows and bytes, so
no statement grows without limit), and hands each to a `LogSink` that stores
it in one transaction.  Stores ignore rows they already hold, so a record that
is written twice (a replay after a crash) still yields one row.  When the sink
fails, the batch goes to the spool, the writer retries with backoff, and once
the store works again the spool is replayed into it.

A sink signals "the store is unavailable, try later" with any exception except
the data errors in `DATA_ERRORS`; those mean a record in the batch cannot be
stored as it is, and the writer then writes the batch record by record to
find it, cleans it, and drops it only if it still fails.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import orjson

from .schema import GATEWAY_LOG_COLUMNS, LLM_LOG_COLUMNS, utc_timestamp
from .spool import Spool, SpoolReplay

__all__ = ["DATA_ERRORS", "LogRecord", "LogSink", "LogWriter", "WriterStats"]

logger = logging.getLogger(__name__)

DATA_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    OverflowError,
    UnicodeError,
    TypeError,
    ValueError,
)
"""Errors a sink raises when a record, not the store, is at fault."""

_GATEWAY_COLUMNS = frozenset(GATEWAY_LOG_COLUMNS)
_LLM_COLUMNS = frozenset(LLM_LOG_COLUMNS)
_SQL_TYPES = (str, int, float, bool, type(None))
_INT64 = range(-(2**63), 2**63)
_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 5.0
_MAX_UNKNOWN_REPORTS = 64
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


@dataclass(slots=True)
class LogRecord:
    """One request's log rows: its gateway log row and its LLM log rows.

    Keys are column names (`GATEWAY_LOG_COLUMNS`, `LLM_LOG_COLUMNS`); missing
    keys are stored as NULL, unknown keys are left out and logged.  Values
    are str, int, float or None; JSON columns are passed already serialised.
    LLM rows without ``CorrelationId``, ``TimeGenerated`` or ``SequenceNumber``
    take the gateway row's id and time and their position in the list.
    ``size`` is the record's approximate size in bytes; 0 means "work it out".
    ``complete``, if given, is work the caller leaves to the writer thread
    (building costly rows off the request path): it is called once with the
    record before the record is stored or spooled, and may fill in ``llm``.
    Once submitted, the record belongs to the writer: do not change it.
    """

    gateway: dict[str, Any]
    llm: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0
    complete: Callable[[LogRecord], None] | None = None


class LogSink(Protocol):
    """Where the writer stores batches: SQLite now, PostgreSQL later."""

    def write_batch(self, records: Sequence[LogRecord]) -> None:
        """Store ``records`` in one transaction, ignoring rows already stored."""

    def close(self) -> None:
        """Release the sink's connections; called from the writer thread."""


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of a `LogWriter`, in records unless named otherwise.

    ``written`` counts records committed to the store, ``replayed`` those of
    them that came from the spool.  ``dropped`` counts records lost (the
    spool could not be written, or a record could not be stored at all).
    ``queue_rows`` and ``queue_bytes`` describe what waits in memory now;
    ``batches`` counts committed transactions and ``failures`` failed ones.
    """

    submitted: int = 0
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    queue_rows: int = 0
    queue_bytes: int = 0
    batches: int = 0
    failures: int = 0


@dataclass(slots=True)
class _Counters:
    submitted: int = 0
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    batches: int = 0
    failures: int = 0


class _Backoff:
    """Consecutive store failures and when to try the store again."""

    def __init__(self) -> None:
        self.failures = 0
        self._delay = 0.0
        self._retry_at = 0.0

    @property
    def waiting(self) -> bool:
        """The store failed and its retry time has not come yet."""
        return self.failures > 0 and time.monotonic() < self._retry_at

    def failed(self) -> None:
        self.failures += 1
        self._delay = min(max(self._delay * 2, _BACKOFF_FIRST), _BACKOFF_MAX)
        self._retry_at = time.monotonic() + self._delay

    def reset(self) -> None:
        self.failures = 0
        self._delay = 0.0


_Item = tuple[LogRecord, int, int]  # record, rows, approximate bytes


class LogWriter:
    """Stores log records from a bounded queue on one background thread.

    Call `start` once, `submit` for each request, and `close` at shutdown;
    `close` also closes the sink.  Records submitted before `start` wait in
    the queue; records submitted after `close` go to the spool, to be replayed
    by the next writer that uses the same spool path.
    """

    def __init__(
        self,
        sink: LogSink,
        *,
        spool_path: Path,
        max_queue_rows: int = 50_000,
        max_queue_bytes: int = 256 * 2**20,
        batch_rows: int = 500,
        batch_bytes: int = 2 * 2**20,
        flush_interval: float = 0.2,
    ) -> None:
        self._sink = sink
        self._spool = Spool(Path(spool_path))
        self._max_queue_rows = max_queue_rows
        self._max_queue_bytes = max_queue_bytes
        self._batch_rows = batch_rows
        self._batch_bytes = batch_bytes
        self._flush_interval = flush_interval

        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: deque[_Item] = deque()
        self._queue_rows = 0
        self._queue_bytes = 0
        self._closed = False
        self._close_deadline = 0.0
        self._dropping = False
        self._counters = _Counters()

        # Used by the writer thread only.
        self._thread: threading.Thread | None = None
        self._backoff = _Backoff()
        self._replay: SpoolReplay | None = None
        self._replay_paused_until = 0.0
        self._unknown_reported: set[tuple[str, tuple[str, ...]]] = set()

    @property
    def stats(self) -> WriterStats:
        """A snapshot of the writer's counters."""
        with self._lock:
            c = self._counters
            return WriterStats(
                submitted=c.submitted,
                written=c.written,
                spooled=c.spooled,
                replayed=c.replayed,
                dropped=c.dropped,
                queue_rows=self._queue_rows,
                queue_bytes=self._queue_bytes,
                batches=c.batches,
                failures=c.failures,
            )

    def start(self) -> None:
        """Start the writer thread, which first replays any leftover spool."""
        if self._thread is not None or self._closed:
            raise RuntimeError("a LogWriter can be started only once")
        self._thread = threading.Thread(
            target=self._run, name="tollhouse-log-writer", daemon=True
        )
        self._thread.start()

    def submit(self, record: LogRecord) -> None:
        """Hand ``record`` to the writer; never waits for the store, never raises.

        When the queue is full the record is appended to the spool file
        instead (one short write); if that fails too, it is dropped and
        counted.
        """
        try:
            rows = 1 + len(record.llm)
            size = record.size or _approximate_size(record)
            with self._lock:
                self._counters.submitted += 1
                if self._fits(rows, size):
                    self._enqueue((record, rows, size))
                    return
            self._spool_records([record])
        except Exception:
            logger.exception("submitting a log record failed")
            self._drop(1, "submit() failed")

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting records, store (or spool) what is queued, and stop.

        With the time left of ``timeout`` seconds, the spool is replayed too.
        Whatever is still queued when the time is up is spooled.
        """
        with self._wakeup:
            if self._closed:
                return
            self._closed = True
            self._close_deadline = time.monotonic() + 0.9 * timeout
            self._wakeup.notify_all()

        thread = self._thread
        if thread is None:
            self._spool_leftovers()
            self._close_resources()
            return

        thread.join(timeout)
        if thread.is_alive():
            logger.error(
                "the log writer did not finish within %.1f s; spooling the rest",
                timeout,
            )
            self._spool_leftovers()

    # -- the request path ---------------------------------------------------

    def _fits(self, rows: int, size: int) -> bool:
        return (
            not self._closed
            and self._queue_rows + rows <= self._max_queue_rows
            and self._queue_bytes + size <= self._max_queue_bytes
        )

    def _enqueue(self, item: _Item) -> None:
        # Called with the lock held.
        self._queue.append(item)
        self._queue_rows += item[1]
        self._queue_bytes += item[2]
        self._dropping = False
        if self._batch_ready():
            self._wakeup.notify()

    def _batch_ready(self) -> bool:
        return (
            self._queue_rows >= self._batch_rows
            or self._queue_bytes >= self._batch_bytes
        )

    def _drop(self, count: int, reason: str) -> None:
        with self._lock:
            self._counters.dropped += count
            first_of_burst = not self._dropping
            self._dropping = True
        if first_of_burst:
            logger.error(
                "dropped %d log record(s): %s; further drops are counted in the "
                "writer's stats until records flow again",
                count,
                reason,
            )

    # -- the writer thread --------------------------------------------------

    def _run(self) -> None:
        while self._guarded(self._step):
            pass

        # Closed, and the queue is empty: replay what the spool holds while
        # time allows.  Whatever remains is replayed by the next writer.
        while time.monotonic() < self._close_deadline:
            if not self._guarded(self._replay_batch):
                break
        self._close_resources()

    def _guarded(self, step: Callable[[], bool]) -> bool:
        """Run ``step``; an unexpected error is logged and must not stop us."""
        try:
            return step()
        except Exception:
            logger.exception("the log writer hit an unexpected error")
            time.sleep(self._flush_interval)
            return True

    def _step(self) -> bool:
        """Replay one batch from the spool, then store one from the queue.

        Returns False once the writer is closed and its queue is empty.
        """
        replaying = not self._closed and self._replay_batch()
        batch = self._take_batch(wait=not replaying)
        if batch is None:
            return False
        if batch:
            self._deliver(batch)
        return True

    def _take_batch(self, *, wait: bool) -> list[LogRecord] | None:
        with self._wakeup:
            if wait and not self._closed and not self._batch_ready():
                self._wakeup.wait(self._flush_interval)
            if not self._queue:
                return None if self._closed else []
            return self._pop_batch()

    def _pop_batch(self) -> list[LogRecord]:
        # Called with the lock held.
        batch: list[LogRecord] = []
        rows = size = 0
        while self._queue:
            record, item_rows, item_size = self._queue[0]
            too_big = (
                rows + item_rows > self._batch_rows
                or size + item_size > self._batch_bytes
            )
            if batch and too_big:
                break
            self._queue.popleft()
            batch.append(record)
            rows += item_rows
            size += item_size
        self._queue_rows -= rows
        self._queue_bytes -= size
        return batch

    def _deliver(self, batch: list[LogRecord]) -> None:
        records = self._prepare_all(batch)
        if not records:
            return
        if self._backoff.waiting:
            self._spool_records(records)
            return
        unstored = self._write(records)
        if unstored:
            self._spool_records(unstored)

    def _close_resources(self) -> None:
        if self._replay is not None:
            self._replay.close()
            self._replay = None
        self._spool.close()
        try:
            self._sink.close()
        except Exception:
            logger.exception("closing the log sink failed")

    # -- writing to the sink ------------------------------------------------

    def _write(self, records: list[LogRecord]) -> list[LogRecord]:
        """Store ``records``; return those the store could not take now."""
        try:
            self._sink.write_batch(records)
        except DATA_ERRORS as exc:
            return self._write_one_by_one(records, exc)
        except Exception as exc:
            self._store_failed(exc)
            return records
        self._store_succeeded(len(records))
        return []

    def _write_one_by_one(
        self, records: list[LogRecord], error: Exception
    ) -> list[LogRecord]:
        logger.error(
            "the log store refused a batch of %d records (%s: %s); "
            "writing them one by one",
            len(records),
            type(error).__name__,
            error,
        )
        for index, record in enumerate(records):
            for candidate in _with_scrubbed(record):
                try:
                    self._sink.write_batch([candidate])
                except DATA_ERRORS as exc:
                    error = exc
                    continue
                except Exception as exc:
                    self._store_failed(exc)
                    return records[index:]
                self._store_succeeded(1)
                break
            else:
                correlation_id = record.gateway.get("CorrelationId")
                self._drop(1, f"the store refused record {correlation_id!r} ({error})")
        return []

    def _store_failed(self, error: Exception) -> None:
        with self._lock:
            self._counters.failures += 1
        if self._backoff.failures == 0:
            logger.error(
                "cannot write logs to the store (%s: %s); spooling them to %s "
                "and retrying",
                type(error).__name__,
                error,
                self._spool.path,
            )
        else:
            logger.debug("the log store still fails: %s", error)
        self._backoff.failed()

    def _store_succeeded(self, count: int) -> None:
        with self._lock:
            self._counters.written += count
            self._counters.batches += 1
            self._dropping = False
        if self._backoff.failures:
            logger.warning(
                "the log store works again after %d failed attempts",
                self._backoff.failures,
            )
            self._backoff.reset()

    # -- the spool ----------------------------------------------------------

    def _spool_records(self, records: Iterable[LogRecord]) -> None:
        lines: list[bytes] = []
        for record in records:
            _finish(record)
            line = _encode(record)
            if line is None:
                self._drop(1, "a record could not be serialised for the spool")
            else:
                lines.append(line)
        if not lines:
            return
        try:
            self._spool.append(lines)
        except OSError as exc:
            self._drop(len(lines), f"the spool {self._spool.path} failed: {exc}")
            return
        with self._lock:
            self._counters.spooled += len(lines)
            self._dropping = False

    def _spool_leftovers(self) -> None:
        with self._lock:
            records = [record for record, _, _ in self._queue]
            self._queue.clear()
            self._queue_rows = self._queue_bytes = 0
        self._spool_records(records)

    def _replay_batch(self) -> bool:
        """Replay one batch from the spool; True if more waits there now."""
        if self._backoff.waiting:
            return False
        if time.monotonic() < self._replay_paused_until:
            return False
        try:
            return self._replay_step()
        except OSError as exc:
            logger.error("cannot read the log spool: %s; retrying in 30 s", exc)
            if self._replay is not None:
                self._replay.close()
                self._replay = None
            self._replay_paused_until = time.monotonic() + 30.0
            return False

    def _replay_step(self) -> bool:
        replay = self._replay
        if replay is None:
            if not self._spool.pending():
                return False
            replay = self._replay = self._spool.begin_replay()
            if replay is None:
                return False
            logger.info("replaying spooled log records from %s", replay.path)

        records, exhausted = self._read_replay(replay)
        if records and self._write(records):
            replay.rewind()
            return False
        replay.commit()
        with self._lock:
            self._counters.replayed += len(records)
        if exhausted:
            replay.finish()
            self._replay = None
            logger.info("finished replaying %s", replay.path)
        return True

    def _read_replay(self, replay: SpoolReplay) -> tuple[list[LogRecord], bool]:
        """Read one batch's worth of records, and whether the file is done."""
        records: list[LogRecord] = []
        rows = size = 0
        while True:
            line = replay.read()
            if line is None:
                return self._prepare_all(records), True
            record = self._decode(line)
            if record is None:
                continue
            record_rows = 1 + len(record.llm)
            too_big = (
                rows + record_rows > self._batch_rows
                or size + len(line) > self._batch_bytes
            )
            if records and too_big:
                replay.unread()
                return self._prepare_all(records), False
            records.append(record)
            rows += record_rows
            size += len(line)

    def _decode(self, line: bytes) -> LogRecord | None:
        try:
            data = orjson.loads(line)
            gateway, llm = data["gateway"], data["llm"]
            rows_ok = isinstance(llm, list) and all(isinstance(r, dict) for r in llm)
            if isinstance(gateway, dict) and rows_ok:
                return LogRecord(gateway, llm)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass
        self._drop(1, f"an unreadable line in the spool {self._spool.path}")
        return None

    # -- checking records ---------------------------------------------------

    def _prepare_all(self, records: Iterable[LogRecord]) -> list[LogRecord]:
        prepared = (self._prepare(record) for record in records)
        return [record for record in prepared if record is not None]

    def _prepare(self, record: LogRecord) -> LogRecord | None:
        """Check a record against the schema; None if it cannot be stored."""
        try:
            return self._checked(record)
        except Exception:
            logger.exception("a log record is malformed")
            self._drop(1, "a malformed log record")
            return None

    def _checked(self, record: LogRecord) -> LogRecord | None:
        _finish(record)
        gateway = self._clean_row(record.gateway, _GATEWAY_COLUMNS, "gateway")
        if not gateway.get("CorrelationId"):
            self._drop(1, "a gateway log row has no CorrelationId")
            return None
        if gateway.get("TimeGenerated") is None:
            gateway = {**gateway, "TimeGenerated": utc_timestamp()}

        llm = [
            self._prepare_llm(row, index, gateway)
            for index, row in enumerate(record.llm)
        ]
        return LogRecord(gateway, llm, record.size)

    def _prepare_llm(
        self, row: dict[str, Any], index: int, gateway: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._clean_row(row, _LLM_COLUMNS, "LLM")
        defaults = {
            "CorrelationId": gateway["CorrelationId"],
            "TimeGenerated": gateway["TimeGenerated"],
            "SequenceNumber": index,
        }
        missing = {k: v for k, v in defaults.items() if row.get(k) is None}
        return {**row, **missing} if missing else row

    def _clean_row(
        self, row: dict[str, Any], columns: frozenset[str], table: str
    ) -> dict[str, Any]:
        """Leave out unknown columns and turn values into SQL-ready ones."""
        if not columns.issuperset(row):
            unknown = tuple(sorted(str(key) for key in row if key not in columns))
            self._report_unknown(table, unknown)
            row = {key: value for key, value in row.items() if key in columns}
        if not all(type(value) in _SQL_TYPES for value in row.values()):
            row = {key: _sql_value(value) for key, value in row.items()}
        return row

    def _report_unknown(self, table: str, unknown: tuple[str, ...]) -> None:
        key = (table, unknown)
        if key in self._unknown_reported:
            return
        if len(self._unknown_reported) < _MAX_UNKNOWN_REPORTS:
            self._unknown_reported.add(key)
        logger.error(
            "%s log row has unknown columns %s; they are not stored",
            table,
            ", ".join(unknown),
        )


def _finish(record: LogRecord) -> None:
    """Run the work the caller left for the writer thread, once."""
    complete = record.complete
    if complete is None:
        return
    record.complete = None
    try:
        complete(record)
    except Exception:
        # The gateway row still goes in; only the deferred rows are lost.
        logger.exception("completing a log record failed")


def _approximate_size(record: LogRecord) -> int:
    size = _row_size(record.gateway)
    for row in record.llm:
        size += _row_size(row)
    return size


def _row_size(row: dict[str, Any]) -> int:
    return sum(len(value) if isinstance(value, str) else 8 for value in row.values())


def _sql_value(value: Any) -> Any:
    """Turn a value SQLite cannot bind into one it can."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime):
        return utc_timestamp(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict | list | tuple):
        try:
            return orjson.dumps(value, default=str, option=_JSON_OPTIONS).decode()
        except TypeError:
            pass
    return str(value)


def _with_scrubbed(record: LogRecord) -> Iterator[LogRecord]:
    """``record``, then (only if asked for) its scrubbed copy."""
    yield record
    yield _scrubbed(record)


def _scrubbed(record: LogRecord) -> LogRecord:
    """A copy of ``record`` without what SQLite or JSON cannot take.

    Lone surrogates become ``?`` and integers beyond 64 bits become text.
    """
    return LogRecord(
        _scrub_row(record.gateway),
        [_scrub_row(row) for row in record.llm],
        record.size,
    )


def _scrub_row(row: dict[str, Any]) -> dict[str, Any]:
    return {str(key): _scrub_value(_sql_value(value)) for key, value in row.items()}


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int) and value not in _INT64:
        return str(value)
    return value


def _encode(record: LogRecord) -> bytes | None:
    """The record as one JSON line for the spool, or None if impossible."""
    for candidate in _with_scrubbed(record):
        payload = {"gateway": candidate.gateway, "llm": candidate.llm}
        try:
            return orjson.dumps(payload, default=_sql_value)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            continue
    return None
