"""``report --html FILE`` opened in a real browser: Debian's chromium, headless (scripts/_env.sh
installs it). The page renders without a console message (no script error, no Content Security
Policy violation), makes no request of its own (chromium's net log), and the numbers in the DOM
chromium built are those of ``report --json``.

Chromium's own background requests (updates, sign-in) are told apart from the page's by their
initiator in the net log, and cannot leave the machine: every host name resolves to nothing.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

from regimage.cli.core import main
from regimage.cli.output import human_size
from regimage.cli.report.html import CONTENT_SECURITY_POLICY
from tests.cli.report_database import AuditDatabase, Layer
from tests.cli.test_report import write_database

CHROMIUM_SECONDS = 90
#: Each flag keeps chromium to the page: no first-run, sync, component updates, background
#: networking, QUIC, extensions; every host name unresolvable (so its own requests stay here).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
)


@dataclass
class Browsed:
    dom: str
    console: list[str]  # every console message: the page has no script, so each is a failure
    page_requests: list[str]  # URLs the page asked for (not chromium's own)


def browse(page: Path, work: Path, *, screenshot: Path | None = None) -> Browsed:
    """Open ``page`` in headless chromium: its DOM, its console, the requests it made."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: scripts/test installs it (scripts/_env.sh)")
    netlog = work / "netlog.json"
    action = (
        [f"--screenshot={screenshot}", "--window-size=1200,2400"] if screenshot else ["--dump-dom"]
    )
    done = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={work / 'profile'}",
            f"--log-net-log={netlog}",
            *action,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Browsed(done.stdout, console, _page_requests(netlog))


def _page_requests(netlog: Path) -> list[str]:
    """The URLs of the requests a page initiated (chromium's own have no initiating origin)."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    begun = [e["params"] for e in log["events"] if e["type"] == start and "url" in e["params"]]
    assert begun, "no request at all in the net log: is it still the log it was?"
    return [params["url"] for params in begun if params.get("initiator") != "not an origin"]


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self) -> list[Node]:
        return [self, *(n for child in self.children for n in child.all())]

    def find(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.all()
            if tag in (None, n.tag) and all(n.attrs.get(k) == v for k, v in attrs.items())
        ]

    def by_id(self, element_id: str) -> Node:
        [node] = self.find(id=element_id)
        return node

    def having(self, attribute: str) -> list[Node]:
        return [n for n in self.all() if attribute in n.attrs]

    def full_text(self) -> str:
        return self.text + "".join(child.full_text() for child in self.children)


class _Tree(HTMLParser):
    VOID: ClassVar[frozenset[str]] = frozenset({"meta", "link", "br", "img", "input", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


def parse(dom: str) -> Node:
    tree = _Tree()
    tree.feed(dom)
    return tree.root


def report(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = main(["report", *argv], stdout=stdout, stderr=stderr, stdin=io.StringIO())
    return status, stdout.getvalue(), stderr.getvalue()


def page_and_json(database: str, page: Path, *argv: str) -> dict[str, Any]:
    status, out, err = report("--html", str(page), "--json", *argv, database)
    assert (status, err) == (0, ""), err
    return dict(json.loads(out))


# ── the tests ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("csp", [True, False], ids=["as-written", "without-its-csp"])
def test_the_page_renders_without_errors_or_requests(tmp_path: Path, csp: bool) -> None:
    """As written, and without its Content-Security-Policy (which would block what it guards
    against): the page itself asks for nothing."""
    database = str(write_database(tmp_path / "audit.db"))
    page = tmp_path / "report.html"
    page_and_json(database, page, "--built-on", "registry.test/library/base:1")
    if not csp:
        text = page.read_text(encoding="utf-8")
        meta = f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        assert meta in text
        page.write_text(text.replace(meta, ""), encoding="utf-8")
    browsed = browse(page, tmp_path)
    assert browsed.console == []
    assert browsed.page_requests == []
    assert "Registry audit" in parse(browsed.dom).find(tag="h1")[0].full_text()


def test_the_browser_test_sees_what_it_guards_against(tmp_path: Path) -> None:
    """The control: a page that loads an image and runs a script is caught by both checks."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><link rel="icon" href="data:,"><img src="http://127.0.0.1:9/x.png">'
        "<script>console.log('hello')</script>",
        encoding="utf-8",
    )
    browsed = browse(page, tmp_path)
    assert browsed.page_requests == ["http://127.0.0.1:9/x.png"]
    assert any("hello" in line for line in browsed.console)


def test_the_page_shows_the_numbers_of_report_json(tmp_path: Path) -> None:
    database = str(write_database(tmp_path / "audit.db"))
    page = tmp_path / "report.html"
    document = page_and_json(
        database, page, "--top", "2", "--built-on", "registry.test/library/base:1"
    )
    browsed = browse(page, tmp_path)
    assert browsed.console == []
    dom = parse(browsed.dom)
    storage = document["storage"]

    def shown_bytes(node: Node) -> int:
        value = int(node.attrs["data-bytes"])
        shown = (node.find(**{"class": "value"}) or [node])[0]  # a card: its big number
        assert shown.full_text().strip() == human_size(value)
        return value

    assert shown_bytes(dom.by_id("card-stored")) == storage["size"]
    assert shown_bytes(dom.by_id("card-naive")) == storage["naiveSize"]
    assert shown_bytes(dom.by_id("card-saved")) == storage["savedSize"]
    for key, value in (
        ("references", document["references"]["total"]),
        ("images", document["images"]),
        ("repositories", len(storage["repositories"])),
    ):
        assert int(dom.by_id(f"card-{key}").attrs["data-count"]) == value
    # the storage table: every repository; the chart: the --top largest
    rows = dom.by_id("storage-table").find(tag="tr")[1:]
    assert [
        [row.children[0].full_text(), *(shown_bytes(cell) for cell in row.having("data-bytes"))]
        for row in rows
    ] == [
        [r["repository"], r["size"], r["naiveSize"], r["savedSize"], r["attestationSize"]]
        for r in storage["repositories"]
    ]
    bars = dom.by_id("storage-chart").find(**{"class": "row"})
    assert [
        (b.attrs["data-repository"], int(b.attrs["data-bytes"]), int(b.attrs["data-naive"]))
        for b in bars
    ] == [(r["repository"], r["size"], r["naiveSize"]) for r in storage["repositories"][:2]]
    biggest = dom.by_id("biggest-table").having("data-bytes")
    assert [shown_bytes(cell) for cell in biggest] == [x["size"] for x in document["biggest"]]
    columns = dom.by_id("size-chart").find(**{"class": "column"})
    assert [
        {
            "from": int(c.attrs["data-from"]),
            "to": int(c.attrs["data-to"]),
            "images": int(c.attrs["data-images"]),
        }
        for c in columns
    ] == document["sizeDistribution"]
    shared = dom.by_id("sharing-chart").find(**{"class": "row"})
    assert [(s.attrs["data-digest"], int(s.attrs["data-images"])) for s in shared] == [
        (x["digest"], x["images"]) for x in document["sharedLayers"]["layers"]
    ]
    same = dom.by_id("same-digest-table").having("data-bytes")
    assert [shown_bytes(cell) for cell in same] == [
        x["size"] for x in document["sameDigest"]["digests"]
    ]
    chips = {
        (chip.attrs["data-platform"], int(chip.attrs["data-count"]))
        for chip in dom.by_id("coverage-table").having("data-platform")
    }
    assert chips == {
        (p["platform"], p["references"]) for c in document["platforms"] for p in c["platforms"]
    }
    built_on = dom.by_id("built-on")
    added = [int(cell.attrs["data-count"]) for cell in built_on.having("data-count")]
    assert added == [x["addedLayers"] for x in document["builtOn"]["platforms"][0]["images"]]


def test_the_database_text_stays_text(tmp_path: Path) -> None:
    """Registry and database text (here a platform and a repository written into the file by
    hand) is escaped: it shows as text, never as markup that runs or fetches."""
    db = AuditDatabase(tmp_path / "audit.db")
    run_id = db.run()
    hostile = 'linux/<img src="http://127.0.0.1:9/p.png">'
    db.ref(
        run_id, "registry.test/acme/api:1", db.manifest("evil", [Layer("x", 10)], platform=hostile)
    )
    db.connection.execute(
        "UPDATE refs SET repository = ?", ("acme/<script>console.log('pwned')</script>\u202e",)
    )
    db.close()
    page = tmp_path / "report.html"
    status, _, err = report("--html", str(page), str(tmp_path / "audit.db"))
    assert (status, err) == (0, "")
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text
    assert "<img" not in text
    assert "\u202e" not in text
    browsed = browse(page, tmp_path)
    assert (browsed.console, browsed.page_requests) == ([], [])
    dom = parse(browsed.dom)
    assert all(node.tag not in ("script", "img") for node in dom.all())
    shown = dom.by_id("coverage-table").full_text()
    assert hostile in shown
    assert "acme/<script>console.log('pwned')</script>\\u202e" in shown


def test_a_screenshot_of_the_page(tmp_path: Path) -> None:
    """Rendered to pixels too (what people look at): a real PNG of the page."""
    database = str(write_database(tmp_path / "audit.db"))
    page = tmp_path / "report.html"
    page_and_json(database, page)
    shot = tmp_path / "report.png"
    browsed = browse(page, tmp_path, screenshot=shot)
    assert (browsed.console, browsed.page_requests) == ([], [])
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # charts and tables, not a blank page
