"""Code fingerprints: each rule's jobs depend on the source of the `xlt` code they can run.

Snakemake re-runs a job when its script changes, but not when the package the script calls changes.
So every rule carries a `code` param: a hash of the sources its step can reach, found statically
(no import, milliseconds per DAG build). Every rule runs one step (`step="xlt.steps.<module>:<function>"`,
through the one workflow script, workflow_scripts/step.py), so the fingerprints are keyed by step:
  * a step reaches the `xlt` modules the runner script imports, and its own step module — of which (one
    function per rule, heavy imports inside the functions) only the step function, the module-level
    functions it calls and the module's top-level imports count, with the imports inside those functions;
  * any other module counts whole: every `xlt` import in it, at any depth (lazy ones too), transitively;
  * package __init__ files on the way count (importing xlt.a.b runs xlt/__init__ and xlt/a/__init__);
  * a module loaded by a name built at run time (importlib) is invisible here, so the package never does
    that (tests/test_fingerprint.py fails on it; the formats are imported statically by get_format), and a
    constant name is how a step keeps a module out on purpose (xlt/steps/target.py's pre-registration).
Editing xlt/adversarial/methods.py therefore re-runs the training jobs (and, through their outputs, everything
downstream); editing xlt/analysis/figures.py re-runs the figure rules; editing the README re-runs nothing."""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "xlt"
STEPS = "xlt.steps."
RUNNER = "workflow_scripts/step.py"  # the one workflow script: runs the step a rule names


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


def steps(source: _Source) -> list[str]:
    """Every step a rule can name: `module:function` of each public top-level function of xlt/steps."""
    return [f"{m}:{n.name}" for m in sorted(source.files) if m.startswith(STEPS) for n in source.tree(m).body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")]


class Fingerprints:
    """{step: fingerprint of the xlt sources a rule that runs it can run}, each computed when first asked
    for (rules/common.smk's CODE): the runner's modules and the step's closure."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.source = _Source(self.root)
        self.known = set(steps(self.source))
        runner = ast.parse((self.root / RUNNER).read_text(encoding="utf-8"))
        self.runner = {m for name in self.source.imports([runner]) for m in self.source.module_closure(name)}
        self.done: dict[str, str] = {}

    def modules(self, step: str) -> set[str]:
        """The xlt modules a rule that runs `step` ("xlt.steps.<module>:<function>") can run."""
        if step not in self.known:
            raise KeyError(f"no step {step!r}: a rule names a public function of xlt/steps, as "
                           "step=\"xlt.steps.<module>:<function>\"")
        module, function = step.split(":")
        return self.runner | self.source.step_closure(module, {function})

    def __getitem__(self, step: str) -> str:
        if step not in self.done:
            self.done[step] = digest([self.source.files[m] for m in self.modules(step)], self.root)
        return self.done[step]


def digest(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def step_fingerprints(root: str | Path) -> dict[str, str]:
    """{step: fingerprint} for every step of xlt/steps."""
    prints = Fingerprints(root)
    return {step: prints[step] for step in sorted(prints.known)}


def main(argv=None) -> None:
    """python -m xlt.workflow.fingerprint: each step's fingerprint and xlt modules."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = p.parse_args(argv)
    prints = Fingerprints(args.root)
    for step in sorted(prints.known):
        print(f"{step}: {prints[step]}  {' '.join(sorted(prints.modules(step)))}")


if __name__ == "__main__":
    main()
