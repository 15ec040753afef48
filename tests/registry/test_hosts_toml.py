"""containerd's hosts.toml as containerd reads it: host order, capabilities, API roots, TLS files.

The examples are containerd's docs/hosts.md.
"""

from __future__ import annotations

import pytest

from regimage.errors import InvalidConfiguration
from regimage.registry.hosts_toml import CAPABILITIES, HostEntry, HostsFile, host_directories

DIRECTORY = "/etc/containerd/certs.d/docker.io"
ORIGIN = f"{DIRECTORY}/hosts.toml"


def parse(text: str) -> HostsFile:
    return HostsFile.parse(text, namespace="docker.io", directory=DIRECTORY, origin=ORIGIN)


@pytest.mark.parametrize(
    ("registry", "directories"),
    [
        ("docker.io", ("docker.io", "_default")),
        ("myregistry.io:5000", ("myregistry.io_5000_", "myregistry.io:5000", "_default")),
        ("127.0.0.1:5000", ("127.0.0.1_5000_", "127.0.0.1:5000", "_default")),
        ("[::1]", ("[::1]", "_default")),
        ("[::1]:5000", ("[::1]_5000_", "[::1]:5000", "_default")),
    ],
)
def test_which_directories_serve_a_registry(registry: str, directories: tuple[str, ...]) -> None:
    assert host_directories(registry) == directories


def test_hosts_come_in_file_order_and_the_server_last() -> None:
    hosts = parse(
        """
        server = "https://registry-1.docker.io"    # Exclude this to not use upstream

        [host."https://public-mirror.example.com"]
          capabilities = ["pull"]
        [host."https://docker-mirror.internal"]
          capabilities = ["pull", "resolve"]
          ca = "docker-mirror.crt"
        [host."https://public-mirror.example.com".header]
          x-custom = "value"
        """
    )
    assert hosts.hosts == (
        HostEntry(host="public-mirror.example.com", capabilities=frozenset({"pull"})),
        HostEntry(
            host="docker-mirror.internal",
            capabilities=frozenset({"pull", "resolve"}),
            ca=(f"{DIRECTORY}/docker-mirror.crt",),
        ),
    )
    assert hosts.server == HostEntry(host="registry-1.docker.io")
    assert hosts.origin == ORIGIN


def test_without_server_the_registry_itself_is_last() -> None:
    hosts = parse('[host."https://registry.example.com"]\n  capabilities = ["pull", "resolve"]\n')
    assert hosts.server.host == ""
    assert hosts.server.capabilities == CAPABILITIES


@pytest.mark.parametrize(
    ("url", "override_path", "expected"),
    [
        ("https://mirror.registry", False, ("https", "mirror.registry", "/v2")),
        ("http://mirror.registry", False, ("http", "mirror.registry", "/v2")),
        ("mirror.registry:5000", False, ("https", "mirror.registry:5000", "/v2")),
        ("https://Mirror.Registry/", False, ("https", "mirror.registry", "/v2")),
        ("https://mirror-bak.registry/us", False, ("https", "mirror-bak.registry", "/us/v2")),
        ("https://mirror.registry/v2/", False, ("https", "mirror.registry", "/v2")),
        (
            "https://non-compliant-mirror.registry/v2/upstream",
            True,
            ("https", "non-compliant-mirror.registry", "/v2/upstream"),
        ),
        ("https://mirror.registry", True, ("https", "mirror.registry", "")),
    ],
)
def test_host_urls_and_api_roots(
    url: str, override_path: bool, expected: tuple[str, str, str]
) -> None:
    override = "override_path = true" if override_path else ""
    (entry,) = parse(f'[host."{url}"]\n{override}\n').hosts
    assert (entry.scheme, entry.host, entry.path) == expected


def test_tls_settings_of_a_host() -> None:
    hosts = parse(
        """
        ca = "/etc/certs/upstream.pem"
        [host."https://test-1.registry"]
          capabilities = ["pull", "resolve", "push"]
          ca = ["/etc/certs/test-1-ca.pem", "special.pem"]
          client = [["/etc/certs/client.cert", "/etc/certs/client.key"], ["client.pem", ""]]
          skip_verify = false
        [host."https://test-2.registry"]
          client = "/etc/certs/client.pem"
          skip_verify = true
        [host."https://test-3.registry"]
          client = ["/etc/certs/client-1.pem", "client-2.pem"]
        """
    )
    one, two, three = hosts.hosts
    assert one.ca == ("/etc/certs/test-1-ca.pem", f"{DIRECTORY}/special.pem")
    assert one.client == (
        ("/etc/certs/client.cert", "/etc/certs/client.key"),
        (f"{DIRECTORY}/client.pem", ""),
    )
    assert (one.skip_verify, two.skip_verify, three.skip_verify) == (False, True, None)
    assert two.client == (("/etc/certs/client.pem", ""),)
    assert three.client == (("/etc/certs/client-1.pem", ""), (f"{DIRECTORY}/client-2.pem", ""))
    assert hosts.server.ca == ("/etc/certs/upstream.pem",)


def test_capabilities_are_case_insensitive_and_default_to_all() -> None:
    one, two = parse(
        '[host."https://a.example"]\ncapabilities = ["PULL"]\n'
        '[host."https://b.example"]\ncapabilities = []\n'
    ).hosts
    assert one.capabilities == frozenset({"pull"})
    assert two.capabilities == CAPABILITIES


def test_a_directory_of_certificate_files() -> None:
    hosts = HostsFile.from_certificates(
        ["client.key", "ca.crt", "client.cert", "other.cert", "b.crt"],
        namespace="registry.example:5000",
        directory="/etc/containerd/certs.d/registry.example:5000",
    )
    base = "/etc/containerd/certs.d/registry.example:5000"
    assert hosts.hosts == ()
    assert hosts.server.host == ""
    assert hosts.server.ca == (f"{base}/b.crt", f"{base}/ca.crt")
    assert hosts.server.client == (
        (f"{base}/client.cert", f"{base}/client.key"),
        (f"{base}/other.cert", ""),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('server = "https://x.example"\n[host', "not valid TOML"),
        (
            '[host."https://x.example"]\ncapabilities = ["pull", "fetch"]',
            "unknown capability 'fetch'",
        ),
        ('[host."https://x.example"]\ncapabilities = "pull"', "capabilities must be an array"),
        ('[host."https://x.example"]\nca = 1', "ca must be a string or an array of strings"),
        ('[host."https://x.example"]\nskip_verify = "no"', "skip_verify must be true or false"),
        ('[host."https://x.example"]\nclient = [["a"]]', "client must be a file"),
        ('[host."https://x.example?ns=a"]', "is not a host URL"),
        ('[host."https://user:pw@x.example"]', "is not a host URL"),
        ('host = "https://x.example"', "host must be tables"),
        ("server = 5", "server must be a string"),
    ],
)
def test_refusals_name_the_file(text: str, message: str) -> None:
    with pytest.raises(InvalidConfiguration, match=message.replace("[", r"\[")) as caught:
        parse(text)
    assert caught.value.path == ORIGIN
