"""Compiling patterns and ``switch`` expressions.

A pattern compiles to a test of the switch's subject: a constant compares
with C#'s ``==``, ``> 5`` and its kin compare numbers (never matching
null), ``_`` matches everything, and ``not``, ``and``, ``or`` combine them.
Only constants may appear in a pattern, as C# requires; type patterns
(``case string s:``) are refused by the parser.  The ``switch`` statement,
which uses the same patterns in its case labels, is compiled in `blocks`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from . import syntax as s
from .compiler import Code, Compiled
from .formatting import to_text
from .members import Members
from .operators import comparison, equals, kind_of, require_bool
from .runtime import Evaluation, fail
from .types import NOT_CONSTANT, Char, CsType

Test = Callable[[Evaluation, object], bool]

_NUMBERS = (int, float, Decimal, Char)


class Switches(Members):
    """Patterns, case labels and the switch expression."""

    def compile_pattern(self, node: s.Pattern, subject: CsType | None) -> Test:
        """The test a pattern makes of the switch's subject."""
        if isinstance(node, s.DiscardPattern):
            return lambda ev, value: True
        if isinstance(node, s.NotPattern):
            inner = self.compile_pattern(node.pattern, subject)
            return lambda ev, value: not inner(ev, value)
        if isinstance(node, s.CombinedPattern):
            left = self.compile_pattern(node.left, subject)
            right = self.compile_pattern(node.right, subject)
            if node.op == "and":
                return lambda ev, value: left(ev, value) and right(ev, value)
            return lambda ev, value: left(ev, value) or right(ev, value)
        wanted = self._pattern_constant(node.value, subject)
        if isinstance(node, s.RelationalPattern):
            return self._relational(node, wanted)
        return lambda ev, value: equals(value, wanted)

    def _pattern_constant(self, node: s.Expr, subject: CsType | None) -> object:
        compiled = self.expr(node)
        if compiled.constant is NOT_CONSTANT:
            raise self.error(
                'a pattern must be a constant such as 200, "GET" or null; '
                "compare other values in an 'if' or a 'when' clause",
                node,
            )
        found = compiled.type
        if subject is not None and found is not None and _unrelated(subject, found):
            raise self.error(
                f"a constant of type '{found.name}' cannot match "
                f"a value of type '{subject.name}'",
                node,
            )
        return compiled.constant

    def _relational(self, node: s.RelationalPattern, wanted: object) -> Test:
        if not isinstance(wanted, _NUMBERS) or isinstance(wanted, bool):
            raise self.error(
                f"'{node.op}' in a pattern needs a number, as in '{node.op} 400'",
                node.value,
            )
        compare = comparison(node.op)

        def run(ev: Evaluation, value: object) -> bool:
            return kind_of(value) is not None and compare(value, wanted)

        return run

    def guarded(self, test: Test, guard: s.Expr | None) -> Test:
        """``test`` followed by a ``when`` condition."""
        if guard is None:
            return test
        condition = self.expr(guard).code
        return lambda ev, value: test(ev, value) and require_bool(condition(ev))

    def _switchexpression(self, node: s.SwitchExpression) -> Compiled:
        subject = self.expr(node.subject)
        arms: list[tuple[Test, Code]] = []
        values: list[Compiled] = []
        for arm in node.arms:
            if arms and _catch_all(node.arms[len(arms) - 1]):
                raise self.error(
                    "this arm is never reached: an earlier '_' arm matches every value",
                    arm,
                )
            test = self.compile_pattern(arm.pattern, subject.type)
            value = self.expr(arm.value)
            arms.append((self.guarded(test, arm.guard), value.code))
            values.append(value)
        scode = subject.code

        def run(ev: Evaluation) -> object:
            found = scode(ev)
            for test, code in arms:
                if test(ev, found):
                    return code(ev)
            fail(
                "Non-exhaustive switch expression failed to match its input "
                f"(add a '_ => …' arm). Unmatched value was {to_text(found)}."
            )

        return Compiled(run, self._arms_type(values))

    def _arms_type(self, values: list[Compiled]) -> CsType | None:
        merged = values[0]
        for value in values[1:]:
            merged = Compiled(value.code, self._common_type(merged, value))
        return merged.type


def _unrelated(subject: CsType, constant: CsType) -> bool:
    """Whether C# refuses a constant of one type against a value of the other."""
    names = {subject.name, constant.name}
    if "string" not in names or len(names) == 1:
        return False
    other = constant if subject.name == "string" else subject
    return bool(other.numeric) or other.name == "bool"


def _catch_all(arm: s.SwitchArm) -> bool:
    return isinstance(arm.pattern, s.DiscardPattern) and arm.guard is None
