"""The tree shows the architecture (DESIGN.md): packages by concern, imports only point down.

Walks the AST of every module, so the rules hold for imports inside functions too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "data", "runs", "training", "tasks", "export", "tune")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every zoo/cli module this file imports (``from zoo.x import y`` counts as zoo.x.y when
    y is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in found if n.split(".")[0] in ("zoo", "cli")}


MODULES = {_module_name(p): p for d in ("zoo", "cli") for p in (ROOT / d).rglob("*.py")}
GRAPH = {
    name: {i for i in _imports(path) if i in MODULES and i != name}
    for name, path in MODULES.items()
}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "zoo" and len(parts) > 2 else module


def test_top_level_holds_few_modules():
    top = sorted(p.name for p in (ROOT / "zoo").glob("*.py"))
    assert len(top) <= 8, top
    packages = sorted(p.name for p in (ROOT / "zoo").iterdir() if (p / "__init__.py").is_file())
    assert set(PACKAGES) <= set(packages), packages


def test_models_import_no_data_runs_training_tasks_or_export():
    bad = {
        (m, i)
        for m, deps in GRAPH.items()
        if m.startswith("zoo.models")
        for i in deps
        if _package(i) in ("data", "runs", "training", "tasks", "export")
    }
    assert not bad, sorted(bad)


def test_the_tuner_sits_above_the_engine():
    """Nothing below imports zoo.tune: the engine knows studies only through its hook."""
    bad = {
        (m, i)
        for m, deps in GRAPH.items()
        if m.startswith("zoo") and not m.startswith(("zoo.tune", "zoo.api"))
        for i in deps
        if i.startswith("zoo.tune")
    }
    assert not bad, sorted(bad)


def test_nothing_in_zoo_imports_cli():
    bad = {
        (m, i)
        for m, deps in GRAPH.items()
        if m.startswith("zoo")
        for i in deps
        if i.startswith("cli")
    }
    assert not bad, sorted(bad)


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles_except_the_registry_and_its_families():
    bad = [sorted(c) for c in _cycles(GRAPH) if not all(m.startswith("zoo.models") for m in c)]
    assert not bad, bad


def test_the_graph_sees_module_and_function_level_imports():
    assert "zoo.runs.rundir" in GRAPH["zoo.engine"]  # module level
    assert "zoo.training.recipes" in GRAPH["zoo.api"]  # inside a function


def test_the_cycle_check_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_says_what_it_holds(package):
    doc = ast.get_docstring(ast.parse((ROOT / "zoo" / package / "__init__.py").read_text()))
    modules = [p.stem for p in (ROOT / "zoo" / package).glob("*.py") if p.stem != "__init__"]
    assert doc and all(
        m in doc for m in modules if package != "models" or m in ("registry", "index", "layers")
    ), (
        package,
        modules,
    )


def test_no_source_file_is_ignored_by_git():
    """A source file that .gitignore hides works here and is missing from every clean clone."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    sources = [str(p.relative_to(ROOT)) for d in ("zoo", "cli", "tests", "scripts")
               for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts]
    out = subprocess.run(["git", "check-ignore", "--no-index", *sources], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.stdout.split() == [], out.stdout
