"""The lenient reader: expressions as APIM writes them, positions, safety."""

from __future__ import annotations

import pytest

from tollhouse.errors import PolicyDocumentError
from tollhouse.policy.xml import (
    NamedValues,
    Position,
    Source,
    Text,
    XmlElement,
    read_xml,
)


def read(text: str) -> XmlElement:
    return read_xml(text, source="doc.xml")


def failure(text: str) -> str:
    with pytest.raises(PolicyDocumentError) as caught:
        read(text)
    return str(caught.value)


def attribute(element: XmlElement, name: str) -> Text:
    return next(a.value for a in element.attributes if a.name == name)


# Expressions in attributes ------------------------------------------------

ATTRIBUTE_EXPRESSIONS = [
    (
        "quotes and &&",
        '@(context.LastError != null && context.LastError.Source.Equals("ip-filter"))',
        '@(context.LastError != null && context.LastError.Source.Equals("ip-filter"))',
    ),
    ("comparison", "@(context.Response.StatusCode >= 500)", None),
    ("less than", "@(context.Response.StatusCode < 400)", None),
    ("generic", '@(context.Variables.GetValueOrDefault<bool>("isMobile"))', None),
    (
        "escaped quotes",
        "@(x == &quot;a&quot; &amp;&amp; y &lt; 2)",
        '@(x == "a" && y < 2)',
    ),
    ("escape in string", r'@("a\"b)" + "c")', None),
    ("verbatim string", '@(@"C:\\path ""quoted"" )" + x)', None),
    ("interpolated", '@($"{context.Request.Method} {(a ? "x)" : "}")}")', None),
    ("interpolated braces", '@($"{{literal}} {value}")', None),
    ("verbatim interpolated", '@($@"{a} ""q"" {b}" + @$"{c}")', None),
    ("char literals", "@(s.Split(')', '\"', '\\'')[0])", None),
    ("block comment", '@(a /* ) " */ + b)', None),
    ("statement block", '@{ var x = "}"; return x; }', None),
    ("single quoted", "@(a == 'b')", None),
    ("lambda", "@(list.Where(i => i > 2 && i < 5).Any())", None),
]


@pytest.mark.parametrize(
    ("name", "written", "decoded"),
    ATTRIBUTE_EXPRESSIONS,
    ids=[case[0] for case in ATTRIBUTE_EXPRESSIONS],
)
def test_attribute_code_is_read_whole(
    name: str, written: str, decoded: str | None
) -> None:
    quote = "'" if "== 'b'" in written else '"'
    document = f'<when condition={quote}{written}{quote} other="after" />'

    element = read(document)

    assert attribute(element, "condition").value == (decoded or written)
    assert attribute(element, "other").value == "after"


def test_multi_line_attribute_code_keeps_its_lines() -> None:
    document = '<retry\n    condition="@(a == 1 ||\n        b == 2) // x"\n/>'

    element = read(document)

    condition = attribute(element, "condition")
    assert condition.value == "@(a == 1 ||\n        b == 2) // x"
    assert condition.position() == Position(2, 16)
    assert condition.position(condition.value.index("b")) == Position(3, 9)


def test_a_plain_attribute_is_decoded_and_normalised() -> None:
    element = read('<a v="x&amp;y&#65;&#x42;\tz\nw" />')

    assert attribute(element, "v").value == "x&yAB z w"


# Expressions in text ------------------------------------------------------

TEXT_EXPRESSIONS = [
    (
        "operators and generics",
        "@{\n  var body = context.Request.Body.As<JObject>(preserveContent: true);\n"
        '  if (body["n"] != null && (int)body["n"] < 3) { return "<small>"; }\n'
        '  return "</set-body>";\n}',
    ),
    ("single value", '@(context.Request.Headers.GetValueOrDefault("a", ""))'),
    ("verbatim with markup", '@{ return @"<a href=""x""> </set-body> ""</a>"; }'),
    ("interpolated with markup", '@($"<b>{context.User.Id}</b>")'),
    ("line comment", '@{ // a "quote and a </set-body>\n return 1; }'),
]


@pytest.mark.parametrize(
    ("name", "written"), TEXT_EXPRESSIONS, ids=[case[0] for case in TEXT_EXPRESSIONS]
)
def test_code_in_text_is_read_whole(name: str, written: str) -> None:
    element = read(f"<set-body>\n  {written}\n</set-body>")

    assert element.text.strip().value == written
    assert element.text.strip().position() == Position(2, 3)


def test_text_after_code_stays_in_the_text() -> None:
    element = read("<value>@(a) &lt;b</value>")

    assert element.text.value == "@(a) <b"


def test_cdata_and_comments() -> None:
    element = read(
        "<set-body><!-- a <comment> --><![CDATA[@{ if (a < b && c) { } }]]></set-body>"
    )

    assert element.text.value == "@{ if (a < b && c) { } }"
    assert element.text.position() == Position(1, 40)


# Positions ----------------------------------------------------------------

POSITIONED = (
    "\ufeff<policies>\r\n"
    "  <!-- 허용 IP만 통과 -->\r\n"
    '\t<inbound><ip-filter action="allow">\r\n'
    "    <address>  10.0.0.1 </address>\r\n"
    "  </ip-filter></inbound>\r\n"
    "</policies>\r\n"
)


def test_positions_are_lines_and_columns_of_the_original_file() -> None:
    root = read(POSITIONED)

    inbound = root.children[0]
    ip_filter = inbound.children[0]
    address = ip_filter.children[0]
    assert [root.position, inbound.position, ip_filter.position] == [
        Position(1, 1),
        Position(3, 2),
        Position(3, 11),
    ]
    assert ip_filter.attributes[0].position == Position(3, 22)
    assert attribute(ip_filter, "action").position() == Position(3, 30)
    assert address.position == Position(4, 5)
    assert address.text.strip().value == "10.0.0.1"
    assert address.text.strip().position() == Position(4, 16)


def test_positions_after_a_decoded_entity() -> None:
    element = read('<a v="&quot;&quot;xy" />')

    value = attribute(element, "v")
    assert value.value == '""xy'
    assert [value.position(i) for i in range(4)] == [
        Position(1, 7),
        Position(1, 13),
        Position(1, 19),
        Position(1, 20),
    ]
    assert not value.verbatim


def test_a_source_counts_lines_and_columns_from_one() -> None:
    source = Source("f.xml", "ab\ncd\n")

    assert [source.position(i) for i in (0, 1, 3, 5, 6)] == [
        Position(1, 1),
        Position(1, 2),
        Position(2, 1),
        Position(2, 3),
        Position(3, 1),
    ]


# Errors -------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<policies><inbound><set-body>&lol3;</set-body></inbound></policies>
"""

EXTERNAL_ENTITY = """<!DOCTYPE policies [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<policies><inbound><set-body>&xxe;</set-body></inbound></policies>
"""

REFUSED = (
    "a policy document cannot have a DOCTYPE (DTDs and entity declarations are refused)"
)

SYNTAX_ERRORS = [
    ("billion laughs", BILLION_LAUGHS, f"doc.xml:2:1: {REFUSED}"),
    ("external entity", EXTERNAL_ENTITY, f"doc.xml:1:1: {REFUSED}"),
    (
        "undefined entity",
        "<a>\n  &nbsp;</a>",
        "doc.xml:2:3: unknown entity '&nbsp;': only &lt; &gt; &amp; &quot; &apos; "
        "and character references are defined",
    ),
    ("bare ampersand", "<a>x & y</a>", "doc.xml:1:6: '&' must be written &amp;"),
    (
        "ampersand in a plain attribute",
        '<a href="/x?a=1&b=2" />',
        "doc.xml:1:16: '&' must be written &amp;",
    ),
    (
        "less than in a plain attribute",
        '<a v="1 < 2" />',
        "doc.xml:1:9: '<' in an attribute value must be written &lt;",
    ),
    (
        "bad character reference",
        "<a>&#0;</a>",
        "doc.xml:1:4: unknown entity '&#0;': only &lt; &gt; &amp; &quot; &apos; "
        "and character references are defined",
    ),
    (
        "unclosed code",
        '<when condition="@(a == (b)" />\n<x/>',
        "doc.xml:1:28: the string literal is not closed",
    ),
    (
        "unclosed code at the end",
        '<when condition="@(a == (b)',
        "doc.xml:1:18: the expression is not closed: ')' is missing "
        "(it starts with '@(')",
    ),
    (
        "mismatched bracket",
        "<set-body>@{ return (a]; }</set-body>",
        "doc.xml:1:23: ']' does not match '(' at 1:21",
    ),
    (
        "unclosed string",
        '<when condition="@(a == "b)" />\n<x/>',
        "doc.xml:1:18: the expression is not closed: ')' is missing "
        "(it starts with '@(')",
    ),
    (
        "string across lines",
        '<set-body>@{ return "a\n"; }</set-body>',
        "doc.xml:1:21: the string literal is not closed",
    ),
    (
        "unclosed verbatim string",
        '<set-body>@{ return @"abc; }</set-body>',
        "doc.xml:1:21: the verbatim string literal is not closed",
    ),
    (
        "unclosed char",
        "<set-body>@{ return 'a; }</set-body>",
        "doc.xml:1:21: the character literal is not closed",
    ),
    (
        "unclosed block comment",
        "<set-body>@{ /* no end }</set-body>",
        "doc.xml:1:14: the comment is not closed",
    ),
    (
        "mismatched end tag",
        "<a>\n  <b>\n  </c>\n</a>",
        "doc.xml:3:3: </c> does not match <b> opened at 2:3",
    ),
    (
        "unclosed element",
        "<a>\n  <b>\n</a>",
        "doc.xml:3:1: </a> does not match <b> opened at 2:3",
    ),
    ("unclosed root", "<a>\n  <b/>", "doc.xml:1:1: <a> is not closed"),
    (
        "two roots",
        "<a/>\n<b/>",
        "doc.xml:2:1: <b> follows the root element; only one is allowed",
    ),
    ("text outside", "<a/> x", "doc.xml:1:6: text outside the root element"),
    ("empty", "  ", "doc.xml:1:3: the document has no root element"),
    ("unquoted", "<a v=1 />", "doc.xml:1:6: the value of 'v' must be in quotes"),
    (
        "duplicate attribute",
        '<a v="1" v="2" />',
        "doc.xml:1:10: attribute 'v' is given twice",
    ),
    (
        "no equals",
        '<a v "1" />',
        "doc.xml:1:6: expected '=' after the attribute name 'v'",
    ),
    (
        "deep nesting",
        "<a>" * 65,
        "doc.xml:1:193: elements are nested more than 64 deep",
    ),
    (
        "deep interpolation",
        '<a v="@(' + '$"{' * 65 + '" />',
        "doc.xml:1:203: interpolated strings are nested more than 64 deep",
    ),
    ("unclosed comment", "<a><!-- x </a>", "doc.xml:1:4: comment is not closed"),
    ("unclosed value", '<a v="1 />', "doc.xml:1:6: the attribute value is not closed"),
    ("no name", "<a>< b/></a>", "doc.xml:1:5: expected an element name after '<'"),
    ("stray end tag", "</a>", "doc.xml:1:1: </a> closes no open element"),
    (
        "double hyphen in a comment",
        "<a><!-- a -- b --></a>",
        "doc.xml:1:13: not well-formed XML: not well-formed (invalid token)",
    ),
    (
        "control character",
        "<a>\n x\x01</a>",
        "doc.xml:2:3: not well-formed XML: not well-formed (invalid token)",
    ),
    (
        "attribute given twice",
        '<a x="1" y="2" x="3" />',
        "doc.xml:1:16: attribute 'x' is given twice",
    ),
    (
        "too many attributes",
        "<a " + " ".join(f'a{i}="1"' for i in range(65)) + " />",
        "doc.xml:1:506: <a> has more than 64 attributes",
    ),
]


@pytest.mark.parametrize(
    ("name", "document", "expected"),
    SYNTAX_ERRORS,
    ids=[case[0] for case in SYNTAX_ERRORS],
)
def test_syntax_errors_point_at_their_place(
    name: str, document: str, expected: str
) -> None:
    assert failure(document) == expected


# Named values -------------------------------------------------------------

NAMED = NamedValues(
    {"office": "10.0.0.1", "key": "s3cr3t", "empty": ""}, frozenset({"key"})
)


def test_named_values_are_substituted() -> None:
    element = read('<a v="from {{office}} with {{ key }}{{empty}}!" />')

    text, errors = attribute(element, "v").substitute(NAMED)

    assert errors == []
    assert text.value == "from 10.0.0.1 with s3cr3t!"
    assert text.shown == "from 10.0.0.1 with {{ key }}!"
    assert text.position(text.value.index("with")) == Position(1, 23)
    assert text.position(text.value.index("s3")) == Position(1, 28)
    assert text.position(len(text.value) - 1) == Position(1, 46)


def test_a_secret_is_redacted_from_messages() -> None:
    element = read('<a v="{{key}}" />')
    text, _ = attribute(element, "v").substitute(NAMED)

    assert text.redact("bad token 's3cr3t' here") == "bad token '{{key}}' here"


def test_a_text_holding_many_references_is_substituted_whole() -> None:
    # Each reference once slices the text: this took minutes when a slice
    # walked the whole text.
    element = read('<a v="' + "&amp;{{key}}" * 10_000 + '" />')

    text, errors = attribute(element, "v").substitute(NAMED)

    assert errors == []
    assert text.value == "&s3cr3t" * 10_000
    assert text.shown == "&{{key}}" * 10_000
    assert text.position(len(text.value) - 1) == Position(1, 120_000)
    assert text.redact("got 's3cr3ts3cr3t'") == "got '{{key}}{{key}}'"


def test_an_element_may_have_64_attributes() -> None:
    names = [f"a{i}" for i in range(64)]

    element = read("<a " + " ".join(f'{name}="1"' for name in names) + " />")

    assert [a.name for a in element.attributes] == names


def test_unknown_named_values_are_errors_at_their_place() -> None:
    element = read('<a v="x {{nope}} {{office}} {{other.one}}" />')

    text, errors = attribute(element, "v").substitute(NAMED)

    assert [str(e) for e in errors] == [
        "doc.xml:1:9: unknown named value '{{nope}}'",
        "doc.xml:1:29: unknown named value '{{other.one}}'",
    ]
    assert text.value == "x {{nope}} 10.0.0.1 {{other.one}}"


def test_text_without_references_is_unchanged() -> None:
    element = read("<a>{ not a reference }</a>")

    text, errors = element.text.substitute(NAMED)

    assert (text, errors) == (element.text, [])


def test_strip_keeps_positions() -> None:
    element = read("<a>\n   &#32;x y&#32; \n</a>")

    stripped = element.text.strip()

    assert stripped.value == "x y"
    assert stripped.position() == Position(2, 9)
