"""Which proxy a request goes through: the variables as Go reads them, NO_PROXY as a table, proxy
URLs parsed and shown without their credentials."""

from __future__ import annotations

import base64

import pytest

from regimage.http.proxy import NoProxy, Proxy, ProxyConfigError, ProxySettings

PROXY = "http://proxy.corp:3128"


# ── NO_PROXY ─────────────────────────────────────────────────────────────────────────────────────

#: (NO_PROXY, host, port, reached directly)
NO_PROXY_TABLE = [
    # nothing listed: everything proxied
    ("", "registry.example", 443, False),
    # * : nothing proxied
    ("*", "registry.example", 443, True),
    ("foo.example, *", "registry.example", 443, True),
    # a domain: itself and every sub-domain, never a mere suffix of a label
    ("example.com", "example.com", 443, True),
    ("example.com", "registry.example.com", 443, True),
    ("example.com", "a.b.example.com", 5000, True),
    ("example.com", "notexample.com", 443, False),
    ("example.com", "example.com.evil", 443, False),
    ("EXAMPLE.com", "registry.Example.COM", 443, True),
    # a leading dot or *.: sub-domains only
    (".example.com", "example.com", 443, False),
    (".example.com", "registry.example.com", 443, True),
    ("*.example.com", "example.com", 443, False),
    ("*.example.com", "registry.example.com", 443, True),
    # with a port: that port only (the default port filled in)
    ("example.com:5000", "example.com", 5000, True),
    ("example.com:5000", "example.com", 443, False),
    ("example.com:443", "example.com", 443, True),
    (".example.com:5000", "registry.example.com", 5000, True),
    # IP addresses, with or without a port, and CIDR blocks
    ("10.1.2.3", "10.1.2.3", 443, True),
    ("10.1.2.3", "10.1.2.4", 443, False),
    ("10.1.2.3:5000", "10.1.2.3", 5000, True),
    ("10.1.2.3:5000", "10.1.2.3", 443, False),
    ("10.0.0.0/8", "10.200.1.1", 443, True),
    ("10.0.0.0/8", "11.0.0.1", 443, False),
    ("192.168.1.7/24", "192.168.1.200", 443, True),  # host bits set: still the block
    ("fd00::/8", "fd12::1", 443, True),
    ("::ffff:0:0/96", "10.0.0.1", 443, False),
    ("2001:db8::1", "2001:db8::1", 443, True),
    ("[2001:db8::1]:5000", "2001:db8::1", 5000, True),
    ("[2001:db8::1]:5000", "2001:db8::1", 443, False),
    # an IP address is not matched as a name, nor a name as an address
    (".1", "10.0.0.1", 443, False),
    ("10.0.0.0/8", "ten.example", 443, False),
    # spaces and empty entries are ignored; malformed ones match nothing
    (" example.com ,, other.example ", "other.example", 443, True),
    ("example.com:http", "example.com", 80, False),
    ("not-a-cidr/99", "not-a-cidr", 443, False),
    (":5000", "example.com", 5000, False),
]


@pytest.mark.parametrize(("no_proxy", "host", "port", "direct"), NO_PROXY_TABLE)
def test_no_proxy_matches_as_go_does(no_proxy: str, host: str, port: int, direct: bool) -> None:
    assert NoProxy.parse(no_proxy).matches(host, port) is direct
    settings = ProxySettings.from_environ({"HTTPS_PROXY": PROXY, "NO_PROXY": no_proxy})
    assert (settings.for_origin("https", host, port) is None) is direct


# ── the variables ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("environ", "https", "http"),
    [
        ({}, None, None),
        ({"HTTPS_PROXY": PROXY}, "HTTPS_PROXY", None),
        ({"https_proxy": PROXY}, "https_proxy", None),
        ({"HTTP_PROXY": PROXY}, None, "HTTP_PROXY"),
        ({"http_proxy": PROXY}, None, "http_proxy"),
        # the upper-case name first, as Go
        ({"HTTPS_PROXY": PROXY, "https_proxy": "http://other:1"}, "HTTPS_PROXY", None),
        ({"HTTPS_PROXY": " ", "https_proxy": PROXY}, "https_proxy", None),  # empty: unset
        # ALL_PROXY stands in for either when it is unset
        ({"ALL_PROXY": PROXY}, "ALL_PROXY", "ALL_PROXY"),
        ({"all_proxy": PROXY, "HTTPS_PROXY": PROXY}, "HTTPS_PROXY", "all_proxy"),
        # a CGI environment: HTTP_PROXY may come from a client's Proxy: header (httpoxy)
        ({"REQUEST_METHOD": "GET", "HTTP_PROXY": PROXY}, None, None),
        ({"REQUEST_METHOD": "GET", "http_proxy": PROXY}, None, "http_proxy"),
    ],
)
def test_which_variable_names_the_proxy(
    environ: dict[str, str], https: str | None, http: str | None
) -> None:
    settings = ProxySettings.from_environ(environ)
    assert (settings.https.source if settings.https else None) == https
    assert (settings.http.source if settings.http else None) == http
    assert settings.active is bool(https or http)


def test_each_scheme_goes_through_its_own_proxy() -> None:
    settings = ProxySettings.from_environ(
        {"HTTPS_PROXY": "http://secure.corp:3128", "HTTP_PROXY": "http://plain.corp:8080"}
    )
    assert str(settings.for_origin("https", "registry.example", 443)) == "http://secure.corp:3128"
    assert str(settings.for_origin("http", "registry.example", 80)) == "http://plain.corp:8080"
    assert settings.for_origin("ftp", "registry.example", 21) is None


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]
)
def test_the_variables_never_proxy_loopback(host: str) -> None:
    settings = ProxySettings.from_environ({"HTTPS_PROXY": PROXY, "HTTP_PROXY": PROXY})
    assert settings.for_origin("https", host, 5000) is None
    assert settings.for_origin("http", host, 5000) is None


@pytest.mark.parametrize("host", ["localhost.example", "127.0.0.1.nip.io", "10.0.0.1", "::2"])
def test_names_that_only_look_loopback_are_proxied(host: str) -> None:
    settings = ProxySettings.from_environ({"HTTPS_PROXY": PROXY})
    assert settings.for_origin("https", host, 443) is not None


def test_an_explicit_proxy_takes_every_request_loopback_included() -> None:
    settings = ProxySettings.explicit_proxy(PROXY)
    for host in ("127.0.0.1", "localhost", "registry.example"):
        assert str(settings.for_origin("https", host, 443)) == PROXY
        assert str(settings.for_origin("http", host, 80)) == PROXY
    assert ProxySettings().for_origin("https", "registry.example", 443) is None


# ── proxy URLs ───────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("http://proxy.corp:3128", "http://proxy.corp:3128"),
        ("proxy.corp:3128", "http://proxy.corp:3128"),  # no scheme: http, as Go
        ("http://proxy.corp", "http://proxy.corp:80"),
        ("https://proxy.corp", "https://proxy.corp:443"),
        ("HTTP://Proxy.Corp:3128/", "http://proxy.corp:3128"),
        ("http://[fd00::1]:3128", "http://[fd00::1]:3128"),
        ("http://user:pa%40ss@proxy.corp:3128", "http://proxy.corp:3128"),
    ],
)
def test_proxy_urls(text: str, url: str) -> None:
    assert Proxy.parse(text, "HTTPS_PROXY").url == url


def test_credentials_come_from_the_url_and_never_show() -> None:
    proxy = Proxy.parse("http://alice:s%3Acr%40t@proxy.corp:3128", "HTTPS_PROXY")
    assert (proxy.username, proxy.password) == ("alice", "s:cr@t")
    value = proxy.authorization()
    assert value is not None
    assert base64.b64decode(value.removeprefix(b"Basic ")) == b"alice:s:cr@t"
    for shown in (str(proxy), repr(proxy), proxy.url, proxy.described):
        assert "s:cr@t" not in shown
        assert "alice" not in shown
    assert proxy.described == "the proxy http://proxy.corp:3128 (HTTPS_PROXY)"
    assert Proxy.parse(PROXY).authorization() is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("socks5://proxy.corp:1080", "SOCKS"),
        ("socks5h://user:secret@proxy.corp:1080", "SOCKS"),
        ("ftp://proxy.corp:21", "not http:// or https://"),
        ("http://proxy.corp:99999", "is not a proxy URL"),
        ("http://proxy.corp:port", "is not a proxy URL"),
        ("http://user:secret@:3128", "no host"),
    ],
)
def test_an_unusable_proxy_is_an_error_naming_the_variable(value: str, problem: str) -> None:
    with pytest.raises(ProxyConfigError, match=problem) as caught:
        ProxySettings.from_environ({"https_proxy": value})
    message = str(caught.value)
    assert message.startswith("https_proxy=")
    assert "secret" not in message
