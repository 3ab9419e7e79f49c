"""What each dvc.yaml stage imports, read statically from its stage script, and the deps it needs.

    .venv/bin/python tests/_stage_deps.py            # every stage: the coarse deps to paste
    .venv/bin/python tests/_stage_deps.py auroc      # one stage

A stage `python -m stages.X` runs stages/X.py and everything it imports. The closure is read
with `ast` (no import, no torch): every `import` / `from ... import` anywhere in a module,
function bodies included, followed transitively inside the `tilelli` and `stages` packages.
Importing a.b.c also runs a/__init__.py and a/b/__init__.py, so those count. A package's
PEP 562 `__getattr__` (lazy names, e.g. tilelli.model.TilelliLM) is followed when a module
imports a name from that package that is not a submodule, or imports the package itself.

Coarse deps (what `expected_deps` prints): a module inside a subpackage of tilelli becomes the
subpackage directory (src/tilelli/eval), a top-level module stays a file (src/tilelli/io.py),
a stage script stays a file (stages/auroc.py). A directory dep covers every file below it.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BASES = {"tilelli": ROOT / "src", "stages": ROOT}    # our importable packages and where they live
STAGE_CMD = re.compile(r"(?:python\s+-m|\$\{launcher\})\s+(stages\.\w+)")   # launcher: e.g. torchrun ... -m


def dvc_stages(path: Path = ROOT / "dvc.yaml") -> dict[str, dict]:
    """{stage name: {"module": "stages.x", "deps": [...]}}; foreach stages keep their `do` body."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {}
    for name, stage in doc["stages"].items():
        body = stage.get("do", stage)
        cmd = body["cmd"] if isinstance(body["cmd"], str) else " && ".join(body["cmd"])
        match = STAGE_CMD.search(cmd)
        if match is None:
            raise ValueError(f"dvc.yaml stage {name}: cmd {cmd!r} is not `python -m stages.<name>` or `${{launcher}} stages.<name>`")
        out[name] = {"module": match.group(1), "deps": [str(d) for d in body.get("deps", [])]}
    return out


def module_file(module: str) -> Path | None:
    """The file that defines `module` if it is ours (tilelli.*, stages.*), else None."""
    base = BASES.get(module.split(".")[0])
    if base is None:
        return None
    path = base.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _lazy_imports(tree: ast.Module, package: str) -> set[str]:
    """Modules imported inside a package's module-level `def __getattr__` (PEP 562 lazy names)."""
    out = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            for sub in ast.walk(node):
                out |= _names(sub, package, lazy=None)
    return out


def _names(node: ast.AST, package: str, lazy) -> set[str]:
    """Modules one import statement loads. `lazy(pkg)` gives pkg's lazy imports (None: skip)."""
    found = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            found.update(_with_parents(alias.name))
            if lazy is not None and module_file(alias.name) and module_file(alias.name).name == "__init__.py":
                found |= lazy(alias.name)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative import: resolve against the importing package
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(anchor + ([node.module] if node.module else []))
        found.update(_with_parents(base))
        for alias in node.names:
            if module_file(f"{base}.{alias.name}"):
                found.add(f"{base}.{alias.name}")
            elif lazy is not None and module_file(base) and module_file(base).name == "__init__.py":
                found |= lazy(base)
    return found


def _parse(module: str) -> ast.Module:
    path = module_file(module)
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def direct_imports(module: str) -> set[str]:
    """Our modules that `module` imports anywhere (module level or inside functions)."""
    tree = _parse(module)
    is_pkg = module_file(module).name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    lazy_nodes = {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
                  for n in ast.walk(f)} if is_pkg else set()

    def lazy(pkg: str) -> set[str]:
        return _lazy_imports(_parse(pkg), pkg)

    found = set()
    for node in ast.walk(tree):
        if id(node) not in lazy_nodes:
            found |= _names(node, package, lazy)
    return {m for m in found if module_file(m) is not None and m != module}


def closure(module: str) -> set[str]:
    """`module`, its parent packages and everything they import, transitively (ours only)."""
    seen, todo = set(), _with_parents(module)
    while todo:
        m = todo.pop()
        if m in seen or module_file(m) is None:
            continue
        seen.add(m)
        todo.extend(direct_imports(m))
    return seen


def _is_empty(module: str) -> bool:
    """A module with nothing but a docstring (e.g. an empty stages/__init__.py) cannot change a result."""
    body = _parse(module).body
    return not body or (len(body) == 1 and isinstance(body[0], ast.Expr)
                        and isinstance(body[0].value, ast.Constant))


def files_of(module: str) -> list[str]:
    """Repository-relative paths of every file a stage module runs (docstring-only files left out)."""
    return sorted(module_file(m).relative_to(ROOT).as_posix() for m in closure(module) if not _is_empty(m))


def is_covered(path: str, deps: list[str]) -> bool:
    """A file is covered by a dep that is the file itself or one of its directories."""
    return any(path == d.rstrip("/") or path.startswith(d.rstrip("/") + "/") for d in deps)


def missing_deps(stage: dict) -> list[str]:
    return [f for f in files_of(stage["module"]) if not is_covered(f, stage["deps"])]


def coarse(path: str) -> str:
    """src/tilelli/<sub>/x.py -> src/tilelli/<sub>; top-level modules and stage scripts stay files."""
    parts = Path(path).parts
    if parts[:2] == ("src", "tilelli") and len(parts) > 3:
        return "/".join(parts[:3])
    return path


def expected_deps(stage: str, stages: dict | None = None) -> list[str]:
    """The coarse code deps that cover everything `stage` imports (stage script first)."""
    stages = stages or dvc_stages()
    script = module_file(stages[stage]["module"]).relative_to(ROOT).as_posix()
    deps = sorted({coarse(f) for f in files_of(stages[stage]["module"])} - {script})
    return [script] + deps


def main(argv: list[str]) -> None:
    stages = dvc_stages()
    for name in argv or list(stages):
        print(f"{name}:")
        for dep in expected_deps(name, stages):
            print(f"  - {dep}")
        missing = missing_deps(stages[name])
        if missing:
            print(f"  # missing from dvc.yaml today: {', '.join(missing)}")


if __name__ == "__main__":
    main(sys.argv[1:])
