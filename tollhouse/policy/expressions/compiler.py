"""Compiling syntax trees into trees of Python closures.

Each expression node becomes a `Compiled`: a closure taking the
`Evaluation` and returning the value, plus the node's static type when it
is known.  Names are resolved here, once: a local becomes a slot index,
``context`` the evaluation's context, ``Math`` or ``JObject`` a type
table; members of a known static type are looked up now, so a misspelt or
unsupported member fails when the policy loads.  Members of values whose
type is only known when the expression runs (``context.Variables["x"]``)
are looked up then, in the same tables.

The compiler is assembled from three parts: this module (literals, names,
operators, casts, assignment), `members` (member access, calls, indexers,
``new``, lambdas) and `blocks` (statements).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...errors import ExpressionError, PolicyDocumentError
from . import conversions, operators
from . import syntax as s
from .formatting import align, format_value, to_text
from .lexer import Source
from .library import LIBRARY, NAMESPACES, VOID, Library
from .runtime import Evaluation, check_length
from .types import NOT_CONSTANT, Char, CsType

Code = Callable[[Evaluation], object]

MAX_TREE_DEPTH = 100

# Numeric kinds that are also type names (char and enum are not results).
_RESULT_KINDS = ("int", "long", "double", "decimal")
_SPECIAL_OPERANDS = ("DateTime", "TimeSpan", "bool", "DateTime?")


@dataclass(slots=True)
class Compiled:
    """A compiled expression: its closure, static type and constant value."""

    code: Code
    type: CsType | None = None
    constant: object = NOT_CONSTANT

    @property
    def known(self) -> bool:
        """Whether the static type says which members exist."""
        return self.type is not None and self.type.name != "object"


@dataclass(slots=True)
class Local:
    """A local variable: where it lives in `Evaluation.slots`, and its type."""

    slot: int
    type: CsType | None
    readonly: bool = False


class Scope:
    """Locals visible in a block; C# forbids hiding an outer local."""

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.names: dict[str, Local] = {}

    def find(self, name: str) -> Local | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None


def constant(value: object, cs_type: CsType | None) -> Compiled:
    """A compiled constant (a literal, or a value folded at load time)."""
    return Compiled(lambda ev: value, cs_type, value)


class CompilerBase:
    """State shared by the compiler's parts, and the expression dispatch."""

    def __init__(self, source: Source, library: Library = LIBRARY) -> None:
        self.source = source
        self.library = library
        self.scope = Scope()
        self.slot_count = 0
        self.bindings: list[tuple[int, CsType | None]] = []
        self.depth = 0
        self.loops = 0
        self.switches = 0

    def error(self, message: str, node: s.Node | int) -> PolicyDocumentError:
        offset = node if isinstance(node, int) else node.offset
        return self.source.error(message, offset)

    def new_slot(self) -> int:
        self.slot_count += 1
        return self.slot_count - 1

    def named_type(self, name: str) -> CsType:
        found = self.library.named(name)
        assert found is not None, name
        return found

    def resolve_type(self, name: s.TypeName) -> CsType:
        resolved = self.library.resolve(name)
        if isinstance(resolved, str):
            raise self.error(resolved, name)
        return resolved

    def expr(self, node: s.Expr, *, void: bool = False) -> Compiled:
        """Compile one expression node; ``void`` allows a call that returns nothing."""
        self.depth += 1
        if self.depth > MAX_TREE_DEPTH:
            raise self.error(
                f"expression nested more than {MAX_TREE_DEPTH} levels deep", node
            )
        try:
            handler = getattr(self, "_" + type(node).__name__.lower())
            compiled: Compiled = handler(node)
        finally:
            self.depth -= 1
        if not void and compiled.type is VOID:
            raise self.error(
                "this call returns nothing (void): it is not a value", node
            )
        return compiled

    def assign_index(self, node: s.Assign) -> Compiled:
        """``obj[key] = value``; see `members.Members`."""
        raise NotImplementedError

    def run_check(self, check: Callable[[], None], node: s.Node) -> None:
        """Run a load-time check that fails the way the runtime would."""
        try:
            check()
        except ExpressionError as exc:
            raise self.error(str(exc), node) from None


class Expressions(CompilerBase):
    """Literals, names, operators, casts and assignment."""

    def _literal(self, node: s.Literal) -> Compiled:
        value = Char(str(node.value)) if node.kind == "char" else node.value
        known = node.kind != "null"
        return constant(value, self.named_type(node.kind) if known else None)

    def _interpolated(self, node: s.Interpolated) -> Compiled:
        pieces: list[Code] = []
        for part in node.parts:
            if isinstance(part, str):
                pieces.append(constant(part, None).code)
            else:
                pieces.append(self._hole(part))

        def run(ev: Evaluation) -> object:
            text = "".join([str(piece(ev)) for piece in pieces])
            check_length(len(text))
            ev.charge(len(text))
            return text

        return Compiled(run, self.named_type("string"))

    def _hole(self, hole: s.InterpolatedHole) -> Code:
        value = self.expr(hole.expr).code
        spec = hole.format
        width = 0
        if hole.alignment is not None:
            alignment = (
                self.expr(hole.alignment) if _is_number(hole.alignment) else None
            )
            if alignment is None or type(alignment.constant) is not int:
                raise self.error(
                    "an interpolation alignment must be a constant integer",
                    hole.alignment,
                )
            width = alignment.constant

        def run(ev: Evaluation) -> str:
            found = value(ev)
            text = format_value(found, spec) if spec else to_text(found)
            return align(text, width) if width else text

        return run

    def _name(self, node: s.Name) -> Compiled:
        local = self.scope.find(node.name)
        if local is not None:
            slot = local.slot
            return Compiled(lambda ev: ev.slots[slot], local.type)
        if node.name == "context":
            return Compiled(
                lambda ev: ev.context, self.named_type("IProxyRequestContext")
            )
        refused = self.library.refusal([node.name])
        if refused:
            raise self.error(refused, node)
        if self.library.named(node.name) is not None:
            raise self.error(f"'{node.name}' is a type, not a value", node)
        if node.name in NAMESPACES:
            raise self.error(f"'{node.name}' is a namespace, not a value", node)
        raise self.error(f"unknown name '{node.name}'", node)

    # Operators

    def _unary(self, node: s.Unary) -> Compiled:
        if node.op in ("++", "--"):
            return self.increment(node.operand, node.op, prefix=True)
        operand = self.expr(node.operand)
        code = operand.code
        if node.op == "!":
            return Compiled(
                lambda ev: operators.logical_not(code(ev)), self.named_type("bool")
            )
        if node.op == "-":
            if isinstance(operand.constant, int | float) and not isinstance(
                operand.constant, bool
            ):
                return constant(-operand.constant, operand.type)
            return Compiled(lambda ev: operators.negate(code(ev)), operand.type)
        if node.op == "~":
            return Compiled(lambda ev: operators.complement(code(ev)), operand.type)
        return operand

    def _postfix(self, node: s.Postfix) -> Compiled:
        return self.increment(node.operand, node.op, prefix=False)

    def increment(self, target: s.Expr, op: str, *, prefix: bool) -> Compiled:
        local = self.assignable_local(target)
        slot = local.slot
        kind = local.type.numeric if local.type else None
        step = operators.binary("+" if op == "++" else "-", kind, "int")

        def run(ev: Evaluation) -> object:
            old = ev.slots[slot]
            new = step(old, 1)
            ev.slots[slot] = new
            return new if prefix else old

        return Compiled(run, local.type)

    def _binary(self, node: s.Binary) -> Compiled:
        if node.op in ("&&", "||"):
            return self._logical(node)
        if node.op == "??":
            return self._coalesce(node)
        spine: list[tuple[str, s.Expr, s.Binary]] = []
        left: s.Expr = node
        while isinstance(left, s.Binary) and left.op not in ("&&", "||", "??"):
            spine.append((left.op, left.right, left))
            left = left.left
        first = self.expr(left)
        if len(spine) == 1:
            return self._apply(node.op, first, self.expr(node.right), node)
        return self._chain(first, spine[::-1])

    def _chain(
        self, first: Compiled, spine: list[tuple[str, s.Expr, s.Binary]]
    ) -> Compiled:
        """``a + b - c …`` evaluated in a loop, however long the chain."""
        steps: list[tuple[Callable[[object, object], object], Code]] = []
        current = first
        for op, right_node, at in spine:
            right = self.expr(right_node)
            fn, result_type = self._operator(op, current, right, at)
            steps.append((fn, right.code))
            current = Compiled(right.code, result_type)
        start = first.code

        def run(ev: Evaluation) -> object:
            value = start(ev)
            for fn, code in steps:
                value = fn(value, code(ev))
            if type(value) is str:
                ev.charge(len(value))
            return value

        return Compiled(run, current.type)

    def _apply(
        self, op: str, left: Compiled, right: Compiled, node: s.Node
    ) -> Compiled:
        fn, result_type = self._operator(op, left, right, node)
        lcode, rcode = left.code, right.code
        if op == "+" and result_type is not None and result_type.name == "string":

            def concat(ev: Evaluation) -> object:
                text = operators.concat(lcode(ev), rcode(ev))
                ev.charge(len(text))
                return text

            return Compiled(concat, result_type)
        return Compiled(lambda ev: fn(lcode(ev), rcode(ev)), result_type)

    def _operator(
        self, op: str, left: Compiled, right: Compiled, node: s.Node
    ) -> tuple[Callable[[object, object], object], CsType | None]:
        lt, rt = left.type, right.type
        bool_type = self.named_type("bool")
        if op == "==":
            return operators.equals, bool_type
        if op == "!=":
            return operators.not_equals, bool_type
        if op in operators.ORDERING:
            self._check_operands(op, lt, rt, node)
            return operators.comparison(op), bool_type
        if op == "+" and any(t is not None and t.name == "string" for t in (lt, rt)):
            return operators.concat, self.named_type("string")
        self._check_operands(op, lt, rt, node)
        lk = lt.numeric if lt else None
        rk = rt.numeric if rt else None
        kind = (
            operators.promote(lk, rk)
            if op not in operators.SHIFTS
            else operators.promote(lk, "int")
        )
        result = self.named_type(kind) if kind in _RESULT_KINDS else None
        if result is None and lt is not None and rt is not None and lt.name == rt.name:
            result = (
                lt if lt.name in ("bool", "TimeSpan") or lt.numeric == "enum" else None
            )
        return operators.binary(op, lk, rk), result

    def _check_operands(
        self, op: str, lt: CsType | None, rt: CsType | None, node: s.Node
    ) -> None:
        """Refuse operands C# would refuse, when both static types are known."""
        if lt is None or rt is None or "object" in (lt.name, rt.name):
            return
        usable = all(t.numeric or t.name in _SPECIAL_OPERANDS for t in (lt, rt))
        if op in operators.ORDERING and "bool" in (lt.name, rt.name):
            usable = False
        if not usable:
            raise self.error(
                f"operator '{op}' cannot be applied to operands of type "
                f"'{lt.name}' and '{rt.name}'",
                node,
            )

    def _logical(self, node: s.Binary) -> Compiled:
        operands: list[s.Expr] = []
        left: s.Expr = node
        while isinstance(left, s.Binary) and left.op == node.op:
            operands.append(left.right)
            left = left.left
        operands.append(left)
        codes = [self.expr(operand).code for operand in reversed(operands)]
        want = node.op == "||"
        check = operators.require_bool

        def run(ev: Evaluation) -> object:
            for code in codes:
                if check(code(ev)) is want:
                    return want
            return not want

        return Compiled(run, self.named_type("bool"))

    def _coalesce(self, node: s.Binary) -> Compiled:
        left, right = self.expr(node.left), self.expr(node.right)
        lcode, rcode = left.code, right.code

        def run(ev: Evaluation) -> object:
            value = lcode(ev)
            return rcode(ev) if value is None else value

        return Compiled(run, self._common_type(left, right))

    def _conditional(self, node: s.Conditional) -> Compiled:
        condition = self.expr(node.condition).code
        then, otherwise = self.expr(node.then), self.expr(node.otherwise)
        tcode, ocode = then.code, otherwise.code
        check = operators.require_bool

        def run(ev: Evaluation) -> object:
            return tcode(ev) if check(condition(ev)) else ocode(ev)

        return Compiled(run, self._common_type(then, otherwise))

    def _common_type(self, a: Compiled, b: Compiled) -> CsType | None:
        """The static type of ``c ? a : b`` or ``a ?? b``, None when unsure."""
        if a.type is None or b.type is None:
            if a.constant is None:
                return b.type
            return a.type if b.constant is None else None
        if a.type.name == b.type.name:
            return a.type
        kind = operators.promote(a.type.numeric, b.type.numeric)
        return self.named_type(kind) if kind in _RESULT_KINDS else None

    # Types

    def _cast(self, node: s.Cast) -> Compiled:
        target = self.resolve_type(node.type)
        operand = self.expr(node.operand)
        code = operand.code
        if (
            operand.type is not None
            and operand.type.numeric
            and target.numeric in ("int", "long", "double", "decimal", "char")
        ):
            kind = target.numeric

            def numeric(ev: Evaluation) -> object:
                value = code(ev)
                if value is None:
                    return conversions.cast(None, target)
                return conversions.to_numeric(value, kind)

            return Compiled(numeric, target)
        return Compiled(lambda ev: conversions.cast(code(ev), target), target)

    def _as(self, node: s.As) -> Compiled:
        target = self.resolve_type(node.type)
        if not target.can_be_null:
            raise self.error(
                "the 'as' operator needs a reference or nullable type, "
                f"not '{target.name}'",
                node.type,
            )
        code = self.expr(node.operand).code
        return Compiled(lambda ev: conversions.as_type(code(ev), target), target)

    def _is(self, node: s.Is) -> Compiled:
        code = self.expr(node.operand).code
        negated = node.negated
        bool_type = self.named_type("bool")
        if node.type is None:
            return Compiled(lambda ev: (code(ev) is None) != negated, bool_type)
        target = self.resolve_type(node.type)
        if node.designation is None:
            return Compiled(
                lambda ev: conversions.is_type(code(ev), target) != negated, bool_type
            )
        slot = self.declare(node.designation, target, node)

        def run(ev: Evaluation) -> object:
            value = code(ev)
            if conversions.is_type(value, target):
                ev.slots[slot] = value
                return True
            return False

        return Compiled(run, bool_type)

    def declare(
        self, name: str, cs_type: CsType | None, node: s.Node, *, readonly: bool = False
    ) -> int:
        """A new local in the current scope; its slot."""
        if self.scope.find(name) is not None:
            raise self.error(
                f"a local named '{name}' is already defined in this scope", node
            )
        if name == "context":
            raise self.error("'context' cannot be redeclared", node)
        slot = self.new_slot()
        self.scope.names[name] = Local(slot, cs_type, readonly)
        return slot

    # Assignment

    def _assign(self, node: s.Assign) -> Compiled:
        if isinstance(node.target, s.Index):
            return self.assign_index(node)
        local = self.assignable_local(node.target)
        value = self._assigned_value(node, local)
        slot, code = local.slot, value.code

        def run(ev: Evaluation) -> object:
            result = code(ev)
            ev.slots[slot] = result
            return result

        return Compiled(run, local.type)

    def _assigned_value(self, node: s.Assign, local: Local) -> Compiled:
        value = self.expr(node.value)
        if node.op == "=":
            return self.converted(value, local.type, node.value)
        current = Compiled(lambda ev: ev.slots[local.slot], local.type)
        if node.op == "??=":
            rcode = value.code
            return Compiled(
                lambda ev: (
                    ev.slots[local.slot]
                    if ev.slots[local.slot] is not None
                    else rcode(ev)
                ),
                local.type,
            )
        combined = self._apply(node.op[:-1], current, value, node)
        return self.converted(combined, local.type, node, explicit=True)

    def assignable_local(self, target: s.Expr) -> Local:
        if isinstance(target, s.Name):
            local = self.scope.find(target.name)
            if local is not None:
                if local.readonly:
                    raise self.error(
                        f"cannot assign to '{target.name}': "
                        "it is a foreach iteration variable",
                        target,
                    )
                return local
            if target.name == "context":
                raise self.error("'context' is read-only", target)
            raise self.error(f"unknown name '{target.name}'", target)
        if isinstance(target, s.Member):
            raise self.error(
                f"'{target.name}' is read-only: "
                "only locals and indexers can be assigned",
                target,
            )
        raise self.error("only locals and indexers can be assigned", target)

    def converted(
        self,
        value: Compiled,
        target: CsType | None,
        node: s.Node,
        *,
        explicit: bool = False,
    ) -> Compiled:
        """``value`` as stored in a local of type ``target`` (implicit conversions)."""
        if target is None or target.name == "object" or value.constant is None:
            return value
        if value.type is None:
            code = value.code
            return Compiled(lambda ev: conversions.cast(code(ev), target), target)
        source = value.type
        if (
            source.name == "string"
            and target.numeric
            or target.name == "string"
            and (source.numeric or source.name == "bool")
        ):
            raise self.error(
                f"cannot implicitly convert type '{source.name}' to '{target.name}'",
                node,
            )
        if (
            target.numeric in ("double", "decimal", "long", "int")
            and source.numeric
            and source.numeric != target.numeric
        ):
            kind, code = target.numeric, value.code
            narrowing = {"double": 3, "decimal": 3, "long": 2, "int": 1}
            if not explicit and narrowing.get(source.numeric, 0) > narrowing[kind]:
                raise self.error(
                    f"cannot implicitly convert type '{source.name}' "
                    f"to '{target.name}'",
                    node,
                )
            return Compiled(lambda ev: _convert_or_null(code(ev), kind), target)
        return value


def _is_number(node: s.Expr) -> bool:
    """A literal number, possibly negated (an interpolation alignment)."""
    if isinstance(node, s.Unary) and node.op == "-":
        node = node.operand
    return isinstance(node, s.Literal) and node.kind == "int"


def _convert_or_null(value: object, kind: str) -> object:
    return None if value is None else conversions.to_numeric(value, kind)
