"""A recursive-descent parser for the C# subset, into `syntax` trees.

Binary operators are parsed by precedence climbing.  Where C# itself has to
guess (``(T)x`` against ``(a) - b``, ``F<T>(x)`` against ``a < b > (c)``)
the parser tries the type reading first and backs off by C#'s own rules.
Statements are parsed in `statements`, which builds on this module.
"""

from __future__ import annotations

from . import syntax as s
from .lexer import Source, Token, tokenize

MAX_NESTING = 48

PREDEFINED = frozenset(
    [
        "bool",
        "byte",
        "char",
        "decimal",
        "double",
        "float",
        "int",
        "long",
        "object",
        "sbyte",
        "short",
        "string",
        "uint",
        "ulong",
        "ushort",
    ]
)
_BINARY = {
    "||": 1,
    "&&": 2,
    "|": 3,
    "^": 4,
    "&": 5,
    "==": 6,
    "!=": 6,
    "<": 7,
    ">": 7,
    "<=": 7,
    ">=": 7,
    "is": 7,
    "as": 7,
    "<<": 8,
    ">>": 8,
    "+": 9,
    "-": 9,
    "*": 10,
    "/": 10,
    "%": 10,
}
_ASSIGNMENT = frozenset(
    ["=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", "??="]
)
_UNARY = frozenset(["+", "-", "!", "~", "++", "--"])
_LITERALS = {"int", "real", "string", "char", "interp"}
_AFTER_TYPE_ARGS = frozenset(
    [
        "(",
        ")",
        "]",
        ":",
        ";",
        ",",
        ".",
        "?",
        "==",
        "!=",
        "|",
        "^",
        "&&",
        "||",
        "&",
        "[",
        "}",
    ]
)
_REFUSED_KEYWORDS = {
    "typeof": "reflection ('typeof') is not available in policy expressions",
    "sizeof": "'sizeof' is not supported in policy expressions",
    "default": "'default' expressions are not supported; write the value",
    "checked": "'checked' is not supported in policy expressions",
    "unchecked": "'unchecked' is not supported in policy expressions",
    "this": "'this' is not available in policy expressions",
    "base": "'base' is not available in policy expressions",
    "delegate": "anonymous methods are not supported; use a lambda 'x => ...'",
    "stackalloc": "'stackalloc' is not supported in policy expressions",
    "ref": "'ref' is not supported in policy expressions",
    "out": "'out' is only supported in an argument: 'TryParseJwt(out var jwt)'",
    "throw": "'throw' is not supported in policy expressions",
}

SYNCHRONOUS = "policy expressions run synchronously, with no async, await or Task"
_NO_AWAIT = (
    f"'await' is not supported: {SYNCHRONOUS}; call the method without 'await', "
    "and to pause between attempts use the 'retry' policy's 'interval'"
)
_NO_ASYNC = f"'async' is not supported: {SYNCHRONOUS}; write a plain lambda 'x => …'"
_TYPE_PATTERNS = (
    "type patterns ('case string s:') are not supported; "
    "test the type with 'if (value is string s)' instead"
)


class Parser:
    """Parses the tokens of one source range."""

    def __init__(self, source: Source, tokens: list[Token]) -> None:
        self.source = source
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    # Tokens

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "end":
            self.pos += 1
        return token

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead) if ahead else self.token
        return token.kind in ("op", "keyword") and token.text == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.advance()
            return True
        return False

    def expect(self, text: str, context: str = "") -> Token:
        if not self.at(text):
            where = f" {context}" if context else ""
            raise self.error(
                f"expected '{text}'{where} but found {self.token.quoted()}"
            )
        return self.advance()

    def error(self, message: str, token: Token | None = None) -> Exception:
        return self.source.error(message, (token or self.token).offset)

    def name(self, what: str) -> Token:
        if self.token.kind != "name":
            raise self.error(f"expected {what} but found {self.token.quoted()}")
        return self.advance()

    def adjacent(self) -> bool:
        """Whether the next token starts right where the current one ends."""
        return self.peek().offset == self.token.offset + len(self.token.text)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"expression nested more than {MAX_NESTING} levels deep")

    # Expressions

    def expression(self) -> s.Expr:
        self.nest()
        try:
            if self._lambda_ahead():
                return self.lambda_()
            target = self.conditional()
            op = self._assignment_op()
            if op is None:
                return target
            offset = self.token.offset
            self.pos += 2 if op == ">>=" else 1
            return s.Assign(offset, op, target, self.expression())
        finally:
            self.depth -= 1

    def _assignment_op(self) -> str | None:
        token = self.token
        if token.kind != "op":
            return None
        if token.text == ">" and self.at(">=", 1) and self.adjacent():
            return ">>="
        return token.text if token.text in _ASSIGNMENT else None

    def conditional(self) -> s.Expr:
        condition = self.coalesce()
        if not self.at("?"):
            return condition
        offset = self.advance().offset
        then = self.expression()
        self.expect(":", "in a conditional expression")
        return s.Conditional(offset, condition, then, self.expression())

    def coalesce(self) -> s.Expr:
        left = self.binary(1)
        if self.at("??"):
            offset = self.advance().offset
            self.nest()
            right = self.coalesce()
            self.depth -= 1
            return s.Binary(offset, "??", left, right)
        return left

    def binary(self, minimum: int) -> s.Expr:
        left = self.switch_suffix(self.unary())
        while True:
            op = self._binary_op()
            if op is None or _BINARY[op] < minimum:
                return left
            token = self.advance()
            if op == ">>":
                self.advance()
            if op in ("is", "as"):
                left = self._type_test(op, left, token)
                continue
            self.nest()
            right = self.binary(_BINARY[op] + 1)
            self.depth -= 1
            left = s.Binary(token.offset, op, left, right)

    def _binary_op(self) -> str | None:
        token = self.token
        if token.kind not in ("op", "keyword") or token.text not in _BINARY:
            return None
        if token.text == ">" and self.adjacent() and self.at(">", 1):
            return ">>"
        if token.text == ">" and self.adjacent() and self.at(">=", 1):
            return None
        return token.text

    def _type_test(self, op: str, left: s.Expr, token: Token) -> s.Expr:
        if op == "as":
            return s.As(token.offset, left, self.type_name())
        negated = self.token.kind == "name" and self.token.text == "not"
        if negated:
            self.advance()
        if self.accept("null"):
            return s.Is(token.offset, left, None, negated)
        target = self.type_name()
        designation = None
        if self.token.kind == "name" and not negated:
            designation = self.advance().text
        return s.Is(token.offset, left, target, negated, designation)

    def unary(self) -> s.Expr:
        token = self.token
        if token.kind == "op" and token.text in _UNARY:
            self.advance()
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return s.Unary(token.offset, token.text, operand)
        if self.at("("):
            cast = self._try_cast()
            if cast is not None:
                return cast
        return self.postfix(self.primary())

    def _try_cast(self) -> s.Expr | None:
        start = self.pos
        offset = self.advance().offset
        target = self.try_type()
        if target is not None and self.accept(")") and self._cast_follows(target):
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return s.Cast(offset, target, operand)
        self.pos = start
        return None

    def _cast_follows(self, target: s.TypeName) -> bool:
        token = self.token
        if token.kind in _LITERALS or token.kind == "name":
            return True
        if token.kind == "keyword":
            return token.text not in ("is", "as", "switch")
        keyword_type = target.dotted in PREDEFINED
        if token.text in ("(", "!", "~"):
            return True
        return keyword_type and token.text in ("-", "+", "++", "--")

    # Primary expressions

    def primary(self) -> s.Expr:
        token = self.token
        if token.kind in ("int", "real", "string", "char"):
            self.advance()
            kind = token.suffix if token.kind in ("int", "real") else token.kind
            return s.Literal(token.offset, token.value, kind)
        if token.kind == "interp":
            self.advance()
            return self._interpolated(token)
        if token.kind == "name":
            self.refuse_asynchrony(token)
            self.advance()
            return s.Name(token.offset, token.text)
        if token.kind == "keyword":
            return self._keyword(token)
        if self.accept("("):
            inner = self.expression()
            self.expect(")", "to close '('")
            return inner
        raise self.error(f"expected an expression but found {token.quoted()}")

    def refuse_asynchrony(self, token: Token) -> None:
        """Say why ``await x`` or ``async x => …`` cannot be used."""
        following = self.peek()
        if following.kind not in ("name", "keyword") and following.text != "(":
            return
        if token.text == "await":
            raise self.error(_NO_AWAIT)
        if token.text == "async":
            raise self.error(_NO_ASYNC)

    def _keyword(self, token: Token) -> s.Expr:
        constants = {"true": True, "false": False, "null": None}
        if token.text in constants:
            self.advance()
            kind = "null" if token.text == "null" else "bool"
            return s.Literal(token.offset, constants[token.text], kind)
        if token.text == "new":
            return self.new()
        if token.text in PREDEFINED:
            self.advance()
            return s.Name(token.offset, token.text)
        if token.text in _REFUSED_KEYWORDS:
            raise self.error(_REFUSED_KEYWORDS[token.text])
        raise self.error(f"'{token.text}' is not supported in policy expressions")

    def postfix(self, target: s.Expr) -> s.Expr:
        while True:
            token = self.token
            if token.kind != "op":
                return target
            if token.text == ".":
                self.advance()
                target = self._member(target)
            elif token.text == "(":
                at = target.offset if isinstance(target, s.Member) else token.offset
                target = s.Call(at, target, self.arguments())
            elif token.text == "[":
                target = s.Index(token.offset, target, self._index_args())
            elif token.text in ("++", "--"):
                self.advance()
                target = s.Postfix(token.offset, token.text, target)
            elif token.text == "?." or (token.text == "?" and self.at("[", 1)):
                return self._conditional_access(target)
            elif token.text == "!" and not self._starts_operand(self.peek()):
                self.advance()
            elif token.text == "->":
                raise self.error("pointer member access '->' is not supported")
            else:
                return target

    def _starts_operand(self, token: Token) -> bool:
        return (
            token.kind in _LITERALS
            or token.kind in ("name", "keyword")
            or token.text == "("
        )

    def _conditional_access(self, target: s.Expr) -> s.Expr:
        token = self.advance()
        binding = s.Binding(token.offset)
        first: s.Expr
        if token.text == "?.":
            first = self._member(binding)
        else:
            first = s.Index(self.token.offset, binding, self._index_args())
        self.nest()
        access = self.postfix(first)
        self.depth -= 1
        return s.ConditionalAccess(token.offset, target, access)

    def _member(self, target: s.Expr) -> s.Member:
        token = self.name("a member name")
        return s.Member(
            token.offset, target, token.text, token.offset, self._type_args()
        )

    def _type_args(self) -> list[s.TypeName]:
        """``<T, U>`` after a member name, when C# would read it as type arguments."""
        if not self.at("<"):
            return []
        start = self.pos
        self.advance()
        args: list[s.TypeName] = []
        while True:
            arg = self.try_type()
            if arg is None:
                break
            args.append(arg)
            if self.accept(">"):
                if self.token.text in _AFTER_TYPE_ARGS or self.token.kind == "end":
                    return args
                break
            if not self.accept(","):
                break
        self.pos = start
        return []

    def arguments(self) -> list[s.Argument]:
        self.expect("(")
        args: list[s.Argument] = []
        while not self.at(")"):
            if args:
                self.expect(",", "between arguments")
            args.append(self._argument())
        self.advance()
        return args

    def _argument(self) -> s.Argument:
        token = self.token
        if token.kind == "keyword" and token.text in ("ref", "in"):
            raise self.error(
                f"'{token.text}' arguments are not supported in policy expressions"
            )
        name = None
        if token.kind == "name" and self.at(":", 1):
            name = token.text
            self.pos += 2
        if self.at("out"):
            return s.Argument(token.offset, self._out_variable(), name)
        return s.Argument(token.offset, self.expression(), name)

    def _out_variable(self) -> s.OutVariable:
        offset = self.advance().offset
        token = self.token
        if token.kind == "name" and self.peek().kind != "name":
            self.advance()
            return s.OutVariable(offset, token.text, declared=token.text == "_")
        declared: s.TypeName | None = None
        if token.kind == "name" and token.text == "var":
            self.advance()
        else:
            declared = self.type_name()
        return s.OutVariable(offset, self.name("a variable name").text, declared)

    def _index_args(self) -> list[s.Expr]:
        self.expect("[")
        args = [self.expression()]
        while self.accept(","):
            args.append(self.expression())
        self.expect("]", "to close '['")
        return args

    def _interpolated(self, token: Token) -> s.Expr:
        parts: list[str | s.InterpolatedHole] = []
        for part in token.value:  # type: ignore[attr-defined]
            if isinstance(part, str):
                if part:
                    parts.append(part)
                continue
            expr = self.sub_expression(part.start, part.end)
            alignment = self.sub_expression(*part.alignment) if part.alignment else None
            parts.append(s.InterpolatedHole(part.start, expr, alignment, part.format))
        return s.Interpolated(token.offset, parts)

    def sub_expression(self, start: int, end: int) -> s.Expr:
        """An expression from another range of the same source (a hole)."""
        inner = Parser(self.source, tokenize(self.source, start, end))
        inner.depth = self.depth
        expr = inner.expression()
        if inner.token.kind != "end":
            raise inner.error(
                f"unexpected {inner.token.quoted()} in interpolation hole"
            )
        return expr

    # switch expressions and patterns

    def switch_suffix(self, subject: s.Expr) -> s.Expr:
        """``subject switch { pattern => value, … }``, if a switch follows."""
        while self.at("switch") and self.at("{", 1):
            start = self.advance()
            self.advance()
            arms: list[s.SwitchArm] = []
            while not self.accept("}"):
                arms.append(self._switch_arm())
                if not self.accept(","):
                    self.expect("}", "to close the switch expression")
                    break
            if not arms:
                raise self.error("a switch expression needs at least one arm", start)
            subject = s.SwitchExpression(start.offset, subject, arms)
        return subject

    def _switch_arm(self) -> s.SwitchArm:
        offset = self.token.offset
        pattern = self.pattern()
        guard = self.guard()
        self.expect("=>", "after the pattern of a switch arm")
        return s.SwitchArm(offset, pattern, guard, self.expression())

    def guard(self) -> s.Expr | None:
        """The ``when condition`` after a pattern, if any."""
        if not self._at_word("when"):
            return None
        self.advance()
        return self.conditional()

    def pattern(self) -> s.Pattern:
        """A constant, ``_``, ``> 5``, or those joined with ``not``, ``and``, ``or``."""
        self.nest()
        try:
            left = self._and_pattern()
            while self._at_word("or"):
                offset = self.advance().offset
                left = s.CombinedPattern(offset, "or", left, self._and_pattern())
            return left
        finally:
            self.depth -= 1

    def _and_pattern(self) -> s.Pattern:
        left = self._simple_pattern()
        while self._at_word("and"):
            offset = self.advance().offset
            left = s.CombinedPattern(offset, "and", left, self._simple_pattern())
        return left

    def _simple_pattern(self) -> s.Pattern:
        token = self.token
        if self._at_word("not"):
            self.advance()
            self.nest()
            inner = self._simple_pattern()
            self.depth -= 1
            return s.NotPattern(token.offset, inner)
        if self._at_word("_"):
            self.advance()
            return s.DiscardPattern(token.offset)
        if token.kind == "op" and token.text in ("<", "<=", ">", ">="):
            self.advance()
            return s.RelationalPattern(token.offset, token.text, self.binary(8))
        if self.accept("("):
            inner = self.pattern()
            self.expect(")", "to close '('")
            return inner
        following = self.peek()
        if (
            token.kind in ("name", "keyword")
            and following.kind == "name"
            and following.text not in ("when", "and", "or")
        ):
            raise self.error(_TYPE_PATTERNS)
        return s.ConstantPattern(token.offset, self.binary(8))

    def _at_word(self, word: str) -> bool:
        return self.token.kind == "name" and self.token.text == word

    # Lambdas

    def _lambda_ahead(self) -> bool:
        if self.token.kind == "name" and self.at("=>", 1):
            return True
        if not self.at("("):
            return False
        ahead = 1
        while self.peek(ahead).kind == "name":
            if self.at(")", ahead + 1):
                return self.at("=>", ahead + 2)
            if not self.at(",", ahead + 1):
                return False
            ahead += 2
        return self.at(")", ahead) and self.at("=>", ahead + 1)

    def lambda_(self) -> s.Expr:
        offset = self.token.offset
        params: list[str] = []
        if self.accept("("):
            while not self.accept(")"):
                if params:
                    self.expect(",")
                params.append(self.name("a lambda parameter").text)
        else:
            params.append(self.advance().text)
        self.expect("=>")
        if self.at("{"):
            raise self.error(
                "block-bodied lambdas are not supported; write 'x => expression'"
            )
        return s.Lambda(offset, params, self.expression())

    # new

    def new(self) -> s.Expr:
        offset = self.advance().offset
        if self.at("{"):
            return self._anonymous(offset)
        if self.accept("["):
            self.expect("]", "in 'new[]'")
            return s.NewArray(offset, None, self._initializer())
        target = self.type_name(arrays=False)
        if self.at("["):
            self.advance()
            if not self.accept("]"):
                raise self.error(
                    "array sizes are not supported; write 'new T[] { ... }'"
                )
            return s.NewArray(offset, target, self._initializer())
        if self.at("{"):
            raise self.error("object and collection initializers are not supported")
        args = self.arguments() if self.at("(") else []
        if self.at("{"):
            raise self.error("object and collection initializers are not supported")
        return s.New(offset, target, args)

    def _initializer(self) -> list[s.Expr]:
        self.expect("{")
        items: list[s.Expr] = []
        while not self.accept("}"):
            items.append(self.expression())
            if not self.at("}"):
                self.expect(",", "between array items")
        return items

    def _anonymous(self, offset: int) -> s.Expr:
        self.expect("{")
        names: list[str] = []
        values: list[s.Expr] = []
        while not self.accept("}"):
            token = self.token
            if token.kind == "name" and self.at("=", 1):
                self.pos += 2
                names.append(token.text)
                values.append(self.expression())
            else:
                value = self.expression()
                if not isinstance(value, s.Name | s.Member):
                    raise self.error(
                        "an anonymous object member needs a name: 'name = value'", token
                    )
                names.append(value.name)
                values.append(value)
            if not self.at("}"):
                self.expect(",", "between anonymous object members")
        return s.NewAnonymous(offset, names, values)

    # Types

    def type_name(self, *, arrays: bool = True) -> s.TypeName:
        start = self.pos
        parsed = self.try_type(arrays=arrays)
        if parsed is None:
            self.pos = start
            raise self.error(f"expected a type but found {self.token.quoted()}")
        return parsed

    def try_type(self, *, arrays: bool = True) -> s.TypeName | None:
        """A type name at the current token, or None (position then unspecified)."""
        token = self.token
        if token.kind == "keyword" and token.text in PREDEFINED:
            self.advance()
            result = s.TypeName(token.offset, [token.text])
        elif token.kind == "name":
            parts = [self.advance().text]
            while self.at(".") and self.peek().kind == "name":
                self.advance()
                parts.append(self.advance().text)
            result = s.TypeName(token.offset, parts, self._type_args_strict())
        else:
            return None
        if self.at("?") and not self._starts_operand(self.peek()):
            self.advance()
            result.nullable = True
        while arrays and self.at("[") and self.at("]", 1):
            self.pos += 2
            result.rank += 1
        return result

    def _type_args_strict(self) -> list[s.TypeName]:
        if not self.at("<"):
            return []
        start = self.pos
        self.advance()
        args: list[s.TypeName] = []
        while True:
            arg = self.try_type()
            if arg is None:
                self.pos = start
                return []
            args.append(arg)
            if self.accept(">"):
                return args
            if not self.accept(","):
                self.pos = start
                return []
