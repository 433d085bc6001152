"""The package's layout is its architecture (issue 20): every module of xlt/ belongs to a layer, a module
never imports a higher layer, and no module reaches itself again through its imports (no circles). Lazy
imports inside functions count. Besides the warm runner (xlt/workflow/warm.py: it runs the step a job
names), no module of xlt/ loads another by a name built at run time (tests/test_fingerprint.py; the one
constant name, xlt/steps/target.py's pre-registration, is kept out of a fingerprint on purpose and reaches
down, from the top layer), so the import statements are the graph."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# lowest first: xlt.io is the base every layer may use; steps (one function per rule) sit on top
LAYERS = ["xlt", "io", "data", "model", "adversarial", "train", "workflow", "analysis", "bench", "demo", "steps"]


def module_files(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for path in (root / "xlt").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """{module: the xlt modules it imports}, `from xlt.a import b` resolved to xlt.a.b when that is a module."""
    graph = {}
    for name, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.split(".")[0] == "xlt"}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "xlt":
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    deps.add(full if full in files else node.module)
        graph[name] = {d for d in deps if d != name}
    return graph


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "xlt"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} ({layer(m)}) imports {d} ({layer(d)})" for m, deps in graph.items() for d in deps
                  if LAYERS.index(layer(d)) > LAYERS.index(layer(m)))


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_every_module_is_in_a_layer():
    files = module_files()
    assert {layer(m) for m in files} <= set(LAYERS), sorted(m for m in files if layer(m) not in LAYERS)
    assert len(files) > 50  # the walk found the package


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph(module_files())) == []


def test_no_import_circles():
    assert circles(import_graph(module_files())) == []


def test_the_checks_catch_an_upward_import_and_a_circle():
    graph = {"xlt.data.a": {"xlt.analysis.b"}, "xlt.analysis.b": {"xlt.data.a"}, "xlt.model.c": {"xlt.io"}}
    assert upward_imports(graph) == ["xlt.data.a (data) imports xlt.analysis.b (analysis)"]
    assert circles(graph) == [["xlt.analysis.b", "xlt.data.a"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("top", ["sources.py", "adversarial.py", "plan.py", "stats.py", "bench.py", "tasks"])
def test_the_flat_layout_is_gone(top):
    assert not (ROOT / "xlt" / top).exists()
