"""The built-in library: strings, numbers, dates, regex, JSON and the context model."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tollhouse.errors import ExpressionError
from tollhouse.policy.context import (
    Api,
    Deployment,
    LastError,
    Operation,
    PolicyContext,
    Product,
    Subscription,
    Url,
    User,
)
from tollhouse.policy.expressions import compile_expression, to_text
from tollhouse.policy.expressions.jtoken import JObject, JValue
from tollhouse.policy.expressions.library import LIBRARY
from tollhouse.policy.expressions.types import AnonymousObject, Char, EnumValue


def full_context() -> PolicyContext:
    context = PolicyContext.for_request(
        "POST",
        "https://gw.example/openai/deployments/d1/chat/completions?api-version=2024-10-21&tag=a&tag=b",
        headers=[
            ("Authorization", "Bearer abc"),
            ("Content-Type", "application/json"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
        ],
        body=b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.5}',
        ip_address="10.0.0.7",
        matched_parameters={"deployment-id": "d1"},
    )
    context.request_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    context.timestamp = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    context.variables.update({"name": "Ada", "count": 3, "token": JObject()})
    context.subscription = Subscription(
        id="sub-1",
        key="k1",
        name="Team A",
        primary_key="p1",
        secondary_key="s1",
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
    )
    context.product = Product(id="starter", name="Starter")
    context.api = Api(
        id="azure-openai",
        name="Azure OpenAI",
        path="openai",
        protocols=["https"],
        service_url=Url.parse("https://backend.example/openai"),
        version="v1",
    )
    context.operation = Operation(
        id="ChatCompletions_Create",
        method="POST",
        name="Creates a completion",
        url_template="/deployments/{deployment-id}/chat/completions",
    )
    context.user = User(
        id="u1", email="ada@example.com", first_name="Ada", last_name="L"
    )
    context.deployment = Deployment(
        region="West Europe", service_name="gw", gateway_id="g1"
    )
    context.response.status_code = 429
    context.response.status_reason = "Too Many Requests"
    context.response.headers.set("Retry-After", "7")
    context.last_error = LastError(
        source="ip-filter",
        reason="CallerIpNotAllowed",
        message="Caller IP address 10.0.0.7 is not allowed",
        scope="api",
        section="inbound",
        path="ip-filter[1]",
        policy_id="p1",
    )
    return context


def evaluate(text: str) -> object:
    return compile_expression(text).evaluate(full_context())


def assert_same(actual: object, expected: object) -> None:
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(actual, float) and math.isnan(actual)
        return
    assert (type(actual), actual) == (type(expected), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@("Hello".Length)', 5),
        ('@("Hello".Equals("hello"))', False),
        ('@("Hello".Equals("hello", StringComparison.OrdinalIgnoreCase))', True),
        (
            '@("Hello".Equals("hello", StringComparison.InvariantCultureIgnoreCase))',
            True,
        ),
        ('@("Hello".Equals(null))', False),
        ('@(string.Equals("a", "A", StringComparison.OrdinalIgnoreCase))', True),
        ("@(string.Equals(null, null))", True),
        ('@("Hello".Contains("ell"))', True),
        ('@("Hello".Contains("ELL", StringComparison.OrdinalIgnoreCase))', True),
        ("@(\"Hello\".Contains('H'))", True),
        ('@("Hello".StartsWith("He"))', True),
        ('@("Hello".StartsWith("he", StringComparison.OrdinalIgnoreCase))', True),
        ('@("Hello".EndsWith("lo"))', True),
        ("@(\"Hello\".EndsWith('x'))", False),
        ('@("Hello".ToLower())', "hello"),
        ('@("Hello".ToUpper())', "HELLO"),
        ('@("Hello".ToLowerInvariant())', "hello"),
        ('@("Hello".ToUpperInvariant())', "HELLO"),
        ("@(\"a,b,,c\".Split(',').Length)", 4),
        ("@(\"a,b;c\".Split(',', ';')[2])", "c"),
        ('@("a, b".Split(", ")[1])', "b"),
        (
            "@(\"a,,b\".Split(new[] { ',' },"
            " StringSplitOptions.RemoveEmptyEntries).Length)",
            2,
        ),
        ("@(\"a , b\".Split(',', StringSplitOptions.TrimEntries)[1])", "b"),
        ("@(\"a,b,c\".Split(',', 2)[1])", "b,c"),
        ('@("a b\\tc".Split()[2])', "c"),
        ('@("Hello".Substring(1))', "ello"),
        ('@("Hello".Substring(1, 3))', "ell"),
        ('@("Hello".Replace("l", "L"))', "HeLLo"),
        ('@("Hello".Replace("l", null))', "Heo"),
        ('@("  x  ".Trim())', "x"),
        ('@("  x  ".TrimStart())', "x  "),
        ('@("  x  ".TrimEnd())', "  x"),
        ("@(\"--x--\".Trim('-'))", "x"),
        ("@(\"/a/\".TrimEnd('/'))", "/a"),
        ("@(\"xyx\".Trim('x', 'y'))", ""),
        ('@("Hello".IndexOf("l"))', 2),
        ("@(\"Hello\".IndexOf('l', 3))", 3),
        ('@("Hello".IndexOf("L", StringComparison.OrdinalIgnoreCase))', 2),
        ('@("Hello".IndexOf("z"))', -1),
        ('@("Hello".LastIndexOf("l"))', 3),
        ("@(\"7\".PadLeft(3, '0'))", "007"),
        ('@("7".PadLeft(3))', "  7"),
        ("@(\"7\".PadRight(3, '.'))", "7.."),
        ('@("abc".Insert(1, "X"))', "aXbc"),
        ('@("abcd".Remove(1, 2))', "ad"),
        ('@("abcd".Remove(2))', "ab"),
        ('@("abc".ToCharArray().Length)', 3),
        ('@("abc"[0])', Char("a")),
        ('@("abc".ToString())', "abc"),
        ("@(string.IsNullOrEmpty(null))", True),
        ('@(string.IsNullOrEmpty(""))', True),
        ('@(string.IsNullOrEmpty(" "))', False),
        ('@(string.IsNullOrWhiteSpace(" \\t"))', True),
        ('@(string.IsNullOrWhiteSpace("x"))', False),
        ('@(string.Format("{0}-{1}", "a", 2))', "a-2"),
        ('@(string.Format("{0:D3}|{1,-4}|{1,4}", 7, "ab"))', "007|ab  |  ab"),
        ('@(string.Format("{{{0}}}", 1))', "{1}"),
        ('@(string.Join(",", "a", "b", "c"))', "a,b,c"),
        ('@(string.Join("|", new[] { 1, 2 }))', "1|2"),
        ('@(string.Join(",", new string[0]))', "error"),
        ('@(string.Concat("a", 1, true, null))', "a1True"),
        ('@(string.Compare("a", "b"))', -1),
        ('@(string.Compare("B", "b", StringComparison.OrdinalIgnoreCase))', 0),
        ("@(string.Empty)", ""),
        ("@(new string('x', 3))", "xxx"),
        ("@(new string(new[] { 'a', 'b' }))", "ab"),
        ("@(\"abc\".Any(c => c == 'b'))", True),
        ('@("abc".First())', Char("a")),
        ("@('a'.ToString())", "a"),
        ("@(char.IsDigit('7'))", True),
        ("@(char.IsLetter('7'))", False),
        ("@(char.IsWhiteSpace(' '))", True),
        ("@(char.ToUpper('a'))", Char("A")),
        ('@(char.IsUpper("aB", 1))', True),
    ],
)
def test_strings(text: str, expected: object) -> None:
    if expected == "error":
        with pytest.raises(Exception):  # noqa: B017 - sized arrays are rejected
            evaluate(text)
        return
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@(int.Parse("42"))', 42),
        ('@(int.Parse(" -42 "))', -42),
        ('@(long.Parse("9223372036854775807"))', 9223372036854775807),
        ('@(double.Parse("1.5"))', 1.5),
        ('@(double.Parse("1,000.25"))', 1000.25),
        ('@(double.Parse("1e3"))', 1000.0),
        ('@(decimal.Parse("1.50"))', Decimal("1.50")),
        ('@(bool.Parse("True"))', True),
        ('@(bool.Parse(" false "))', False),
        ("@(int.MaxValue)", 2147483647),
        ("@(int.MinValue)", -2147483648),
        ("@(long.MaxValue)", 9223372036854775807),
        ("@(double.NaN)", math.nan),
        ("@(double.IsNaN(0.0 / 0))", True),
        ("@(42.ToString())", "42"),
        ('@(42.ToString("D5"))', "00042"),
        ('@(255.ToString("X4"))', "00FF"),
        ('@(255.ToString("x"))', "ff"),
        ('@(1234.5678.ToString("F2"))', "1234.57"),
        ('@(1234.5678.ToString("N2"))', "1,234.57"),
        ('@(1234.5678.ToString("N0"))', "1,235"),
        ('@(0.125.ToString("F2"))', "0.13"),
        ('@(0.5.ToString("P0"))', "50 %"),
        ('@(0.1234.ToString("P1"))', "12.3 %"),
        ('@(1234.5.ToString("E2"))', "1.23E+003"),
        ('@(1234.5.ToString("0.00"))', "1234.50"),
        ('@(1234.5.ToString("#,##0.###"))', "1,234.5"),
        ('@(0.5.ToString("#.##"))', ".5"),
        ('@(0.0.ToString("#"))', ""),
        ('@(5.ToString("000"))', "005"),
        ('@((-5.5).ToString("0.0;(0.0)"))', "(5.5)"),
        ('@(1234567.ToString("(###) ###-####"))', "() 123-4567"),
        ("@(12.ToString(\"0'%'\"))", "12%"),
        ('@(0.256.ToString("0%"))', "26%"),
        ('@(1234567.0.ToString("#,##0,K"))', "1,235K"),
        ('@((1.5m).ToString("0.000"))', "1.500"),
        ('@(3.0.ToString("G"))', "3"),
        ('@(1234.5678.ToString("G6"))', "1234.57"),
        ("@(42.CompareTo(7))", 1),
        ('@(Convert.ToInt32("12"))', 12),
        ("@(Convert.ToInt32(2.5))", 2),
        ("@(Convert.ToInt32(3.5))", 4),
        ("@(Convert.ToInt32(true))", 1),
        ("@(Convert.ToInt32(null))", 0),
        ('@(Convert.ToInt64("12"))', 12),
        ('@(Convert.ToDouble("1.5"))', 1.5),
        ('@(Convert.ToDecimal("1.5"))', Decimal("1.5")),
        ('@(Convert.ToBoolean("TRUE"))', True),
        ("@(Convert.ToBoolean(0))", False),
        ("@(Convert.ToString(12))", "12"),
        ("@(Convert.ToString(null))", ""),
        ("@(Convert.ToString(true))", "True"),
        ('@(Convert.ToBase64String(Encoding.UTF8.GetBytes("hello")))', "aGVsbG8="),
        ('@(Encoding.UTF8.GetString(Convert.FromBase64String("aGVsbG8=")))', "hello"),
        ('@(Encoding.ASCII.GetBytes("é")[0])', 63),
        ('@(Encoding.Unicode.GetBytes("a").Length)', 2),
        ('@(Encoding.UTF8.GetByteCount("é"))', 2),
        ("@(Math.Min(3, 7))", 3),
        ("@(Math.Max(3, 7.5))", 7.5),
        ("@(Math.Abs(-4))", 4),
        ("@(Math.Round(2.5))", 2.0),
        ("@(Math.Round(3.5))", 4.0),
        ("@(Math.Round(2.5, MidpointRounding.AwayFromZero))", 3.0),
        ("@(Math.Round(1.2345, 2))", 1.23),
        ("@(Math.Round(1.5m))", Decimal("2")),
        ("@(Math.Floor(2.7))", 2.0),
        ("@(Math.Ceiling(2.1))", 3.0),
        ("@(Math.Floor(-2.5m))", Decimal("-3")),
        ("@(Math.Truncate(-2.7))", -2.0),
        ("@(Math.Pow(2, 10))", 1024.0),
        ("@(Math.Sqrt(16))", 4.0),
        ("@(Math.Sign(-3))", -1),
        ("@(Math.Clamp(15, 0, 10))", 10),
        ("@(Math.PI > 3.14)", True),
    ],
)
def test_numbers_and_conversions(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@(new DateTime(2024, 1, 2, 3, 4, 5).ToString())", "01/02/2024 03:04:05"),
        (
            '@(new DateTime(2024, 1, 2, 15, 4, 5).ToString("yyyy-MM-ddTHH:mm:ss"))',
            "2024-01-02T15:04:05",
        ),
        ('@(new DateTime(2024, 1, 2, 15, 4, 5).ToString("h:mm tt"))', "3:04 PM"),
        ('@(new DateTime(2024, 1, 2).ToString("dddd, MMMM d"))', "Tuesday, January 2"),
        ('@(new DateTime(2024, 1, 2).ToString("ddd MMM yy"))', "Tue Jan 24"),
        (
            '@(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).ToString("o"))',
            "2024-01-02T03:04:05.0000000Z",
        ),
        (
            '@(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).ToString("s"))',
            "2024-01-02T03:04:05",
        ),
        (
            '@(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).ToString("u"))',
            "2024-01-02 03:04:05Z",
        ),
        (
            '@(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).ToString("R"))',
            "Tue, 02 Jan 2024 03:04:05 GMT",
        ),
        (
            '@(new DateTime(2024, 1, 2, 3, 4, 5, 120).ToString("HH:mm:ss.fff"))',
            "03:04:05.120",
        ),
        ('@(new DateTime(2024, 1, 2, 3, 4, 5).ToString("ss.FFF"))', "05"),
        ("@(new DateTime(2024, 1, 2).ToString(\"'day' d\"))", "day 2"),
        ("@(new DateTime(2024, 1, 31).AddMonths(1).Day)", 29),
        ("@(new DateTime(2024, 1, 1).AddDays(1.5).Hour)", 12),
        ("@(new DateTime(2024, 1, 1).AddSeconds(90).Minute)", 1),
        ("@(new DateTime(2024, 1, 1).AddHours(-1).Year)", 2023),
        ("@(new DateTime(2024, 1, 1).AddYears(1).Year)", 2025),
        ("@(new DateTime(2024, 3, 1).DayOfWeek.ToString())", "Friday"),
        ("@(new DateTime(2024, 3, 1).DayOfYear)", 61),
        ("@((new DateTime(2024, 1, 2) - new DateTime(2024, 1, 1)).TotalHours)", 24.0),
        ("@(new DateTime(2024, 1, 2).Subtract(new DateTime(2024, 1, 1)).Days)", 1),
        ("@((new DateTime(2024, 1, 1) + TimeSpan.FromMinutes(5)).Minute)", 5),
        ("@(new DateTime(2024, 1, 1).Add(TimeSpan.FromDays(1)).Day)", 2),
        ("@(new DateTime(2024, 1, 1, 10, 0, 0).Date.Hour)", 0),
        ("@(new DateTime(2024, 1, 1).Ticks)", 638396640000000000),
        (
            '@(DateTime.Parse("2024-01-02T03:04:05Z").ToString("o"))',
            "2024-01-02T03:04:05.0000000Z",
        ),
        ('@(DateTime.Parse("2024-01-02T05:04:05+02:00").Hour)', 3),
        ('@(DateTime.Parse("01/02/2024 03:04:05").Day)', 2),
        ('@(DateTime.Parse("1/2/2024 3:04 PM").Hour)', 15),
        ('@(DateTime.Parse("Tue, 02 Jan 2024 03:04:05 GMT").Year)', 2024),
        ('@(Convert.ToDateTime("2024-06-01").Month)', 6),
        ("@(DateTime.UtcNow > new DateTime(2020, 1, 1))", True),
        ("@(DateTime.UtcNow.Kind.ToString())", "Utc"),
        ("@(DateTime.Now.Year >= 2024)", True),
        ("@(DateTime.MaxValue.Year)", 9999),
        ("@(DateTime.DaysInMonth(2023, 2))", 28),
        ("@(TimeSpan.FromSeconds(90).ToString())", "00:01:30"),
        ("@(TimeSpan.FromMilliseconds(1500).ToString())", "00:00:01.5000000"),
        ("@(TimeSpan.FromDays(1.5).ToString())", "1.12:00:00"),
        ("@(TimeSpan.FromSeconds(-5).ToString())", "-00:00:05"),
        ('@(TimeSpan.FromMinutes(61).ToString("hh\\\\:mm"))', "01:01"),
        ('@(TimeSpan.FromSeconds(3661).ToString("g"))', "1:01:01"),
        ("@(TimeSpan.FromMinutes(90).TotalHours)", 1.5),
        ("@(TimeSpan.FromMinutes(90).Hours)", 1),
        ("@(TimeSpan.FromMinutes(90).Minutes)", 30),
        ("@(new TimeSpan(1, 2, 3).TotalSeconds)", 3723.0),
        ("@(new TimeSpan(1, 2, 3, 4).Days)", 1),
        ('@(TimeSpan.Parse("01:02:03").TotalMinutes)', 62.05),
        ("@(TimeSpan.Zero.Ticks)", 0),
        ("@((TimeSpan.FromHours(1) - TimeSpan.FromMinutes(15)).TotalMinutes)", 45.0),
        ("@(Guid.NewGuid().ToString().Length)", 36),
        ('@(Guid.NewGuid().ToString("N").Length)', 32),
        (
            '@(Guid.Parse("12345678-1234-5678-1234-567812345678").ToString("B"))',
            "{12345678-1234-5678-1234-567812345678}",
        ),
        ("@(Guid.Empty.ToString())", "00000000-0000-0000-0000-000000000000"),
        ("@(Guid.NewGuid() != Guid.NewGuid())", True),
    ],
)
def test_dates_times_and_guids(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@(Regex.IsMatch("abc123", "\\\\d+"))', True),
        ('@(Regex.IsMatch("ABC", "^abc$", RegexOptions.IgnoreCase))', True),
        ('@(Regex.IsMatch("a\\nb", "^b$", RegexOptions.Multiline))', True),
        ('@(Regex.Match("abc123def", "\\\\d+").Value)', "123"),
        ('@(Regex.Match("abc123def", "\\\\d+").Index)', 3),
        ('@(Regex.Match("abc", "\\\\d+").Success)', False),
        ('@(Regex.Match("abc", "\\\\d+").Value)', ""),
        ('@(Regex.Match("key=value", "(\\\\w+)=(\\\\w+)").Groups[2].Value)', "value"),
        (
            '@(Regex.Match("key=value",'
            ' "(?<k>\\\\w+)=(?<v>\\\\w+)").Groups["v"].Value)',
            "value",
        ),
        (
            '@(Regex.Match("key=value", "(?<k>\\\\w+)=").Groups["missing"].Success)',
            False,
        ),
        ('@(Regex.Match("key=value", "(\\\\w+)=").Groups[5].Value)', ""),
        ('@(Regex.Match("a1b2", "\\\\d").NextMatch().Value)', "2"),
        ('@(Regex.Matches("a1b2c3", "\\\\d").Count)', 3),
        ('@(Regex.Matches("a1b2c3", "\\\\d")[1].Value)', "2"),
        (
            '@(string.Join(",", Regex.Matches("a1b2", "\\\\d").Select(m => m.Value)))',
            "1,2",
        ),
        ('@(Regex.Replace("a1b2", "\\\\d", "#"))', "a#b#"),
        (
            '@(Regex.Replace("John Smith", "(\\\\w+) (\\\\w+)", "$2, $1"))',
            "Smith, John",
        ),
        ('@(Regex.Replace("ab", "(?<x>a)", "${x}${x}$$"))', "aa$b"),
        ('@(Regex.Replace("ab", "a", "[$&]"))', "[a]b"),
        ('@(Regex.Replace("abc", "[ac]", m => m.Value.ToUpper()))', "AbC"),
        ('@(Regex.Replace("aaa", "a", "b", RegexOptions.IgnoreCase))', "bbb"),
        ('@(Regex.Split("a1b22c", "\\\\d+").Length)', 3),
        ('@(Regex.Escape("a.b*c"))', "a\\.b\\*c"),
        ('@(Regex.IsMatch("ab", "(?<x>a)\\\\k<x>"))', False),
        ('@(Regex.IsMatch("abc\\n", "c\\\\Z"))', True),
        ('@(Regex.IsMatch("abc\\n", "c\\\\z"))', False),
        ('@(new Regex("^a").IsMatch("abc"))', True),
        ('@(new Regex("b+", RegexOptions.IgnoreCase).Match("aBBc").Value)', "BB"),
        ('@(new Regex("\\\\d").Replace("a1b2", "x", 1))', "axb2"),
        ('@(Regex.Match("x", "x").ToString())', "x"),
        # A "{" that starts no quantifier is a literal, as in .NET.
        ('@(Regex.IsMatch("a{,3}", "^a{,3}$"))', True),
        ('@(Regex.IsMatch("ab", "a{e<=1}"))', False),
        ('@(Regex.Match("x{y}", "[{]y}").Value)', "{y}"),
        ('@(Regex.Match("aaaa", "a{2,3}?").Value)', "aa"),
        ('@(Regex.Match("aaaa", "a{2,}").Value)', "aaaa"),
    ],
)
def test_regex(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


DOC = '"{\\"a\\":{\\"b\\":[1,2.5,true,null,\\"x\\"]},\\"n\\":\\"7\\"}"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"@(JObject.Parse({DOC}).ToString())",
            '{\n  "a": {\n    "b": [\n      1,\n      2.5,\n      true,\n      null,\n'
            '      "x"\n    ]\n  },\n  "n": "7"\n}',
        ),
        (
            f"@(JObject.Parse({DOC}).ToString(Formatting.None))",
            '{"a":{"b":[1,2.5,true,null,"x"]},"n":"7"}',
        ),
        (f'@(JObject.Parse({DOC})["a"]["b"][0].ToString())', "1"),
        (f'@(JObject.Parse({DOC})["a"]["b"][1].ToString())', "2.5"),
        (f'@(JObject.Parse({DOC})["a"]["b"][2].ToString())', "True"),
        (f'@(JObject.Parse({DOC})["a"]["b"][3].ToString())', ""),
        (f'@(JObject.Parse({DOC})["a"]["b"][4].ToString())', "x"),
        (f'@(JObject.Parse({DOC})["a"]["b"].Count())', 5),
        (f'@(((JArray)JObject.Parse({DOC})["a"]["b"]).Count)', 5),
        (f'@(JObject.Parse({DOC})["missing"])', None),
        (f'@(JObject.Parse({DOC})["a"]?["missing"]?["x"])', None),
        (f'@(JObject.Parse({DOC}).Value<string>("n"))', "7"),
        (f'@(JObject.Parse({DOC}).Value<int>("n"))', 7),
        (f'@(JObject.Parse({DOC}).Value<int>("missing"))', 0),
        (f'@(JObject.Parse({DOC}).Value<string>("missing"))', None),
        (f'@(JObject.Parse({DOC})["a"]["b"][0].Value<int>())', 1),
        (f'@(JObject.Parse({DOC})["n"].ToObject<int>())', 7),
        (f'@(JObject.Parse({DOC})["a"]["b"][1].Type.ToString())', "Float"),
        (f'@(JObject.Parse({DOC})["a"].Type == JTokenType.Object)', True),
        (f'@(JObject.Parse({DOC})["a"]["b"][4].Path)', "a.b[4]"),
        (f'@(JObject.Parse({DOC}).SelectToken("$.a.b[4]").ToString())', "x"),
        (f"@(JObject.Parse({DOC}).SelectToken(\"a['b'][0]\").ToString())", "1"),
        (f'@(JObject.Parse({DOC}).SelectToken("a.zz"))', None),
        (f'@(JObject.Parse({DOC}).ContainsKey("a"))', True),
        (f"@(JObject.Parse({DOC}).Count)", 2),
        (f"@(JObject.Parse({DOC}).Properties().First().Name)", "a"),
        (
            f'@(string.Join(",", JObject.Parse({DOC}).Properties().Select(p =>'
            " p.Name)))",
            "a,n",
        ),
        (f'@(JObject.Parse({DOC}).Property("n").Value.ToString())', "7"),
        (
            f'@(JObject.Parse({DOC}).GetValue("N",'
            " StringComparison.OrdinalIgnoreCase).ToString())",
            "7",
        ),
        (f"@(JObject.Parse({DOC}).HasValues)", True),
        ('@(JObject.Parse("{}").HasValues)', False),
        ('@(JArray.Parse("[1,2]")[1].ToString())', "2"),
        ('@(JArray.Parse("[1,2]").Count)', 2),
        ('@(JArray.Parse("[]").ToString())', "[]"),
        ('@(JObject.Parse("{}").ToString())', "{}"),
        ('@(JToken.Parse("\\"s\\"").ToString())', "s"),
        ('@(JToken.Parse("12").Type.ToString())', "Integer"),
        ('@(JToken.Parse("[{\\"a\\":1}]").ToString())', '[\n  {\n    "a": 1\n  }\n]'),
        ('@(JToken.Parse("1.0").ToString(Formatting.None))', "1"),
        ('@(JObject.Parse("{\\"f\\":1.0}").ToString(Formatting.None))', '{"f":1.0}'),
        (
            '@(JObject.Parse("{\\"s\\":\\"a\\\\\\"b\\\\u0001\\"}").ToString(Formatting.None))',
            '{"s":"a\\"b\\u0001"}',
        ),
        (
            '@(JObject.Parse("{\\"s\\":\\"é\\"}").ToString(Formatting.None))',
            '{"s":"é"}',
        ),
        ("@(new JObject().ToString(Formatting.None))", "{}"),
        (
            '@(new JObject(new JProperty("a", 1), new JProperty("b", new JArray(1,'
            ' "x"))).ToString(Formatting.None))',
            '{"a":1,"b":[1,"x"]}',
        ),
        ("@(new JArray(new[] { 1, 2 }).ToString(Formatting.None))", "[1,2]"),
        ('@(new JValue("x").Value)', "x"),
        ('@(new JProperty("n", 1.5).ToString())', '"n": 1.5'),
        (
            '@{ var o = new JObject(); o["a"] = "x"; o["b"] = 2; o["c"] = true; o["d"]'
            ' = null; o["e"] = 1.5; return o.ToString(Formatting.None); }',
            '{"a":"x","b":2,"c":true,"d":null,"e":1.5}',
        ),
        (
            '@{ var o = JObject.Parse("{\\"a\\":1,\\"b\\":2}"); o.Remove("a"); return'
            " o.ToString(Formatting.None); }",
            '{"b":2}',
        ),
        (
            '@{ var o = JObject.Parse("{\\"a\\":1,\\"b\\":2}");'
            ' o.Property("a").Remove(); return o.ToString(Formatting.None); }',
            '{"b":2}',
        ),
        (
            '@{ var o = JObject.Parse("{\\"a\\":[1]}"); o["a"][0].Remove(); return'
            " o.ToString(Formatting.None); }",
            '{"a":[]}',
        ),
        (
            '@{ var o = new JObject(); o.Add("x", 1); o.Add(new JProperty("y", 2));'
            " return o.ToString(Formatting.None); }",
            '{"x":1,"y":2}',
        ),
        (
            '@{ var a = new JArray(); a.Add(1); a.Add("two"); a.Insert(0, false);'
            " return a.ToString(Formatting.None); }",
            '[false,1,"two"]',
        ),
        (
            '@{ var a = JArray.Parse("[1,2,3]"); a.RemoveAt(1); a[0] = 9; return'
            " a.ToString(Formatting.None); }",
            "[9,3]",
        ),
        (
            '@{ var o = JObject.Parse("{\\"a\\":{\\"b\\":1}}"); o["c"] = o["a"];'
            ' o["a"]["b"] = 2; return o.ToString(Formatting.None); }',
            '{"a":{"b":2},"c":{"b":1}}',
        ),
        (
            '@{ var o = new JObject(); o["self"] = o; return'
            " o.ToString(Formatting.None); }",
            '{"self":{}}',
        ),
        (
            '@{ var o = JObject.Parse("{\\"m\\":\\"a\\"}"); var c ='
            ' (JObject)o.DeepClone(); c["m"] = "b"; return (string)o["m"] +'
            ' (string)c["m"]; }',
            "ab",
        ),
        (
            '@{ var o = new JObject(); o["when"] = new DateTime(2024, 1, 2, 3, 4, 5,'
            " DateTimeKind.Utc); return o.ToString(Formatting.None); }",
            '{"when":"2024-01-02T03:04:05Z"}',
        ),
        (
            '@{ var o = new JObject(); o["obj"] = JToken.FromObject(new { a = 1 });'
            " return o.ToString(Formatting.None); }",
            '{"obj":{"a":1}}',
        ),
        (
            '@(JToken.DeepEquals(JToken.Parse("[1,{\\"a\\":2}]"), JToken.Parse("[1,'
            ' {\\"a\\": 2}]")))',
            True,
        ),
        ('@(JToken.DeepEquals(JToken.Parse("[1]"), JToken.Parse("[1.0]")))', True),
        ('@(JObject.Parse("{\\"a\\":1}")["a"] == 1)', True),
        ('@((string)JObject.Parse("{\\"a\\":\\"x\\"}")["a"] == "x")', True),
    ],
)
def test_json(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '@(JsonConvert.SerializeObject(new { a = 1, b = "x", c = true, d ='
            " (string)null }))",
            '{"a":1,"b":"x","c":true,"d":null}',
        ),
        (
            "@(JsonConvert.SerializeObject(new { f = 1.0, g = 2.5, h = 1.50m, i ="
            " 100000000000000000000.0 }))",
            '{"f":1.0,"g":2.5,"h":1.50,"i":1E+20}',
        ),
        (
            "@(JsonConvert.SerializeObject(new { list = new[] { 1, 2 }, empty = new"
            " string[] { } }))",
            '{"list":[1,2],"empty":[]}',
        ),
        (
            '@(JsonConvert.SerializeObject(new { s = "quote\\" back\\\\ nl\\n tab\\t'
            ' ctl\\u0001 é" }))',
            '{"s":"quote\\" back\\\\ nl\\n tab\\t ctl\\u0001 é"}',
        ),
        (
            "@(JsonConvert.SerializeObject(new { when = new DateTime(2024, 1, 2, 3, 4,"
            " 5, 678, DateTimeKind.Utc) }))",
            '{"when":"2024-01-02T03:04:05.678Z"}',
        ),
        (
            "@(JsonConvert.SerializeObject(new { span = TimeSpan.FromSeconds(5), id ="
            " Guid.Empty }))",
            '{"span":"00:00:05","id":"00000000-0000-0000-0000-000000000000"}',
        ),
        (
            "@(JsonConvert.SerializeObject(new { kind ="
            " StringComparison.OrdinalIgnoreCase }))",
            '{"kind":5}',
        ),
        ("@(JsonConvert.SerializeObject(new { c = 'x' }))", '{"c":"x"}'),
        (
            "@(JsonConvert.SerializeObject(new { token ="
            ' JObject.Parse("{\\"x\\":[1]}") }))',
            '{"token":{"x":[1]}}',
        ),
        (
            "@(JsonConvert.SerializeObject(new { a = 1 }, Formatting.Indented))",
            '{\n  "a": 1\n}',
        ),
        (
            "@(JsonConvert.SerializeObject(new { a = 1 },"
            " Newtonsoft.Json.Formatting.None))",
            '{"a":1}',
        ),
        ('@(JsonConvert.SerializeObject("text"))', '"text"'),
        ("@(JsonConvert.SerializeObject(12))", "12"),
        ("@(JsonConvert.SerializeObject(null))", "null"),
        ("@(JsonConvert.SerializeObject(true))", "true"),
        ('@(JsonConvert.SerializeObject(new[] { "a", null }))', '["a",null]'),
        (
            "@(JsonConvert.SerializeObject(context.Variables))",
            '{"name":"Ada","count":3,"token":{}}',
        ),
        (
            "@(JsonConvert.SerializeObject(context.Request.MatchedParameters))",
            '{"deployment-id":"d1"}',
        ),
        (
            '@(JsonConvert.DeserializeObject<JObject>("{\\"a\\":1}")["a"].ToString())',
            "1",
        ),
        ('@(JsonConvert.DeserializeObject<JArray>("[1]").Count)', 1),
        ('@(JsonConvert.DeserializeObject("{\\"a\\":1}") is JObject)', True),
        ('@(JsonConvert.DeserializeObject<int>("12"))', 12),
        ('@(JsonConvert.DeserializeObject<string>("\\"s\\""))', "s"),
    ],
)
def test_json_convert(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '@(JObject.Parse("[1]"))',
            "Error reading JObject from JsonReader. Current JsonReader item is not an"
            " object: Array.",
        ),
        (
            '@(JArray.Parse("{}"))',
            "Error reading JArray from JsonReader. Current JsonReader item is not an"
            " array: Object.",
        ),
        (
            '@(JObject.Parse("{"))',
            "Unexpected character encountered while parsing value: Expecting property"
            " name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            '@(JObject.Parse("{}")[0])',
            "Accessed JObject values with invalid key value: 0. Object property name"
            " expected.",
        ),
        (
            '@(JArray.Parse("[]")["a"])',
            'Accessed JArray values with invalid key value: "a". Int32 array index'
            " expected.",
        ),
        (
            '@(JArray.Parse("[]")[0])',
            "Index was out of range. Must be non-negative and less than the size of"
            " the collection.",
        ),
        (
            '@(JToken.Parse("1")["a"])',
            "Cannot access child value on Newtonsoft.Json.Linq.JValue.",
        ),
        (
            '@(JsonConvert.DeserializeObject<JObject>("[]"))',
            "Cannot deserialize the current JSON array into type 'JObject'.",
        ),
        (
            '@{ var o = new JObject(); o.Add("a", 1); o.Add("a", 2); return o; }',
            "Can not add property a to Newtonsoft.Json.Linq.JObject. Property with the"
            " same name already exists on object.",
        ),
        (
            "@(JsonConvert.SerializeObject(context))",
            "Could not convert a value of type 'PolicyContext' to JSON.",
        ),
        ('@(JObject.Parse("[" * 1))', ""),
    ],
)
def test_json_errors(text: str, message: str) -> None:
    if not message:
        with pytest.raises((ExpressionError, Exception)):
            compile_expression(text).evaluate(full_context())
        return
    with pytest.raises(ExpressionError) as caught:
        evaluate(text)
    assert str(caught.value) == message


def test_json_depth_is_limited() -> None:
    deep = "[" * 70 + "]" * 70
    with pytest.raises(ExpressionError, match="MaxDepth of 64"):
        evaluate(f'@(JToken.Parse("{deep}"))')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@(context.Request.Method)", "POST"),
        ("@(context.Request.Url.Scheme)", "https"),
        ("@(context.Request.Url.Host)", "gw.example"),
        ("@(context.Request.Url.Port)", 443),
        ("@(context.Request.Url.Path)", "/openai/deployments/d1/chat/completions"),
        ("@(context.Request.Url.QueryString)", "?api-version=2024-10-21&tag=a&tag=b"),
        (
            '@(context.Request.Url.Query.GetValueOrDefault("api-version", ""))',
            "2024-10-21",
        ),
        ('@(context.Request.Url.Query.GetValueOrDefault("tag"))', "a,b"),
        ('@(context.Request.Url.Query.GetValueOrDefault("missing", "none"))', "none"),
        ('@(context.Request.Url.Query.ContainsKey("tag"))', True),
        ('@(context.Request.Url.Query["tag"][1])', "b"),
        (
            "@(context.Request.Url.ToString())",
            "https://gw.example/openai/deployments/d1/chat/completions?api-version=2024-10-21&tag=a&tag=b",
        ),
        ("@(context.Request.OriginalUrl.Host)", "gw.example"),
        ("@(context.Request.IpAddress)", "10.0.0.7"),
        (
            '@(context.Request.Headers.GetValueOrDefault("authorization", ""))',
            "Bearer abc",
        ),
        ('@(context.Request.Headers.GetValueOrDefault("X-MULTI", ""))', "a,b"),
        ('@(context.Request.Headers.GetValueOrDefault("missing", "d"))', "d"),
        ('@(context.Request.Headers.GetValueOrDefault("missing"))', None),
        ('@(context.Request.Headers.ContainsKey("content-type"))', True),
        ('@(context.Request.Headers["X-Multi"].Length)', 2),
        ('@(context.Request.Headers["X-Multi"][0])', "a"),
        ("@(context.Request.Headers.Count)", 3),
        (
            '@(string.Join(",", context.Request.Headers.Keys))',
            "Authorization,Content-Type,X-Multi",
        ),
        (
            '@(context.Request.Headers.GetValueOrDefault("Authorization","").Split(\''
            " ')[1])",
            "abc",
        ),
        ('@(context.Request.MatchedParameters["deployment-id"])', "d1"),
        (
            '@(context.Request.MatchedParameters.GetValueOrDefault("deployment-id",'
            ' ""))',
            "d1",
        ),
        ("@(context.Request.Certificate == null)", True),
        (
            "@(context.Request.Body.As<JObject>(preserveContent:"
            ' true)["temperature"].ToString())',
            "0.5",
        ),
        (
            '@((string)context.Request.Body.As<JObject>(true)["messages"][0]["content"])',
            "hi",
        ),
        ("@(context.Request.Body.As<JArray>(true))", "error"),
        ("@(context.Request.Body.As<JToken>(true).Type.ToString())", "Object"),
        ("@(context.Request.Body.As<byte[]>(true).Length)", 80),
        ("@(context.Response.StatusCode)", 429),
        ("@(context.Response.StatusReason)", "Too Many Requests"),
        ('@(context.Response.Headers.GetValueOrDefault("retry-after", "0"))', "7"),
        ("@(context.Response.Body == null)", True),
        ("@(context.Subscription.Id)", "sub-1"),
        ("@(context.Subscription.Name)", "Team A"),
        ("@(context.Subscription.Key)", "k1"),
        ("@(context.Subscription.PrimaryKey)", "p1"),
        ("@(context.Subscription.SecondaryKey)", "s1"),
        ("@(context.Subscription.StartDate.Value.Year)", "error"),
        ("@(context.Subscription.StartDate?.Year)", 2024),
        ("@(context.Subscription.EndDate == null)", True),
        ('@(context.Product.Id + "/" + context.Product.Name)', "starter/Starter"),
        ("@(context.Api.Id)", "azure-openai"),
        ("@(context.Api.Name)", "Azure OpenAI"),
        ("@(context.Api.Path)", "openai"),
        ('@(context.Api.Protocols.Contains("https"))', True),
        ("@(context.Api.ServiceUrl.Host)", "backend.example"),
        ("@(context.Api.Version)", "v1"),
        ("@(context.Operation.Id)", "ChatCompletions_Create"),
        ("@(context.Operation.Method)", "POST"),
        ("@(context.Operation.Name)", "Creates a completion"),
        (
            "@(context.Operation.UrlTemplate)",
            "/deployments/{deployment-id}/chat/completions",
        ),
        ("@(context.User.Id)", "u1"),
        ("@(context.User.Email)", "ada@example.com"),
        ('@(context.User.FirstName + " " + context.User.LastName)', "Ada L"),
        ("@(context.Deployment.Region)", "West Europe"),
        ("@(context.Deployment.ServiceName)", "gw"),
        ("@(context.Deployment.GatewayId)", "g1"),
        ('@(context.Variables.ContainsKey("name"))', True),
        ('@(context.Variables.ContainsKey("absent"))', False),
        ("@(context.Variables.Count)", 3),
        ('@(context.Variables["token"] is JObject)', True),
        ("@(context.RequestId.ToString())", "12345678-1234-5678-1234-567812345678"),
        ('@(context.RequestId.ToString("N"))', "12345678123456781234567812345678"),
        ('@(context.Timestamp.ToString("o"))', "2024-05-06T07:08:09.0000000Z"),
        ("@(context.Timestamp.Year)", 2024),
        ("@(context.Elapsed.TotalMilliseconds >= 0)", True),
        ("@(context.Elapsed < TimeSpan.FromMinutes(1))", True),
        ("@(context.LastError.Source)", "ip-filter"),
        ("@(context.LastError.Reason)", "CallerIpNotAllowed"),
        ("@(context.LastError.Message)", "Caller IP address 10.0.0.7 is not allowed"),
        ("@(context.LastError.Scope)", "api"),
        ("@(context.LastError.Section)", "inbound"),
        ("@(context.LastError.Path)", "ip-filter[1]"),
        ("@(context.LastError.PolicyId)", "p1"),
        ("@(context.Tracing)", False),
        ("@(context.Subscription.ToString())", "Subscription"),
    ],
)
def test_context_members(text: str, expected: object) -> None:
    if expected == "error":
        with pytest.raises((ExpressionError, Exception)):
            evaluate(text)
        return
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@(new[] { 1, 2, 3 }.Contains(2))", True),
        ("@(new[] { 1, 2, 3 }.Length)", 3),
        ("@(new[] { 1, 2, 3 }.Count())", 3),
        ("@(new[] { 1, 2, 3 }.Any())", True),
        ("@(new int[] { }.Any())", False),
        ("@(new[] { 1, 2, 3 }.First())", 1),
        ("@(new[] { 1, 2, 3 }.Last())", 3),
        ("@(new[] { 1, 2, 3 }.LastOrDefault(x => x < 3))", 2),
        ("@(new[] { 1, 2, 3 }.ElementAt(1))", 2),
        ("@(new[] { 1, 2, 3 }.ElementAtOrDefault(9))", None),
        ("@(new[] { 1, 2, 3 }.Skip(1).First())", 2),
        ("@(new[] { 1, 2, 3 }.Take(2).Sum())", 3),
        ("@(new[] { 1, 1, 2 }.Distinct().Count())", 2),
        ('@(new object[] { 1, 1.0, "1", null, null }.Distinct().Count())', 4),
        ("@(new[] { 1, 2, 3 }.Reverse().First())", 3),
        ("@(new[] { 1, 2, 3 }.Max())", 3),
        ("@(new[] { 1, 2, 3 }.Min())", 1),
        ("@(new[] { 1, 2, 3 }.Average())", 2.0),
        ('@(new[] { "a", "bbb" }.Max(s => s.Length))', 3),
        ('@(new[] { "b", "a" }.OrderBy(s => s).First())', "a"),
        ("@(new[] { 1 }.Concat(new[] { 2 }).Count())", 2),
        ("@(new[] { 1, 2 }.SequenceEqual(new[] { 1, 2 }))", True),
        ("@(new[] { 1, 2 }.ToList().Count)", 2),
        ("@(Enumerable.Range(1, 4).Where(i => i % 2 == 0).Sum())", 6),
        ('@(Enumerable.Repeat("x", 3).Count())', 3),
        (
            "@{ var l = new List<int>(); l.Add(1); l.AddRange(new[] { 2, 3 });"
            ' l.Remove(2); l.Insert(0, 9); return string.Join(",", l); }',
            "9,1,3",
        ),
        (
            '@{ var l = new List<string> (new[] { "a", "b" }); l.RemoveAt(0); return'
            " l[0] + l.Count; }",
            "b1",
        ),
        ("@{ var l = new List<int>(); l.Add(5); l.Clear(); return l.Count; }", 0),
        ('@(new List<string>(new[] { "a" }).IndexOf("a"))', 0),
        ('@(context.Variables.Keys.Contains("name"))', True),
        (
            '@(context.Variables.Any(kv => kv.Key == "count" && (int)kv.Value == 3))',
            True,
        ),
        ("@(context.Variables.Values.Count())", 3),
        ('@(JArray.Parse("[1,2,3]").Where(t => (int)t > 1).Count())', 2),
        ('@(JObject.Parse("{\\"a\\":1,\\"b\\":2}").Select(p => p.Key).Last())', "b"),
        ('@(Encoding.UTF8.GetBytes("ab").Length)', 2),
        ('@(Encoding.UTF8.GetBytes("ab")[1])', 98),
    ],
)
def test_collections(text: str, expected: object) -> None:
    assert_same(evaluate(text), expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "True"),
        (False, "False"),
        (0, "0"),
        (-12, "-12"),
        (1.0, "1"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e15, "1E+15"),
        (123456789012345.0, "123456789012345"),
        (1e-5, "1E-05"),
        (0.0001, "0.0001"),
        (1.7976931348623157e308, "1.7976931348623157E+308"),
        (-0.0, "-0"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+2"), "100"),
        ("text", "text"),
        (Char("c"), "c"),
        (datetime(2024, 1, 2, 3, 4, 5), "01/02/2024 03:04:05"),
        (timedelta(hours=25, seconds=1), "1.01:00:01"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (JValue("s"), "s"),
        (JValue(None), ""),
        (JValue(2.0), "2"),
        (JObject(), "{}"),
        (["a", "b"], "System.String[]"),
        ([1], "System.Object[]"),
        (b"x", "System.Byte[]"),
        (
            {"a": 1},
            "System.Collections.Generic.Dictionary`2[System.String,System.Object]",
        ),
        (AnonymousObject(("a", "b"), [1, None]), "{ a = 1, b =  }"),
        (
            EnumValue("StringComparison", 5, {5: "OrdinalIgnoreCase"}),
            "OrdinalIgnoreCase",
        ),
        (
            EnumValue("RegexOptions", 3, {1: "IgnoreCase", 2: "Multiline"}),
            "IgnoreCase, Multiline",
        ),
        (Url.parse("https://h:8443/p?q=1"), "https://h:8443/p?q=1"),
        (Subscription(primary_key="secret"), "Subscription"),
    ],
)
def test_to_text(value: object, expected: str) -> None:
    assert to_text(value) == expected


def test_member_tables_expose_no_private_names() -> None:
    for cs_type in LIBRARY.by_name.values():
        tables = (
            cs_type.properties,
            cs_type.methods,
            cs_type.statics,
            cs_type.static_methods,
        )
        for table in tables:
            for name in table:
                assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), (cs_type.name, name)
