"""The mirror configuration as a value: --mirror, registries.conf and hosts.toml into one route."""

from __future__ import annotations

import pytest

from regimage.errors import InvalidConfiguration, RegistryBlocked
from regimage.model.reference import Reference
from regimage.registry.hosts_toml import HostsFile
from regimage.registry.mirrors import HostTLS, Mirror, Mirrors, Source
from regimage.registry.registries_conf import RegistriesConf

REGISTRIES_CONF = "/etc/containers/registries.conf"
CERTS_D = "/etc/containerd/certs.d"


def conf(text: str) -> RegistriesConf:
    return RegistriesConf.parse(text, origin=REGISTRIES_CONF)


def hosts(namespace: str, text: str) -> HostsFile:
    directory = f"{CERTS_D}/{namespace}"
    return HostsFile.parse(
        text, namespace=namespace, directory=directory, origin=f"{directory}/hosts.toml"
    )


def hosts_of(mirrors: Mirrors, text: str, *, by_digest: bool = False) -> list[str]:
    route = mirrors.route(Reference.parse(text))
    return [f"{s.host}/{s.repository}" for s in route.candidates(by_digest=by_digest)]


# ── --mirror ───────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "mirror"),
    [
        ("docker.io=mirror.example", Mirror("docker.io", "mirror.example")),
        ("index.docker.io=mirror.example:5000/", Mirror("docker.io", "mirror.example:5000")),
        ("docker.io=http://10.0.0.5:5000/hub", Mirror("docker.io", "10.0.0.5:5000/hub", True)),
        ("ghcr.io=https://mirror.example", Mirror("ghcr.io", "mirror.example")),
        ("localhost:5000=127.0.0.1:5001", Mirror("localhost:5000", "127.0.0.1:5001")),
    ],
)
def test_mirror_parses_and_prints_back(text: str, mirror: Mirror) -> None:
    parsed = Mirror.parse(text)
    assert parsed == mirror
    assert Mirror.parse(str(parsed)) == parsed
    assert repr(parsed) == f"<Mirror({str(parsed)!r})>"


@pytest.mark.parametrize(
    "text", ["docker.io", "=mirror.example", "docker.io=", "ubuntu=mirror.example", "x=Bad_Host/"]
)
def test_mirror_refuses(text: str) -> None:
    with pytest.raises(InvalidConfiguration, match="write REGISTRY=MIRROR"):
        Mirror.parse(text)


def test_no_configuration_asks_the_registry_itself() -> None:
    mirrors = Mirrors()
    assert not mirrors
    route = mirrors.route(Reference.parse("alpine"))
    assert route.sources == (Source("registry-1.docker.io", "library/alpine"),)
    assert not route.rerouted


def test_a_mirror_of_docker_hub_comes_first() -> None:
    mirrors = Mirrors((Mirror.parse("docker.io=mirror.example/hub"),))
    assert hosts_of(mirrors, "alpine:3.20") == [
        "mirror.example/hub/library/alpine",
        "registry-1.docker.io/library/alpine",
    ]
    assert hosts_of(mirrors, "ghcr.io/acme/api:1") == ["ghcr.io/acme/api"]
    assert mirrors.route(Reference.parse("alpine")).rerouted


# ── registries.conf ────────────────────────────────────────────────────────────────────────────────


def test_registries_conf_mirrors_and_location() -> None:
    mirrors = Mirrors(
        registries_conf=conf(
            """
            [[registry]]
            prefix = "example.com/foo"
            location = "internal.example/bar"
            [[registry.mirror]]
            location = "mirror-0.local/mirror-for-foo"
            [[registry.mirror]]
            location = "mirror-1.local:5000/mirrors/foo"
            """
        )
    )
    assert hosts_of(mirrors, "example.com/foo/image:latest") == [
        "mirror-0.local/mirror-for-foo/image",
        "mirror-1.local:5000/mirrors/foo/image",
        "internal.example/bar/image",
    ]
    route = mirrors.route(Reference.parse("example.com/foo/image:latest"))
    assert route.sources[0].mirror
    assert route.sources[0].origin == REGISTRIES_CONF
    assert not route.sources[-1].mirror


def test_mirror_by_digest_only_leaves_tags_to_the_registry() -> None:
    mirrors = Mirrors(
        registries_conf=conf(
            '[[registry]]\nlocation = "quay.io"\nmirror-by-digest-only = true\n'
            '[[registry.mirror]]\nlocation = "mirror.local"\n'
        )
    )
    digest = "sha256:" + "a" * 64
    assert hosts_of(mirrors, "quay.io/x/y:1") == ["quay.io/x/y"]
    assert hosts_of(mirrors, "quay.io/x/y:1", by_digest=True) == ["quay.io/x/y"]
    assert hosts_of(mirrors, f"quay.io/x/y@{digest}") == ["mirror.local/x/y", "quay.io/x/y"]


def test_a_blocked_registry_is_refused_before_anything_is_sent() -> None:
    mirrors = Mirrors(
        registries_conf=conf('[[registry]]\nprefix = "*.evil.example"\nblocked = true')
    )
    with pytest.raises(
        RegistryBlocked, match=r"blocked by /etc/containers/registries\.conf"
    ) as caught:
        mirrors.route(Reference.parse("cdn.evil.example/app:1"))
    assert caught.value.path == REGISTRIES_CONF
    assert caught.value.reference == "cdn.evil.example/app:1"
    assert hosts_of(mirrors, "good.example/app:1") == ["good.example/app"]


# ── hosts.toml ─────────────────────────────────────────────────────────────────────────────────────


def test_hosts_toml_capabilities_split_tags_from_digests() -> None:
    mirrors = Mirrors(
        hosts=(
            hosts(
                "docker.io",
                """
                [host."https://public-mirror.example.com"]
                  capabilities = ["pull"]
                [host."https://docker-mirror.internal"]
                  capabilities = ["pull", "resolve"]
                """,
            ),
        )
    )
    assert hosts_of(mirrors, "alpine") == [
        "docker-mirror.internal/library/alpine",
        "registry-1.docker.io/library/alpine",
    ]
    assert hosts_of(mirrors, "alpine", by_digest=True) == [
        "public-mirror.example.com/library/alpine",
        "docker-mirror.internal/library/alpine",
        "registry-1.docker.io/library/alpine",
    ]


def test_hosts_toml_server_replaces_the_registry() -> None:
    mirrors = Mirrors(hosts=(hosts("_default", 'server = "https://registry.example.com"'),))
    assert hosts_of(mirrors, "ghcr.io/acme/api:1") == ["registry.example.com/acme/api"]
    route = mirrors.route(Reference.parse("ghcr.io/acme/api:1"))
    assert route.rerouted


def test_a_registry_directory_wins_over_default() -> None:
    mirrors = Mirrors(
        hosts=(
            hosts("_default", '[host."https://default.mirror"]'),
            hosts("registry.example_5000_", '[host."http://port.mirror:5001"]'),
        )
    )
    assert hosts_of(mirrors, "registry.example:5000/app:1") == [
        "port.mirror:5001/app",
        "registry.example:5000/app",
    ]
    assert hosts_of(mirrors, "other.example/app:1") == ["default.mirror/app", "other.example/app"]
    assert mirrors.plain_http_hosts == frozenset({"port.mirror:5001"})


def test_hosts_whose_api_root_is_not_v2_are_left_out() -> None:
    mirrors = Mirrors(
        hosts=(
            hosts(
                "docker.io",
                '[host."https://odd.mirror/api"]\noverride_path = true\n[host."https://ok.mirror"]',
            ),
        )
    )
    assert hosts_of(mirrors, "alpine") == [
        "ok.mirror/library/alpine",
        "registry-1.docker.io/library/alpine",
    ]
    odd_server = Mirrors(
        hosts=(hosts("docker.io", 'server = "https://odd.mirror/api"\noverride_path = true'),)
    )
    with pytest.raises(InvalidConfiguration, match="override_path is not supported"):
        odd_server.route(Reference.parse("alpine"))


def test_sources_come_in_order_and_once() -> None:
    """--mirror first, then registries.conf's mirrors, then hosts.toml's, the registry last."""
    mirrors = Mirrors(
        (Mirror.parse("docker.io=cli.mirror"),),
        conf('[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "conf.mirror"'),
        (hosts("docker.io", '[host."https://toml.mirror"]\n[host."https://cli.mirror"]'),),
    )
    assert hosts_of(mirrors, "alpine") == [
        "cli.mirror/library/alpine",
        "conf.mirror/library/alpine",
        "toml.mirror/library/alpine",
        "registry-1.docker.io/library/alpine",
    ]


# ── per-host TLS ───────────────────────────────────────────────────────────────────────────────────


def test_host_tls_from_both_files() -> None:
    mirrors = Mirrors(
        (Mirror.parse("docker.io=http://plain.mirror:5000"),),
        conf(
            '[[registry]]\nlocation = "insecure.example"\ninsecure = true\n'
            '[[registry]]\nprefix = "*.lab.example"\ninsecure = true\n'
            '[[registry]]\nlocation = "quay.io"\n'
            '[[registry.mirror]]\nlocation = "quay-mirror.local/q"\ninsecure = true\n'
        ),
        (
            hosts(
                "docker.io",
                'ca = "hub.pem"\n'
                '[host."https://docker-mirror.internal"]\nca = "/etc/certs/mirror.pem"\n'
                'skip_verify = true\nclient = "client.pem"\n',
            ),
            HostsFile.from_certificates(
                ["ca.crt"], namespace="registry.example_5000_", directory="/d"
            ),
        ),
    )
    assert mirrors.host_tls("docker-mirror.internal") == HostTLS(
        ca_files=("/etc/certs/mirror.pem",),
        client_certificates=((f"{CERTS_D}/docker.io/client.pem", ""),),
        skip_verify=True,
    )
    assert mirrors.host_tls("registry-1.docker.io") == HostTLS(
        ca_files=(f"{CERTS_D}/docker.io/hub.pem",)
    )
    assert mirrors.host_tls("docker.io") == mirrors.host_tls("registry-1.docker.io")
    assert mirrors.host_tls("registry.example:5000") == HostTLS(ca_files=("/d/ca.crt",))
    insecure = HostTLS(skip_verify=True, plain_http=True)
    assert mirrors.host_tls("insecure.example") == insecure
    assert mirrors.host_tls("a.lab.example") == insecure
    assert mirrors.host_tls("quay-mirror.local") == insecure
    assert mirrors.host_tls("quay.io") is None
    assert mirrors.host_tls("plain.mirror:5000") == HostTLS(plain_http=True)
    # in the shape of regimage.http.trust.HostCAFiles: (host, port)
    assert mirrors.ca_files("docker-mirror.internal", 443) == ("/etc/certs/mirror.pem",)
    assert mirrors.ca_files("registry.example", 5000) == ("/d/ca.crt",)
    assert mirrors.ca_files("quay.io", 443) == ()
