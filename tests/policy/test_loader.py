"""Loading documents: files, named values, fragments, scopes and merging."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tollhouse.errors import ConfigError, PolicyDocumentError
from tollhouse.policy.document import (
    Document,
    Element,
    InvalidPolicyDocument,
    Scope,
    Section,
)
from tollhouse.policy.expressions import Expression, compile_expression
from tollhouse.policy.loader import (
    PolicyLoader,
    effective,
    fragments_in,
    merge,
)
from tollhouse.policy.xml import NamedValues, Position

DATA = Path(__file__).parent / "data"
SEED = DATA / "seed-ip-restriction.xml"
SEED_WITH_RANGES = DATA / "seed-ip-restriction-real.xml"
SAMPLES = sorted((DATA / "samples").glob("*.xml"))
FRAGMENTS = fragments_in(DATA / "fragments")


def lines(errors: list[PolicyDocumentError]) -> list[str]:
    return [str(error) for error in errors]


def parse(text: str, scope: Scope = Scope.API, **options: object) -> Document:
    loader = PolicyLoader(**options)  # type: ignore[arg-type]
    return loader.parse(text, source="doc.xml", scope=scope)


def errors_of(text: str, **options: object) -> list[str]:
    with pytest.raises(InvalidPolicyDocument) as caught:
        parse(text, Scope.API, **options)
    return [line.removeprefix("doc.xml:") for line in lines(list(caught.value.errors))]


def names(elements: tuple[Element, ...]) -> list[str]:
    return [f"{e.scope}:{e.policy_id}" for e in elements]


class FailingCompiler:
    """The real compiler, made to refuse the word NOPE (at its place) everywhere."""

    def __call__(self, text: str, *, source: str, line: int, column: int) -> Expression:
        if "NOPE" not in text:
            return compile_expression(text, source=source, line=line, column=column)
        before = text[: text.index("NOPE")]
        row = before.count("\n")
        col = len(before) - (before.rfind("\n") + 1)
        raise PolicyDocumentError(
            f"'NOPE' is not supported in {text!r}",
            source=source,
            line=line + row,
            column=(column if row == 0 else 1) + col,
        )


# The seed scenario ----------------------------------------------------------


def test_the_seed_policy_with_placeholders_fails_at_each_placeholder() -> None:
    assert lines(PolicyLoader().check(SEED)) == [
        f"{SEED}:7:22: 'YOUR_OFFICE_IP_START' is not an IP address",
        f"{SEED}:7:48: 'YOUR_OFFICE_IP_END' is not an IP address",
        f"{SEED}:8:22: 'YOUR_INTERNAL_NETWORK_START' is not an IP address",
        f"{SEED}:8:55: 'YOUR_INTERNAL_NETWORK_END' is not an IP address",
    ]


def test_the_seed_policy_with_real_ranges_loads_as_written() -> None:
    document = PolicyLoader().load(SEED_WITH_RANGES, Scope.API)

    assert [e.name for e in document.section(Section.INBOUND)] == [
        "base",
        "ip-filter",
        "set-backend-service",
    ]
    ip_filter = document.section(Section.INBOUND)[1]
    assert ip_filter.attributes["action"].parsed == "allow"
    assert [
        (r.attributes["from"].parsed, r.attributes["to"].parsed)
        for r in ip_filter.children
    ] == [
        (ipaddress.ip_address("203.0.113.1"), ipaddress.ip_address("203.0.113.254")),
        (ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("10.255.255.254")),
    ]
    backend_id = document.section(Section.INBOUND)[2].attributes["backend-id"]
    assert backend_id.parsed == "YOUR_OPENAI_BACKEND_ID"


def test_the_seed_on_error_section_is_compiled() -> None:
    document = PolicyLoader().load(SEED_WITH_RANGES, Scope.API)

    base, choose = document.section(Section.ON_ERROR)
    whens = choose.children_named("when")
    conditions = [when.attributes["condition"] for when in whens]
    assert [c.text for c in conditions] == [
        "@(context.Response.StatusCode == 403)",
        '@(context.LastError != null && context.LastError.Source.Equals("ip-filter"))',
    ]
    assert all(c.expression is not None for c in conditions)
    assert [c.position for c in conditions] == [Position(23, 18), Position(39, 18)]
    response = whens[1].children[0]
    assert [part.policy_id for part in response.children] == [
        "on-error/choose[1]/when[2]/return-response[1]/set-status[1]",
        "on-error/choose[1]/when[2]/return-response[1]/set-header[1]",
        "on-error/choose[1]/when[2]/return-response[1]/set-body[1]",
    ]
    body = response.children[2].text
    assert body is not None and body.expression is not None
    assert body.text.startswith("@{\nreturn Newtonsoft.Json.JsonConvert")
    assert body.position == Position(45, 11)


# Documents modelled on Microsoft's samples ----------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_documented_samples_load_cleanly(path: Path) -> None:
    loader = PolicyLoader(fragments=FRAGMENTS)

    assert lines(loader.check(path)) == []


def test_there_are_enough_samples() -> None:
    assert len(SAMPLES) >= 20


# Files ----------------------------------------------------------------------


def test_load_raises_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "api.xml"
    path.write_text(
        "<policies>\n<inbound>\n<nope />\n<set-status code='1' reason='x' />\n"
        "</inbound>\n</policies>\n"
    )

    with pytest.raises(InvalidPolicyDocument) as caught:
        PolicyLoader().load(path, Scope.API)

    assert str(caught.value) == (
        f"{path}:3:1: unknown policy <nope>\n"
        f"{path}:4:19: '1' is not an HTTP status code from 200 to 599"
    )
    assert (caught.value.line, caught.value.column) == (3, 1)


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        PolicyLoader().load(tmp_path / "none.xml", Scope.API)

    assert str(caught.value) == (
        f"{tmp_path / 'none.xml'}: cannot read the file: No such file or directory"
    )


def test_a_file_that_is_not_utf8_is_refused_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin.xml"
    path.write_bytes("<policies>\n  <!-- caf\xe9 -->\n</policies>".encode("latin-1"))

    assert lines(PolicyLoader().check(path)) == [
        f"{path}:2:11: the file is not UTF-8 text"
    ]


DOCUMENT_ERRORS = [
    ("<policy />", ["1:1: the root element must be <policies>, not <policy>"]),
    (
        "<policies>\n<inbound />\n<inbound />\n<outbond />\n</policies>",
        [
            "3:1: the inbound section is given twice",
            "4:1: <policies> holds the sections <inbound>, <backend>, <outbound> "
            "and <on-error>, not <outbond>",
        ],
    ),
    (
        '<policies a="1">x<inbound b="2">y</inbound></policies>',
        [
            "1:11: <policies> has no attribute 'a'",
            "1:17: <policies> does not hold text",
            "1:27: <inbound> has no attribute 'b'",
            "1:33: <inbound> does not hold text",
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), DOCUMENT_ERRORS)
def test_document_structure_errors(text: str, expected: list[str]) -> None:
    assert errors_of(text) == expected


def test_an_element_with_50000_attributes_is_refused_at_the_65th() -> None:
    # The tester's ~600 KB document took 56 s to check, on the event loop.
    attributes = " ".join(f'a{i}="1"' for i in range(50_000))
    text = f"<policies><inbound><x {attributes}/></inbound></policies>"

    errors = PolicyLoader().check_text(text, source="<request>")

    assert lines(errors) == ["<request>:1:525: <x> has more than 64 attributes"]


# Named values ---------------------------------------------------------------

NAMED = NamedValues(
    {
        "office": "203.0.113.7",
        "token": "t0p-s3cret",
        "bad-ip": "not-an-ip",
        "flag": '@(context.Request.Method == "GET")',
        "nope": "@(NOPE)",
    },
    secrets=frozenset({"token", "bad-ip", "nope"}),
)


def test_named_values_are_substituted_before_values_are_checked() -> None:
    document = parse(
        "<policies><inbound>\n"
        '<ip-filter action="allow"><address>{{office}}</address></ip-filter>\n'
        '<set-header name="Authorization">'
        "<value>Bearer {{token}}</value></set-header>\n"
        '<choose><when condition="{{flag}}" /></choose>\n'
        "</inbound></policies>",
        named_values=NAMED,
        compiler=FailingCompiler(),
    )

    ip_filter, header, choose = document.section(Section.INBOUND)
    address = ip_filter.children[0].text
    assert address is not None
    assert address.parsed == ipaddress.ip_address("203.0.113.7")
    value = header.children[0].text
    assert value is not None
    assert (value.text, value.shown) == ("Bearer t0p-s3cret", "Bearer {{token}}")
    condition = choose.children[0].attributes["condition"]
    assert condition.expression is not None
    assert condition.text == '@(context.Request.Method == "GET")'


def test_named_value_errors_never_show_a_secret() -> None:
    assert errors_of(
        "<policies><inbound>\n"
        '<ip-filter action="allow"><address>{{bad-ip}}</address>'
        "<address>{{missing}}</address></ip-filter>\n"
        '<set-variable name="v" value="{{nope}}" />\n'
        "</inbound></policies>",
        named_values=NAMED,
        compiler=FailingCompiler(),
    ) == [
        "2:36: '{{bad-ip}}' is not an IP address",
        "2:65: unknown named value '{{missing}}'",
        "3:31: '{{nope}}' does not compile; the message is withheld because "
        "the expression holds a secret named value",
    ]


def test_without_named_values_references_are_left_unchecked() -> None:
    document = parse(
        '<policies><inbound><ip-filter action="allow">'
        "<address>{{office}}</address></ip-filter></inbound></policies>"
    )

    address = document.section(Section.INBOUND)[0].children[0].text
    assert address is not None
    assert (address.text, address.parsed) == ("{{office}}", None)


# Expressions ----------------------------------------------------------------

COMPILE_ERRORS = [
    (
        '<set-variable name="a" value="@(1 + NOPE)" />',
        ["3:37: 'NOPE' is not supported in '@(1 + NOPE)'"],
    ),
    (
        '<set-variable name="a" value="@(&quot;x&quot; + NOPE)" />',
        ["3:49: 'NOPE' is not supported in '@(\"x\" + NOPE)'"],
    ),
    (
        "<set-body>@{\n  var a = 1;\n    return NOPE; }</set-body>",
        ["5:12: 'NOPE' is not supported in '@{\\n  var a = 1;\\n    return NOPE; }'"],
    ),
    (
        "<set-body>@{\n  var a = &quot;&lt;&quot;;\n    return NOPE; }</set-body>",
        [
            "5:12: 'NOPE' is not supported in "
            "'@{\\n  var a = \"<\";\\n    return NOPE; }'"
        ],
    ),
]


REAL_COMPILE_ERRORS = [
    (
        '<set-variable name="a" value="@(context.Nope)" />',
        "3:41: 'Nope' is not a member of 'IProxyRequestContext' in policy expressions",
    ),
    (
        '<set-variable name="a" value="@(&quot;x&quot; + context.Nope)" />',
        "3:57: 'Nope' is not a member of 'IProxyRequestContext' in policy expressions",
    ),
    (
        "<set-body>@{\n  var x = &quot;&lt;&quot;;\n  return context.GetType();\n}"
        "</set-body>",
        "5:18: reflection ('GetType') is not available in policy expressions",
    ),
]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    REAL_COMPILE_ERRORS,
    ids=["attribute", "attribute with entities", "block with entities"],
)
def test_the_compiler_s_errors_point_into_the_original_file(
    snippet: str, expected: str
) -> None:
    text = f"<policies>\n<inbound>\n{snippet}\n</inbound>\n</policies>"

    assert errors_of(text) == [expected]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    COMPILE_ERRORS,
    ids=["attribute", "attribute with entities", "block", "block with entities"],
)
def test_compile_errors_point_into_the_original_file(
    snippet: str, expected: list[str]
) -> None:
    text = f"<policies>\n<inbound>\n{snippet}\n</inbound>\n</policies>"

    assert errors_of(text, compiler=FailingCompiler()) == expected


def test_compiled_code_is_kept_on_the_model() -> None:
    document = parse(
        '<policies><outbound><set-status code="@(200)" reason="OK" /></outbound>'
        "</policies>",
        compiler=FailingCompiler(),
    )

    status = document.section(Section.OUTBOUND)[0]
    code = status.attributes["code"].expression
    assert isinstance(code, Expression) and code.text == "@(200)"
    assert status.attributes["code"].parsed is None
    assert status.attributes["reason"].expression is None


# Backends -------------------------------------------------------------------


def test_backend_ids_are_checked_against_the_gateway() -> None:
    text = (
        "<policies><inbound>"
        '<set-backend-service backend-id="azure" />'
        '<set-backend-service backend-id="YOUR_OPENAI_BACKEND_ID" />'
        "</inbound></policies>"
    )

    assert errors_of(text, backends={"azure", "mock"}) == [
        "1:95: 'YOUR_OPENAI_BACKEND_ID' is not a backend of this gateway "
        "(known: azure, mock)"
    ]


# Fragments ------------------------------------------------------------------


def test_fragments_are_expanded_in_place() -> None:
    loader = PolicyLoader(fragments=FRAGMENTS)

    document = loader.load(DATA / "samples" / "with-fragments.xml", Scope.API)

    inbound = document.section(Section.INBOUND)
    assert [(e.policy_id, e.fragment) for e in inbound] == [
        ("inbound/set-header[1]", "forward-context"),
        ("inbound/set-header[2]", "request-id"),
        ("inbound/base[1]", None),
    ]
    assert [e.source for e in inbound] == [
        str(FRAGMENTS["forward-context"]),
        str(FRAGMENTS["request-id"]),
        str(DATA / "samples" / "with-fragments.xml"),
    ]
    assert inbound[0].position == Position(2, 5)


def write_fragments(tmp_path: Path, **texts: str) -> dict[str, Path]:
    for name, text in texts.items():
        (tmp_path / f"{name}.xml").write_text(text)
    return fragments_in(tmp_path)


def test_fragment_cycles_are_errors(tmp_path: Path) -> None:
    fragments = write_fragments(
        tmp_path,
        a='<fragment>\n<include-fragment fragment-id="b" />\n</fragment>',
        b='<fragment>\n<choose><when condition="true">'
        '<include-fragment fragment-id="a" /></when></choose>\n</fragment>',
    )

    with pytest.raises(InvalidPolicyDocument) as caught:
        PolicyLoader(fragments=fragments).parse(
            '<policies><inbound><include-fragment fragment-id="a" />'
            "</inbound></policies>",
            source="doc.xml",
            scope=Scope.API,
        )
    assert lines(list(caught.value.errors)) == [
        f"{tmp_path / 'b.xml'}:2:32: fragment 'a' includes itself (a -> b -> a)"
    ]


def test_fragment_problems_are_reported_where_they_are(tmp_path: Path) -> None:
    fragments = write_fragments(
        tmp_path,
        broken="<fragment>\n  <set-header name='a'>\n</fragment>",
        outbound="<fragment>\n  <ip-filter action='allow'><address>::1</address>"
        "</ip-filter>\n</fragment>",
        based="<fragment><base /></fragment>",
        wrong="<policies />",
    )
    text = (
        "<policies>\n<inbound>\n"
        '<include-fragment fragment-id="broken" />\n'
        '<include-fragment fragment-id="based" />\n'
        '<include-fragment fragment-id="wrong" />\n'
        '<include-fragment fragment-id="absent" />\n'
        "</inbound>\n<outbound>\n"
        '<include-fragment fragment-id="outbound" id="x" />\n'
        "</outbound>\n</policies>"
    )

    with pytest.raises(InvalidPolicyDocument) as caught:
        PolicyLoader(fragments=fragments).parse(text, source="doc.xml", scope=Scope.API)

    assert lines(list(caught.value.errors)) == [
        f"{tmp_path / 'based.xml'}:1:11: <base /> can only stand directly in a section",
        f"{tmp_path / 'broken.xml'}:3:1: </fragment> does not match <set-header> "
        "opened at 2:3",
        f"{tmp_path / 'outbound.xml'}:2:3: <ip-filter> is not allowed in the outbound "
        "section (from fragment 'outbound' included at doc.xml:9:1) "
        "(APIM allows it in: inbound)",
        f"{tmp_path / 'wrong.xml'}:1:1: a fragment file holds <fragment>, "
        "not <policies>",
        "doc.xml:6:32: 'absent' is not a known fragment "
        "(known: based, broken, outbound, wrong)",
    ]


def test_a_fragment_file_can_be_checked_on_its_own(tmp_path: Path) -> None:
    fragments = write_fragments(
        tmp_path,
        loop='<fragment>\n<include-fragment fragment-id="loop" />\n</fragment>',
        fine="<fragment><set-status code='200' reason='OK' /></fragment>",
    )
    loader = PolicyLoader(fragments=fragments)

    assert lines(loader.check(fragments["fine"])) == []
    assert lines(loader.check(fragments["loop"])) == [
        f"{fragments['loop']}:2:1: fragment 'loop' includes itself (loop -> loop)"
    ]


# Scopes ---------------------------------------------------------------------

GLOBAL = """<policies>
    <inbound><set-variable name="g" value="1" /></inbound>
    <backend><forward-request /></backend>
    <outbound><set-variable name="g" value="2" /></outbound>
    <on-error><set-variable name="g" value="3" /></on-error>
</policies>"""

PRODUCT = """<policies>
    <inbound><base /><set-variable name="p" value="1" /></inbound>
</policies>"""

API = """<policies>
    <inbound><set-variable name="a" value="1" /><base /></inbound>
    <backend><base /></backend>
    <outbound><set-variable name="a" value="2" /></outbound>
    <on-error><base /><set-variable name="a" value="3" /></on-error>
</policies>"""

OPERATION = """<policies>
    <inbound><base /><set-variable name="o" value="1" /></inbound>
    <outbound><base /></outbound>
</policies>"""


def test_base_places_the_parent_section() -> None:
    documents = [
        parse(GLOBAL, Scope.GLOBAL),
        parse(PRODUCT, Scope.PRODUCT),
        parse(API, Scope.API),
        parse(OPERATION, Scope.OPERATION),
    ]

    result = effective(*documents)

    assert {section: names(result.section(section)) for section in Section} == {
        Section.INBOUND: [
            "api:inbound/set-variable[1]",
            "global:inbound/set-variable[1]",
            "product:inbound/set-variable[1]",
            "operation:inbound/set-variable[1]",
        ],
        Section.BACKEND: ["global:backend/forward-request[1]"],
        Section.OUTBOUND: ["api:outbound/set-variable[1]"],
        Section.ON_ERROR: [
            "global:on-error/set-variable[1]",
            "api:on-error/set-variable[1]",
        ],
    }
    assert result.scope == Scope.OPERATION


def test_scopes_without_documents_are_skipped() -> None:
    result = effective(None, None, parse(API, Scope.API), None)

    assert names(result.section(Section.INBOUND)) == ["api:inbound/set-variable[1]"]
    assert result.section(Section.BACKEND) == ()


def test_the_default_global_policy_forwards_requests() -> None:
    loader = PolicyLoader()

    result = effective(loader.default_global(), parse(OPERATION, Scope.OPERATION))

    assert names(result.section(Section.BACKEND)) == [
        "global:backend/forward-request[1]"
    ]
    assert names(result.section(Section.INBOUND)) == [
        "operation:inbound/set-variable[1]"
    ]


def test_merge_keeps_what_the_child_leaves_out() -> None:
    parent = parse(GLOBAL, Scope.GLOBAL)
    child = parse("<policies><outbound /></policies>", Scope.API)

    merged = merge(parent, child)

    assert merged.section(Section.INBOUND) == parent.section(Section.INBOUND)
    assert merged.section(Section.OUTBOUND) == ()
    assert Section.OUTBOUND in merged.sections


def test_fragments_cannot_multiply_without_end(tmp_path: Path) -> None:
    texts = {
        f"f{i}": "<fragment>"
        + f'<include-fragment fragment-id="f{i + 1}" />' * 10
        + "</fragment>"
        for i in range(5)
    }
    texts["f5"] = "<fragment><set-status code='200' reason='OK' /></fragment>"
    fragments = write_fragments(tmp_path, **texts)
    text = (
        '<policies><inbound><include-fragment fragment-id="f0" /></inbound></policies>'
    )

    with pytest.raises(InvalidPolicyDocument) as caught:
        PolicyLoader(fragments=fragments).parse(text, source="doc.xml", scope=Scope.API)

    assert lines(list(caught.value.errors)) == [
        f"{tmp_path / 'f4.xml'}:1:11: fragments expand to more than 10000 policies"
    ]


def test_fragments_cannot_nest_without_end(tmp_path: Path) -> None:
    texts = {
        f"f{i:02}": "<fragment>"
        + f'<include-fragment fragment-id="f{i + 1:02}" />'
        + "</fragment>"
        for i in range(20)
    }
    fragments = write_fragments(tmp_path, **texts)
    text = (
        '<policies><inbound><include-fragment fragment-id="f00" /></inbound></policies>'
    )

    with pytest.raises(InvalidPolicyDocument) as caught:
        PolicyLoader(fragments=fragments).parse(text, source="doc.xml", scope=Scope.API)

    assert lines(list(caught.value.errors)) == [
        f"{tmp_path / 'f15.xml'}:1:11: fragments are included more than 16 deep"
    ]
