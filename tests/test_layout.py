"""The package's shape: modules talk through public names, and no module grows past one job's size."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "brainmass_widgets"
MAX_LINES = 800


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined(tree: ast.AST) -> set[str]:
    """Names a module defines: functions, classes, assigned names and attributes, arguments."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def underscore_reaches(source: str, package_names: set[str]) -> list[str]:
    """Where ``source`` uses another module's underscore names: ``from .m import _x`` (a private
    module imported whole is fine), or ``obj._x`` on anything but ``self``/``cls`` where ``_x`` is
    defined elsewhere in the package and not in this module."""
    tree = ast.parse(source)
    own = _defined(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and node.module:
            found += [f"line {node.lineno}: from .{node.module} import {a.name}"
                      for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                continue
            if node.attr in package_names and node.attr not in own:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
PACKAGE_NAMES = set().union(*(_defined(ast.parse(p.read_text())) for p in SOURCES))


def test_the_check_finds_a_private_import_and_a_private_attribute_of_another_module():
    names = {"_engine_helper", "_params", "_held"}
    bad = ("from ._engine import CachedSimulator, _engine_helper\n"
           "def f(sim):\n    return sim._params(None)\n")
    assert underscore_reaches(bad, names) == ["line 1: from ._engine import _engine_helper",
                                               "line 3: sim._params"]
    good = ("from . import _engine\nclass A:\n    def __init__(self):\n        self._held = 1\n"
            "    def same(self, other):\n        return self._held == other._held\n")
    assert underscore_reaches(good, names) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_use_only_public_names_of_other_modules(path):
    found = underscore_reaches(path.read_text(), PACKAGE_NAMES)
    assert not found, f"{path.relative_to(PACKAGE)} reaches another module's underscore names: {found}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_800_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by job"
