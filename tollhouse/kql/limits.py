"""Bounds on a query, so that compiling it stays cheap and its SQL runs.

Queries compile on the management API's threads while holding the GIL, so
compile time is time the gateway's other threads wait.  The text is bounded
before it is parsed (`check_text`), its parse tree before it is turned into
an `ast` (`check_tree`: ``let`` statements, ``|`` operators, nesting), and
what the compiler builds as it goes (`SqlSize`, `MAX_SOURCES`,
`MAX_COLUMNS`), which can outgrow the text: a column made from another
twice, used twice, doubles at each step.

`MAX_NESTING` also keeps most queries within SQLite's parser, whose stack
holds about 30 nested function calls and fewer nested ``CASE`` expressions.
A statement still too complex for a store fails when it runs, as a
`QueryError` all the same (see `run`).
"""

from __future__ import annotations

from lark import Token, Tree
from sqlglot import exp

from .ast import Pos
from .errors import fail

MAX_QUERY_CHARS = 65_536
"""Longest query text: parsing costs about 10 microseconds a character."""
MAX_LETS = 100
"""Most ``let`` statements."""
MAX_OPERATORS = 100
"""Most ``|`` operators in the whole query, its ``let`` statements and
subqueries included."""
MAX_NESTING = 20
"""Most levels expressions and subqueries may nest; a chain of one operator
(``a and b and c``, ``a + b - c``) is one level."""
MAX_SQL_NODES = 50_000
"""Most parts (names, values, operators) of the query's expressions once
the columns and ``let`` values they use are written out in full."""
MAX_SOURCES = 64
"""Most tables and subqueries the SQL may read, once tabular ``let``
values are written out where they are used."""
MAX_COLUMNS = 256
"""Most columns of one result, the query's or a subquery's: each ``join``
adds the right side's columns to the left's."""

WHOLE_QUERY = Pos(0, 0)
"""The position of an error about the query as a whole: no caret."""

_NESTS = frozenset(
    {"pipeline", "or_", "and_", "compare", "in_list", "between", "matches"}
    | {"binary", "negate", "member", "index", "call"}
)
_CHAINS = frozenset({"or_", "and_", "binary"})


def check_text(text: str) -> None:
    """Refuse a query text longer than `MAX_QUERY_CHARS`."""
    if len(text) > MAX_QUERY_CHARS:
        message = (
            f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}"
        )
        raise fail(message, WHOLE_QUERY)


def check_tree(tree: Tree[Token]) -> None:
    """Refuse a parse tree past `MAX_LETS`, `MAX_OPERATORS` or `MAX_NESTING`.

    Walks the tree in the text's order without recursion, so that any depth
    is refused quickly, at the first statement, operator or expression past
    the limit.
    """
    lets = operators = 0
    stack: list[tuple[Tree[Token], int, str]] = [(tree, 0, "")]
    while stack:
        node, depth, parent = stack.pop()
        if node.data == "let_stmt":
            lets += 1
            if lets > MAX_LETS:
                message = f"the query has more than {MAX_LETS} let statements"
                raise fail(message, _pos(node))
        elif node.data == "pipeline":
            operators += len(node.children) - 1
            if operators > MAX_OPERATORS:
                first_over = node.children[MAX_OPERATORS - operators]
                message = f"the query has more than {MAX_OPERATORS} operators"
                raise fail(message, _pos(first_over))
        if node.data in _NESTS and not _continues(node, parent):
            depth += 1
            if depth > MAX_NESTING:
                message = (
                    "the query is nested too deeply: expressions and subqueries"
                    f" nest at most {MAX_NESTING} levels"
                )
                raise fail(message, _pos(node))
        for index in reversed(range(len(node.children))):
            child = node.children[index]
            if isinstance(child, Tree):
                stack.append((child, depth, node.data if index == 0 else ""))


def _continues(node: Tree[Token], parent: str) -> bool:
    """True for the left operand of the same operator: ``a and b and c``."""
    return node.data in _CHAINS and node.data == parent


def _pos(node: Tree[Token] | Token) -> Pos:
    meta = node if isinstance(node, Token) else node.meta
    return Pos(getattr(meta, "line", 1) or 1, getattr(meta, "column", 1) or 1)


class SqlSize:
    """Counts the parts of the SQL a query compiles to, against `MAX_SQL_NODES`.

    The compiler shares a column's SQL wherever the column is used, so its
    trees are graphs; sizes are counted as printed (shared parts once per
    use), remembering each part's size so that counting stays linear.
    """

    def __init__(self) -> None:
        self.total = 0
        # id() of a part -> (the part, kept alive so the id stays its; size)
        self._sizes: dict[int, tuple[exp.Expression, int]] = {}

    def add(self, node: exp.Expression, pos: Pos, *, whole: bool) -> None:
        """Count ``node``, one of the query's expressions; fail past the limit.

        ``whole`` adds it to the total; a part of an expression still being
        compiled is only checked, so that a huge one stops early.
        """
        size = self.size(node)
        if self.total + size > MAX_SQL_NODES:
            raise fail(
                "the query is too large: its expressions come to more than"
                f" {MAX_SQL_NODES} parts once the columns and let values they"
                " use are written out",
                pos,
            )
        if whole:
            self.total += size

    def size(self, root: exp.Expression) -> int:
        """How many parts ``root`` prints as."""
        sizes = self._sizes
        stack = [root]
        while stack:
            node = stack[-1]
            if id(node) in sizes:
                stack.pop()
                continue
            children = list(node.iter_expressions())
            pending = [child for child in children if id(child) not in sizes]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            size = 1 + sum(sizes[id(child)][1] for child in children)
            sizes[id(node)] = (node, size)
        return sizes[id(root)][1]
