"""The layout's rules, read from the source: dependencies point one way (nn <- datasets <- lab
<- ui <- pages <- app), no module imports another that imports it back (imports inside
functions count too), and the packages below ui never import Streamlit or Plotly."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("nn", "datasets", "lab", "ui", "pages", "bench", "deploy")
LAYER = {"nn": 0, "datasets": 1, "lab": 2, "ui": 3, "pages": 4, "app": 5}
NO_STREAMLIT = ("nn", "datasets", "lab", "ui.figures")
NO_PLOTLY = ("nn", "datasets", "lab")


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every project module (tests left out)."""
    files = {"app": REPO / "app.py", "train": REPO / "train.py"}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imported_names(name: str, path: Path) -> set[str]:
    """Every module name ``path`` imports, anywhere in the file, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def project_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name imported from a package counts as
    the package's module when it is one, else the package)."""
    files = module_files()
    graph = defaultdict(set)
    for name, path in files.items():
        for target in imported_names(name, path):
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in list(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(project_graph()) == []


def test_dependencies_point_one_way():
    upward = [(module, target) for module, targets in project_graph().items() for target in targets
              if module.split(".")[0] in LAYER and target.split(".")[0] in LAYER
              and LAYER[module.split(".")[0]] < LAYER[target.split(".")[0]]]
    assert upward == []


def test_the_layers_below_ui_never_import_streamlit_or_plotly():
    files = module_files()
    found = []
    for name, path in files.items():
        imported = {target.split(".")[0] for target in imported_names(name, path)}
        if name.startswith(NO_STREAMLIT) and "streamlit" in imported:
            found.append((name, "streamlit"))
        if name.startswith(NO_PLOTLY) and "plotly" in imported:
            found.append((name, "plotly"))
    assert found == []
    assert len(files) > 150  # the walk found the project
