"""``regimage audit --all-tags``, ``--catalog`` and their filters; ``--jobs`` and the progress line
(issue #19, items 1 and 4), in process, on asyncio and trio.

The registry is test_cli.py's FakeRegistry given paged tags lists and a catalog (:class:`Listing`),
which log, in one sequence with the records written, each page asked for: so a test can tell that
records come out before a list is read to its end. The connections ``--jobs`` opens are counted on
a real loopback registry of ours (tests.faults).
"""

from __future__ import annotations

import copy
import io
import json
import threading
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from regimage.cli import session as cli_session
from regimage.cli.audit import expansion, run as audit_run
from regimage.cli.audit.writer import Progress, Tally
from regimage.cli.core import main
from regimage.cli.session import Options
from regimage.cli.status import ExitStatus
from regimage.content.provider import MemoryProvider
from regimage.errors import AccessDenied, AuthenticationError
from regimage.model.descriptor import Descriptor
from regimage.model.ratelimit import RateLimit
from regimage.model.reference import Reference
from regimage.registry.preconnect import Preconnect
from tests.cli.test_cli import (
    HOST,
    LAYOUT_IMAGES,
    REPOSITORIES,
    TTY,
    FakeRegistry,
    image,
    ref,
    run,
    write_layout,
)
from tests.faults.documents import MiniRegistry, config_blob, manifest_blob
from tests.faults.server import Reply, Request, ScriptedServer

MANY = "public/many"
#: The tags of ``MANY``, all of them ``dup-layer``'s image, in the order the fake lists them.
MANY_TAGS = [f"t{i:04d}" for i in range(250)]


def _many(count: int) -> MemoryProvider:
    """A repository of ``count`` tags, every one the ``dup-layer`` image."""
    source = REPOSITORIES[image("dup-layer").repository]
    many = copy.copy(source)  # the same documents, tags of its own
    descriptor = source.tags[image("dup-layer").tag]
    many.tags = {f"t{i:04d}": descriptor for i in range(count)}
    return many


@dataclass
class Listing(FakeRegistry):
    """FakeRegistry with paged tags lists and a catalog (the repositories it holds, sorted).

    ``events`` logs, in order, each page handed out (``page``), each list closed before its end
    (``closed``) and each record written (``record``, by :class:`Output`). ``hold_last_page``
    makes every list wait before its last page until a record has been written (at most 10 s).
    """

    repositories: dict[str, MemoryProvider] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)
    hold_last_page: bool = False
    catalog_error: BaseException | None = None
    budget: RateLimit | None = None
    page_sizes: list[int | None] = field(default_factory=list)
    _written: anyio.Event | None = None

    def _repo(self, reference: Reference) -> MemoryProvider:
        found = self.repositories.get(reference.path)
        return found if found is not None else super()._repo(reference)

    def written(self) -> None:
        self.events.append(("record", ""))
        if self._written is not None:
            self._written.set()

    async def _pages(
        self, name: str, items: list[str], size: int | None
    ) -> AsyncGenerator[list[str], None]:
        self.page_sizes.append(size)
        step = size or max(1, len(items))
        pages = [items[i : i + step] for i in range(0, len(items), step)] or [[]]
        finished = False
        try:
            for number, page in enumerate(pages):
                last = number == len(pages) - 1 and number > 0
                if self.hold_last_page and last and ("record", "") not in self.events:
                    self._written = anyio.Event()
                    with anyio.move_on_after(10):  # fail, not hang, when none comes
                        await self._written.wait()
                self.events.append(("page", f"{name} {number + 1}/{len(pages)}"))
                yield page
            finished = True
        finally:
            if not finished:
                self.events.append(("closed", name))

    async def tag_pages(
        self, repository: Reference, *, page_size: int | None = None
    ) -> AsyncGenerator[list[str], None]:
        tags = list(self._repo(repository).tags)  # NotFound at the first page, as a registry's
        async with aclosing(self._pages(repository.path, tags, page_size)) as pages:
            async for page in pages:
                yield page

    async def catalog_pages(
        self, registry: str, *, page_size: int = 1000
    ) -> AsyncGenerator[list[str], None]:
        if self.catalog_error is not None:
            raise self.catalog_error
        names = sorted({*REPOSITORIES, *self.repositories})
        async with aclosing(self._pages(f"catalog of {registry}", names, page_size)) as pages:
            async for page in pages:
                yield page

    def rate_limit(self, host: str) -> RateLimit | None:
        return self.budget


@pytest.fixture(params=["asyncio", "trio"])
def listing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Listing:
    """The Listing the audit opens (one per test), on each event loop."""
    monkeypatch.setenv("REGIMAGE_BACKEND", request.param)
    monkeypatch.delenv("REGIMAGE_USERNAME", raising=False)
    monkeypatch.delenv("REGIMAGE_PASSWORD", raising=False)
    fake = Listing(Options(), repositories={MANY: _many(len(MANY_TAGS))})

    def open_registry(options: Options, preconnect: Preconnect | None = None) -> Listing:
        fake.options = options
        return fake

    monkeypatch.setattr(cli_session, "open_registry", open_registry)
    return fake


class Output(io.StringIO):
    """stdout that logs each record into the fake's events."""

    def __init__(self, fake: Listing) -> None:
        super().__init__()
        self.fake = fake

    def write(self, text: str, /) -> int:
        for _ in range(text.count("\n")):
            self.fake.written()
        return super().write(text)


def audit(
    fake: Listing, *argv: str, stdin: io.StringIO | None = None
) -> tuple[int, list[dict[str, Any]], str]:
    out, err = Output(fake), io.StringIO()
    status = main(["audit", *argv], stdout=out, stderr=err, stdin=stdin or io.StringIO())
    assert "Traceback" not in err.getvalue()
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def many(tag: str) -> str:
    return f"{HOST}/{MANY}:{tag}"


# ── --all-tags ────────────────────────────────────────────────────────────────────────────────────


def test_all_tags_expands_each_repository_in_place(listing: Listing) -> None:
    """A repository without tag becomes its tags, where it stood; a reference with a tag or a
    digest stays as it is."""
    pinned = f"{HOST}/{image('nested').repository}@{image('nested').digest}"
    status, records, err = audit(
        listing, "--all-tags", ref("dup-layer"), f"{HOST}/{MANY}", pinned, f"{HOST}/{MANY}"
    )
    assert status == 0, err
    expected = [ref("dup-layer"), *map(many, MANY_TAGS), pinned, *map(many, MANY_TAGS)]
    assert [r["reference"] for r in records] == expected
    assert [r["index"] for r in records] == list(range(len(expected)))
    assert all(r["ok"] for r in records)
    assert {r["digest"] for r in records[1:251]} == {image("dup-layer").digest}
    assert listing.page_sizes == [expansion.TAGS_PAGE] * 2  # each list asked n per page
    assert err.startswith(f"audited {len(expected)} references: {len(expected)} ok, 0 failed in ")


def test_without_all_tags_a_repository_is_its_latest(listing: Listing) -> None:
    status, records, _ = audit(listing, f"{HOST}/{MANY}")
    assert status == ExitStatus.NOT_FOUND  # no tag latest
    assert [r["reference"] for r in records] == [many("latest")]
    assert not [kind for kind, _ in listing.events if kind == "page"]


def test_all_tags_streams_records_before_the_last_page(
    listing: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first record is written before the last page of the tags list is asked for: the list
    waits for a record before its last page (bounded), and only a streaming audit writes one."""
    monkeypatch.setattr(expansion, "TAGS_PAGE", 50)
    listing.hold_last_page = True
    status, records, err = audit(listing, "--all-tags", "--jobs", "4", f"{HOST}/{MANY}")
    assert status == 0, err
    assert [r["reference"] for r in records] == [many(t) for t in MANY_TAGS]
    kinds = [kind for kind, _ in listing.events]
    last_page = max(i for i, (kind, what) in enumerate(listing.events) if what.endswith("5/5"))
    assert kinds.index("record") < last_page, listing.events[: last_page + 1]


def test_expansion_holds_a_few_pages_whatever_the_list(
    listing: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays flat: tags handed out but not yet written stay within the read-ahead, the
    reorder window and a few pages, for a list of 4,000 tags."""
    page, read_ahead, jobs = 40, 5, 2
    monkeypatch.setattr(expansion, "TAGS_PAGE", page)
    monkeypatch.setattr(audit_run, "READ_AHEAD", read_ahead)
    listing.repositories[MANY] = _many(4000)
    held: list[int] = []
    original = Listing.written

    def written(self: Listing) -> None:
        original(self)
        pages = sum(1 for kind, _ in self.events if kind == "page")
        records = sum(1 for kind, _ in self.events if kind == "record")
        held.append(min(pages * page, 4000) - records)

    monkeypatch.setattr(Listing, "written", written)
    status, records, err = audit(listing, "--all-tags", "--jobs", str(jobs), f"{HOST}/{MANY}")
    assert status == 0, err
    assert len(records) == 4000
    # a page in the slot, one in the listing's hand, one being handed on; the read-ahead, the
    # window of 4 x --jobs, and the two in hand (the reader's and the dispatcher's)
    assert max(held) <= 3 * page + read_ahead + 4 * jobs + 2, max(held)


def test_tag_globs_and_a_repository_that_is_not_there(listing: Listing) -> None:
    status, records, err = audit(
        listing,
        "--all-tags",
        "--include-tag",
        "t00[0-1]?",
        "--include-tag",
        "t0249",
        "--exclude-tag",
        "*5",
        f"{HOST}/{MANY}",
        f"{HOST}/public/no-such-repository",
        ref("dup-layer"),  # named with its tag: never filtered out
    )
    kept = [t for t in MANY_TAGS if (t < "t0020" or t == "t0249") and not t.endswith("5")]
    assert [r["reference"] for r in records] == [
        *map(many, kept),
        f"{HOST}/public/no-such-repository",
        ref("dup-layer"),
    ]
    missing = records[len(kept)]
    assert missing["ok"] is False
    assert (missing["error"]["kind"], missing["error"]["exitCode"]) == ("NotFound", 4)
    assert status == ExitStatus.NOT_FOUND, err


def test_a_listed_tag_that_is_no_tag_is_its_own_record(listing: Listing) -> None:
    bad = "v1\x1b[2J/../x"
    provider = _many(2)
    provider.tags[bad] = provider.tags["t0000"]
    listing.repositories[MANY] = provider
    status, records, _ = audit(listing, "--all-tags", f"{HOST}/{MANY}")
    assert [r["ok"] for r in records] == [True, True, False]
    assert records[2]["reference"] == f"{HOST}/{MANY}:{bad}"
    assert (records[2]["error"]["kind"], records[2]["error"]["exitCode"]) == ("InvalidReference", 3)
    assert status == ExitStatus.INVALID_REFERENCE


def test_all_tags_of_an_oci_layout(listing: Listing, tmp_path: Path) -> None:
    layout = write_layout(tmp_path)
    status, records, err = audit(
        listing,
        "--all-tags",
        "--exclude-tag",
        "docker-*",
        f"oci:{layout}",
        f"oci:{layout}:oci-index",
    )
    assert status == 0, err
    names = sorted(n for n in LAYOUT_IMAGES if not n.startswith("docker-"))
    assert [r["reference"] for r in records] == [
        *(f"oci:{layout}:{n}" for n in names),
        f"oci:{layout}:oci-index",
    ]
    assert [r["digest"] for r in records[: len(names)]] == [image(n).digest for n in names]


# ── --catalog ─────────────────────────────────────────────────────────────────────────────────────


def test_catalog_audits_every_tag_of_the_repositories_it_keeps(
    listing: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expansion, "CATALOG_PAGE", 3)
    status, records, err = audit(
        listing,
        "--catalog",
        HOST,
        "--include-repo",
        "public/*",
        "--exclude-repo",
        "public/many",
        "--exclude-repo",
        "*/nested",
        "--exclude-tag",
        "sha256-*",  # the referrers fallback tags: indexes of artifacts, not images
        ref("nested"),  # the arguments first, as they are
    )
    assert status == 0, err
    kept = sorted(r for r in REPOSITORIES if r.startswith("public/") and r != "public/nested")
    expected = [ref("nested")] + [
        f"{HOST}/{repository}:{tag}"
        for repository in kept
        for tag in REPOSITORIES[repository].tags
        if not tag.startswith("sha256-")
    ]
    assert [r["reference"] for r in records] == expected
    assert all(r["ok"] for r in records), [r for r in records if not r["ok"]]
    catalog_pages = [what for kind, what in listing.events if what.startswith("catalog of")]
    assert len(catalog_pages) == -(-len({*REPOSITORIES, MANY}) // 3)


def test_catalog_alone_reads_no_stdin(listing: Listing) -> None:
    """--catalog is the input: stdin is not read (nor a terminal refused)."""
    status, records, err = audit(
        listing, "--catalog", HOST, "--include-repo", "public/nested", stdin=TTY()
    )
    assert status == 0, err
    assert [r["reference"] for r in records] == [
        f"{HOST}/public/nested:{tag}" for tag in REPOSITORIES["public/nested"].tags
    ]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            AuthenticationError(
                f"{HOST} refused to list its catalog: it needs credentials (registries such as "
                "Harbor let only administrators list the catalog)",
                status=401,
            ),
            ExitStatus.AUTH,
        ),
        (
            AccessDenied(f"listing the catalog {HOST} denied (HTTP 403)", status=403),
            ExitStatus.AUTH,
        ),
    ],
)
def test_a_refused_catalog_is_a_record_and_an_error_line(
    listing: Listing, error: BaseException, code: ExitStatus
) -> None:
    listing.catalog_error = error
    status, records, err = audit(listing, "--catalog", HOST, ref("dup-layer"))
    assert status == code
    assert records[0]["ok"] is True
    assert records[1] == {
        "schema": 1,
        "index": 1,
        "reference": HOST,
        "ok": False,
        "error": {"kind": type(error).__name__, "message": str(error), "exitCode": int(code)},
    }
    lines = err.splitlines()
    assert lines[0].startswith("audited 2 references: 1 ok, 1 failed in ")
    assert lines[1].startswith(f"regimage: error: --catalog {HOST}: {error}")
    assert len(lines) == 2


@pytest.mark.parametrize("argv", [["--include-tag", "v*"], ["--exclude-repo", "x"]])
def test_filters_need_something_to_filter(listing: Listing, argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = main(["audit", *argv, ref("dup-layer")], stdout=out, stderr=err, stdin=io.StringIO())
    assert status == ExitStatus.USAGE
    assert out.getvalue() == ""
    assert "filter what --all-tags and --catalog list" in err.getvalue()


@pytest.mark.parametrize("registry", ["myhost", "ghcr.io/acme", "host:99999", "a b"])
def test_catalog_takes_a_registry_host(registry: str) -> None:
    result = run("audit", "--catalog", registry)
    assert result.status == ExitStatus.USAGE
    assert "not a registry host" in result.err


# ── the budget stop ───────────────────────────────────────────────────────────────────────────────


def test_the_budget_stop_stops_the_listing_too(
    listing: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below --budget the audit takes no more references: the tags list it was reading is closed
    there, its later pages never asked for."""
    monkeypatch.setattr(expansion, "TAGS_PAGE", 20)
    monkeypatch.setattr(audit_run, "READ_AHEAD", 5)
    listing.repositories[MANY] = _many(4000)
    original_resolve = Listing.resolve

    async def resolve(self: Listing, reference: Reference) -> Descriptor:
        found = await original_resolve(self, reference)
        self.budget = RateLimit(100, 0, window=21600, registry=HOST)  # spent after the first
        return found

    monkeypatch.setattr(Listing, "resolve", resolve)
    status, records, err = audit(listing, "--all-tags", "--jobs", "1", f"{HOST}/{MANY}")
    assert status == ExitStatus.REGISTRY
    assert records[0]["ok"] is True
    assert {r["error"]["kind"] for r in records[1:]} <= {"RateLimited"}
    assert len(records) < 40
    pages = [what for kind, what in listing.events if kind == "page"]
    assert len(pages) <= 3, pages  # of 200
    assert ("closed", MANY) in listing.events
    assert "audit stopped early" in err


# ── --jobs ────────────────────────────────────────────────────────────────────────────────────────


def test_jobs_64_resolve_64_at_once(listing: Listing, monkeypatch: pytest.MonkeyPatch) -> None:
    """--jobs 64: 64 references in flight, never more (the fake counts the resolves at once)."""
    jobs = 64
    running = {"now": 0, "most": 0}
    full = anyio.Event()
    original_resolve = Listing.resolve

    async def resolve(self: Listing, reference: Reference) -> Descriptor:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        if running["now"] == jobs:
            full.set()
        try:
            with anyio.move_on_after(10):  # fail, not hang, when fewer ever run at once
                await full.wait()
            return await original_resolve(self, reference)
        finally:
            running["now"] -= 1

    monkeypatch.setattr(Listing, "resolve", resolve)
    # a host each: the first request to a host holds back the others to it
    refs = [f"h{i}.test/{MANY}:{t}" for i, t in enumerate(MANY_TAGS[:200])]
    status, records, err = audit(listing, "--jobs", str(jobs), *refs)
    assert status == 0, err
    assert len(records) == 200
    assert running["most"] == jobs


@pytest.mark.parametrize("jobs", [8, 64])
def test_the_session_opens_as_many_connections_per_registry(jobs: int) -> None:
    provider = cli_session.open_registry(Options(cache=False, mirror_files=False, jobs=jobs))
    try:
        assert provider.pool is not None
        assert provider.pool.max_per_origin == max(jobs, 32)
    finally:
        anyio.run(provider.aclose)


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("REGIMAGE_BACKEND", request.param)
    for name in ("REGIMAGE_USERNAME", "REGIMAGE_PASSWORD", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return str(request.param)


class Gate:
    """Holds each manifest request until ``width`` are in at once (at most 5 s), counting the
    most that ever were: the requests the audit has in flight to one registry."""

    def __init__(self, registry: MiniRegistry, width: int) -> None:
        self.registry = registry
        self.width = width
        self.lock = threading.Condition()
        self.now = 0
        self.most = 0

    def __call__(self, request: Request) -> Reply:
        if "/manifests/" not in request.path:
            return self.registry(request)
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.most >= self.width, timeout=5)
        try:
            return self.registry(request)
        finally:
            with self.lock:
                self.now -= 1


@pytest.fixture
def gate() -> Iterator[tuple[ScriptedServer, Gate]]:
    registry = MiniRegistry()
    manifest = registry.add(manifest_blob(registry.add(config_blob())))
    for i in range(80):
        registry.tags[f"v{i}"] = manifest.digest
    script = Gate(registry, 64)
    with ScriptedServer(script) as server:
        yield server, script


def test_jobs_64_means_64_requests_to_one_registry(
    backend: str, gate: tuple[ScriptedServer, Gate]
) -> None:
    """--jobs 64 against a real server: 64 manifest requests in flight to the one registry at once
    (the pool's default of 32 connections per registry used to hold half of them back)."""
    server, script = gate
    refs = [server.ref(f"app:v{i}") for i in range(80)]
    out, err = io.StringIO(), io.StringIO()
    status = main(
        ["audit", "--no-cache", "--jobs", "64", *refs], stdout=out, stderr=err, stdin=io.StringIO()
    )
    assert status == 0, err.getvalue()
    assert len(out.getvalue().splitlines()) == 80
    assert script.most == 64


# ── over HTTP: Link paging, a page that fails, a catalog refused ──────────────────────────────────


class PagedTags:
    """A MiniRegistry whose tags lists are paged as Distribution 3 pages them (``n``, ``last``,
    a relative ``Link``); ``bad_page`` (1-based) is sent as a body that is not JSON. ``events``
    logs each tags page as the server receives its request, and each record as it is written."""

    def __init__(self, tags: int, *, bad_page: int | None = None) -> None:
        self.registry = MiniRegistry()
        manifest = self.registry.add(manifest_blob(self.registry.add(config_blob())))
        for i in range(tags):
            self.registry.tags[f"v{i:03d}"] = manifest.digest
        self.bad_page = bad_page
        self.lock = threading.Lock()
        self.events: list[str] = []
        self.registry.overrides["/v2/app/tags/list"] = self.page
        self.registry.overrides["/v2/_catalog"] = lambda _: Reply(
            403, {"Content-Type": "application/json"}, b'{"errors":[{"code":"DENIED"}]}'
        )

    def log(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def page(self, request: Request) -> Reply:
        query = parse_qs(urlsplit(request.path).query)
        size = int(query["n"][0])
        names = sorted(self.registry.tags)
        start = names.index(query["last"][0]) + 1 if "last" in query else 0
        number = start // size + 1
        self.log(f"page {number}")
        if number == self.bad_page:
            return Reply(200, {"Content-Type": "application/json"}, b"<html>oops</html>")
        headers = {"Content-Type": "application/json"}
        if start + size < len(names):
            headers["Link"] = (
                f'</v2/app/tags/list?n={size}&last={names[start + size - 1]}>; rel="next"'
            )
        body = json.dumps({"name": "app", "tags": names[start : start + size]}).encode()
        return Reply(200, headers, body)


class Records(io.StringIO):
    """stdout that logs each record into ``events``."""

    def __init__(self, paged: PagedTags) -> None:
        super().__init__()
        self.paged = paged

    def write(self, text: str, /) -> int:
        for _ in range(text.count("\n")):
            self.paged.log("record")
        return super().write(text)


def _audit_over_http(paged: PagedTags, *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    out, err = Records(paged), io.StringIO()
    with ScriptedServer(paged.registry) as server:
        args = [a.replace("SERVER", server.host) for a in argv]
        status = main(["audit", "--no-cache", *args], stdout=out, stderr=err, stdin=io.StringIO())
    assert "Traceback" not in err.getvalue()
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_tags_pages_over_http_stream_into_records(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real tags list of 10 pages (Link) through the real provider: the server receives the
    last page's request after records were written (the read-ahead of 5 holds the listing)."""
    monkeypatch.setattr(expansion, "TAGS_PAGE", 20)
    monkeypatch.setattr(audit_run, "READ_AHEAD", 5)
    paged = PagedTags(200)
    status, records, err = _audit_over_http(paged, "--all-tags", "--jobs", "2", "SERVER/app")
    assert status == 0, err
    assert [r["reference"].rsplit(":", 1)[1] for r in records] == sorted(paged.registry.tags)
    pages = [i for i, event in enumerate(paged.events) if event.startswith("page ")]
    assert [paged.events[i] for i in pages] == [f"page {n}" for n in range(1, 11)]
    assert paged.events.index("record") < pages[-1]
    assert paged.events[: pages[-1]].count("record") >= 100


def test_a_page_that_fails_is_a_record_after_the_tags_before_it(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expansion, "TAGS_PAGE", 20)
    paged = PagedTags(100, bad_page=3)
    status, records, err = _audit_over_http(paged, "--all-tags", "SERVER/app", "SERVER/app:v099")
    assert [r["ok"] for r in records] == [True] * 40 + [False, True]
    failed = records[40]
    assert failed["reference"].endswith("/app")
    assert (failed["error"]["kind"], failed["error"]["exitCode"]) == ("InvalidDocument", 7)
    assert status == ExitStatus.UNSUPPORTED, err


def test_a_catalog_refused_with_403_says_it_needs_an_administrator(backend: str) -> None:
    paged = PagedTags(1)
    status, records, err = _audit_over_http(paged, "--catalog", "SERVER")
    (record,) = records
    assert (record["error"]["kind"], record["error"]["exitCode"]) == ("AccessDenied", 5)
    message = record["error"]["message"]
    assert "listing the catalog" in message
    assert "denied (HTTP 403)" in message
    assert "only administrators list the catalog" in message
    assert err.splitlines()[1].startswith("regimage: error: --catalog 127.0.0.1:")
    assert status == ExitStatus.AUTH


# ── the progress line ─────────────────────────────────────────────────────────────────────────────


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tally(ok: int, failed: int) -> Tally:
    tally = Tally()
    for i in range(ok + failed):
        record: dict[str, Any] = {"ok": i < ok}
        if i >= ok:
            record["error"] = {"exitCode": 4}
        tally.count(record)
    return tally


def test_progress_has_no_eta_until_the_total_is_known() -> None:
    clock = Clock()
    progress = Progress(io.StringIO(), clock=clock)
    assert progress.line(Tally(), 0, clock.now) == "audit: 0 of at least 0 done, 0 failed"
    progress.listed = 340
    clock.now += 4
    line = progress.line(_tally(117, 3), 2, clock.now)
    assert line == "audit: 120 of at least 340 done, 3 failed, 30.0/s, 2 waiting for earlier ones"
    progress.listed, progress.complete = 500, True
    line = progress.line(_tally(117, 3), 0, clock.now)
    assert line == "audit: 120 of 500 done, 3 failed, 30.0/s, about 13 s left"


def test_progress_repaints_at_most_every_tenth_of_a_second() -> None:
    clock, stream = Clock(), io.StringIO()
    progress = Progress(stream, clock=clock)
    progress.show(Tally(), 0)
    progress.show(_tally(1, 0), 0)  # too soon: not painted
    clock.now += 0.25
    progress.show(_tally(2, 0), 0)
    assert stream.getvalue().count("\r\x1b[K") == 2
    assert stream.getvalue().endswith("audit: 2 of at least 0 done, 0 failed, 8.0/s")


def test_progress_line_on_a_terminal_never_on_stdout(listing: Listing) -> None:
    tty, out = TTY(), io.StringIO()
    status = main(
        ["audit", "--all-tags", f"{HOST}/{MANY}"], stdout=out, stderr=tty, stdin=io.StringIO()
    )
    assert status == 0
    assert len(out.getvalue().splitlines()) == len(MANY_TAGS)
    assert "\r" not in out.getvalue()
    assert "audit:" not in out.getvalue()
    err = tty.getvalue()
    assert "\r\x1b[Kaudit: " in err
    painted = [part for part in err.split("\r\x1b[K") if part.startswith("audit: ")]
    assert painted
    assert all(" done, " in line for line in painted)
    # cleared before the summary, which is the last line
    assert err.rsplit("\r\x1b[K", 1)[1].startswith(f"audited {len(MANY_TAGS)} references: ")
