"""The codebase reads as one system: the engine never imports Streamlit, has no import cycle and no
process-global seeding; pages stay small; every experiment's settings are one declaration."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
PAGES = sorted((ROOT / "pages").glob("*.py"))
MAX_PAGE_LINES = 300


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Modules `path` imports, at module level or inside functions (a lazy import still ties the two
    modules together); imports under `if TYPE_CHECKING:` are left out."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    guarded = [node for node in ast.walk(tree)
               if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)]
    skipped = {id(n) for node in guarded for n in ast.walk(node)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def engine_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ENGINE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        graph[name] = {m for m in imports_of(path) if m in files and m != name}
    return graph


def test_engine_never_imports_streamlit():
    for path in ENGINE.rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+streamlit", path.read_text(), re.M), path


def test_engine_has_no_import_cycle():
    graph = engine_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            # importing a submodule imports its package first; a package importing its own
            # submodule (registries loading their methods) is not a cycle of two files
            if state.get(m) == 1 and not m.startswith(n + ".") and not n.startswith(m + "."):
                cycle = stack[stack.index(m):] + [m]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


GLOBAL_SEEDING = re.compile(r"torch\.manual_seed\(|np\.random\.seed\(|(?<![\w.])random\.seed\(|seed_everything|"
                            r"torch\.cuda\.manual_seed")


def test_no_process_global_seeding_in_the_engine():
    offenders = [str(p.relative_to(ROOT)) for p in ENGINE.rglob("*.py") if GLOBAL_SEEDING.search(p.read_text())]
    assert not offenders, offenders


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_are_small(page):
    assert len(page.read_text().splitlines()) <= MAX_PAGE_LINES


def test_no_copied_validation_loops():
    for path in ENGINE.rglob("*.py"):
        assert "checks = [" not in path.read_text(), f"{path}: declare the setting's range instead"
