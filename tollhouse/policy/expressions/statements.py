"""Parsing ``@{ … }`` statement blocks and ``@( … )`` expressions.

`parse` is the entry point: it reads the whole attribute or element text
and returns either one expression or a block.
"""

from __future__ import annotations

from . import syntax as s
from .lexer import Source, tokenize
from .parser import Parser

_REFUSED = {
    "try": "'try' statements are not supported; a failing expression goes to on-error",
    "throw": "'throw' is not supported in policy expressions",
    "goto": "'goto' is not supported in policy expressions",
    "lock": "'lock' is not supported in policy expressions",
    "using": "'using' is not supported in policy expressions",
    "unsafe": "'unsafe' code is not supported in policy expressions",
    "fixed": "'fixed' is not supported in policy expressions",
    "const": "'const' locals are not supported; use 'var'",
    "class": "type declarations are not supported in policy expressions",
    "struct": "type declarations are not supported in policy expressions",
    "namespace": "namespaces cannot be declared in policy expressions",
}
# Expressions C# accepts as statements.
_STATEMENT_EXPRESSIONS = (s.Assign, s.Call, s.Postfix, s.New)


def parse(source: Source) -> s.Expr | s.Block:
    """The expression of ``@( … )`` or the block of ``@{ … }``."""
    text = source.text
    parser = StatementParser(source, tokenize(source, 1, len(text)))
    if text.startswith("@("):
        parser.expect("(")
        result: s.Expr | s.Block = parser.expression()
        parser.expect(")", "to close '@('")
    else:
        result = parser.block()
    if parser.token.kind != "end":
        raise parser.error(f"unexpected {parser.token.quoted()} after the expression")
    return result


class StatementParser(Parser):
    """Adds statements to the expression parser."""

    def block(self) -> s.Block:
        offset = self.expect("{").offset
        statements: list[s.Stmt] = []
        while not self.at("}"):
            if self.token.kind == "end":
                raise self.error(
                    "expected '}' to close the block but found end of expression"
                )
            statements.append(self.statement())
        self.advance()
        return s.Block(offset, statements)

    def statement(self) -> s.Stmt:
        self.nest()
        try:
            return self._statement()
        finally:
            self.depth -= 1

    def _statement(self) -> s.Stmt:
        token = self.token
        if self.at("{"):
            return self.block()
        if self.accept(";"):
            return s.Empty(token.offset)
        if token.kind == "keyword":
            handler = _KEYWORDS.get(token.text)
            if handler is not None:
                return handler(self)
            if token.text in _REFUSED:
                raise self.error(_REFUSED[token.text])
        if token.kind == "name" and token.text == "yield":
            raise self.error("'yield' is not supported in policy expressions")
        if token.kind == "name":
            self.refuse_asynchrony(token)
        declaration = self._declaration()
        if declaration is not None:
            self.expect(";", "after the declaration")
            return declaration
        return self._expression_statement()

    def _expression_statement(self) -> s.Stmt:
        token = self.token
        expr = self.expression()
        if not isinstance(expr, _STATEMENT_EXPRESSIONS) and not (
            isinstance(expr, s.Unary) and expr.op in ("++", "--")
        ):
            raise self.error(
                "only assignment, call, increment, decrement and new expressions "
                "can be used as a statement",
                token,
            )
        self.expect(";", "after the statement")
        return s.ExprStmt(token.offset, expr)

    def _declaration(self) -> s.LocalDecl | None:
        """``var x = …`` or ``Type x = …, y = …``, or None when it is not one."""
        start = self.pos
        token = self.token
        declared: s.TypeName | None
        if token.kind == "name" and token.text == "var" and self.peek().kind == "name":
            self.advance()
            declared = None
        else:
            declared = self.try_type()
            if declared is None or self.token.kind != "name":
                self.pos = start
                return None
            if self.at("(", 1):
                raise self.error(
                    "local functions are not supported in policy expressions"
                )
        declarators = [self._declarator(declared)]
        while self.accept(","):
            declarators.append(self._declarator(declared))
        return s.LocalDecl(token.offset, declared, declarators)

    def _declarator(self, declared: s.TypeName | None) -> s.Declarator:
        token = self.name("a local name")
        value = self.expression() if self.accept("=") else None
        if value is None and declared is None:
            raise self.error(
                "an implicitly typed local ('var') needs an initializer", token
            )
        return s.Declarator(token.offset, token.text, value)

    def _if(self) -> s.Stmt:
        offset = self.advance().offset
        branches = [(self._condition(), self.statement())]
        otherwise = None
        while self.accept("else"):
            if not self.accept("if"):
                otherwise = self.statement()
                break
            branches.append((self._condition(), self.statement()))
        return s.If(offset, branches, otherwise)

    def _condition(self) -> s.Expr:
        self.expect("(")
        condition = self.expression()
        self.expect(")", "to close the condition")
        return condition

    def _return(self) -> s.Stmt:
        offset = self.advance().offset
        value = None if self.at(";") else self.expression()
        self.expect(";", "after 'return'")
        return s.Return(offset, value)

    def _foreach(self) -> s.Stmt:
        offset = self.advance().offset
        self.expect("(")
        declared: s.TypeName | None = None
        if self.token.text == "var" and self.token.kind == "name":
            self.advance()
        else:
            declared = self.type_name()
        name = self.name("the loop variable").text
        self.expect("in", "in 'foreach'")
        source = self.expression()
        self.expect(")", "to close 'foreach ('")
        return s.Foreach(offset, declared, name, source, self.statement())

    def _for(self) -> s.Stmt:
        offset = self.advance().offset
        self.expect("(")
        init: list[s.Stmt] = []
        if not self.at(";"):
            declaration = self._declaration()
            if declaration is not None:
                init.append(declaration)
            else:
                init.extend(self._statement_expressions())
        self.expect(";", "after the 'for' initializer")
        condition = None if self.at(";") else self.expression()
        self.expect(";", "after the 'for' condition")
        updates: list[s.Expr] = []
        if not self.at(")"):
            updates = [stmt.expr for stmt in self._statement_expressions()]
        self.expect(")", "to close 'for ('")
        return s.For(offset, init, condition, updates, self.statement())

    def _statement_expressions(self) -> list[s.ExprStmt]:
        items = [s.ExprStmt(self.token.offset, self.expression())]
        while self.accept(","):
            items.append(s.ExprStmt(self.token.offset, self.expression()))
        return items

    def _while(self) -> s.Stmt:
        offset = self.advance().offset
        condition = self._condition()
        return s.While(offset, condition, self.statement())

    def _do(self) -> s.Stmt:
        offset = self.advance().offset
        body = self.statement()
        self.expect("while", "after the 'do' body")
        condition = self._condition()
        self.expect(";", "after 'do … while (…)'")
        return s.While(offset, condition, body, do=True)

    def _switch(self) -> s.Stmt:
        offset = self.advance().offset
        subject = self._condition()
        self.expect("{", "to open the 'switch' block")
        sections: list[s.SwitchSection] = []
        while not self.accept("}"):
            sections.append(self._switch_section())
        return s.Switch(offset, subject, sections)

    def _switch_section(self) -> s.SwitchSection:
        offset = self.token.offset
        labels: list[s.CaseLabel] = []
        while self.at("case") or self.at("default"):
            labels.append(self._case_label())
        if not labels:
            raise self.error(
                f"expected 'case' or 'default' but found {self.token.quoted()}"
            )
        statements: list[s.Stmt] = []
        while not any(self.at(word) for word in ("case", "default", "}")):
            if self.token.kind == "end":
                raise self.error(
                    "expected '}' to close the 'switch' block but found end of "
                    "expression"
                )
            statements.append(self.statement())
        return s.SwitchSection(offset, labels, statements)

    def _case_label(self) -> s.CaseLabel:
        token = self.advance()
        if token.text == "default":
            self.expect(":", "after 'default'")
            return s.CaseLabel(token.offset, None)
        pattern = self.pattern()
        guard = self.guard()
        self.expect(":", "after the case label")
        return s.CaseLabel(token.offset, pattern, guard)

    def _jump(self) -> s.Stmt:
        token = self.advance()
        self.expect(";", f"after '{token.text}'")
        return s.Jump(token.offset, token.text)


_KEYWORDS = {
    "if": StatementParser._if,
    "return": StatementParser._return,
    "foreach": StatementParser._foreach,
    "for": StatementParser._for,
    "while": StatementParser._while,
    "do": StatementParser._do,
    "break": StatementParser._jump,
    "continue": StatementParser._jump,
    "switch": StatementParser._switch,
}
