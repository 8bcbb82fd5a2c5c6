"""The ``switch`` statement and the ``switch`` expression."""

from __future__ import annotations

import pytest

from tollhouse.errors import ExpressionError, PolicyDocumentError
from tollhouse.policy.context import PolicyContext
from tollhouse.policy.expressions import compile_expression


def run(text: str, method: str = "POST") -> object:
    context = PolicyContext.for_request(method, "https://gw.example/")
    context.response.status_code = 429
    return compile_expression(text).evaluate(context)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "@{ switch (context.Request.Method) {"
            ' case "GET": case "HEAD": return "read";'
            ' case "POST": return "write";'
            ' default: return "other"; } }',
            "write",
        ),
        (
            '@{ var kind = "none"; switch (context.Response.StatusCode) {'
            ' case 200: kind = "ok"; break;'
            ' case 429 or 503: kind = "retry"; break;'
            ' default: kind = "fail"; break; }'
            " return kind; }",
            "retry",
        ),
        (
            '@{ switch (context.Response.StatusCode) { case < 400: return "ok";'
            ' case >= 400 and < 500: return "client"; default: return "server"; } }',
            "client",
        ),
        (
            '@{ var r = 0; switch ("x") { case "y": r = 1; break; } return r; }',
            0,
        ),
        ('@{ switch (1) { default: return "only default"; } }', "only default"),
        (
            '@{ switch (2) { default: return "d"; case 2: return "two"; } }',
            "two",
        ),
        (
            "@{ var r = 0; switch (3) { case 3 when r > 0: r = 1; break;"
            " case 3 when r == 0: r = 2; break; } return r; }",
            2,
        ),
        (
            "@{ var r = 0; for (var i = 0; i < 6; i++) { switch (i % 3) {"
            " case 0: continue; case 1: r += 10; break; default: r += 1; break; } }"
            " return r; }",
            22,
        ),
        (
            "@{ var r = 0; switch (1) { case 1: while (true) { r++;"
            " if (r == 3) { break; } } break; } return r; }",
            3,
        ),
        (
            "@{ switch (1) { case 1: { var a = 5; return a; } default: return 0; } }",
            5,
        ),
        (
            "@{ switch (1) { case 1: if (true) { return 1; } else { break; }"
            " } return 0; }",
            1,
        ),
        ("@{ string s = null; switch (s) { case null: return 1; } return 2; }", 1),
        ("@{ switch ('b') { case 'a': return 1; case 'b': return 2; } return 0; }", 2),
        ('@{ switch (1.0) { case 1: return "one"; } return "no"; }', "one"),
        ("@{ switch (-1) { case -1: return 1; } return 0; }", 1),
        ("@{ switch (true) { case not false: return 1; } return 0; }", 1),
    ],
)
def test_switch_statement(text: str, expected: object) -> None:
    assert run(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@(context.Request.Method switch { "GET" => 1, "POST" => 2, _ => 0 })', 2),
        ('@(context.Request.Method switch { "GET" or "HEAD" => 1, _ => 0, })', 0),
        (
            "@(context.Response.StatusCode switch"
            ' { < 400 => "ok", >= 400 and < 500 => "client", _ => "server" })',
            "client",
        ),
        ('@(429 switch { not 200 => "not ok", _ => "ok" })', "not ok"),
        ('@((string)null switch { null => "none", _ => "some" })', "none"),
        ('@((7 switch { _ => "x" }).Length)', 1),
        ('@(1 switch { 1 => "a", _ => null })', "a"),
        ("@(2 switch { 1 => 1, 2 => 2.5, _ => 0 } + 1)", 3.5),
        ('@("b" switch { "a" => 1, _ => 2 } * 10)', 20),
        ("@(3 switch { _ when false => 1, 3 => 2, _ => 3 })", 2),
        ("@(1 + 2 switch { 2 => 10, _ => 20 })", 11),
        ('@(-1 switch { -1 => "minus", _ => "other" })', "minus"),
        (
            "@(context.Request.Method switch"
            ' { "GET" => "r", _ => context.Request.Method.ToLower() })',
            "post",
        ),
        (
            '@(5 switch { > 3 => 5 switch { 5 => "five", _ => "big" }, _ => "" })',
            "five",
        ),
    ],
)
def test_switch_expression(text: str, expected: object) -> None:
    assert run(text) == expected


def test_switch_expression_without_a_match() -> None:
    with pytest.raises(ExpressionError) as caught:
        run('@(context.Request.Method switch { "GET" => 1 })')
    assert str(caught.value) == (
        "Non-exhaustive switch expression failed to match its input "
        "(add a '_ => …' arm). Unmatched value was POST."
    )


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        (
            "@{ switch (1) { case 1: var a = 1; default: return 2; } }",
            17,
            "control cannot fall through from one case label to another: "
            "end the section with 'break;' or 'return …;'",
        ),
        (
            "@{ switch (1) { case 1: return 1; } }",
            2,
            "not all code paths return a value",
        ),
        (
            "@{ switch (1) { case 1: break; default: return 2; } }",
            2,
            "not all code paths return a value",
        ),
        (
            "@{ switch (1) { default: return 1; default: return 2; } }",
            36,
            "a switch can have only one 'default' label",
        ),
        (
            "@{ var y = 2; switch (1) { case y: return 1; } return 0; }",
            33,
            'a pattern must be a constant such as 200, "GET" or null',
        ),
        (
            '@{ switch ("x") { case 1: return 1; } return 0; }',
            24,
            "a constant of type 'int' cannot match a value of type 'string'",
        ),
        (
            "@{ switch (1) { case int n: return n; } return 0; }",
            22,
            "type patterns ('case string s:') are not supported; "
            "test the type with 'if (value is string s)' instead",
        ),
        (
            "@{ switch (1) { return 1; } }",
            17,
            "expected 'case' or 'default' but found 'return'",
        ),
        ("@{ switch (1) { case 1: return 1;", 34, "expected '}' to close"),
        (
            '@{ switch ("x") { case > "a": return 1; } return 0; }',
            26,
            "'>' in a pattern needs a number, as in '> 400'",
        ),
        ("@(1 switch { })", 5, "a switch expression needs at least one arm"),
        (
            '@(1 switch { _ => "a", 1 => "b" })',
            24,
            "this arm is never reached: an earlier '_' arm matches every value",
        ),
        ('@(1 switch { 1 => "a" "b" })', 23, "expected '}' to close the switch"),
        ('@(1 switch { 1 : "a" })', 16, "expected '=>' after the pattern"),
    ],
)
def test_switch_errors(text: str, column: int, message: str) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        compile_expression(text)
    assert (caught.value.column, caught.value.message[: len(message)]) == (
        column,
        message,
    )
