"""No function of the application over 100 lines (issue 20): each does one thing, and a long one is split
into named steps. The demo's data tables are module constants (``fundapp/demo_data.py``), not functions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("fundapp", "ledger", "governance", "proposals", "concessional", "reports")
LIMIT = 100

# Functions allowed over the limit: none.
ALLOWED: set[tuple[str, str]] = set()


def _long_functions() -> list[tuple[str, str, int, int]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > LIMIT and (relative, node.name) not in ALLOWED:
                        found.append((relative, node.name, node.lineno, lines))
    return found


def test_no_function_is_over_100_lines() -> None:
    long = _long_functions()
    assert not long, "functions over 100 lines:\n" + "\n".join(
        f"  {path}:{line} {name} ({lines} lines)" for path, name, line, lines in long
    )
