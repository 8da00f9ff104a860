"""The package's layers point one way (shared/design.md): collection never imports checks or
reports, checks import only the snapshot contract, and nothing imports a layer above it.

An AST walk over every module; a planted upward import proves the walk can fail."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "m365apk"

# What each layer may import from the package besides itself. `m365apk` (the root, with
# __version__) and `m365apk.errors` (the exception types) are the floor every layer stands on.
FLOOR = {"m365apk", "errors"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "snapshot": set(),
    "mappings": set(),
    # the catalogues of every text a person reads (data and the Msg type), below the checks
    "messages": set(),
    "scanner": {"snapshot"},
    "checks": {"snapshot", "messages"},
    "reports": {"snapshot", "mappings", "messages", "checks", "scanner"},
    "runs": {"snapshot", "mappings", "messages", "checks", "scanner", "reports"},
    "demo": {"snapshot"},
    "cli": {"snapshot", "mappings", "messages", "checks", "scanner", "reports", "runs", "demo"},
    "__main__": {"cli"},  # `python -m m365apk`: the command line, nothing else
}


def layer_of(module: str) -> str:
    """'m365apk.checks.mfa' -> 'checks'; 'm365apk' -> 'm365apk'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import of the m365apk package in `source`."""
    found: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "m365apk":  # `from m365apk import checks` imports that layer
                found += [
                    (node.lineno, f"m365apk.{a.name}" if a.name in ALLOWED else "m365apk")
                    for a in node.names
                ]
            else:
                found.append((node.lineno, name))
    return [(line, name) for line, name in found if name.split(".")[0] == "m365apk"]


def violations(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        own = layer_of(module)
        if own == "m365apk":
            continue
        allowed = ALLOWED[own] | FLOOR | {own}
        for line, name in imported_modules(path.read_text(), module, path.name == "__init__.py"):
            if layer_of(name) not in allowed:
                out.append(f"{path.relative_to(root.parent)}:{line}: {own} imports {name}")
    return out


def test_every_module_belongs_to_a_known_layer() -> None:
    layers = {layer_of(_module_name(p, PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert layers - {"m365apk"} <= set(ALLOWED), layers - set(ALLOWED)


def test_no_layer_imports_upward() -> None:
    assert violations(PACKAGE) == []


@pytest.mark.parametrize(
    ("where", "line", "expected"),
    [
        ("scanner/collector.py", "from m365apk.checks.base import Check", "scanner imports"),
        ("checks/mfa.py", "from m365apk.reports.model import Report", "checks imports"),
        ("checks/mfa.py", "from m365apk.scanner.datasets import DATASETS", "checks imports"),
        ("snapshot/model.py", "import m365apk.runs.scan", "snapshot imports"),
        ("reports/html.py", "from m365apk import runs", "reports imports"),
        ("scanner/graph.py", "from ..reports import html", "scanner imports"),
    ],
)
def test_an_upward_import_is_caught(tmp_path: Path, where: str, line: str, expected: str) -> None:
    copy = tmp_path / "m365apk"
    for path in PACKAGE.rglob("*.py"):
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    planted = copy / where
    planted.write_text(planted.read_text() + f"\n{line}\n")
    found = violations(copy)
    assert len(found) == 1 and expected in found[0], found
