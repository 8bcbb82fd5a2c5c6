"""Policy expressions: the C# subset APIM users write, run by our own interpreter.

    expression = compile_expression(
        '@(context.Request.Headers.GetValueOrDefault("Authorization", ""))',
        source="policies/api.xml", line=12, column=31,
    )
    value = expression.evaluate(context)     # a PolicyContext
    header = to_text(value)                  # C#'s ToString()

`compile_expression` parses, resolves names and checks members once, when
the policy loads, and raises `PolicyDocumentError` pointing at the
offending token.  `Expression.evaluate` runs the compiled closures; any
failure, including exceeding the step, time and size limits of
`tollhouse.policy.expressions.runtime`, raises `ExpressionError`.  Python's
``eval``, ``exec`` and ``compile`` are never used, and expressions reach
Python objects only through the declared member tables.
"""

from __future__ import annotations

import logging

from ...errors import ExpressionError, PolicyDocumentError
from ..context import PolicyContext
from .blocks import compile_tree
from .compiler import Code
from .formatting import to_text
from .lexer import Source
from .runtime import Evaluation
from .statements import parse

__all__ = ["Expression", "compile_expression", "is_expression", "to_text"]

logger = logging.getLogger(__name__)


def is_expression(text: str) -> bool:
    """Whether an attribute value or element text is an expression."""
    return text.startswith(("@(", "@{"))


class Expression:
    """A compiled expression, ready to be evaluated many times."""

    __slots__ = ("text", "_code", "_slots")

    def __init__(self, text: str, code: Code, slot_count: int) -> None:
        self.text = text
        self._code = code
        self._slots = slot_count

    def evaluate(self, context: PolicyContext) -> object:
        """The expression's value for ``context``; failures raise `ExpressionError`."""
        evaluation = Evaluation(context, self._slots)
        try:
            return self._code(evaluation)
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError("expression nested too deeply to evaluate") from None
        except MemoryError:
            raise ExpressionError("expression ran out of memory") from None
        except Exception as exc:
            # A bug in the library, not in the policy: keep the trace, but
            # not the text, which may hold a secret named value.
            logger.error("expression failed unexpectedly", exc_info=True)
            raise ExpressionError(f"expression failed: {type(exc).__name__}") from exc

    def __repr__(self) -> str:
        return f"<Expression of {len(self.text)} characters>"


def compile_expression(
    text: str, *, source: str = "<expression>", line: int = 1, column: int = 1
) -> Expression:
    """Compile ``@( … )`` or ``@{ … }`` text that starts at ``line``:``column``."""
    where = Source(text, source, line, column)
    if not is_expression(text):
        raise where.error("an expression starts with '@(' or '@{'", 0)
    try:
        code, slot_count = compile_tree(where, parse(where))
    except PolicyDocumentError:
        raise
    except RecursionError:
        raise where.error("expression nested too deeply", 0) from None
    except Exception as exc:
        logger.error("expression failed to compile unexpectedly", exc_info=True)
        raise where.error(
            f"expression could not be compiled ({type(exc).__name__})", 0
        ) from exc
    return Expression(text, code, slot_count)
