"""The layering of docs/architecture.md, checked on the source tree: no module imports a higher layer.

The rule is read from the imports themselves (every ``import`` and ``from ... import``, module level or inside a
function), not from a list of files: a new module is checked by the layer of the folder it sits in.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The import name of each source folder: strategies/ and clients/ install as fedunlearn.strategies and
# fedunlearn.clients (pyproject.toml's package-dir).
FOLDERS = {"fedunlearn": "fedunlearn", "strategies": "fedunlearn.strategies", "clients": "fedunlearn.clients"}

# Lowest first: a module may import its own layer and the layers before it, never one after it.
LAYERS = (
    ("foundation", ("fedunlearn.errors", "fedunlearn.config")),
    ("runtime", ("fedunlearn.runtime",)),
    ("learning", ("fedunlearn.learning",)),
    ("data", ("fedunlearn.data",)),
    ("algorithms", ("fedunlearn.algorithms",)),
    ("evaluation", ("fedunlearn.evaluation",)),
    ("reporting", ("fedunlearn.reporting",)),
    ("flower apps", ("fedunlearn.strategies", "fedunlearn.clients")),
    ("public face", ("fedunlearn",)),  # fedunlearn/__init__, __main__, api, cli
)
# The two Flower apps are peers that never import each other: only the public face wires them together.
PEERS = ("fedunlearn.strategies", "fedunlearn.clients")


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest prefix that names ``module``'s layer."""
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{module} is in no layer of docs/architecture.md"
    return rank


def peer_of(module: str) -> str | None:
    return next((p for p in PEERS if module == p or module.startswith(p + ".")), None)


def project_modules() -> dict[str, Path]:
    modules = {}
    for folder, name in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((name, *parts))] = path
    return modules


def imports_of(module: str, path: Path) -> set[str]:
    """The project modules ``module`` imports (relative imports resolved; ``from pkg import mod`` names mod)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    known = project_modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # ``from fedunlearn import config`` imports the module fedunlearn.config; ``from fedunlearn import run``
            # imports a name of the package fedunlearn itself
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return {name for name in found if name in known and name != module}


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up a layer or across the two Flower apps, as 'importer -> imported (why)'."""
    problems = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            if target == "fedunlearn" and importer.startswith("fedunlearn.") and layer_of(importer) < len(LAYERS) - 1:
                problems.append(f"{importer} -> fedunlearn (the package's __init__ is the public face)")
            elif layer_of(target) > layer_of(importer):
                problems.append(f"{importer} -> {target} ({LAYERS[layer_of(importer)][0]} imports "
                                f"{LAYERS[layer_of(target)][0]})")
            elif peer_of(importer) and peer_of(target) and peer_of(importer) != peer_of(target):
                problems.append(f"{importer} -> {target} (the Flower apps never import each other)")
    return problems


def test_the_source_tree_follows_the_layering():
    graph = {module: imports_of(module, path) for module, path in project_modules().items()}
    assert violations(graph) == []


def test_the_check_finds_an_import_up_a_layer_or_across_the_apps():
    graph = {
        "fedunlearn.data.federation": {"fedunlearn.learning.training", "fedunlearn.evaluation.stats"},
        "fedunlearn.clients.job": {"fedunlearn.strategies.session"},
        "fedunlearn.runtime.checkpoint": {"fedunlearn"},
        "fedunlearn.api": {"fedunlearn.strategies.server_app", "fedunlearn.clients.client_app"},
    }
    assert violations(graph) == [
        "fedunlearn.clients.job -> fedunlearn.strategies.session (the Flower apps never import each other)",
        "fedunlearn.data.federation -> fedunlearn.evaluation.stats (data imports evaluation)",
        "fedunlearn.runtime.checkpoint -> fedunlearn (the package's __init__ is the public face)",
    ]


def test_relative_and_lazy_imports_are_seen(tmp_path):
    source = tmp_path / "federation.py"
    source.write_text("from ..evaluation import stats\n\ndef f():\n    from fedunlearn.reporting.report import combine\n")
    assert imports_of("fedunlearn.data.federation", source) == {"fedunlearn.evaluation.stats",
                                                                 "fedunlearn.reporting.report"}


def test_every_package_folder_is_installed():
    """pyproject.toml lists the packages (the package-dir mapping needs the list): a new folder must be in it."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {module for module, path in project_modules().items() if path.name == "__init__.py"}
    assert listed == folders


@pytest.mark.parametrize("package", sorted({m for m, p in project_modules().items()
                                            if p.name == "__init__.py" and m != "fedunlearn"}))
def test_every_subpackage_says_what_lives_there_and_what_it_may_import(package):
    doc = ast.get_docstring(ast.parse(project_modules()[package].read_text(encoding="utf-8"))) or ""
    assert "import" in doc, f"{package}'s docstring does not say what it may import"
