"""Code fingerprints: each rule's jobs depend on the source of the `xlt` code they can run.

Snakemake re-runs a job when its script changes, but not when the package the script calls changes.
So every rule carries a `code` param: a hash of the sources its script can reach, found statically
(no import, milliseconds per DAG build):
  * a workflow script reaches the `xlt` modules it imports and the step it hands to xlt.workflow.warm.run (module
    and function named as strings); for a step module (xlt/steps/*: one function per rule, heavy imports
    inside the functions) only the functions it calls and the module-level functions they call count,
    with the imports inside them;
  * any other module counts whole: every `xlt` import in it, at any depth (lazy ones too), transitively;
  * package __init__ files on the way count (importing xlt.a.b runs xlt/__init__ and xlt/a/__init__);
  * a module loaded by a name built at run time (importlib) is invisible here, so the package never does
    that (tests/test_fingerprint.py fails on it; the formats are imported statically by get_format), and a
    constant name is how a script keeps a module out on purpose (evaluate.py's pre-registration).
Editing xlt/adversarial/methods.py therefore re-runs the training jobs (and, through their outputs, everything
downstream); editing xlt/analysis/figures.py re-runs the figure rules; editing the README re-runs nothing."""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "xlt"
STEPS = "xlt.steps."


class _Source:
    def __init__(self, root: Path):
        self.root = root
        self.files = {self._name(p): p for p in (root / PACKAGE).rglob("*.py")}

    def _name(self, path: Path) -> str:
        rel = path.relative_to(self.root).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        return ".".join(parts)

    @lru_cache(maxsize=None)
    def tree(self, module: str) -> ast.Module:
        return ast.parse(self.files[module].read_text(encoding="utf-8"))

    def resolve(self, node: ast.AST) -> set[str]:
        """The xlt modules an import statement loads (with their parent packages)."""
        names = set()
        if isinstance(node, ast.Import):
            names = {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        out = set()
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                parts = name.split(".")
                out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(self.files)
        return out

    def imports(self, nodes) -> set[str]:
        return {m for node in nodes for n in ast.walk(node) for m in self.resolve(n)}

    @lru_cache(maxsize=None)
    def module_closure(self, module: str) -> frozenset[str]:
        seen, todo = set(), [module]
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo += self.imports([self.tree(m)])
        return frozenset(seen)

    def step_closure(self, module: str, functions: set[str]) -> set[str]:
        """A step module's top-level imports plus those of `functions` and the module functions they call."""
        tree = self.tree(module)
        defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        used, todo = set(), [f for f in functions if f in defs]
        while todo:
            f = todo.pop()
            if f not in used:
                used.add(f)
                todo += [n.func.id for n in ast.walk(defs[f]) if isinstance(n, ast.Call)
                         and isinstance(n.func, ast.Name) and n.func.id in defs]
        direct = self.imports(top) | self.imports([defs[f] for f in used])
        out = {module}
        for m in direct - {module}:
            out |= self.module_closure(m)
        return out


def script_modules(script: Path, root: Path, source: _Source | None = None) -> set[str]:
    """The xlt modules a workflow script can run."""
    source = source or _Source(root)
    tree = ast.parse(script.read_text(encoding="utf-8"))
    bound = {}  # local name -> module, for `from xlt.steps import train` / `import xlt.steps.train as t`
    modules = set()
    for node in ast.walk(tree):
        for m in source.resolve(node):
            modules.add(m)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for a in node.names:
                bound[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    bound[a.asname] = a.name
    called: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            called.setdefault(bound[node.value.id], set()).add(node.attr)
        # warm.run(config, "xlt.steps.<module>", "<function>", ...): the step the script runs (xlt/workflow/warm.py)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run"
                and isinstance(node.func.value, ast.Name) and bound.get(node.func.value.id) == "xlt.workflow.warm"
                and len(node.args) >= 3 and all(isinstance(a, ast.Constant) for a in node.args[1:3])):
            module, function = node.args[1].value, node.args[2].value
            modules.add(module)
            called.setdefault(module, set()).add(function)
    out = set()
    for m in modules:
        out |= source.step_closure(m, called.get(m, set())) if m.startswith(STEPS) else source.module_closure(m)
    return out


def digest(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def rule_fingerprints(root: str | Path, scripts_dir: str = "workflow_scripts") -> dict[str, str]:
    """{script file name: fingerprint of the xlt sources it can run} for every workflow script."""
    root = Path(root)
    source = _Source(root)
    return {script.name: digest([source.files[m] for m in script_modules(script, root, source)], root)
            for script in sorted((root / scripts_dir).glob("*.py"))}


def main(argv=None) -> None:
    """python -m xlt.workflow.fingerprint: each workflow script's xlt modules and fingerprint."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = p.parse_args(argv)
    source = _Source(args.root)
    for script in sorted((args.root / "workflow_scripts").glob("*.py")):
        mods = sorted(script_modules(script, args.root, source))
        print(f"{script.name}: {digest([source.files[m] for m in mods], args.root)}  {' '.join(mods)}")


if __name__ == "__main__":
    main()
