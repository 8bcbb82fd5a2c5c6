"""The regular expressions both stores share, and matching them in Python."""

from __future__ import annotations

import pytest

from tollhouse.kql.ast import Pos
from tollhouse.kql.deadline import Deadline
from tollhouse.kql.errors import CompileError
from tollhouse.kql.regex import bounded_search, check_regex, python_regex

#: Backtracks 2**24 ways in Python's engines; PostgreSQL's does not backtrack.
CATASTROPHIC = ("(a|a)+$", "/openai/" + "a" * 24 + "!")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a{256}", "repetition counts above 255 are not supported"),
        ("a{1,256}", "repetition counts above 255 are not supported"),
        (
            "(a{255}){255}",
            "the regular expression is too complex: its repetitions come to more"
            " than 10000 characters",
        ),
        (
            "((ab{1,50}){1,50}){1,50}",
            "the regular expression is too complex: its repetitions come to more"
            " than 10000 characters",
        ),
        (
            "x{255}" * 40,
            "the regular expression is too complex: its repetitions come to more"
            " than 10000 characters",
        ),
    ],
)
def test_patterns_past_what_postgresql_takes_are_refused(
    pattern: str, message: str
) -> None:
    with pytest.raises(CompileError) as caught:
        check_regex(pattern, Pos(1, 5))

    assert (caught.value.message, caught.value.pos) == (message, Pos(1, 5))


@pytest.mark.parametrize(
    "pattern",
    ["a{255}", "(a{100}){100}", "a{3,}", "[0-9a-f]{8}-[0-9a-f]{4}", "x{e<=1}", "[]$]"],
)
def test_patterns_within_the_bounds_are_accepted(pattern: str) -> None:
    check_regex(pattern, Pos(1, 1))


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        # `regex` reads {e<=1} as fuzzy matching; re and PostgreSQL as text.
        ("a{e<=1}", "a{e<=1}", "a{e<=1}"),
        ("a{e<=1}", "b", None),
        # A class whose first character is "]" holds the "$" too.
        ("[]$]+", "x]$", "]$"),
        ("c$", "abc\n", None),
        ("(?i)^ABC", "abc", "abc"),
        ("a.b", "a\nb", "a\nb"),
    ],
)
def test_python_reads_patterns_as_postgresql(
    pattern: str, text: str, found: str | None
) -> None:
    match = python_regex(pattern).search(text)

    assert (match.group() if match else None) == found


def test_a_search_within_its_deadline_finds_the_match() -> None:
    deadline = Deadline(5)

    match = bounded_search(python_regex("a+!$"), CATASTROPHIC[1], deadline)

    assert match is not None and match.group() == "a" * 24 + "!"
    assert deadline.passed is False


def test_a_search_that_runs_out_of_time_expires_the_deadline() -> None:
    deadline = Deadline(0.2)

    with pytest.raises(TimeoutError):
        bounded_search(python_regex(CATASTROPHIC[0]), CATASTROPHIC[1], deadline)

    assert deadline.passed is True


def test_no_search_starts_after_the_deadline() -> None:
    deadline = Deadline(0)

    with pytest.raises(TimeoutError):
        bounded_search(python_regex("a"), "a", deadline)

    assert deadline.passed is True
