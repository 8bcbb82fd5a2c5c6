"""The expression language: literals, operators, statements, errors with positions."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tollhouse.errors import ExpressionError, PolicyDocumentError
from tollhouse.policy.context import LastError, PolicyContext, Subscription
from tollhouse.policy.expressions import compile_expression, is_expression, to_text
from tollhouse.policy.expressions.jtoken import JObject
from tollhouse.policy.expressions.types import AnonymousObject, Char


def sample_context() -> PolicyContext:
    context = PolicyContext.for_request(
        "POST",
        "https://gw.example/openai/deployments/d1/chat/completions?api-version=2024-10-21",
        headers=[("Authorization", "Bearer abc"), ("X-Multi", "a"), ("X-Multi", "b")],
        body=b'{"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user"}]}',
        ip_address="10.0.0.7",
    )
    context.variables.update(
        {"name": "Ada", "count": 3, "ratio": 0.5, "flag": True, "nothing": None}
    )
    context.subscription = Subscription(id="sub-1", name="Team A", key="k1")
    return context


def evaluate(text: str, context: PolicyContext | None = None) -> object:
    return compile_expression(text).evaluate(context or sample_context())


def assert_same(actual: object, expected: object) -> None:
    """Equal values of the same Python type (1 is not 1.0, "a" is not 'a')."""
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(actual, float) and math.isnan(actual)
        return
    assert (type(actual), actual) == (type(expected), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@(42)", 42),
        ("@(-42)", -42),
        ("@(2147483648)", 2147483648),
        ("@(42L)", 42),
        ("@(0x1F)", 31),
        ("@(0b101)", 5),
        ("@(1_000_000)", 1000000),
        ("@(1.5)", 1.5),
        ("@(.5)", 0.5),
        ("@(1e3)", 1000.0),
        ("@(2.5E-3)", 0.0025),
        ("@(1.5f)", 1.5),
        ("@(2d)", 2.0),
        ("@(1.50m)", Decimal("1.50")),
        ("@(3m)", Decimal("3")),
        ("@(true)", True),
        ("@(false)", False),
        ("@(null)", None),
        ("@('a')", Char("a")),
        ("@('\\n')", Char("\n")),
        ("@('\\'')", Char("'")),
        ('@("a\\tb\\\\c\\"d")', 'a\tb\\c"d'),
        ('@("\\u00e9\\x41")', "éA"),
        ('@("\\uD83D\\uDE00")', "😀"),
        ('@(@"C:\\path\\""quoted""")', 'C:\\path\\"quoted"'),
        ('@(@"two\nlines")', "two\nlines"),
        ('@("")', ""),
    ],
)
def test_literals(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@($"a{1 + 2}b")', "a3b"),
        ('@($"{{literal}} {1}")', "{literal} 1"),
        ('@($"{3.14159:0.00}")', "3.14"),
        ('@($"[{42,5}]")', "[   42]"),
        ('@($"[{42,-5}]")', "[42   ]"),
        ('@($"[{7,4:D3}]")', "[ 007]"),
        ('@($"{context.Variables["name"]}!")', "Ada!"),
        ('@($"{(context.User == null ? "anon" : "user")}")', "anon"),
        ('@($"{null}x{true}")', "xTrue"),
        ('@($"{$"in{1}"}out")', "in1out"),
        ('@($@"C:\\{1}\\""")', 'C:\\1\\"'),
        ('@(@$"{2}\\")', "2\\"),
        ('@($"tab\\t{1}")', "tab\t1"),
        ('@($"{new DateTime(2024, 1, 2):yyyy-MM-dd}")', "2024-01-02"),
        ('@($"{1.5}")', "1.5"),
    ],
)
def test_interpolated_strings(text: str, expected: str) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@(5 / 2)", 2),
        ("@(-5 / 2)", -2),
        ("@(5 % 3)", 2),
        ("@(-7 % 3)", -1),
        ("@(7 % -3)", 1),
        ("@(5.0 / 2)", 2.5),
        ("@(5 / 2.0)", 2.5),
        ("@(1 / 0.0)", math.inf),
        ("@(-1 / 0.0)", -math.inf),
        ("@(0 / 0.0)", math.nan),
        ("@(5.5 % 2)", 1.5),
        ("@(2147483647 + 1)", -2147483648),
        ("@(2147483647L + 1)", 2147483648),
        ("@(9223372036854775807L + 1)", -9223372036854775808),
        ("@(3 * 4 + 2)", 14),
        ("@(3 * (4 + 2))", 18),
        ("@(10 - 2 - 3)", 5),
        ("@(1.5m + 1)", Decimal("2.5")),
        ("@(1m / 3m)", Decimal("0.3333333333333333333333333333")),
        ("@(10m % 3m)", Decimal("1")),
        ("@(0.1 + 0.2)", 0.30000000000000004),
        ("@(-(3))", -3),
        ("@(+3)", 3),
        ("@(~5)", -6),
        ("@(6 & 3)", 2),
        ("@(6 | 3)", 7),
        ("@(6 ^ 3)", 5),
        ("@(1 << 4)", 16),
        ("@(256 >> 2)", 64),
        ("@(1 << 33)", 2),
        ("@('a' + 1)", 98),
        ("@('b' - 'a')", 1),
        ("@(true & false)", False),
        ("@(true | false)", True),
        ("@(true ^ true)", False),
    ],
)
def test_arithmetic(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@("a" + 1)', "a1"),
        ('@(1 + "a")', "1a"),
        ('@("a" + 1 + 2)', "a12"),
        ('@(1 + 2 + "a")', "3a"),
        ('@("a" + null)', "a"),
        ('@("a" + true)', "aTrue"),
        ('@("a" + 1.5)', "a1.5"),
        ('@("a" + 1.0)', "a1"),
        ("@(\"a\" + 'b')", "ab"),
        ('@("n=" + context.Variables["count"])', "n=3"),
        ('@(context.Variables["name"] + "!")', "Ada!"),
    ],
)
def test_string_concatenation(text: str, expected: str) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@("abc" == "abc")', True),
        ('@("abc" == "ABC")', False),
        ('@("abc" != "ABC")', True),
        ("@(3 == 3.0)", True),
        ("@(3 == 3L)", True),
        ("@(1.5m == 1.50m)", True),
        ("@(2 < 2.5)", True),
        ("@(3L >= 3)", True),
        ("@(null == null)", True),
        ('@(null == "")', False),
        ("@(1 == null)", False),
        ("@('a' == 97)", True),
        ("@('a' < 'b')", True),
        ("@(true == true)", True),
        ("@(context.Response.StatusCode == 200)", True),
        ("@(context.Response.StatusCode != 403)", True),
        ('@(context.Variables["count"] == 3)', True),
        ('@(context.Variables["nothing"] == null)', True),
        ("@(context.User == null)", True),
        ("@(context.LastError != null)", False),
        ('@(context.Variables["missing-ok"] == null)', "error"),
        ("@(new DateTime(2024, 1, 2) < new DateTime(2024, 1, 3))", True),
        ("@(TimeSpan.FromSeconds(1) < TimeSpan.FromMinutes(1))", True),
        ("@(StringComparison.Ordinal == StringComparison.Ordinal)", True),
    ],
)
def test_comparisons(text: str, expected: object) -> None:
    if expected == "error":
        with pytest.raises(ExpressionError):
            evaluate(text)
        return
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@(true && false)", False),
        ("@(true || false)", True),
        ("@(!true)", False),
        ("@(!(1 > 2))", True),
        ("@(false && 1 / 0 == 1)", False),
        ("@(true || 1 / 0 == 1)", True),
        ('@(context.User != null && context.User.Email == "x")', False),
        ('@(context.User == null || context.User.Email == "x")', True),
        ("@(true && true && false)", False),
        ("@(false || false || true)", True),
        ('@(null ?? "fallback")', "fallback"),
        ('@("value" ?? "fallback")', "value"),
        ('@(context.Variables["nothing"] ?? "x")', "x"),
        ("@(null ?? null ?? 3)", 3),
        ('@(1 > 0 ? "yes" : "no")', "yes"),
        ('@(1 < 0 ? "yes" : 1 < 2 ? "middle" : "no")', "middle"),
        ("@(true ? 1 : 2.5)", 1),
        ("@(context.User?.Email)", None),
        ('@(context.User?.Email ?? "anonymous")', "anonymous"),
        ("@(context.Subscription?.Name)", "Team A"),
        ("@(context.User?.Email.Length)", None),
        ("@(context.Subscription?.Name.Length)", 6),
        ('@(context.Variables.GetValueOrDefault("nothing")?.ToString())', None),
        ('@(((JObject)null)?["a"]?["b"])', None),
        ('@(JObject.Parse("{\\"a\\":{\\"b\\":1}}")?["a"]?["b"]?.ToString())', "1"),
        ('@(JObject.Parse("{\\"a\\":{}}")["a"]?["b"]?.ToString())', None),
        ('@(JObject.Parse("{}")["a"]?["b"])', None),
    ],
)
def test_logic_and_null_operators(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@((string)context.Variables["name"])', "Ada"),
        ('@((int)context.Variables["count"])', 3),
        ('@((long)context.Variables["count"])', 3),
        ('@((double)context.Variables["count"])', 3.0),
        ('@((bool)context.Variables["flag"])', True),
        ('@((string)context.Variables["nothing"])', None),
        ("@((int)3.9)", 3),
        ("@((int)-3.9)", -3),
        ("@((int)4294967297L)", 1),
        ("@((double)1 / 2)", 0.5),
        ("@((decimal)1.5)", Decimal("1.5")),
        ("@((char)65)", Char("A")),
        ("@((int)'A')", 65),
        ("@((int?)null)", None),
        ('@((System.String)"x")', "x"),
        ('@((JObject)JToken.Parse("{}") is JObject)', True),
        ('@(context.Variables["name"] as string)', "Ada"),
        ('@(context.Variables["count"] as string)', None),
        ('@(context.Variables["count"] is int)', True),
        ('@(context.Variables["count"] is long)', True),
        ('@(context.Variables["count"] is string)', False),
        ('@(context.Variables["nothing"] is string)', False),
        ('@(context.Variables["nothing"] is null)', True),
        ('@(context.Variables["name"] is not null)', True),
        ('@(context.Variables["ratio"] is double)', True),
        ('@((string)JObject.Parse("{\\"a\\": 12}")["a"])', "12"),
        ('@((int)JObject.Parse("{\\"a\\": \\"12\\"}")["a"])', 12),
        ('@((double)JObject.Parse("{\\"a\\": 1}")["a"])', 1.0),
        ('@((bool)JObject.Parse("{\\"a\\": true}")["a"])', True),
        ('@((string)JObject.Parse("{\\"a\\": null}")["a"])', None),
        ('@((Newtonsoft.Json.Linq.JArray)JToken.Parse("[1]") != null)', True),
    ],
)
def test_casts_and_type_tests(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '@((int)context.Variables["name"])',
            "Unable to cast object of type 'string' to type 'int'.",
        ),
        (
            '@((string)context.Variables["count"])',
            "Unable to cast object of type 'int' to type 'string'.",
        ),
        (
            '@((int)context.Variables["nothing"])',
            "Object reference not set to an instance of an object (cast of null).",
        ),
        (
            '@((JObject)JToken.Parse("[]"))',
            "Unable to cast object of type 'JArray' to type 'JObject'.",
        ),
        (
            '@((int)JObject.Parse("{\\"a\\": null}")["a"])',
            "Can not convert Null to int.",
        ),
        (
            '@((string)JObject.Parse("{\\"a\\": {}}")["a"])',
            "Can not convert Object to string.",
        ),
        (
            '@((int)JObject.Parse("{\\"a\\": \\"x\\"}")["a"])',
            "The input string 'x' was not in a correct format.",
        ),
    ],
)
def test_cast_failures(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@{ return 1; }", 1),
        ("@{ var x = 2; return x * 3; }", 6),
        ("@{ int x = 2, y = 5; return x + y; }", 7),
        ('@{ string s; s = "a"; s += "b"; return s; }', "ab"),
        ("@{ double d = 1; return d / 2; }", 0.5),
        ("@{ decimal m = 2; return m / 4; }", Decimal("0.5")),
        ("@{ long l = 2147483647; l++; return l; }", 2147483648),
        ("@{ var x = 10; x -= 3; x *= 2; x /= 4; x %= 2; return x; }", 1),
        ("@{ var x = 1; x <<= 3; x |= 1; x &= 7; x ^= 2; return x; }", 3),
        ('@{ string s = null; s ??= "d"; s ??= "e"; return s; }', "d"),
        ("@{ var i = 5; var j = i++; return j * 10 + i; }", 56),
        ("@{ var i = 5; var j = ++i; return j * 10 + i; }", 66),
        ("@{ var i = 5; i--; --i; return i; }", 3),
        ('@{ if (1 > 2) { return "a"; } else { return "b"; } }', "b"),
        ('@{ if (1 > 2) return "a"; else if (2 > 1) return "b"; return "c"; }', "b"),
        ("@{ if (false) { return 1; } return 2; }", 2),
        (
            "@{ var total = 0; foreach (var n in new[] { 1, 2, 3 }) { total += n; }"
            " return total; }",
            6,
        ),
        (
            '@{ var s = ""; foreach (char c in "abc") { s = c + s; } return s; }',
            "cba",
        ),
        (
            "@{ var s = 0; for (var i = 0; i < 10; i++) { if (i == 5) break; "
            "if (i % 2 == 0) continue; s += i; } return s; }",
            4,
        ),
        ("@{ var i = 0; while (i < 5) { i += 2; } return i; }", 6),
        ("@{ var i = 10; do { i++; } while (i < 5); return i; }", 11),
        ("@{ var i = 0; while (true) { if (++i == 3) return i; } }", 3),
        ("@{ for (var i = 0; ; i++) { if (i > 4) return i; } }", 5),
        (
            "@{ var n = 0; for (int i = 0, j = 10; i < j; i++, j--) { n++; } return n;"
            " }",
            5,
        ),
        ("@{ { var inner = 1; } var outer = 2; return outer; }", 2),
        ("@{ ; return 1; }", 1),
        (
            "@{ // comment\n var x = 1; /* block\n comment */ return x; }",
            1,
        ),
        (
            '@{ var body = new JObject(); body["a"] = 1; return'
            " body.ToString(Newtonsoft.Json.Formatting.None); }",
            '{"a":1}',
        ),
        ('@{ var o = new JObject(); o["n"] = 1; o["n"] = 2; return (int)o["n"]; }', 2),
        (
            '@{ var l = new List<string>(); l.Add("a"); l.Add("b"); return'
            ' string.Join(",", l); }',
            "a,b",
        ),
        ("@{ var a = new int[] { 1, 2 }; a[0] = 5; return a[0] + a[1]; }", 7),
        (
            '@{ if (context.Variables["name"] is string s) { return s.Length; } return'
            " -1; }",
            3,
        ),
        ('@{ var x = "a"; { return x + "b"; } }', "ab"),
    ],
)
def test_statements(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@(new[] { 1, 2, 3 }.Any(x => x > 2))", True),
        ("@(new[] { 1, 2, 3 }.All(x => x > 2))", False),
        ("@(new[] { 1, 2, 3 }.Count(x => x > 1))", 2),
        ("@(new[] { 1, 2, 3 }.Where(x => x != 2).Sum())", 4),
        ('@(string.Join(",", new[] { "a", "b" }.Select(s => s.ToUpper())))', "A,B"),
        ('@(new[] { "a", "bb" }.First(s => s.Length == 2))', "bb"),
        ('@(new[] { "a", "bb" }.FirstOrDefault(s => s.Length == 3))', None),
        ("@(new[] { 3, 1, 2 }.OrderBy(x => x).First())", 1),
        ("@(new[] { 3, 1, 2 }.OrderByDescending(x => x).ToArray()[0])", 3),
        ('@(new[] { "a", "b", "c" }.Where((s, i) => i > 0).Count())', 2),
        ('@("a1b2".Count(char.IsDigit))', 2),
        ('@("123".All(char.IsDigit))', True),
        ("@(new[] { 1, 2 }.Select((x, i) => x * i).Sum())", 2),
        ('@(context.Request.Headers.Any(h => h.Key == "X-Multi"))', True),
        (
            '@(context.Request.Body.As<JObject>(preserveContent: true)["messages"]'
            '.Any(m => (string)m["role"] == "user"))',
            True,
        ),
        ('@(JArray.Parse("[1,2,3]").Select(t => (int)t * 2).Max())', 6),
    ],
)
def test_lambdas(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@(System.String.IsNullOrEmpty(""))', True),
        ('@(String.Concat("a", "b"))', "ab"),
        ('@(Newtonsoft.Json.Linq.JObject.Parse("{}").Count)', 0),
        ('@(System.Text.RegularExpressions.Regex.IsMatch("a1", "\\\\d"))', True),
        ('@(System.Text.Encoding.UTF8.GetBytes("é").Length)', 2),
        ("@(System.Math.Max(1, 2))", 2),
        ('@(System.Int32.Parse("7"))', 7),
        ('@(Newtonsoft.Json.JsonConvert.SerializeObject("x"))', '"x"'),
        ("@(System.DateTime.MinValue.Year)", 1),
        ("@(System.Linq.Enumerable.Range(1, 3).Sum())", 6),
        ("@(System.Globalization.CultureInfo.InvariantCulture != null)", True),
    ],
)
def test_qualified_names(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@(context.Variables.GetValueOrDefault<int>("count", 0))', 3),
        ('@(context.Variables.GetValueOrDefault<int>("retries", 0))', 0),
        ('@(context.Variables.GetValueOrDefault<int>("retries"))', 0),
        ('@(context.Variables.GetValueOrDefault<string>("name", ""))', "Ada"),
        ('@(context.Variables.GetValueOrDefault<string>("missing"))', None),
        ('@(context.Variables.GetValueOrDefault<bool>("missing"))', False),
        ('@(context.Variables.GetValueOrDefault("missing", "d"))', "d"),
        ('@(context.Variables.GetValueOrDefault<int>("count", 0) + 1)', 4),
        (
            "@(context.Request.Body.As<JObject>(preserveContent:"
            ' true)["model"]?.ToString())',
            "gpt-4o",
        ),
        ("@(context.Request.Body.As<string>(true).Length)", 68),
        ('@("abc".Substring(length: 2, startIndex: 1))', "bc"),
        ("@(\"abc\".PadLeft(paddingChar: 'x', totalWidth: 5))", "xxabc"),
    ],
)
def test_generic_and_named_arguments(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


def test_anonymous_objects() -> None:
    value = evaluate(
        '@(new { code = "X", nested = new { n = 1 }, context.Request.Method })'
    )
    assert isinstance(value, AnonymousObject)
    assert value.names == ("code", "nested", "Method")
    assert to_text(value) == "{ code = X, nested = { n = 1 }, Method = POST }"
    assert evaluate('@(new { a = 1, b = "x" }.b)') == "x"
    assert evaluate("@(new { a = 1 }.Equals(new { a = 1 }))") is True
    assert evaluate("@(new { a = 1 } == new { a = 1 })") is False


def test_seed_policy_expressions() -> None:
    context = sample_context()
    context.response.status_code = 403
    context.last_error = LastError(source="ip-filter", reason="CallerIpNotAllowed")
    first = compile_expression("@(context.Response.StatusCode == 403)")
    second = compile_expression(
        '@(context.LastError != null && context.LastError.Source.Equals("ip-filter"))'
    )
    body = compile_expression(
        "@{\nreturn Newtonsoft.Json.JsonConvert.SerializeObject(new {\nerror = new {\n"
        'code = "IP_BLOCKED",\nmessage = "Access denied: Your IP address is not'
        ' allowed",\n'
        "source = context.LastError.Source,\nreason ="
        " context.LastError.Reason\n}\n});\n}"
    )
    assert first.evaluate(context) is True
    assert second.evaluate(context) is True
    assert body.evaluate(context) == (
        '{"error":{"code":"IP_BLOCKED","message":"Access denied: Your IP address is '
        'not allowed","source":"ip-filter","reason":"CallerIpNotAllowed"}}'
    )
    context.last_error = None
    assert second.evaluate(context) is False


def test_body_is_consumed_without_preserve_content() -> None:
    context = sample_context()
    preserved = compile_expression(
        "@(context.Request.Body.As<string>(preserveContent: true))"
    )
    consuming = compile_expression("@(context.Request.Body.As<JObject>())")
    assert isinstance(preserved.evaluate(context), str)
    assert isinstance(consuming.evaluate(context), JObject)
    assert context.request.body is not None and context.request.body.consumed
    assert context.request.body.content == b""
    assert consuming.evaluate(context) is None
    assert preserved.evaluate(context) == ""


def test_expression_is_reusable_across_contexts() -> None:
    expression = compile_expression(
        '@(context.Variables.GetValueOrDefault<int>("n", -1))'
    )
    first, second = sample_context(), sample_context()
    second.variables["n"] = 7
    assert expression.evaluate(first) == -1
    assert expression.evaluate(second) == 7
    assert expression.text == '@(context.Variables.GetValueOrDefault<int>("n", -1))'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@(x)", True),
        ("@{ return 1; }", True),
        ("@ (x)", False),
        (" @(x)", False),
        ("@x", False),
        ("text", False),
        ("", False),
    ],
)
def test_is_expression(text: str, expected: bool) -> None:
    assert is_expression(text) is expected


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("@(1 +)", 1, 6, "expected an expression but found ')'"),
        ("@(1", 1, 4, "expected ')' to close '@(' but found end of expression"),
        ("@(1) 2", 1, 6, "unexpected '2' after the expression"),
        ("@()", 1, 3, "expected an expression but found ')'"),
        ('@("abc)', 1, 3, "unterminated string literal"),
        ('@("ab\ncd")', 1, 3, "newline in constant: unterminated string literal"),
        ("@('ab')", 1, 3, "character literal must hold exactly one character"),
        ('@("\\q")', 1, 4, "unrecognized escape sequence '\\q'"),
        ("@(1 # 2)", 1, 5, "unexpected character '#'"),
        (
            "@(99999999999999999999)",
            1,
            3,
            "integral constant '99999999999999999999' is too large",
        ),
        ("@(foo)", 1, 3, "unknown name 'foo'"),
        (
            "@(context.Foo)",
            1,
            11,
            "'Foo' is not a member of 'IProxyRequestContext' in policy expressions",
        ),
        (
            '@("x".Lenght)',
            1,
            7,
            "'Lenght' is not a member of 'string' in policy expressions",
        ),
        (
            "@(context.Request.Method())",
            1,
            19,
            "'Method' is a property of 'IRequest', not a method",
        ),
        (
            '@("x".ToUpper)',
            1,
            7,
            "'ToUpper' is a method of 'string': call it with '()'",
        ),
        (
            "@(Math.Foo(1))",
            1,
            8,
            "'Foo' is not a member of 'Math' in policy expressions",
        ),
        ('@("x".Substring(1, 2, 3))', 1, 7, "'Substring' does not take 3 arguments"),
        ('@("x".Substring(foo: 1))', 1, 17, "'Substring' has no parameter named 'foo'"),
        ('@("x".ToUpper<int>())', 1, 7, "'ToUpper' does not take a type argument"),
        (
            "@(context.Request.Body.As<XDocument>())",
            1,
            27,
            "'XDocument' is not available in policy expressions",
        ),
        (
            "@(context.Request.Body.As<int>())",
            1,
            24,
            "As<int> is not supported; use one of string, JObject, JArray, JToken,"
            " byte[]",
        ),
        (
            '@(Regex.IsMatch("a", "("))',
            1,
            9,
            "Invalid pattern '(': missing ) at position 1",
        ),
        ("@(new Foo())", 1, 7, "type 'Foo' is not supported in policy expressions"),
        (
            "@(new Math())",
            1,
            3,
            "'Math' cannot be created with 'new' in policy expressions",
        ),
        (
            "@(new JObject { })",
            1,
            15,
            "object and collection initializers are not supported",
        ),
        (
            "@(new int[3])",
            1,
            11,
            "array sizes are not supported; write 'new T[] { ... }'",
        ),
        (
            "@(new { a = 1, a = 2 })",
            1,
            3,
            "an anonymous type cannot have two members named 'a'",
        ),
        (
            "@(x => x)",
            1,
            3,
            "lambdas are only supported as arguments to LINQ methods such as Where,"
            " Select and Any",
        ),
        (
            '@("a".Contains(x => true))',
            1,
            16,
            "lambdas are only supported as arguments to LINQ methods such as Where,"
            " Select and Any",
        ),
        (
            "@(new[] { 1 }.Any(x => { return true; }))",
            1,
            24,
            "block-bodied lambdas are not supported; write 'x => expression'",
        ),
        (
            '@("a" - 1)',
            1,
            7,
            "operator '-' cannot be applied to operands of type 'string' and 'int'",
        ),
        (
            '@("a" < "b")',
            1,
            7,
            "operator '<' cannot be applied to operands of type 'string' and 'string'",
        ),
        (
            "@(1 as int)",
            1,
            8,
            "the 'as' operator needs a reference or nullable type, not 'int'",
        ),
        (
            "@(default(int))",
            1,
            3,
            "'default' expressions are not supported; write the value",
        ),
        ("@(checked(1 + 1))", 1, 3, "'checked' is not supported in policy expressions"),
        ("@(this)", 1, 3, "'this' is not available in policy expressions"),
        ("@(context = null)", 1, 3, "'context' is read-only"),
        (
            "@(context.Response.StatusCode = 500)",
            1,
            20,
            "'StatusCode' is read-only: only locals and indexers can be assigned",
        ),
        (
            '@(context.Variables["x"] = 1)',
            1,
            20,
            "the indexer of 'IReadOnlyDictionary<string, object>' is read-only",
        ),
        ("@(System)", 1, 3, "'System' is a namespace, not a value"),
        ("@(Math)", 1, 3, "'Math' is a type, not a value"),
        (
            "@(System.Foo.Bar())",
            1,
            10,
            "'System.Foo' is not supported in policy expressions",
        ),
        ("@(int.Parse)", 1, 7, "'Parse' is a method of 'int': call it with '()'"),
        (
            "@{ }",
            1,
            2,
            "not all code paths return a value: end the block with 'return'",
        ),
        (
            "@{ if (true) return 1; }",
            1,
            2,
            "not all code paths return a value: end the block with 'return'",
        ),
        (
            "@{ return; }",
            1,
            4,
            "a policy expression must return a value: 'return value;'",
        ),
        ("@{ return 1 }", 1, 13, "expected ';' after 'return' but found '}'"),
        (
            "@{ var x; return 1; }",
            1,
            8,
            "an implicitly typed local ('var') needs an initializer",
        ),
        (
            "@{ var x = null; return x; }",
            1,
            8,
            "cannot assign null to an implicitly typed local ('var')",
        ),
        (
            "@{ var x = 1; var x = 2; return x; }",
            1,
            19,
            "a local named 'x' is already defined in this scope",
        ),
        (
            "@{ var x = 1; { var x = 2; } return x; }",
            1,
            21,
            "a local named 'x' is already defined in this scope",
        ),
        (
            "@{ string s = 1; return s; }",
            1,
            15,
            "cannot implicitly convert type 'int' to 'string'",
        ),
        (
            "@{ int i = 1.5; return i; }",
            1,
            12,
            "cannot implicitly convert type 'double' to 'int'",
        ),
        (
            "@{ break; return 1; }",
            1,
            4,
            "no enclosing loop or switch out of which to 'break'",
        ),
        ("@{ continue; return 1; }", 1, 4, "no enclosing loop out of which to"),
        (
            "@{ foreach (var c in \"ab\") { c = 'x'; } return 1; }",
            1,
            30,
            "cannot assign to 'c': it is a foreach iteration variable",
        ),
        (
            "@{ 1 + 1; return 1; }",
            1,
            4,
            "only assignment, call, increment, decrement and new expressions can be"
            " used as a statement",
        ),
        (
            "@(await Task.Delay(100))",
            1,
            3,
            "'await' is not supported: policy expressions run synchronously, with "
            "no async, await or Task; call the method without 'await', and to pause "
            "between attempts use the 'retry' policy's 'interval'",
        ),
        ("@{ await Task.Delay(100); return 1; }", 1, 4, "'await' is not supported"),
        (
            "@{ Task.Delay(100).Wait(); return 1; }",
            1,
            4,
            "'Task' is not available: policy expressions run synchronously, with no "
            "async, await or Task; to pause between attempts use the 'retry' "
            "policy's 'interval' instead of Task.Delay",
        ),
        (
            "@(new[] { 1 }.Where(async x => x > 0).Count())",
            1,
            21,
            "'async' is not supported: policy expressions run synchronously",
        ),
        (
            "@{ try { } catch { } return 1; }",
            1,
            4,
            "'try' statements are not supported; a failing expression goes to on-error",
        ),
        ("@{ throw null; }", 1, 4, "'throw' is not supported in policy expressions"),
        (
            "@{ int F() { return 1; } return F(); }",
            1,
            8,
            "local functions are not supported in policy expressions",
        ),
        (
            "@{ const int x = 1; return x; }",
            1,
            4,
            "'const' locals are not supported; use 'var'",
        ),
        (
            "@{ return 1;",
            1,
            13,
            "expected '}' to close the block but found end of expression",
        ),
        ("@{ return 1; } x", 1, 16, "unexpected 'x' after the expression"),
        ('@($"{}")', 1, 5, "empty interpolation hole '{}'"),
        ('@($"{1")', 1, 7, "unterminated string literal"),
        ('@($"a}")', 1, 6, "'}' in an interpolated string must be doubled as '}}'"),
        ('@($"{1 +}")', 1, 9, "expected an expression but found end of expression"),
        ('@($"{1,x}")', 1, 8, "an interpolation alignment must be a constant integer"),
        ("@(/* open", 1, 3, "unterminated comment '/*'"),
        ("@(a ? b)", 1, 8, "expected ':' in a conditional expression but found ')'"),
        (
            "@(f(ref x))",
            1,
            5,
            "'ref' arguments are not supported in policy expressions",
        ),
        (
            '@(JObject.Parse("{}").Add("a", 1) ?? 1)',
            1,
            23,
            "this call returns nothing (void): it is not a value",
        ),
        (
            "@{ var l = new List<int>(); var x = l.Add(1); return 1; }",
            1,
            39,
            "this call returns nothing (void): it is not a value",
        ),
        ('@("a".GetHashCode())', 1, 7, "'GetHashCode' is not a member of 'string'"),
    ],
)
def test_compile_errors(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        compile_expression(text, source="policy.xml")
    error = caught.value
    assert (error.source, error.line, error.column) == ("policy.xml", line, column)
    assert error.message.startswith(message)


@pytest.mark.parametrize(
    ("text", "origin", "position"),
    [
        ("@(foo)", (10, 20), (10, 22)),
        ("@{\n  return foo;\n}", (3, 15), (4, 10)),
        ("@{\r\n  var x = 1;\r\n  return x + bar;\r\n}", (7, 1), (9, 14)),
        ('@($"a{\n  foo}")', (2, 5), (3, 3)),
    ],
)
def test_error_positions_are_absolute(
    text: str, origin: tuple[int, int], position: tuple[int, int]
) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        compile_expression(text, source="api.xml", line=origin[0], column=origin[1])
    assert (caught.value.line, caught.value.column) == position
    assert str(caught.value).startswith(f"api.xml:{position[0]}:{position[1]}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@(1 / 0)", "Attempted to divide by zero."),
        ("@(5 % 0)", "Attempted to divide by zero."),
        ("@(1m / 0m)", "Attempted to divide by zero."),
        (
            "@(context.User.Email)",
            "Object reference not set to an instance of an object (reading 'Email' of"
            " null).",
        ),
        (
            '@(context.LastError.Source.Equals("x"))',
            "Object reference not set to an instance of an object (reading 'Source' of"
            " null).",
        ),
        (
            "@(((string)null).Length)",
            "Object reference not set to an instance of an object (reading 'Length' of"
            " null).",
        ),
        (
            "@(((string)null).Trim())",
            "Object reference not set to an instance of an object (calling 'Trim' of"
            " null).",
        ),
        (
            '@(context.Variables["missing"])',
            "The given key 'missing' was not present in the dictionary.",
        ),
        ('@(context.Variables["name"].Foo)', "'Foo' is not a property of 'string'"),
        ('@(context.Variables["name"].Foo())', "'Foo' is not a method of 'string'"),
        (
            '@(context.Variables["count"][0])',
            "cannot apply indexing with [] to a value of type 'int'",
        ),
        (
            '@(context.Variables["count"] && true)',
            "Cannot implicitly convert type 'int' to 'bool'",
        ),
        (
            '@(context.Variables["nothing"] || true)',
            "Nullable object must have a value.",
        ),
        (
            '@(context.Variables["name"] - 1)',
            "Operator '-' cannot be applied to operands of type 'string' and 'int'",
        ),
        ('@("abc"[5])', "Index was outside the bounds of the array."),
        (
            '@((context.Variables["count"] ?? "x").Length)',
            "'Length' is not a property of 'int'",
        ),
        (
            '@((true ? context.Variables["count"] : "x").Length)',
            "'Length' is not a property of 'int'",
        ),
        (
            '@{ int n = context.Variables["name"]; return n; }',
            "Unable to cast object of type 'string' to type 'int'.",
        ),
        (
            '@(context.Variables.GetValueOrDefault<int>("missing", "abc"))',
            "Unable to cast object of type 'string' to type 'int'.",
        ),
        ("@(context.Request.Body.As<string>())", ""),
        (
            "@(new DateTime(2024, 13, 1))",
            "Year, Month, and Day parameters describe an un-representable DateTime.",
        ),
        (
            "@(DateTime.MaxValue.AddDays(1))",
            "The added or subtracted value results in an un-representable DateTime.",
        ),
        ('@(int.Parse("12a"))', "The input string '12a' was not in a correct format."),
        (
            '@(int.Parse("99999999999"))',
            "Value was either too large or too small for the target type.",
        ),
        (
            '@("abc".Substring(5))',
            "startIndex cannot be larger than length of string. (Parameter"
            " 'startIndex')",
        ),
        (
            '@("abc".Substring(1, 5))',
            "Index and length must refer to a location within the string. (Parameter"
            " 'length')",
        ),
        ("@(new[] { 1 }.First(x => x > 1))", "Sequence contains no matching element"),
        ("@(new int[] { }.Max())", "Sequence contains no elements"),
        (
            '@(Convert.FromBase64String("***"))',
            "The input is not a valid Base-64 string as it contains a non-base 64"
            " character.",
        ),
        ('@(Guid.Parse("nope"))', "Unrecognized Guid format: 'nope'."),
        (
            '@(DateTime.Parse("someday"))',
            "String 'someday' was not recognized as a valid DateTime.",
        ),
        (
            '@(Regex.IsMatch("a", context.Variables["name"] + "("))',
            "Invalid pattern 'Ada(': missing ) at position 4",
        ),
        (
            '@(string.Format("{1}", 1))',
            "Index (zero based) must be greater than or equal to zero and less than"
            " the size of the argument list.",
        ),
        ('@(42.ToString("Q"))', "Format specifier 'Q' was invalid."),
    ],
)
def test_runtime_errors(text: str, message: str) -> None:
    if not message:
        context = sample_context()
        context.request.body = None
        with pytest.raises(ExpressionError, match="of null"):
            evaluate(text, context)
        return
    with pytest.raises(ExpressionError) as caught:
        evaluate(text)
    assert str(caught.value) == message
