"""The package's structure: folders that show the architecture, no import cycles, no module using
another module's private names, and tutorials that never import the repository tooling."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "im2im_helpers"
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ROOT = "im2im_helpers"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement names."""
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(name: str, source: str | None = None) -> list[tuple[str, str | None, int]]:
    """``(module, imported name or None, line)`` for every import of a package module in
    ``name`` (its file, or ``source``), at any depth (imports inside functions count: a cycle
    there is still a cycle)."""
    found = []
    tree = ast.parse(MODULES[name].read_text() if source is None else source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.startswith(ROOT)]
        elif isinstance(node, ast.ImportFrom):
            module = resolve(name, node)
            if module.startswith(ROOT):
                found += [(module, a.name, node.lineno) for a in node.names]
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for name in MODULES:
        for module, imported, _ in imports_of(name):
            target = f"{module}.{imported}" if f"{module}.{imported}" in MODULES else module
            if target in MODULES and target != name:
                edges[name].add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a list of modules, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_itself_back_through_others():
    assert find_cycle(graph()) is None, f"import cycle: {' -> '.join(find_cycle(graph()))}"


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def private_uses(name: str, source: str | None = None) -> list[str]:
    """Private names of *other* package modules that module ``name`` (its file, or ``source``)
    imports or reads."""
    source = MODULES[name].read_text() if source is None else source
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    bad = []
    for module, imported, line in imports_of(name, source):
        if imported is None:
            continue
        if f"{module}.{imported}" in MODULES:
            aliases[imported] = f"{module}.{imported}"
        elif imported.startswith("_") and module != name:
            bad.append(f"{name}:{line} imports {module}.{imported}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(ROOT):
                    aliases[a.asname or a.name] = a.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                and aliases.get(node.value.id, name) != name):
            bad.append(f"{name}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}")
    return bad


def test_no_module_reaches_into_another_modules_private_names():
    bad = [b for name in MODULES for b in private_uses(name)]
    assert not bad, "\n".join(bad)


def test_the_private_name_check_catches_both_forms():
    source = ("from im2im_helpers.metrics import _pair\n"
              "from im2im_helpers import io\n"
              "def f():\n    return io._storable\n")
    assert private_uses("im2im_helpers.viz.figures", source) == [
        "im2im_helpers.viz.figures:1 imports im2im_helpers.metrics._pair",
        "im2im_helpers.viz.figures:4 reads im2im_helpers.io._storable"]


def test_at_most_twelve_top_level_modules_and_named_subpackages():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert {"data", "viz", "baselines", "tasks", "metrics", "dev"} <= subpackages
    assert (PACKAGE / "data" / "registry" / "__init__.py").is_file()


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_tutorials_import_the_public_names_but_never_the_repository_tooling(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    tree = ast.parse("\n".join(line for line in code.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(ROOT):
            imported |= {f"{node.module}.{a.name}" for a in node.names}
    assert imported, "a tutorial imports the helper package"
    assert not [m for m in imported if ".dev" in m], imported
    missing = [m for m in imported if m not in MODULES and m.rpartition(".")[0] not in MODULES]
    assert not missing, f"{notebook.name} imports names that do not exist: {missing}"


def test_the_readme_module_table_matches_the_folders():
    readme = (PACKAGE.parent / "README.md").read_text()
    table = readme.split("The folders are the architecture:", 1)[1].split("\n\n", 2)[1]
    named = set()
    for row in table.splitlines()[2:]:
        first_cell = row.split("|")[1]
        named |= {n.strip("`/ ") for n in first_cell.split(",")}
    on_disk = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    on_disk |= {str(p.parent.relative_to(PACKAGE)) for p in PACKAGE.glob("*/**/__init__.py")}
    assert named == on_disk
