"""Every third-party package archkit's own code imports is declared in pyproject.toml's
dependencies, not left to arrive as another package's dependency."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_direct_import_is_declared():
    declared = {canonicalize_name(Requirement(r).name)
                for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    imported = set()
    for path in (ROOT / "archkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"archkit", "__future__"}
    dists = packages_distributions()
    undeclared = {name: dists.get(name) for name in third_party
                  if not {canonicalize_name(d) for d in dists.get(name, [name])} & declared}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
