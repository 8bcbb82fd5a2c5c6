"""The log writer against real SQLite files: batching, spooling, replay."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson
import pytest

from tollhouse.store import (
    SPOOL_FILENAME,
    LogRecord,
    LogWriter,
    SqliteSink,
    utc_timestamp,
)
from tollhouse.store.spool import Spool
from tollhouse.store.sqlite import STATISTICS_INTERVAL

KOREAN = "안녕하세요, 게이트웨이 로그입니다. 한국어는 한국어로 남아야 합니다 🙂"


def make_record(
    number: int, *, pieces: Sequence[str] = (), body: str = "", prompt: str = "hi"
) -> LogRecord:
    """A request's log record with a usage row and ``pieces`` prompt rows."""
    correlation_id = f"req-{number:05d}"
    gateway = {
        "TimeGenerated": utc_timestamp(),
        "CorrelationId": correlation_id,
        "Method": "POST",
        "Url": "https://gw.example/openai/deployments/gpt-4o/chat/completions",
        "ResponseCode": 200,
        "ApimSubscriptionId": "sub-1",
        "TotalTime": 12.5,
        "RequestBody": body or None,
    }
    usage = {"SequenceNumber": 0, "PromptTokens": 3, "TotalTokens": 5}
    prompt_rows = [
        {"SequenceNumber": index, "RequestMessages": piece}
        for index, piece in enumerate(pieces or [prompt], start=1)
    ]
    return LogRecord(gateway, [usage, *prompt_rows])


class FlakySink(SqliteSink):
    """A real SQLite sink whose first ``failures`` batches fail."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.batches: list[int] = []

    def write_batch(self, records: Sequence[LogRecord]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        super().write_batch(records)
        self.batches.append(len(records))


class DownSink:
    """A store that is down until ``up`` is set."""

    def __init__(self, path: Path) -> None:
        self.real = SqliteSink(path)
        self.up = threading.Event()

    def write_batch(self, records: Sequence[LogRecord]) -> None:
        if not self.up.is_set():
            raise sqlite3.OperationalError("disk I/O error")
        self.real.write_batch(records)

    def close(self) -> None:
        self.real.close()


class RecordingSink(SqliteSink):
    """A real SQLite sink that remembers the shape of every batch."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.shapes: list[tuple[int, int]] = []  # (rows, text characters)

    def write_batch(self, records: Sequence[LogRecord]) -> None:
        rows = sum(1 + len(record.llm) for record in records)
        chars = sum(len(record.gateway.get("RequestBody") or "") for record in records)
        self.shapes.append((rows, chars))
        super().write_batch(records)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "tollhouse.db"


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / SPOOL_FILENAME


@pytest.fixture
def writers() -> Iterator[list[LogWriter]]:
    """Writers to close at the end of a test, whatever happened."""
    started: list[LogWriter] = []
    yield started
    for writer in started:
        writer.close(timeout=5)


def count(db: Path, table: str = "ApiManagementGatewayLogs") -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # the writer is still creating it
            return 0
        raise
    finally:
        conn.close()


def correlation_ids(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT CorrelationId FROM ApiManagementGatewayLogs")
        return sorted(row[0] for row in rows)
    finally:
        conn.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def spool_files(spool_path: Path) -> list[str]:
    return sorted(p.name for p in spool_path.parent.glob(spool_path.name + "*"))


def start(writers: list[LogWriter], writer: LogWriter) -> LogWriter:
    writers.append(writer)
    writer.start()
    return writer


def test_rows_are_visible_within_one_second(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    writer = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))
    time.sleep(0.3)  # the database exists and the writer is idle

    submitted = time.monotonic()
    writer.submit(make_record(1))
    wait_for(lambda: count(db) == 1, timeout=1.0)

    assert time.monotonic() - submitted < 1.0
    assert count(db, "ApiManagementGatewayLlmLog") == 2


def test_two_thousand_records_land_exactly_once(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    writer = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))

    for number in range(2000):
        writer.submit(make_record(number, pieces=["a", "b"]))
    writer.close()

    assert correlation_ids(db) == [f"req-{n:05d}" for n in range(2000)]
    assert count(db, "ApiManagementGatewayLlmLog") == 6000
    stats = writer.stats
    assert (stats.submitted, stats.written, stats.spooled, stats.dropped) == (
        2000,
        2000,
        0,
        0,
    )
    assert (stats.queue_rows, stats.queue_bytes) == (0, 0)
    assert stats.batches >= 2000 * 4 // 500


def test_the_same_correlation_id_is_stored_once(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    # B47: one row per client request, whatever is submitted twice.
    writer = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))

    writer.submit(make_record(7))
    writer.submit(make_record(7))
    writer.close()

    assert correlation_ids(db) == ["req-00007"]
    assert count(db, "ApiManagementGatewayLlmLog") == 2


def test_batches_are_bounded_by_rows_and_bytes(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    # B50: a backlog drains in statements bounded by bytes.
    sink = RecordingSink(db)
    writer = LogWriter(
        sink, spool_path=spool_path, batch_rows=50, batch_bytes=512 * 1024
    )
    for number in range(40):
        writer.submit(make_record(number, body="x" * 100_000))
    for number in range(40, 140):
        writer.submit(make_record(number))
    start(writers, writer)
    writer.close()

    assert count(db) == 140
    assert max(chars for _, chars in sink.shapes) <= 512 * 1024
    assert max(rows for rows, _ in sink.shapes) <= 50


class StuckSink(SqliteSink):
    """A real SQLite sink whose writes wait until the test lets them go (B49)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.entered = threading.Event()

    def write_batch(self, records: Sequence[LogRecord]) -> None:
        self.entered.set()
        assert self.release.wait(30), "the test never released the sink"
        super().write_batch(records)


def test_a_stuck_store_does_not_hold_up_submit(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    sink = StuckSink(db)
    writer = start(writers, LogWriter(sink, spool_path=spool_path))
    writer.submit(make_record(0))
    assert sink.entered.wait(10)

    # The writer thread is inside the store; submit must not wait for it.
    for number in range(1, 1000):
        writer.submit(make_record(number))
    assert writer.stats.written == 0
    assert writer.stats.queue_rows > 0

    sink.release.set()
    writer.close()
    assert count(db) == 1000
    assert writer.stats.batches <= 1000 * 3 // 500 + 2


@pytest.mark.parametrize("max_queue_bytes", [256 * 2**20, 1024])
def test_an_oversized_record_is_stored_whole(
    db: Path, spool_path: Path, writers: list[LogWriter], max_queue_bytes: int
) -> None:
    # B22: a record larger than a batch (or than the whole queue) is not
    # thrown away; it goes in a batch of its own, through the spool if need be.
    body = "a" * (5 * 2**20)
    writer = LogWriter(
        SqliteSink(db), spool_path=spool_path, max_queue_bytes=max_queue_bytes
    )
    writer.submit(make_record(1, body=body))
    start(writers, writer)
    writer.close()

    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("SELECT RequestBody FROM ApiManagementGatewayLogs")
        assert stored.fetchone()[0] == body
    finally:
        conn.close()
    assert writer.stats.dropped == 0


def test_failing_store_spools_then_replays_without_loss_or_duplicates(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    sink = FlakySink(db, failures=3)
    writer = start(writers, LogWriter(sink, spool_path=spool_path, flush_interval=0.05))

    for number in range(300):
        writer.submit(make_record(number))
        if number % 50 == 0:
            time.sleep(0.06)  # spread the records over several batches
    wait_for(lambda: count(db) == 300 and writer.stats.replayed > 0)
    writer.close()

    stats = writer.stats
    assert correlation_ids(db) == [f"req-{n:05d}" for n in range(300)]
    assert count(db, "ApiManagementGatewayLlmLog") == 600
    assert stats.failures == 3
    assert stats.spooled == stats.replayed > 0
    assert stats.written == 300
    assert stats.dropped == 0
    assert spool_files(spool_path) == []


def test_memory_stays_bounded_while_the_store_is_down(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    sink = DownSink(db)
    cap = 64 * 1024
    writer = start(
        writers,
        LogWriter(
            sink, spool_path=spool_path, max_queue_bytes=cap, flush_interval=0.05
        ),
    )

    for number in range(500):
        writer.submit(make_record(number, body="y" * 10_000))
        assert writer.stats.queue_bytes <= cap
    wait_for(lambda: writer.stats.spooled == 500)
    assert count(db) == 0

    sink.up.set()
    wait_for(lambda: count(db) == 500)
    writer.close()

    assert writer.stats.replayed == 500
    assert writer.stats.dropped == 0
    assert spool_files(spool_path) == []


def test_a_removed_database_file_is_created_again(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    writer = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))
    writer.submit(make_record(1))
    wait_for(lambda: count(db) == 1)

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    writer.submit(make_record(2))
    writer.close()

    assert correlation_ids(db) == ["req-00002"]


def test_submit_with_a_full_queue_spools(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    writer = LogWriter(SqliteSink(db), spool_path=spool_path, max_queue_rows=6)

    for number in range(10):
        writer.submit(make_record(number))  # three rows each

    stats = writer.stats
    assert (stats.submitted, stats.queue_rows, stats.spooled) == (10, 6, 8)
    assert len(spool_path.read_bytes().splitlines()) == 8

    start(writers, writer)
    writer.close()

    assert correlation_ids(db) == [f"req-{n:05d}" for n in range(10)]
    assert writer.stats.replayed == 8
    assert spool_files(spool_path) == []


def test_close_drains_the_queue(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    writer = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))

    for number in range(1000):
        writer.submit(make_record(number))
    writer.close()

    assert count(db) == 1000
    assert writer.stats.written == 1000
    assert "tollhouse-log-writer" not in [t.name for t in threading.enumerate()]


def test_close_while_the_store_is_down_spools_everything(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    writer = start(writers, LogWriter(DownSink(db), spool_path=spool_path))

    for number in range(50):
        writer.submit(make_record(number))
    writer.close()
    writer.submit(make_record(50))  # after close: spooled, not lost

    assert writer.stats.spooled == 51
    assert len(spool_path.read_bytes().splitlines()) == 51


def test_spool_left_by_a_crashed_writer_is_replayed_once(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    # What a crash leaves: a replay file it was working on (whose first ten
    # records were already committed), a spool file, and half a line.
    records = [make_record(number) for number in range(60)]
    first = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))
    for record in records[:10]:
        first.submit(record)
    first.close()
    Spool(spool_path).append([_line(record) for record in records[:40]])
    spool_path.rename(spool_path.with_name(spool_path.name + ".replay"))
    spool = Spool(spool_path)
    spool.append([_line(record) for record in records[40:]])
    spool.close()
    with spool_path.open("ab") as file:
        file.write(b'{"gateway": {"CorrelationId": "req-')

    second = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))
    wait_for(lambda: spool_files(spool_path) == [])
    second.close()
    third = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))
    third.close()

    assert correlation_ids(db) == [f"req-{n:05d}" for n in range(60)]
    assert count(db, "ApiManagementGatewayLlmLog") == 120
    assert (second.stats.replayed, second.stats.dropped) == (60, 1)
    assert third.stats.replayed == 0


def test_a_torn_spool_line_does_not_swallow_the_next_record(spool_path: Path) -> None:
    spool_path.parent.mkdir(parents=True)
    spool_path.write_bytes(b'{"gateway": {"Corr')

    spool = Spool(spool_path)
    spool.append([b'{"n": 1}'])
    spool.close()

    assert spool_path.read_bytes() == b'{"gateway": {"Corr\n{"n": 1}\n'


@pytest.mark.parametrize("store_first_fails", [False, True])
def test_korean_text_round_trips_byte_for_byte(
    db: Path, spool_path: Path, writers: list[LogWriter], store_first_fails: bool
) -> None:
    sink = FlakySink(db, failures=1 if store_first_fails else 0)
    writer = start(writers, LogWriter(sink, spool_path=spool_path))
    messages = f'[{{"role":"user","content":"{KOREAN}"}}]'
    record = make_record(1, prompt=messages)
    record.gateway["Url"] = "https://gw.example/openai/deployments/한국어/chat"

    writer.submit(record)
    wait_for(lambda: count(db) == 1)
    writer.close()

    conn = sqlite3.connect(db)
    try:
        stored = conn.execute(
            "SELECT CAST(RequestMessages AS BLOB), typeof(RequestMessages)"
            " FROM ApiManagementGatewayLlmLog WHERE SequenceNumber = 1"
        ).fetchone()
        url = conn.execute(
            "SELECT CAST(Url AS BLOB) FROM ApiManagementGatewayLogs"
        ).fetchone()[0]
    finally:
        conn.close()
    assert stored == (messages.encode("utf-8"), "text")
    assert url == "https://gw.example/openai/deployments/한국어/chat".encode()
    assert writer.stats.replayed == (1 if store_first_fails else 0)


def test_unknown_columns_are_left_out_and_logged_once(
    db: Path,
    spool_path: Path,
    writers: list[LogWriter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))
    caplog.set_level(logging.ERROR, logger="tollhouse.store.writer")

    for number in range(3):
        record = make_record(number)
        record.gateway["Bogus"] = "x"
        writer.submit(record)
    writer.close()

    assert count(db) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "gateway log row has unknown columns Bogus; they are not stored"
    ]


def test_llm_rows_inherit_the_request_id_time_and_position(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    writer = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))
    gateway = {"CorrelationId": "c-1", "TimeGenerated": "2026-12-03T17:47:24.123456Z"}

    writer.submit(LogRecord(gateway, [{"PromptTokens": 1}, {"RequestMessages": "[]"}]))
    writer.close()

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT CorrelationId, TimeGenerated, SequenceNumber"
            " FROM ApiManagementGatewayLlmLog ORDER BY SequenceNumber"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [
        ("c-1", "2026-12-03T17:47:24.123456Z", 0),
        ("c-1", "2026-12-03T17:47:24.123456Z", 1),
    ]


def test_a_bad_value_is_cleaned_and_the_rest_of_the_batch_is_stored(
    db: Path, spool_path: Path, writers: list[LogWriter]
) -> None:
    writer = LogWriter(SqliteSink(db), spool_path=spool_path)
    surrogate = make_record(1)
    surrogate.gateway["Url"] = "https://gw.example/\ud800"
    huge = make_record(2)
    huge.gateway["ResponseSize"] = 2**70
    nested = make_record(3)
    nested.gateway["RequestHeaders"] = {"content-type": "application/json"}
    for record in (make_record(0), surrogate, huge, nested, make_record(4)):
        writer.submit(record)
    start(writers, writer)
    writer.close()

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT CorrelationId, Url, ResponseSize, RequestHeaders"
            " FROM ApiManagementGatewayLogs ORDER BY CorrelationId"
        ).fetchall()
    finally:
        conn.close()
    url = "https://gw.example/openai/deployments/gpt-4o/chat/completions"
    assert rows == [
        ("req-00000", url, None, None),
        ("req-00001", "https://gw.example/?", None, None),
        ("req-00002", url, float(2**70), None),  # INTEGER affinity
        ("req-00003", url, None, '{"content-type":"application/json"}'),
        ("req-00004", url, None, None),
    ]
    assert writer.stats.dropped == 0


def test_a_record_without_correlation_id_is_dropped_and_counted(
    db: Path,
    spool_path: Path,
    writers: list[LogWriter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = start(writers, LogWriter(SqliteSink(db), spool_path=spool_path))

    writer.submit(LogRecord({"Method": "GET"}, []))
    writer.submit(make_record(1))
    writer.close()

    assert correlation_ids(db) == ["req-00001"]
    assert writer.stats.dropped == 1
    assert "no CorrelationId" in caplog.text


def test_when_even_the_spool_fails_records_are_dropped_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    writer = LogWriter(
        SqliteSink(tmp_path / "tollhouse.db"),
        spool_path=blocker / SPOOL_FILENAME,
        max_queue_rows=3,
    )
    caplog.set_level(logging.ERROR, logger="tollhouse.store.writer")

    for number in range(10):
        writer.submit(make_record(number))  # must not raise

    stats = writer.stats
    assert (stats.submitted, stats.queue_rows, stats.spooled, stats.dropped) == (
        10,
        3,
        0,
        9,
    )
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("dropped 1 log record(s)")


def test_a_writer_starts_only_once(db: Path, spool_path: Path) -> None:
    writer = LogWriter(SqliteSink(db), spool_path=spool_path)
    writer.start()
    try:
        with pytest.raises(RuntimeError):
            writer.start()
    finally:
        writer.close()


def test_the_prompt_never_reaches_the_process_log(
    db: Path,
    spool_path: Path,
    writers: list[LogWriter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tollhouse")
    sink = FlakySink(db, failures=2)
    writer = start(writers, LogWriter(sink, spool_path=spool_path))
    record = make_record(1, prompt="SECRET-PROMPT-TEXT")
    record.gateway["Bogus"] = "SECRET-VALUE"
    record.gateway["Url"] = "https://gw.example/\ud800SECRET-URL"

    writer.submit(record)
    wait_for(lambda: count(db) == 1)
    writer.close()

    assert "SECRET" not in caplog.text
    assert caplog.records  # the failures were logged


def _line(record: LogRecord) -> bytes:
    return orjson.dumps({"gateway": record.gateway, "llm": record.llm})


def test_the_sink_keeps_the_query_planners_statistics(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def statistics() -> dict[str, str]:
        conn = sqlite3.connect(db)
        try:
            return dict(conn.execute("SELECT idx, stat FROM sqlite_stat1"))
        finally:
            conn.close()

    sink = SqliteSink(db)
    sink.write_batch([make_record(n) for n in range(20)])
    first = statistics()
    sink.write_batch([make_record(n) for n in range(20, 50)])  # not due yet
    second = statistics()
    later = time.monotonic() + STATISTICS_INTERVAL
    monkeypatch.setattr("tollhouse.store.sqlite.time.monotonic", lambda: later)
    sink.write_batch([make_record(n) for n in range(50, 60)])
    sink.close()

    assert first["ix_gateway_logs_time"] == "20 1"
    assert second == first
    assert statistics()["ix_gateway_logs_time"] == "60 1"
