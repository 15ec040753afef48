"""The README's library example runs, as written, against the lab's token registry."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.lab import Lab

README = Path(__file__).resolve().parent.parent / "README.md"


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
