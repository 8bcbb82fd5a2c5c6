"""The caller's address: the TCP peer unless trusted proxies say otherwise."""

from __future__ import annotations

import pytest

from tollhouse.callers import TrustedProxies, parse_address, parse_networks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("unknown", None),
        ("", None),
        ("10.0.0.256", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    parsed = parse_address(text)

    assert (str(parsed) if parsed is not None else None) == expected


def test_parse_networks_names_the_bad_value() -> None:
    assert [str(n) for n in parse_networks(["10.0.0.0/8", "::1"])] == [
        "10.0.0.0/8",
        "::1/128",
    ]
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not an IP"):
        parse_networks(["10.0.0.0/33"])


PROXIES = TrustedProxies(parse_networks(["10.0.0.0/8", "127.0.0.1"]))


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded", "caller"),
    [
        # Without trusted proxies the header is never believed.
        (TrustedProxies(), "127.0.0.1", ["198.51.100.9"], "127.0.0.1"),
        # A peer that is not a trusted proxy: the header is ignored.
        (PROXIES, "203.0.113.7", ["198.51.100.9"], "203.0.113.7"),
        # One trusted hop.
        (PROXIES, "127.0.0.1", ["198.51.100.9"], "198.51.100.9"),
        # Two trusted hops; the client's own claim on the left is not believed.
        (PROXIES, "127.0.0.1", ["1.1.1.1, 198.51.100.9, 10.2.3.4"], "198.51.100.9"),
        # The same hops split over two header lines.
        (PROXIES, "127.0.0.1", ["1.1.1.1", "198.51.100.9, 10.2.3.4"], "198.51.100.9"),
        # Every hop trusted: the leftmost is the best there is.
        (PROXIES, "127.0.0.1", ["10.9.9.9, 10.2.3.4"], "10.9.9.9"),
        # A trusted proxy with no header is itself the caller.
        (PROXIES, "127.0.0.1", [], "127.0.0.1"),
        # Garbage ends the walk at the hop that reported it.
        (PROXIES, "127.0.0.1", ["198.51.100.9, garbage"], "127.0.0.1"),
        (PROXIES, "127.0.0.1", ["garbage, 10.2.3.4"], "10.2.3.4"),
        # Ports, brackets and IPv6 in the header.
        (PROXIES, "127.0.0.1", ["[2001:db8::7]:4711"], "2001:db8::7"),
        (PROXIES, "::ffff:127.0.0.1", ["198.51.100.9:80"], "198.51.100.9"),
        # A peer name that is no address is passed on as it is.
        (PROXIES, "", ["198.51.100.9"], ""),
    ],
)
def test_caller(
    proxies: TrustedProxies, peer: str, forwarded: list[str], caller: str
) -> None:
    assert proxies.caller(peer, forwarded) == caller
