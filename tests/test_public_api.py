"""The public API is ``regimage.__all__``: sorted, complete, importable, and cheap to import."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import regimage
from regimage import errors

#: Modules whose every ``__all__`` name must be reachable from the package root.
FULLY_EXPORTED = ["errors", "image.image", "image.answers", "content.provider"]


def test_all_names_resolve_to_their_defining_module() -> None:
    for name in regimage.__all__:
        value = getattr(regimage, name)
        if name == "__version__":
            assert isinstance(value, str)
            continue
        module = importlib.import_module(f"regimage.{regimage._EXPORTS[name]}")
        assert getattr(module, name) is value


def test_all_lists_exactly_the_exports() -> None:
    assert set(regimage.__all__) == {*regimage._EXPORTS, "__version__"}
    assert len(regimage.__all__) == len(set(regimage.__all__))


@pytest.mark.parametrize("module_name", FULLY_EXPORTED)
def test_modules_are_fully_exported(module_name: str) -> None:
    module = importlib.import_module(f"regimage.{module_name}")
    missing = set(module.__all__) - set(regimage.__all__)
    assert not missing, f"regimage.{module_name} names missing from regimage.__all__: {missing}"


def test_every_error_class_derives_from_the_base() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, errors.RegImageError), name


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = getattr(regimage, "no_such_name")  # noqa: B009  (the attribute is unknown on purpose)


def test_import_is_lazy() -> None:
    """``import regimage`` (and so ``regimage --version``) must not pull in httpx or anyio."""
    code = "import sys, regimage; print(sorted(m for m in ('httpx', 'anyio') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_type_checkers_see_exactly_the_exports() -> None:
    """The ``if TYPE_CHECKING:`` re-exports (for type checkers) name each export at its home."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(regimage.__file__).read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom), ast.unparse(imp)
                for alias in imp.names:
                    assert alias.asname == alias.name, f"{alias.name}: re-export as itself"
                    seen[alias.name] = (imp.module or "").removeprefix("regimage.")
    assert seen == regimage._EXPORTS


def test_type_checkers_follow_the_installed_package(tmp_path: Path) -> None:
    """User code checked with this environment's mypy sees regimage's types (the editable install
    is a path entry, not an import hook that type checkers cannot follow)."""
    user = tmp_path / "user.py"
    user.write_text(
        "from regimage import Reference\nreveal_type(Reference.parse('alpine').domain)\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "cache"),
            "user.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert re.search(r'Revealed type is "(builtins\.)?str"', result.stdout), (
        result.stdout + result.stderr
    )
    assert "Cannot find implementation" not in result.stdout
