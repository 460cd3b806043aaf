"""The shape of the repository: only packages at the top, each listed in docs/design.md, no import cycle, no module
over 400 lines, no reference to a file outside it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

PACKAGE = REPO / "src" / "repdyn"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `name` imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        out |= {t for t in targets if t in known and t != name}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    mods = modules()
    graph = {name: imported(name, path, set(mods)) for name, path in mods.items()}
    assert graph["repdyn.models.registry"] >= {
        "repdyn.models.preact_resnet",
        "repdyn.models.architectures",
    }  # walks function-level imports
    assert (
        "repdyn.data.sources" in graph["repdyn.data.fashion_mnist"]
        or "repdyn.data.source_data" in graph["repdyn.data.fashion_mnist"]
    )  # relative imports resolved
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_400_lines():
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


# Names of background notes kept outside the repository; a reference to one is a dead end for a user.
OUTSIDE_NOTES = ["ALGORITHMS", "DESIGN", "WORKFLOW", "TWOPOINT"]
OUTSIDE_DIRS = ["../" + "shared"]


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    out = []
    for name in names:
        path = REPO / name
        if path.is_file() and path.suffix not in (".png", ".pdf", ".gz", ".h5"):
            out.append(path)
    return out


def dead_references(files: list[Path]) -> list[str]:
    """References to the outside notes or folders, and `docs/<x>.md` mentions of files that do not exist."""
    notes = re.compile(r"\b(" + "|".join(OUTSIDE_NOTES) + r")\.md\b")
    docs = re.compile(r"\bdocs/([A-Za-z0-9_-]+\.md)\b")
    out = []
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        for m in notes.finditer(text):
            if not list(REPO.rglob(m.group(0))):
                out.append(f"{where}: {m.group(0)}")
        out += [f"{where}: {d}" for d in OUTSIDE_DIRS if d in text]
        out += [
            f"{where}: docs/{m.group(1)}" for m in docs.finditer(text) if not (REPO / "docs" / m.group(1)).is_file()
        ]
    return out


def test_no_reference_points_outside_the_repository():
    files = tracked_text_files()
    assert any(p.name == "README.md" for p in files)
    assert dead_references(files) == []


def test_the_reference_check_catches_a_dead_reference(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("see " + OUTSIDE_NOTES[0] + ".md §3 and docs/" + "nowhere.md and " + OUTSIDE_DIRS[0] + "/spec\n")
    good = tmp_path / "y.py"
    good.write_text("see docs/algorithms.md\n")
    assert len(dead_references([bad])) == 3
    assert dead_references([good]) == []


@pytest.mark.parametrize("doc", ["algorithms.md", "design.md", "cost-model.md", "snakemake.md", "cluster.md"])
def test_the_docs_exist(doc):
    assert len((REPO / "docs" / doc).read_text().splitlines()) > 20


# --- the package layout and its documentation ----------------------------------------------------


def packages() -> set[str]:
    """Every package under src/repdyn, as its path relative to it ("cka", "drs/probes")."""
    return {str(p.parent.relative_to(PACKAGE)) for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}


def documented_packages(design: str) -> set[str]:
    """The packages named at the start of a line of the "Package layout" block of docs/design.md."""
    block = design.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^ {6}([a-z_]+(?:/[a-z_]+)*)/ ", block, re.M))


def test_the_top_level_holds_only_packages():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    stray = sorted(
        p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__" and not (p / "__init__.py").exists()
    )
    assert loose == [] and stray == [], f"src/repdyn/ should hold only packages: modules {loose}, folders {stray}"


def test_design_lists_every_package_and_no_other():
    documented = documented_packages((REPO / "docs" / "design.md").read_text())
    actual = packages()
    assert not actual - documented, f"docs/design.md (Package layout) misses {sorted(actual - documented)}"
    assert not documented - actual, (
        f"docs/design.md (Package layout) lists missing packages {sorted(documented - actual)}"
    )


def test_the_design_check_sees_a_missing_package():
    design = (REPO / "docs" / "design.md").read_text()
    without = re.sub(r"^ {6}cka/ .*$", "", design, flags=re.M)
    assert "cka" in documented_packages(design)
    assert "cka" not in documented_packages(without)


# --- lint and format (configured in pyproject.toml) -----------------------------------------------

LINTERS = {
    "ruff check": ["ruff", "check", "--no-cache", "."],
    "ruff format": ["ruff", "format", "--no-cache", "--check", "."],
    "snakefmt": ["snakefmt", "--check", "."],
}


@pytest.mark.parametrize("name", sorted(LINTERS))
def test_the_tree_is_linted_and_formatted(name):
    result = subprocess.run([sys.executable, "-m", *LINTERS[name]], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{name} is not clean (fix: {' '.join(LINTERS[name][:1])} without --check):\n{result.stdout}{result.stderr}"
    )
