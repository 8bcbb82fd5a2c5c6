"""Compiling ``@{ … }`` statements, and the compiler's entry point.

A statement compiles to a closure returning how it ended: `NORMAL`,
`BREAK`, `CONTINUE` or `RETURN` (the value then waits in
``Evaluation.result``).  Every statement and every loop iteration counts
one step.  A block must return a value on every path, as C# requires of
APIM's statement expressions.
"""

from __future__ import annotations

from collections.abc import Callable

from . import syntax as s
from .compiler import Code, Compiled, Scope
from .conversions import cast, default_value
from .lexer import Source
from .lib_collections import iterate
from .operators import require_bool
from .runtime import Evaluation
from .switches import Switches, Test
from .types import CsType

Exec = Callable[[Evaluation], int]

NORMAL, BREAK, CONTINUE, RETURN = 0, 1, 2, 3


class Compiler(Switches):
    """Compiles a whole expression or statement block."""

    def compile(self, tree: s.Expr | s.Block) -> Code:
        if not isinstance(tree, s.Block):
            return self.expr(tree).code
        body = self.statement(tree)
        if not always_returns(tree):
            raise self.error(
                "not all code paths return a value: end the block with 'return'", tree
            )

        def run(ev: Evaluation) -> object:
            body(ev)
            return ev.result

        return run

    def statement(self, node: s.Stmt) -> Exec:
        self.depth += 1
        try:
            handler: Callable[[s.Stmt], Exec] = getattr(self, _STATEMENTS[type(node)])
            return handler(node)
        finally:
            self.depth -= 1

    def _block(self, node: s.Block) -> Exec:
        outer = self.scope
        self.scope = Scope(outer)
        try:
            body = [self.statement(stmt) for stmt in node.statements]
        finally:
            self.scope = outer
        return _sequence(body)

    def _local_decl(self, node: s.LocalDecl) -> Exec:
        declared = self.resolve_type(node.type) if node.type is not None else None
        steps = [self._declarator(d, declared) for d in node.declarators]

        def run(ev: Evaluation) -> int:
            ev.tick()
            for slot, code in steps:
                ev.slots[slot] = code(ev)
            return NORMAL

        return run

    def _declarator(
        self, node: s.Declarator, declared: CsType | None
    ) -> tuple[int, Code]:
        if node.value is None:
            assert declared is not None
            zero = default_value(declared)
            value = Compiled(lambda ev: zero, declared)
        else:
            value = self.expr(node.value)
            if declared is None and value.constant is None and value.type is None:
                raise self.error(
                    "cannot assign null to an implicitly typed local ('var')", node
                )
            value = self.converted(value, declared, node.value)
        slot = self.declare(node.name, declared or value.type, node)
        return slot, value.code

    def _expr_stmt(self, node: s.ExprStmt) -> Exec:
        code = self.expr(node.expr, void=True).code

        def run(ev: Evaluation) -> int:
            ev.tick()
            code(ev)
            return NORMAL

        return run

    def _if(self, node: s.If) -> Exec:
        branches = [
            (self.expr(condition).code, self.statement(then))
            for condition, then in node.branches
        ]
        otherwise = (
            self.statement(node.otherwise) if node.otherwise is not None else None
        )

        def run(ev: Evaluation) -> int:
            for condition, then in branches:
                ev.tick()
                if require_bool(condition(ev)):
                    return then(ev)
            return otherwise(ev) if otherwise is not None else NORMAL

        return run

    def _return(self, node: s.Return) -> Exec:
        if node.value is None:
            raise self.error(
                "a policy expression must return a value: 'return value;'", node
            )
        code = self.expr(node.value).code

        def run(ev: Evaluation) -> int:
            ev.tick()
            ev.result = code(ev)
            return RETURN

        return run

    def _foreach(self, node: s.Foreach) -> Exec:
        source = self.expr(node.source)
        declared = self.resolve_type(node.type) if node.type is not None else None
        element = declared or (source.type.element if source.type is not None else None)
        outer = self.scope
        self.scope = Scope(outer)
        try:
            slot = self.declare(node.name, element, node, readonly=True)
            body = self._loop_body(node.body)
        finally:
            self.scope = outer
        scode = source.code

        def run(ev: Evaluation) -> int:
            ev.tick()
            for item in iterate(scode(ev)):
                ev.tick()
                ev.slots[slot] = cast(item, declared) if declared is not None else item
                status = body(ev)
                if status == BREAK:
                    break
                if status == RETURN:
                    return RETURN
            return NORMAL

        return run

    def _loop_body(self, node: s.Stmt) -> Exec:
        self.loops += 1
        try:
            return self.statement(node)
        finally:
            self.loops -= 1

    def _for(self, node: s.For) -> Exec:
        outer = self.scope
        self.scope = Scope(outer)
        try:
            init = [self.statement(stmt) for stmt in node.init]
            condition = (
                self.expr(node.condition).code if node.condition is not None else None
            )
            updates = [self.expr(update, void=True).code for update in node.updates]
            body = self._loop_body(node.body)
        finally:
            self.scope = outer

        def run(ev: Evaluation) -> int:
            for stmt in init:
                stmt(ev)
            while condition is None or require_bool(condition(ev)):
                ev.tick()
                status = body(ev)
                if status == BREAK:
                    break
                if status == RETURN:
                    return RETURN
                for update in updates:
                    update(ev)
            return NORMAL

        return run

    def _while(self, node: s.While) -> Exec:
        condition = self.expr(node.condition).code
        body = self._loop_body(node.body)
        first = node.do

        def run(ev: Evaluation) -> int:
            check = not first
            while not check or require_bool(condition(ev)):
                check = True
                ev.tick()
                status = body(ev)
                if status == BREAK:
                    break
                if status == RETURN:
                    return RETURN
            return NORMAL

        return run

    def _switch(self, node: s.Switch) -> Exec:
        subject = self.expr(node.subject)
        defaults = [
            label
            for section in node.sections
            for label in section.labels
            if label.pattern is None
        ]
        if len(defaults) > 1:
            raise self.error("a switch can have only one 'default' label", defaults[1])
        outer = self.scope
        self.scope = Scope(outer)
        self.switches += 1
        try:
            sections = [self._section(sec, subject.type) for sec in node.sections]
        finally:
            self.switches -= 1
            self.scope = outer
        arms = [(test, i) for i, (tests, _) in enumerate(sections) for test in tests]
        default = next(
            (
                i
                for i, section in enumerate(node.sections)
                if any(label.pattern is None for label in section.labels)
            ),
            None,
        )
        bodies = [body for _, body in sections]
        scode = subject.code

        def run(ev: Evaluation) -> int:
            ev.tick()
            value = scode(ev)
            chosen = next((i for test, i in arms if test(ev, value)), default)
            if chosen is None:
                return NORMAL
            status = bodies[chosen](ev)
            return NORMAL if status == BREAK else status

        return run

    def _section(
        self, node: s.SwitchSection, subject: CsType | None
    ) -> tuple[list[Test], Exec]:
        """A section's label tests (default has none) and its statements."""
        tests = [
            self.guarded(self.compile_pattern(label.pattern, subject), label.guard)
            for label in node.labels
            if label.pattern is not None
        ]
        if not _leaves(s.Block(node.offset, node.statements)):
            raise self.error(
                "control cannot fall through from one case label to another: "
                "end the section with 'break;' or 'return …;'",
                node,
            )
        return tests, _sequence([self.statement(stmt) for stmt in node.statements])

    def _jump(self, node: s.Jump) -> Exec:
        if node.kind == "break" and not (self.loops or self.switches):
            raise self.error(
                "no enclosing loop or switch out of which to 'break'", node
            )
        if node.kind == "continue" and not self.loops:
            raise self.error("no enclosing loop out of which to 'continue'", node)
        status = BREAK if node.kind == "break" else CONTINUE
        return lambda ev: status

    def _empty(self, node: s.Empty) -> Exec:
        return lambda ev: NORMAL


_STATEMENTS = {
    s.Block: "_block",
    s.LocalDecl: "_local_decl",
    s.ExprStmt: "_expr_stmt",
    s.If: "_if",
    s.Return: "_return",
    s.Foreach: "_foreach",
    s.For: "_for",
    s.While: "_while",
    s.Jump: "_jump",
    s.Switch: "_switch",
    s.Empty: "_empty",
}


def _sequence(body: list[Exec]) -> Exec:
    """Statements run in order until one ends abruptly."""

    def run(ev: Evaluation) -> int:
        for stmt in body:
            status = stmt(ev)
            if status:
                return status
        return NORMAL

    return run


def always_returns(node: s.Stmt) -> bool:
    """Whether control cannot reach the end of ``node`` (C#'s rule, simplified)."""
    if isinstance(node, s.Return):
        return True
    if isinstance(node, s.Block):
        return any(always_returns(stmt) for stmt in node.statements)
    if isinstance(node, s.If):
        if node.otherwise is None or not always_returns(node.otherwise):
            return False
        return all(always_returns(then) for _, then in node.branches)
    if isinstance(node, s.While):
        endless = isinstance(node.condition, s.Literal) and node.condition.value is True
        return (endless and not _breaks(node.body)) or (
            node.do and always_returns(node.body)
        )
    if isinstance(node, s.For):
        return node.condition is None and not _breaks(node.body)
    if isinstance(node, s.Switch):
        sections = [s.Block(sec.offset, sec.statements) for sec in node.sections]
        has_default = any(
            label.pattern is None for sec in node.sections for label in sec.labels
        )
        return has_default and all(
            always_returns(body) and not _breaks(body) for body in sections
        )
    return False


def _leaves(node: s.Stmt) -> bool:
    """Whether control cannot reach the end of ``node``: it returns or jumps."""
    if isinstance(node, s.Jump):
        return True
    if isinstance(node, s.Block):
        return any(_leaves(stmt) for stmt in node.statements)
    if isinstance(node, s.If):
        if node.otherwise is None or not _leaves(node.otherwise):
            return False
        return all(_leaves(then) for _, then in node.branches)
    return always_returns(node)


def _breaks(node: s.Stmt) -> bool:
    """Whether a ``break`` in ``node`` leaves the loop that holds it."""
    if isinstance(node, s.Jump):
        return node.kind == "break"
    if isinstance(node, s.Block):
        return any(_breaks(stmt) for stmt in node.statements)
    if isinstance(node, s.If):
        if node.otherwise is not None and _breaks(node.otherwise):
            return True
        return any(_breaks(then) for _, then in node.branches)
    return False


def compile_tree(source: Source, tree: s.Expr | s.Block) -> tuple[Code, int]:
    """The closure for a parsed expression or block, and its slot count."""
    compiler = Compiler(source)
    code = compiler.compile(tree)
    return code, compiler.slot_count
