"""What one evaluation carries: the context, the locals and its limits.

Every evaluation runs under three budgets, read from the module constants
below when it starts (tests lower them): a number of steps (each statement,
loop iteration, method call and lambda call is one), a wall time, and an
amount of data operations may produce (characters, and `ITEM_COST` per
collection item).  A single string may not grow beyond `MAX_STRING_LENGTH`
characters, nor a collection beyond `MAX_ITEMS` items; both are checked
before the string or collection is built.  Exceeding any limit is an
`ExpressionError`, like every other runtime failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

from ...errors import ExpressionError
from ..context import PolicyContext

MAX_STEPS = 100_000
MAX_SECONDS = 0.5
MAX_STRING_LENGTH = 4 * 1024 * 1024
MAX_ITEMS = 1_000_000
# Characters produced by operations in one evaluation; an item costs ITEM_COST.
MAX_PRODUCED = 16 * 1024 * 1024
ITEM_COST = 16
NODE_COST = 64

OUT_OF_RANGE = (
    "Index was out of range. "
    "Must be non-negative and less than the size of the collection."
)

# How often, in steps, the wall clock is read.
_CLOCK_EVERY = 64


def fail(message: str) -> NoReturn:
    """Stop the evaluation with a runtime failure."""
    raise ExpressionError(message)


def null_reference(what: str) -> NoReturn:
    """Fail as .NET's NullReferenceException does; ``what`` says what was tried."""
    fail(f"Object reference not set to an instance of an object ({what} of null).")


def check_length(size: int) -> None:
    """Refuse to build a string longer than the limit."""
    if size > MAX_STRING_LENGTH:
        fail(f"result too large: {size} characters (limit {MAX_STRING_LENGTH})")


def check_items(count: int) -> None:
    """Refuse to build a collection longer than the limit."""
    if count > MAX_ITEMS:
        fail(f"result too large: {count} items (limit {MAX_ITEMS})")


# A match object, of `re` or of `regex`.
_M = TypeVar("_M")


def bounded(expand: Callable[[_M], str], base: int) -> Callable[[_M], str]:
    """``expand``, failing once the replaced text would grow past the limit."""
    total = base

    def run(match: _M) -> str:
        nonlocal total
        piece = expand(match)
        total += len(piece)
        check_length(total)
        return piece

    return run


class Evaluation:
    """The state of one run of a compiled expression."""

    __slots__ = ("context", "slots", "steps", "deadline", "produced", "result")

    def __init__(self, context: PolicyContext, slot_count: int) -> None:
        self.context = context
        self.slots: list[object] = [None] * slot_count
        self.steps = MAX_STEPS
        self.deadline = time.perf_counter() + MAX_SECONDS
        self.produced = 0
        self.result: object = None

    def tick(self) -> None:
        """Count one step; check the step and time budgets."""
        self.steps -= 1
        if self.steps <= 0:
            fail(f"expression exceeded {MAX_STEPS} evaluation steps")
        if self.steps % _CLOCK_EVERY == 0:
            self.check_clock()

    def check_clock(self) -> None:
        if time.perf_counter() > self.deadline:
            fail(f"expression exceeded {MAX_SECONDS} seconds")

    def remaining(self) -> float:
        """Seconds left before the time limit, never negative.

        Work that cannot stop between steps (a regular expression match)
        takes this as its own timeout.
        """
        return max(self.deadline - time.perf_counter(), 0.0)

    def charge(self, amount: int) -> None:
        """Count characters produced by an operation."""
        self.produced += amount
        if self.produced > MAX_PRODUCED:
            fail(f"expression produced more than {MAX_PRODUCED} characters of data")
        if amount > 4096:
            self.check_clock()

    def make_room(self, count: int, cost: int = ITEM_COST) -> None:
        """Check and count a collection of ``count`` items before it is built."""
        check_items(count)
        self.charge(count * cost)


class Lambda:
    """A lambda argument (``x => x.Length > 2``) handed to a LINQ method."""

    __slots__ = ("evaluation", "slots", "body")

    def __init__(
        self,
        evaluation: Evaluation,
        slots: tuple[int, ...],
        body: Callable[[Evaluation], object],
    ) -> None:
        self.evaluation = evaluation
        self.slots = slots
        self.body = body

    @property
    def arity(self) -> int:
        return len(self.slots)

    def __call__(self, *args: object) -> object:
        ev = self.evaluation
        ev.tick()
        for slot, value in zip(self.slots, args, strict=False):
            ev.slots[slot] = value
        return self.body(ev)
