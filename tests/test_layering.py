"""The layers point one way: a test reads every module's imports and holds them to the architecture.

    model      pure values and documents           stdlib only, no I/O
    content    Provider protocols and stores       + anyio
    http       the transport under httpx           + httpx, anyio, h11, certifi
    registry   the Distribution client             + httpx, anyio
    image      walker, handlers, Image             + anyio; never http nor registry
    cli        the command line                    anything below

Top-level modules: ``errors`` and ``_version`` are pure (usable by all), ``_concurrency`` (anyio)
by content and up. A package may import its own modules and those of the packages below it;
no module anywhere is part of an import circle, and none is over :data:`MAX_LINES` lines.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "regimage"
MAX_LINES = 400

#: Each sub-package (or top-level module) and what it may import from regimage.
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "model": {"errors"},
    "_concurrency": {"errors"},
    "content": {"errors", "model", "_concurrency"},
    "http": {"errors", "_version", "model", "content", "_concurrency"},
    "registry": {"errors", "_version", "model", "content", "http", "_concurrency"},
    "image": {"errors", "model", "content", "_concurrency"},
    "cli": {"errors", "_version", "model", "content", "http", "registry", "image"},
    "__init__": {"_version", "errors", "model", "content", "http", "registry", "image"},
    "__main__": {"cli"},
}

#: Third-party packages each part may import.
THIRD_PARTY: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "model": set(),
    "_concurrency": {"anyio", "exceptiongroup"},
    "content": {"anyio"},
    "http": {"httpx", "anyio", "h11", "certifi", "sniffio"},
    "registry": {"httpx", "anyio", "tomli"},  # tomli: tomllib's backport, Python 3.10 only
    "image": {"anyio"},
    "cli": {"anyio", "httpx"},
    "__init__": set(),
    "__main__": set(),
}

STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    """``regimage/model/digest.py`` → ``regimage.model.digest``; a package's ``__init__`` → the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """The sub-package or top-level module that ``module`` belongs to."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of the imports under ``if TYPE_CHECKING:`` (no runtime edge)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    lines.add(getattr(inner, "lineno", -1))
    return lines


def _imports(path: Path, *, runtime_only: bool = False) -> Iterator[str]:
    """The modules a file imports (``from regimage.x import y`` yields ``regimage.x.y`` when y is
    a module, else ``regimage.x``); ``runtime_only`` leaves out ``if TYPE_CHECKING`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            yield node.module
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if _exists(candidate):
                    yield candidate


def _exists(module: str) -> bool:
    if not module.startswith("regimage."):
        return False
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative).is_dir()


def _ancestor(package: str, module: str) -> bool:
    """Importing a module always imports its packages first: that is no edge of ours."""
    return module.startswith(package + ".")


MODULES = _modules()


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_imports_point_down(path: Path) -> None:
    module = _name(path)
    part = _part(module)
    assert part in MAY_IMPORT, f"{module} belongs to no layer: add it to tests/test_layering.py"
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "regimage":
            if name == "regimage":
                assert part in {"cli", "__main__"}, f"{module} imports the package root"
                continue
            other = _part(name)
            assert other == part or other in MAY_IMPORT[part], f"{module} imports {name}"
        elif top not in STDLIB:
            assert top in THIRD_PARTY[part], f"{module} imports {top}"


def test_model_does_no_io() -> None:
    forbidden = {"socket", "subprocess", "urllib", "http", "asyncio", "ssl"}
    for path in (PACKAGE / "model").rglob("*.py"):
        found = {name.split(".")[0] for name in _imports(path)} & forbidden
        assert not found, f"{_name(path)} imports {sorted(found)}"


def test_nothing_imports_asyncio() -> None:
    for path in MODULES:
        assert "asyncio" not in set(_imports(path)), f"{_name(path)} imports asyncio"


def test_no_import_circle() -> None:
    graph = {
        _name(path): {
            name
            for name in _imports(path, runtime_only=True)
            if name.startswith("regimage.") and _exists(name) and not _ancestor(name, _name(path))
        }
        for path in MODULES
    }
    state: dict[str, int] = {}  # 1 = on the path, 2 = done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in sorted(graph.get(module, ())):
            if other == module or other not in graph:
                continue
            if state.get(other) == 1:
                circle = [*path[path.index(other) :], other] if other in path else [module, other]
                raise AssertionError("import circle: " + " → ".join(circle))
            if other not in state:
                visit(other, [*path, other])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_is_small(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{_name(path)} has {lines} lines: split it along its seams"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_start_up_tricks(path: Path) -> None:
    """Clarity before microseconds: none of the tricks that cost readability or standard behaviour."""
    source = path.read_text(encoding="utf-8")
    assert "os._exit" not in source, f"{_name(path)}: os._exit skips atexit and logging shutdown"
    assert "TYPE_CHECKING = False" not in source, f"{_name(path)}: use typing.TYPE_CHECKING"
    tree = ast.parse(source)
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not calls & {"exec", "eval", "compile"}, f"{_name(path)} compiles code at run time"
