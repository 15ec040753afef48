"""The README's library example runs, as written, against the lab's token registry; its set-up
names the command CI runs; and every relative link of the user docs (README, docs/, CHANGELOG)
leads to a file and a heading that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.lab import Lab

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_opens_with_a_runnable_library_example() -> None:
    assert "anyio.run(main, sys.argv[1])" in _python_blocks()[0]


@pytest.mark.integration
def test_library_example_runs_against_the_lab(lab: Lab, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_python_blocks()[0], encoding="utf-8")
    image = lab.corpus["attested"]
    assert image.default_platform is not None
    expected = image.platforms[image.default_platform]
    result = subprocess.run(
        [sys.executable, str(script), lab.token.ref(image.reference)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{lab.token.ref(image.reference)} {image.digest}"
    assert lines[1].startswith(f"{image.default_platform}: {expected.size} bytes")
    for diff_id in expected.diff_ids:
        assert f"  {diff_id}" in lines
    assert f"distinct: {image.distinct_size} bytes" in result.stdout


def test_readme_set_up_names_the_command_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    set_up = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "scripts/test" in ci, "CI runs exactly the README's test command"
    assert re.search(r"^scripts/test\b", set_up, re.MULTILINE)
    assert re.search(r"^scripts/demo\b", set_up, re.MULTILINE)
    assert "`bash .ci/run`, which runs exactly `scripts/test`" in " ".join(set_up.split())


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_anchor(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(path: Path) -> None:
    assert path.exists()
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue  # an absolute URL
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{path.name}: {link} leads nowhere"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file), f"{path.name}: no heading for #{anchor} in {file.name}"


def test_architecture_map_has_a_row_per_module() -> None:
    """docs/architecture.md's module map names every module of the package, and no other."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([\w/]+\.py)` \|", text, flags=re.M))
    modules = {
        str(p.relative_to(p.parent.parent if p.parent.name in ("audit", "report") else p.parent))
        for p in (ROOT / "regimage").rglob("*.py")
        if p.name != "__init__.py" or p.parent.name == "regimage"
    }
    assert modules - rows == set(), "modules without a row in docs/architecture.md"
    assert rows - modules == set(), "rows for modules that do not exist"
