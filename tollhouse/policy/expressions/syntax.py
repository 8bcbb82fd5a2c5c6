"""The syntax tree of an expression or a statement block.

Every node keeps ``offset``, where it starts in the source text, so that
the compiler's errors can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Node:
    offset: int


@dataclass(slots=True)
class TypeName(Node):
    """A type as written: ``string``, ``Newtonsoft.Json.Linq.JObject``, ``int?[]``."""

    parts: list[str]
    args: list[TypeName] = field(default_factory=list)
    nullable: bool = False
    rank: int = 0

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)

    def __str__(self) -> str:
        text = self.dotted
        if self.args:
            text += "<" + ", ".join(str(a) for a in self.args) + ">"
        return text + ("?" if self.nullable else "") + "[]" * self.rank


# Expressions


@dataclass(slots=True)
class Literal(Node):
    value: object
    kind: str  # int, long, double, decimal, string, char, bool, null


@dataclass(slots=True)
class InterpolatedHole(Node):
    expr: Expr
    alignment: Expr | None
    format: str | None


@dataclass(slots=True)
class Interpolated(Node):
    parts: list[str | InterpolatedHole]


@dataclass(slots=True)
class Name(Node):
    name: str


@dataclass(slots=True)
class Member(Node):
    target: Expr
    name: str
    name_offset: int
    type_args: list[TypeName] = field(default_factory=list)


@dataclass(slots=True)
class Argument(Node):
    value: Expr
    name: str | None = None


@dataclass(slots=True)
class OutVariable(Node):
    """``out var x``, ``out T x``, ``out x`` (an existing local) or ``out _``."""

    name: str
    type: TypeName | None = None  # None: ``var``, or an existing local
    declared: bool = True


@dataclass(slots=True)
class Call(Node):
    target: Expr  # Member or Name
    args: list[Argument]


@dataclass(slots=True)
class Index(Node):
    target: Expr
    args: list[Expr]


@dataclass(slots=True)
class Binding(Node):
    """The receiver inside a ``?.`` chain: ``a?.B.C`` is ``a`` bound, then ``.B.C``."""


@dataclass(slots=True)
class ConditionalAccess(Node):
    target: Expr
    access: Expr  # built on a Binding


@dataclass(slots=True)
class Unary(Node):
    op: str  # + - ! ~ ++ -- (prefix)
    operand: Expr


@dataclass(slots=True)
class Postfix(Node):
    op: str  # ++ --
    operand: Expr


@dataclass(slots=True)
class Binary(Node):
    op: str
    left: Expr
    right: Expr


@dataclass(slots=True)
class Conditional(Node):
    condition: Expr
    then: Expr
    otherwise: Expr


@dataclass(slots=True)
class Cast(Node):
    type: TypeName
    operand: Expr


@dataclass(slots=True)
class Is(Node):
    operand: Expr
    type: TypeName | None  # None: ``is null``
    negated: bool = False
    designation: str | None = None


@dataclass(slots=True)
class As(Node):
    operand: Expr
    type: TypeName


@dataclass(slots=True)
class Assign(Node):
    op: str  # = += -= *= /= %= &= |= ^= <<= >>= ??=
    target: Expr
    value: Expr


@dataclass(slots=True)
class Lambda(Node):
    params: list[str]
    body: Expr


@dataclass(slots=True)
class New(Node):
    type: TypeName
    args: list[Argument]


@dataclass(slots=True)
class NewAnonymous(Node):
    names: list[str]
    values: list[Expr]


@dataclass(slots=True)
class NewArray(Node):
    element: TypeName | None  # None: ``new[] { ... }``
    items: list[Expr]


# Patterns, in switch expressions and case labels


@dataclass(slots=True)
class ConstantPattern(Node):
    value: Expr


@dataclass(slots=True)
class RelationalPattern(Node):
    op: str  # < <= > >=
    value: Expr


@dataclass(slots=True)
class DiscardPattern(Node):
    """``_`` in a switch expression."""


@dataclass(slots=True)
class NotPattern(Node):
    pattern: Pattern


@dataclass(slots=True)
class CombinedPattern(Node):
    op: str  # and, or
    left: Pattern
    right: Pattern


Pattern = (
    ConstantPattern | RelationalPattern | DiscardPattern | NotPattern | CombinedPattern
)


@dataclass(slots=True)
class SwitchArm(Node):
    pattern: Pattern
    guard: Expr | None
    value: Expr


@dataclass(slots=True)
class SwitchExpression(Node):
    """``subject switch { pattern => value, … }``."""

    subject: Expr
    arms: list[SwitchArm]


Expr = (
    Literal
    | Interpolated
    | Name
    | Member
    | Call
    | Index
    | Binding
    | ConditionalAccess
    | Unary
    | Postfix
    | Binary
    | Conditional
    | Cast
    | Is
    | As
    | Assign
    | Lambda
    | New
    | NewAnonymous
    | NewArray
    | OutVariable
    | SwitchExpression
)


# Statements


@dataclass(slots=True)
class Block(Node):
    statements: list[Stmt]


@dataclass(slots=True)
class Declarator(Node):
    name: str
    value: Expr | None


@dataclass(slots=True)
class LocalDecl(Node):
    type: TypeName | None  # None: ``var``
    declarators: list[Declarator]


@dataclass(slots=True)
class ExprStmt(Node):
    expr: Expr


@dataclass(slots=True)
class If(Node):
    """``if (a) x; else if (b) y; else z;`` as one chain of branches."""

    branches: list[tuple[Expr, Stmt]]
    otherwise: Stmt | None


@dataclass(slots=True)
class Return(Node):
    value: Expr | None


@dataclass(slots=True)
class Foreach(Node):
    type: TypeName | None
    name: str
    source: Expr
    body: Stmt


@dataclass(slots=True)
class For(Node):
    init: list[Stmt]
    condition: Expr | None
    updates: list[Expr]
    body: Stmt


@dataclass(slots=True)
class While(Node):
    condition: Expr
    body: Stmt
    do: bool = False


@dataclass(slots=True)
class Jump(Node):
    kind: str  # break, continue


@dataclass(slots=True)
class CaseLabel(Node):
    """``case pattern when guard:``, or ``default:`` when ``pattern`` is None."""

    pattern: Pattern | None
    guard: Expr | None = None


@dataclass(slots=True)
class SwitchSection(Node):
    labels: list[CaseLabel]
    statements: list[Stmt]


@dataclass(slots=True)
class Switch(Node):
    subject: Expr
    sections: list[SwitchSection]


@dataclass(slots=True)
class Empty(Node):
    pass


Stmt = (
    Block
    | LocalDecl
    | ExprStmt
    | If
    | Return
    | Foreach
    | For
    | While
    | Jump
    | Switch
    | Empty
)
