"""The layers of DESIGN.md §2 point one way: a test reads every module's imports and holds them to it.

pure  → stdlib and other pure modules only (no httpx, no anyio, no I/O machinery)
I/O   → may use httpx and anyio, never the logic layer or the CLI
logic → may use anyio and the Provider protocol, never httpx nor the registry client
cli   → only the public API (``regimage`` and its public modules), never ``_private`` machinery
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "regimage"

PURE = {
    "errors",
    "digest",
    "reference",
    "mediatypes",
    "platforms",
    "descriptor",
    "manifest",
    "schema1",
    "_document",
    "image_config",
    "challenge",
    "_json",
    "provider",
    "_version",
    "ratelimit",
    "_record",
}
IO = {
    "_http",
    "transport",
    "_pool",
    "_connection",
    "preconnect",
    "_ssl_socket_stream",
    "_tls",
    "credentials",
    "auth",
    "registry",
    "_session",
    "_concurrency",
    "oci_layout",
    "cache",
}
LOGIC = {"walk", "image"}
SURFACE = {"cli", "__main__", "__init__"}

#: Third-party packages each layer may import.
ALLOWED_THIRD_PARTY = {
    "pure": set(),
    "io": {"httpx", "anyio", "h11", "certifi", "sniffio"},
    "logic": {"anyio"},
    "surface": {"anyio"},
}


def _layer(module: str) -> str:
    if module in PURE:
        return "pure"
    if module in IO:
        return "io"
    if module in LOGIC:
        return "logic"
    if module in SURFACE or module.startswith("_cli") or module.startswith("cli"):
        return "surface"
    raise AssertionError(
        f"regimage/{module}.py belongs to no layer: add it to tests/test_layering.py"
    )


def _imports(path: Path) -> set[str]:
    """Top-level module names imported by a file, ``regimage.x`` reported as ``regimage.x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(_normalise(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add(f"regimage.{node.module or ''}".rstrip("."))
            elif node.module == "regimage":
                # ``from regimage import _cli_parser`` imports a module; ``import Image`` a name.
                for alias in node.names:
                    is_module = (PACKAGE / f"{alias.name}.py").exists()
                    names.add(f"regimage.{alias.name}" if is_module else "regimage")
            elif node.module:
                names.add(_normalise(node.module))
    return names


def _normalise(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "regimage" else parts[0]


def _modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


ORDER = {"pure": 0, "io": 1, "logic": 2, "surface": 3}


@pytest.mark.parametrize("module", _modules())
def test_module_imports_respect_layers(module: str) -> None:
    layer = _layer(module)
    stdlib = set(__import__("sys").stdlib_module_names) | {"__future__"}
    for name in _imports(PACKAGE / f"{module}.py"):
        if name == "regimage":
            assert layer == "surface", (
                f"{module} imports the package root; import the module instead"
            )
            continue
        if name.startswith("regimage."):
            other = name.split(".", 1)[1]
            other_layer = _layer(other)
            if layer == "logic":
                assert other_layer != "io" or other == "_concurrency", (
                    f"logic module {module} imports I/O module {other}: use the Provider protocol"
                )
            elif layer != "surface":
                assert ORDER[other_layer] <= ORDER[layer], (
                    f"{layer} module {module} imports {other_layer} module {other}"
                )
            if module == "cli":
                assert (
                    not other.startswith("_") or other == "_version" or other.startswith("_cli")
                ), f"the CLI imports private machinery regimage.{other}"
            continue
        if name in stdlib:
            continue
        assert name in ALLOWED_THIRD_PARTY[layer], f"{layer} module {module} imports {name}"


def test_pure_modules_do_no_io() -> None:
    forbidden = {"socket", "subprocess", "urllib", "http", "asyncio"}
    for module in sorted(PURE):
        path = PACKAGE / f"{module}.py"
        if not path.exists():
            continue
        found = _imports(path) & forbidden
        assert not found, f"pure module {module} imports {sorted(found)}"


def test_nothing_imports_asyncio() -> None:
    for module in _modules():
        assert "asyncio" not in _imports(PACKAGE / f"{module}.py"), f"{module} imports asyncio"
