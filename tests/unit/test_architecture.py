"""The dependency rule of docs/architecture.md, checked on the source itself.

fundapp.core <- ledger <- governance <- proposals <- reports <- shell (fundapp.app, cli, demo, models)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["fundapp.core", "ledger", "governance", "proposals", "concessional", "reports"]
SHELL = {"fundapp", "fundapp.app", "fundapp.cli", "fundapp.demo", "fundapp.models"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str | None:
    if module == "fundapp.core" or module.startswith("fundapp.core."):
        return "fundapp.core"
    if module in SHELL or any(module.startswith(s + ".") for s in SHELL):
        return "shell"
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


SOURCES = sorted(
    p
    for package in ("fundapp", "ledger", "governance", "proposals", "concessional", "reports")
    for p in (ROOT / package).rglob("*.py")
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_point_down_the_layers(path: Path) -> None:
    module = _module_name(path)
    own = _layer(module)
    assert own is not None, f"{module} belongs to no layer"
    for imported in _imports(path):
        target = _layer(imported)
        if target is None or target == own:
            continue
        assert target != "shell", f"{module} imports the shell ({imported}); nothing may"
        if own == "shell":
            continue
        assert LAYERS.index(target) < LAYERS.index(own), f"{module} ({own}) may not import {imported} ({target})"


def test_fundapp_package_imports_nothing() -> None:
    assert _imports(ROOT / "fundapp" / "__init__.py") == set()


DOMAINS = ["ledger", "governance", "proposals", "concessional", "reports"]


def _public_face(domain: str) -> set[str]:
    """The names a domain's ``__init__.py`` lists in ``__all__``."""
    for node in ast.parse((ROOT / domain / "__init__.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_another_domain_is_used_through_its_public_face_only(path: Path) -> None:
    """``from governance import Member``, never ``from governance.models import Member``: what a domain
    offers the others is its ``__init__.py``'s ``__all__`` (the shell, which wires the domains, may reach in)."""
    module = _module_name(path)
    own = _layer(module)
    if own == "shell":
        return
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _layer(alias.name)
                assert not (target in DOMAINS and target != own), f"{module}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            target = _layer(node.module)
            if target not in DOMAINS or target == own:
                continue
            assert node.module == target, f"{module} reaches into {node.module}; import from {target}"
            missing = {alias.name for alias in node.names} - _public_face(target)
            assert not missing, f"{module} imports {sorted(missing)}, which {target}/__init__.py does not offer"
