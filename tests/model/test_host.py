"""Registry hosts in references: ports and IP literals that no connection could use are invalid
references, refused by the parser (issue #17, item 9), never left for the network to fail on."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, strategies as st

from regimage.errors import InvalidReference
from regimage.model.host import host_problem, is_loopback_host
from regimage.model.reference import Reference, _parse, _with_name


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("localhost:99999/x", "port 99999"),
        ("localhost:65536/x:1", "port 65536"),
        ("registry.example:4294967297/x", "port 4294967297"),
        ("localhost:0/x", "port 0"),
        ("localhost:00/x", "port '00'"),
        ("localhost:05000/x", "port '05000'"),
        ("[::1]:99999/x", "port 99999"),
        ("256.1.1.1:5000/x", "IPv4"),
        ("256.1.1.1/x", "IPv4"),
        ("1.2.3.256/x", "IPv4"),
        ("1.2.3.4.5/x", "IPv4"),
        ("1.2.3/x", "IPv4"),
        ("127.1:5000/x", "IPv4"),  # inet_aton's shorthand for 127.0.0.1
        ("2130706433:5000/x", "IPv4"),  # inet_aton's integer form of 127.0.0.1
        ("0x7f.0.0.1/x", "IPv4"),  # hexadecimal octets
        ("010.0.0.1/x", "IPv4"),  # a leading zero: octal to inet_aton
        ("127.0.0.01:5000/x", "IPv4"),
        ("registry.123/x", "IPv4"),  # a numeric last label is read as an address
        ("registry.0x7f/x", "IPv4"),  # so is a hexadecimal one, as URLs read it
        ("[1:2:3]:5000/x", "IPv6"),
        ("[::1::2]/x", "IPv6"),
        ("[12345::1]/x", "IPv6"),
        ("[1:2:3:4:5:6:7:8:9]/x", "IPv6"),
    ],
)
def test_unusable_hosts_are_invalid_references(text: str, words: str) -> None:
    host = text.split("/", 1)[0]
    with pytest.raises(InvalidReference) as caught:
        Reference.parse(text)
    message = str(caught.value)
    assert words in message, message
    assert repr(host) in message, message
    with pytest.raises(InvalidReference):
        Reference.parse_repository(text.partition(":1")[0] if text.endswith(":1") else text)
    with pytest.raises(InvalidReference):
        _parse(text)  # the upstream mirrors build through the same check
    with pytest.raises(InvalidReference):
        _with_name(text.rsplit(":1", 1)[0])
    assert host_problem(host) is not None


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("localhost:1/x", "localhost:1"),
        ("localhost:65535/x", "localhost:65535"),
        ("127.0.0.1:5000/x", "127.0.0.1:5000"),
        ("0.0.0.0:80/x", "0.0.0.0:80"),
        ("255.255.255.255/x", "255.255.255.255"),
        ("[2001:db8::1]:5000/x", "[2001:db8::1]:5000"),
        ("[::ffff:7f00:1]:5000/x", "[::ffff:7f00:1]:5000"),
        ("[0:0:0:0:0:0:0:1]/x", "[0:0:0:0:0:0:0:1]"),
        ("1password.com/x", "1password.com"),
        ("123.example.com:443/x", "123.example.com:443"),
        ("a.b.c.d.e/x", "a.b.c.d.e"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080"),
        ("Registry.Example:5000/x", "Registry.Example:5000"),
        ("registry.0x7g/x", "registry.0x7g"),  # not a hexadecimal number: a name
    ],
)
def test_usable_hosts_still_parse(text: str, domain: str) -> None:
    assert Reference.parse(text).domain == domain
    assert host_problem(domain) is None


def test_a_tag_that_looks_like_a_port_is_still_a_tag() -> None:
    """``name:99999`` without a slash is Docker Hub's library/name with tag 99999."""
    ref = Reference.parse("localhost:99999")
    assert (ref.domain, ref.path, ref.tag) == ("docker.io", "library/localhost", "99999")


def test_a_shorthand_for_loopback_is_neither_loopback_nor_a_reference() -> None:
    """``127.1`` is 127.0.0.1 to inet_aton: never trusted with plain HTTP, and now refused
    outright (it was in test_reference's loopback table as not loopback)."""
    assert not is_loopback_host("127.1:5000")
    assert not is_loopback_host("127.1")
    with pytest.raises(InvalidReference, match="IPv4"):
        Reference.parse("127.1:5000/app")


@given(
    st.integers(min_value=65536, max_value=10**40) | st.just(0), st.sampled_from(["", "0", "00"])
)
def test_every_port_out_of_range_is_refused(number: int, zeros: str) -> None:
    with pytest.raises(InvalidReference, match="port"):
        Reference.parse(f"registry.example:{zeros}{number}/app")


@given(st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=6))
def test_a_dotted_number_is_an_ipv4_address_or_refused(numbers: list[int]) -> None:
    name = ".".join(map(str, numbers))
    text = f"{name}:5000/app"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        with pytest.raises(InvalidReference, match="IPv4"):
            Reference.parse(text)
    else:
        assert Reference.parse(text).domain == f"{name}:5000"
