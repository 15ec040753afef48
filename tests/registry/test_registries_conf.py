"""registries.conf as containers/image reads it: prefixes, rewriting, mirrors, merging, refusals.

The tables follow containers-registries.conf(5) and containers/image's sysregistriesv2 tests.
"""

from __future__ import annotations

import pytest

from regimage.errors import InvalidConfiguration
from regimage.registry.registries_conf import (
    Endpoint,
    RegistriesConf,
    RegistryTable,
    prefix_match,
)

ORIGIN = "/etc/containers/registries.conf"


def parse(text: str, *, drop_in: bool = False) -> RegistriesConf:
    return RegistriesConf.parse(text, origin=ORIGIN, drop_in=drop_in)


# ── prefix matching ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("name", "prefix", "end"),
    [
        ("example.com/foo/app", "example.com", 11),
        ("example.com/foo/app", "example.com/foo", 15),
        ("example.com/foo/app", "example.com/foo/app", 19),
        ("example.com/foobar/app", "example.com/foo", -1),  # not at a separator
        ("example.com/foo", "example.com/foo/app", -1),  # the prefix is longer
        ("example.com:5000/app", "example.com", 11),  # upstream's "unintended" match, kept
        ("other.com/app", "example.com", -1),
        ("docker.io/library/alpine", "docker.io/library", 17),
        ("docker.io/library/alpine", "docker.io/alpine", -1),  # the man page's warning
        # wildcards: any subdomain, at the start of the name only
        ("blah.example.com/foo/app", "*.example.com", 16),
        ("a.b.example.com/app", "*.example.com", 15),
        ("a.example.com:5000/app", "*.example.com", 13),
        ("example.com/app", "*.example.com", -1),  # no subdomain
        ("other.com/x.example.com/app", "*.example.com", -1),  # not in the host
        ("a.example.com.evil/app", "*.example.com", -1),
    ],
)
def test_prefix_match(name: str, prefix: str, end: int) -> None:
    assert prefix_match(name, prefix) == end


def test_the_longest_matching_prefix_wins() -> None:
    conf = parse(
        """
        [[registry]]
        location = "example.com"
        [[registry]]
        prefix = "example.com/foo"
        location = "internal.example/bar"
        [[registry]]
        prefix = "*.example.com"
        blocked = true
        """
    )
    found = conf.find("example.com/foo/app")
    assert found is not None
    assert found.prefix == "example.com/foo"
    found = conf.find("example.com/other")
    assert found is not None
    assert found.prefix == "example.com"
    found = conf.find("sub.example.com/app")
    assert found is not None
    assert found.blocked
    assert conf.find("elsewhere.org/app") is None


# ── tables ─────────────────────────────────────────────────────────────────────────────────────────


def test_the_man_pages_example() -> None:
    conf = parse(
        """
        unqualified-search-registries = ["example.com"]

        [[registry]]
        prefix = "example.com/foo"
        insecure = false
        blocked = false
        location = "internal-registry-for-example.com/bar"

        [[registry.mirror]]
        location = "example-mirror-0.local/mirror-for-foo"

        [[registry.mirror]]
        location = "example-mirror-1.local/mirrors/foo"
        insecure = true
        """
    )
    (table,) = conf.registries
    assert table == RegistryTable(
        prefix="example.com/foo",
        location="internal-registry-for-example.com/bar",
        mirrors=(
            Endpoint("example-mirror-0.local/mirror-for-foo"),
            Endpoint("example-mirror-1.local/mirrors/foo", insecure=True),
        ),
        origin=ORIGIN,
    )
    names = [
        table.rewrite("example.com/foo/image", endpoint).name
        for endpoint in table.pull_endpoints(digested=False)
    ]
    assert names == [
        "example-mirror-0.local/mirror-for-foo/image",
        "example-mirror-1.local/mirrors/foo/image",
        "internal-registry-for-example.com/bar/image",
    ]


def test_prefix_defaults_to_location_and_slashes_are_trimmed() -> None:
    (table,) = parse('[[registry]]\nlocation = "registry.example:5000/ns/"\n').registries
    assert (table.prefix, table.location) == (
        "registry.example:5000/ns",
        "registry.example:5000/ns",
    )


def test_a_wildcard_prefix_without_location_keeps_the_name() -> None:
    (table,) = parse(
        '[[registry]]\nprefix = "*.example.com"\n[[registry.mirror]]\nlocation = "m.local"\n'
    ).registries
    primary = table.pull_endpoints(digested=False)[-1]
    assert table.rewrite("a.example.com/team/app", primary).name == "a.example.com/team/app"
    # a mirror's location replaces the matched host
    assert table.rewrite("a.example.com/team/app", table.mirrors[0]).name == "m.local/team/app"


def test_docker_hub_names_are_rewritten_with_their_library_namespace() -> None:
    (table,) = parse(
        '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n'
        '[[registry.mirror]]\nlocation = "mirror.gcr.io"\n'
    ).registries
    moved = table.rewrite("docker.io/library/alpine", table.mirrors[0])
    assert (moved.domain, moved.path) == ("mirror.gcr.io", "library/alpine")


def test_a_rewrite_that_is_no_name_is_refused() -> None:
    (table,) = parse(
        '[[registry]]\nprefix = "example.com/foo/app"\nlocation = "mirror.local"\n'
    ).registries
    with pytest.raises(InvalidConfiguration, match="not a repository name"):
        table.rewrite("example.com/foo/app", table.pull_endpoints(digested=False)[-1])


@pytest.mark.parametrize(
    ("settings", "digested", "mirrors"),
    [
        ("", False, ["all", "digest", "tag"]),
        ("", True, ["all", "digest", "tag"]),
        ('pull-from-mirror = "{}"', False, ["all", "tag"]),
        ('pull-from-mirror = "{}"', True, ["all", "digest"]),
        ("mirror-by-digest-only = true", False, []),
        ("mirror-by-digest-only = true", True, ["all", "digest", "tag"]),
    ],
)
def test_which_mirrors_a_pull_tries(settings: str, digested: bool, mirrors: list[str]) -> None:
    """Per mirror ``pull-from-mirror``, or ``mirror-by-digest-only`` for all of them."""
    by_digest = settings.startswith("mirror-by")
    lines = ['[[registry]]\nlocation = "example.com"']
    if by_digest:
        lines.append(settings)
    for name, value in (("all", "all"), ("digest", "digest-only"), ("tag", "tag-only")):
        lines.append(f'[[registry.mirror]]\nlocation = "{name}.mirror"')
        if settings and not by_digest:
            lines.append(settings.format(value))
    (table,) = parse("\n".join(lines)).registries
    endpoints = table.pull_endpoints(digested=digested)
    assert [e.location for e in endpoints] == [f"{m}.mirror" for m in mirrors] + ["example.com"]


def test_drop_ins_replace_tables_of_the_same_prefix() -> None:
    base = parse(
        '[[registry]]\nlocation = "a.example"\nblocked = true\n'
        '[[registry]]\nlocation = "b.example"\n'
    )
    drop_in = parse(
        '[[registry]]\nprefix = "a.example"\nlocation = "a.mirror"\n'
        '[[registry]]\nlocation = "c.example"\n',
        drop_in=True,
    )
    merged = base.merged(drop_in)
    assert {t.prefix: t.location for t in merged.registries} == {
        "a.example": "a.mirror",
        "b.example": "b.example",
        "c.example": "c.example",
    }
    found = merged.find("a.example/app")
    assert found is not None
    assert not found.blocked


def test_the_first_table_of_a_prefix_wins_within_a_file() -> None:
    conf = parse(
        '[[registry]]\nprefix = "x.example"\nlocation = "one.example"\n'
        '[[registry]]\nprefix = "x.example"\nlocation = "two.example"\n'
    )
    assert [t.location for t in conf.registries] == ["one.example"]


def test_version_1_lists_are_read_as_tables() -> None:
    conf = parse(
        """
        [registries.search]
        registries = ["docker.io"]
        [registries.insecure]
        registries = ["registry3.com", "registry.unsafe.com"]
        [registries.block]
        registries = ["registry.untrusted.com", "registry.unsafe.com"]
        """
    )
    tables = {t.prefix: (t.location, t.insecure, t.blocked) for t in conf.registries}
    assert tables == {
        "registry.untrusted.com": ("registry.untrusted.com", False, True),
        "registry.unsafe.com": ("registry.unsafe.com", True, True),
        "registry3.com": ("registry3.com", True, False),
    }


def test_unknown_keys_and_settings_regimage_does_not_use_are_ignored() -> None:
    conf = parse(
        """
        short-name-mode = "enforcing"
        credential-helpers = ["pass"]
        [aliases]
        "alpine" = "docker.io/library/alpine"
        [[registry]]
        location = "example.com"
        something-new = 1
        """
    )
    assert [t.prefix for t in conf.registries] == ["example.com"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[registry", "not valid TOML"),
        ('[[registry]]\nlocation = "https://example.com"', "without http:// or https://"),
        ('[[registry]]\nprefix = "http://example.com"\nlocation = "x.example"', "without http://"),
        ("[[registry]]\ninsecure = true", "neither prefix nor location"),
        ('[[registry]]\nprefix = "example.com"', "only a wildcard prefix"),
        ('[[registry]]\nprefix = "*.example.com/foo"', "a wildcard prefix is"),
        ('[[registry]]\nprefix = "*.example.com:5000"', "a wildcard prefix is"),
        (
            '[[registry]]\nlocation = "x.example"\npull-from-mirror = "all"',
            "belongs in a [[registry.mirror]]",
        ),
        (
            '[[registry]]\nlocation = "x.example"\n[[registry.mirror]]\ninsecure = true',
            "a mirror without location",
        ),
        (
            '[[registry]]\nlocation = "x.example"\n[[registry.mirror]]\nlocation = "m"\n'
            'pull-from-mirror = "sometimes"',
            "is none of all, digest-only, tag-only",
        ),
        (
            '[[registry]]\nlocation = "x.example"\nmirror-by-digest-only = true\n'
            '[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "all"',
            "cannot both be set",
        ),
        ('[[registry]]\nlocation = "x.example"\nblocked = "yes"', "blocked must be true or false"),
        ("[[registry]]\nlocation = 5", "location must be a string"),
        ('registry = "x.example"', "registry must be an array of tables"),
        (
            '[[registry]]\nlocation = "x.example"\ninsecure = true\n'
            '[[registry]]\nprefix = "y.example"\nlocation = "x.example"',
            "conflicting 'insecure'",
        ),
        (
            '[registries.block]\nregistries = ["a"]\n[[registry]]\nlocation = "b.example"',
            "use one format",
        ),
        ("[registries.block]\nregistries = [1]", "must be an array of strings"),
    ],
)
def test_refusals_name_the_file_and_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidConfiguration, match=message.replace("[", r"\[")) as caught:
        parse(text)
    assert str(caught.value).startswith(ORIGIN)
    assert caught.value.path == ORIGIN


def test_a_drop_in_must_use_version_2() -> None:
    with pytest.raises(InvalidConfiguration, match="drop-in"):
        parse('[registries.block]\nregistries = ["a.example"]', drop_in=True)
