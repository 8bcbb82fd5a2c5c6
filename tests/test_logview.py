"""``logs tail`` and ``logs show`` over a real database filled by the writer."""

from __future__ import annotations

import io
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tollhouse.errors import StoreError
from tollhouse.logview import show, tail
from tollhouse.store import LogRecord, LogWriter, SqliteSink

PIECE = 32 * 1024
KOREAN = "인공지능 게이트웨이는 모든 프롬프트와 응답을 기록합니다. "


def gateway_row(number: int, **columns: Any) -> dict[str, Any]:
    return {
        "TimeGenerated": f"2026-12-03T17:47:{number:02d}.123456Z",
        "CorrelationId": f"req-{number:02d}",
        "Method": "POST",
        "Url": "https://gw.example/openai/deployments/gpt-4o-deployment"
        "/chat/completions?api-version=2024-10-21",
        "ResponseCode": 200,
        "ApimSubscriptionId": "sub-alpha",
        "DeploymentName": "gpt-4o-deployment",
        "TotalTime": 153.4,
        **columns,
    }


def usage_row(source: str = "backend", **columns: Any) -> dict[str, Any]:
    return {
        "SequenceNumber": 0,
        "DeploymentName": "gpt-4o-deployment",
        "ModelName": "gpt-4o",
        "PromptTokens": 12,
        "CompletionTokens": 5,
        "TotalTokens": 17,
        "TokenCountSource": source,
        **columns,
    }


def split(text: str) -> list[str]:
    """Cut ``text`` into 32 KB pieces on character boundaries, as logged."""
    return [text[start : start + PIECE] for start in range(0, len(text), PIECE)]


def message_rows(prompt: list[Any], completion: list[Any]) -> list[dict[str, Any]]:
    """The prompt's pieces, then the completion's, numbered from 1."""
    prompt_pieces = split(orjson.dumps(prompt).decode())
    completion_pieces = split(orjson.dumps(completion).decode())
    rows = [{"RequestMessages": piece} for piece in prompt_pieces]
    rows += [{"ResponseMessages": piece} for piece in completion_pieces]
    return [{"SequenceNumber": n, **row} for n, row in enumerate(rows, start=1)]


def fill(db: Path, records: list[LogRecord]) -> None:
    writer = LogWriter(SqliteSink(db), spool_path=db.with_name("spool.jsonl"))
    writer.start()
    for record in records:
        writer.submit(record)
    writer.close()
    assert writer.stats.written == len(records)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tollhouse.db"


HEADER = (
    "TIME                        ID        ST SUBSCRIPTION     DEPLOYMENT          "
    "    TOKENS P/C/T     TIME REQUEST"
)


def line(number: int, tokens: str = "12/5/17", *, status: str = "200") -> str:
    return (
        f"2026-12-03T17:47:{number:02d}.123456Z req-{number:02d}   {status} "
        "sub-alpha        "
        f"gpt-4o-deployment    {tokens:>15}    153ms POST "
        "/openai/deployments/gpt-4o-deployment/chat/completions"
    )


def test_tail_prints_the_last_requests_oldest_first(db: Path) -> None:
    fill(db, [LogRecord(gateway_row(n), [usage_row()]) for n in range(12)])
    out = io.StringIO()

    tail(db, follow=False, out=out, last=3)

    assert out.getvalue().splitlines() == [HEADER, line(9), line(10), line(11)]


@pytest.mark.parametrize(
    ("llm", "tokens"),
    [
        ([usage_row()], "12/5/17"),
        ([usage_row("estimated")], "~12/5/17"),
        (
            [
                usage_row(
                    "none", PromptTokens=None, CompletionTokens=None, TotalTokens=None
                )
            ],
            "-",
        ),
        ([], "-"),
        ([usage_row(CompletionTokens=None, TotalTokens=None)], "12/-/-"),
    ],
)
def test_tail_tokens_column(db: Path, llm: list[dict[str, Any]], tokens: str) -> None:
    fill(db, [LogRecord(gateway_row(1), llm)])
    out = io.StringIO()

    tail(db, follow=False, out=out)

    assert out.getvalue() == HEADER + "\n" + line(1, tokens) + "\n"


def test_tail_shows_dashes_for_a_rejected_request(db: Path) -> None:
    rejected = gateway_row(
        1,
        ResponseCode=401,
        ApimSubscriptionId=None,
        DeploymentName=None,
        TotalTime=0.4,
        Method="GET",
        Url="https://gw.example/v1/models",
    )
    fill(db, [LogRecord(rejected, [])])
    out = io.StringIO()

    tail(db, follow=False, out=out)

    assert out.getvalue() == HEADER + "\n" + (
        "2026-12-03T17:47:01.123456Z req-01   401 -                "
        "-                                  -      0ms GET /v1/models\n"
    )


def test_tail_escapes_control_characters(db: Path) -> None:
    hostile = gateway_row(1, ApimSubscriptionId="a\x1b[2Jb", Url="http://h/x\x9bm")
    fill(db, [LogRecord(hostile, [])])
    out = io.StringIO()

    tail(db, follow=False, out=out)

    text = out.getvalue()
    assert "\x1b" not in text
    assert text.count("\n") == 2
    assert "a\\x1b[2Jb" in text
    assert text.endswith("POST /x\\x9bm\n")


def test_tail_follow_prints_each_new_request_once_in_commit_order(db: Path) -> None:
    fill(db, [LogRecord(gateway_row(n), [usage_row()]) for n in range(3)])
    out = io.StringIO()
    stop = threading.Event()
    follower = threading.Thread(
        target=tail,
        args=(db,),
        kwargs={"follow": True, "out": out, "interval": 0.05, "last": 2, "stop": stop},
    )
    follower.start()
    try:
        wait_for(lambda: out.getvalue().count("\n") == 3)
        # Committed later but older: follow goes by commit order, not by time.
        fill(db, [LogRecord(gateway_row(n), [usage_row()]) for n in (5, 4, 6)])
        fill(db, [LogRecord(gateway_row(7), [usage_row()])])
        wait_for(lambda: out.getvalue().count("\n") == 7)
        time.sleep(0.2)  # a few more polls: nothing is printed twice
    finally:
        stop.set()
        follower.join(timeout=5)

    assert not follower.is_alive()
    assert out.getvalue().splitlines() == [HEADER] + [
        line(n) for n in (1, 2, 5, 4, 6, 7)
    ]


def test_tail_without_a_database_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        tail(tmp_path / "missing.db", follow=False, out=io.StringIO())


def test_show_reassembles_a_prompt_split_over_several_pieces(db: Path) -> None:
    long_text = KOREAN * 3000  # about 90,000 characters, 270 KB in UTF-8
    prompt = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": long_text},
        {
            "role": "user",
            "content": [{"type": "text", "text": "요약해 주세요.\n짧게."}],
        },
    ]
    completion = [{"role": "assistant", "content": "요약: 모든 것이 기록됩니다."}]
    rows = message_rows(prompt, completion)
    assert sum("RequestMessages" in row for row in rows) >= 3
    fill(db, [LogRecord(gateway_row(1), [usage_row(), *rows])])
    out = io.StringIO()

    found = show(db, "req-01", out=out)

    assert found is True
    text = out.getvalue()
    messages = text[text.index("Prompt (") :]
    assert messages == (
        "Prompt (3 messages)\n"
        "  [system]\n"
        "    You are a helpful assistant.\n"
        "  [user]\n"
        f"    {long_text}\n"
        "  [user]\n"
        "    요약해 주세요.\n"
        "    짧게.\n"
        "Completion (1 message)\n"
        "  [assistant]\n"
        "    요약: 모든 것이 기록됩니다.\n"
    )


def test_show_prints_the_request_headers_and_usage(db: Path) -> None:
    gateway = gateway_row(
        1,
        RequestHeaders='{"content-type":"application/json","accept":["a","b"]}',
        ResponseHeaders='{"x-ms-region":"Korea Central"}',
        ResponseBody='{"id":"c1"}',
    )
    llm = [usage_row(RequestMessagesTruncated=1), *message_rows([], [])]
    fill(db, [LogRecord(gateway, llm)])
    out = io.StringIO()

    show(db, "req-01", out=out)

    text = out.getvalue()
    assert text.startswith("Request req-01\n  TimeGenerated       2026-12-03")
    assert "  ApimSubscriptionId  sub-alpha\n" in text
    assert "  TotalTime           153.4\n" in text
    assert (
        "Request headers\n"
        "  content-type: application/json\n"
        "  accept: a, b\n"
        "Response headers\n"
        "  x-ms-region: Korea Central\n"
        "Response body\n"
        '  {"id":"c1"}\n'
        "Usage\n"
    ) in text
    assert re.search(r"^  PromptTokens +12$", text, re.MULTILINE)
    assert re.search(r"^  TokenCountSource +backend$", text, re.MULTILINE)
    assert "Prompt (0 messages) (truncated)\n" in text
    assert "RequestBody" not in text


def test_show_prints_tool_calls_and_choice_shaped_messages(db: Path) -> None:
    completion = [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "t1", "function": {"name": "f"}}],
            },
            "finish_reason": "tool_calls",
        }
    ]
    fill(db, [LogRecord(gateway_row(1), [usage_row(), *message_rows([], completion)])])
    out = io.StringIO()

    show(db, "req-01", out=out)

    assert out.getvalue().endswith(
        "Completion (1 message)\n"
        "  [assistant]\n"
        '    tool_calls: [{"id":"t1","function":{"name":"f"}}]\n'
        "    index: 0\n"
        "    finish_reason: tool_calls\n"
    )


def test_show_prints_pieces_that_are_not_json_as_stored(db: Path) -> None:
    llm = [usage_row(), {"SequenceNumber": 1, "RequestMessages": '[{"role": "us'}]
    fill(db, [LogRecord(gateway_row(1), llm)])
    out = io.StringIO()

    show(db, "req-01", out=out)

    assert out.getvalue().endswith(
        'Prompt (not valid JSON, shown as stored)\n  [{"role": "us\n'
    )


def test_show_returns_false_for_an_unknown_request(db: Path) -> None:
    fill(db, [LogRecord(gateway_row(1), [usage_row()])])
    out = io.StringIO()

    assert show(db, "req-99", out=out) is False
    assert out.getvalue() == ""


def test_show_reads_a_database_another_connection_is_writing(db: Path) -> None:
    fill(db, [LogRecord(gateway_row(1), [usage_row()])])
    writer = sqlite3.connect(db)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM ApiManagementGatewayLogs")  # not committed

        assert show(db, "req-01", out=io.StringIO()) is True
    finally:
        writer.rollback()
        writer.close()


# Two ids of the same millisecond: UUIDv7s share their first characters.
SAME_START = (
    "01a241fa-5b10-7c3e-8a41-0c9d5e7f1a2b",
    "01a241fa-5b10-7d02-9e77-41f0b2c3d4e5",
)


@pytest.mark.parametrize(
    ("given", "found"),
    [
        ("0c9d5e7f1a2b", SAME_START[0]),
        ("7f1a2b", SAME_START[0]),
        ("41f0b2c3d4e5"[-8:], SAME_START[1]),
        ("01a241fa-5b10-7d", SAME_START[1]),
    ],
)
def test_show_finds_a_request_by_the_start_or_end_of_its_id(
    db: Path, given: str, found: str
) -> None:
    fill(
        db,
        [
            LogRecord(gateway_row(n, CorrelationId=cid), [])
            for n, cid in enumerate(SAME_START)
        ],
    )
    out = io.StringIO()

    assert show(db, given, out=out) is True
    assert found in out.getvalue()


def test_tail_prints_the_end_of_each_id_which_tells_them_apart(db: Path) -> None:
    fill(
        db,
        [
            LogRecord(gateway_row(n, CorrelationId=cid), [])
            for n, cid in enumerate(SAME_START)
        ],
    )
    out = io.StringIO()

    tail(db, follow=False, out=out, last=2)

    shown = [row.split()[1] for row in out.getvalue().splitlines()[1:]]
    assert shown == ["5e7f1a2b", "b2c3d4e5"]


def test_show_refuses_a_start_that_several_ids_share(db: Path) -> None:
    fill(
        db,
        [
            LogRecord(gateway_row(n, CorrelationId=cid), [])
            for n, cid in enumerate(SAME_START)
        ],
    )

    with pytest.raises(StoreError, match="starts or ends with '01a241fa'"):
        show(db, "01a241fa", out=io.StringIO())
