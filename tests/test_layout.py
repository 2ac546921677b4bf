"""The package's folders are its stages: each imports only the stages before it, and no cycles.

Numbers flow input → request → api → budget → engine → runs; the command line and the library
facade sit on top, a few shared leaves (errors, settings, ...) below. The sandbox is a server of
its own and shares nothing with the client side (see tests/sandbox/test_config_and_files.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import bulkupdate

PACKAGE = Path(bulkupdate.__file__).parent

# Lowest first: a module may import its own stage and any stage listed before it.
STAGES: tuple[tuple[str, ...], ...] = (
    ("errors", "version", "credentials", "escaping"),
    ("input",),
    ("settings",),
    ("request",),
    ("api",),
    ("budget",),
    ("engine",),
    ("runs",),
    ("commands",),
    ("cli", "updater", "last_resort", "__main__", "__init__"),
)
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """Every bulkupdate module ``name`` imports, at any depth of its code."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


def stage_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_stage() -> None:
    unknown = {stage_of(name) for name in MODULES} - set(RANK) - {"sandbox"}
    assert not unknown, f"give these a place in STAGES: {sorted(unknown)}"


def test_top_of_the_package_stays_small() -> None:
    top = [name for name in MODULES if name.count(".") == 1 and MODULES[name].name != "__init__.py"]
    assert len(top) + 1 <= 12, sorted(top)


def test_no_stage_imports_a_later_one() -> None:
    upward = []
    for name in MODULES:
        stage = stage_of(name)
        for target in imports_of(name):
            target_stage = stage_of(target)
            if stage == "sandbox" or target_stage == "sandbox":
                if stage == "sandbox" and target_stage != "sandbox":
                    upward.append(f"{name} → {target}")
                continue
            if RANK[target_stage] > RANK[stage]:
                upward.append(f"{name} → {target}")
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_cycles() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " → ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_checker_sees_a_relative_and_a_lazy_import(tmp_path: Path) -> None:
    """The checks above are only as good as ``imports_of``: it must find imports anywhere."""
    assert "bulkupdate.runs.journal" in imports_of("bulkupdate.runs.start_or_resume")
    assert "bulkupdate.cli" in imports_of("bulkupdate.__main__")
