"""How the code refers to itself: the library's layers and import graph, and every command a
message or a doc tells a user to run.

No torch: these read source files as text (ast), so function-level imports count too.

Layers, lowest first: model, data (the model and its data) < train < eval. study, io, stage,
numerics and the rest of the top level serve every layer. A lower layer never imports
a higher one, not even through a third module, and no two modules import each other in a circle.
"""
import ast
import re
from pathlib import Path
from conftest import ROOT

SRC = ROOT / "src"
LAYERS = {"tilelli.model": 0, "tilelli.data": 0, "tilelli.train": 1, "tilelli.eval": 2}


def _modules() -> dict[str, Path]:
    """{dotted module name: file} of src/tilelli (a package is its __init__.py)."""
    out = {}
    for f in (SRC / "tilelli").rglob("*.py"):
        parts = f.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The tilelli modules `name` imports anywhere in its file (module level or inside a function).
    `from pkg import x` counts as pkg.x where that is a module, else as pkg. A module's own
    ancestor packages are left out: Python initialises them before it anyway (`from tilelli import
    __version__` in tilelli.model.checkpoint is no cycle)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for t in targets:
            while t not in modules and "." in t:
                t = t.rpartition(".")[0]
            if t in modules and t != name and not name.startswith(t + "."):
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(name: str) -> int | None:
    return next((rank for pkg, rank in LAYERS.items() if name == pkg or name.startswith(pkg + ".")), None)


def _reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """{module reachable from start: the module that imports it on the first path found}."""
    seen, todo = {}, [start]
    while todo:
        m = todo.pop()
        for t in sorted(graph[m]):
            if t not in seen and t != start:
                seen[t] = m
                todo.append(t)
    return seen


def test_import_graph_sees_function_level_imports():
    graph = _graph()
    assert "tilelli.model.checkpoint" in graph["tilelli.model.lm"]          # inside from_pretrained
    assert "tilelli.study" in graph["tilelli.train.recipes"] and "tilelli.eval.stats" in graph["tilelli.eval.claims"]


def test_no_layer_imports_a_higher_one():
    """model/data never reach train or eval, train never reaches eval (the A/B runs, train/recipes.py,
    once imported eval/ab_report for their run names; they live in tilelli.study now)."""
    graph, wrong = _graph(), []
    for name in graph:
        low = _layer(name)
        if low is None:
            continue
        via = _reachable(graph, name)
        for t in via:
            if (_layer(t) or -1) > low:
                path = [t]
                while path[-1] != name and via.get(path[-1]) not in (None, name):
                    path.append(via[path[-1]])
                wrong.append(f"{name} -> " + " -> ".join(reversed(path)))
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    """Tarjan's strongly connected components of the import graph: every one must be a single
    module (tilelli.model.lm and tilelli.model.checkpoint once imported each other)."""
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on_stack.discard(comp[-1])
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


COMMAND = re.compile(r"python -m stages\.([a-z_]+)([^`\"'\n)]*)")


def _commands() -> list[tuple[str, str, str]]:
    """(file, stage, flag) for every `python -m stages.<stage> ... --flag` written in the repo."""
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "stages").glob("*.py"), ROOT / "README.md",
             *(ROOT / "docs").glob("*.md")]
    out = []
    for f in files:
        for m in COMMAND.finditer(f.read_text(encoding="utf-8")):
            flags = re.findall(r"(?<![\w-])--[a-z][\w-]*", m.group(2))
            out += [(str(f.relative_to(ROOT)), m.group(1), flag) for flag in flags or [""]]
    return out


def test_every_stage_command_in_the_repo_names_a_stage_and_its_flags():
    commands = _commands()
    assert any(stage == "ab_report" and flag == "--choose-lr" for _, stage, flag in commands)
    wrong = []
    for where, stage, flag in commands:
        script = ROOT / "stages" / f"{stage}.py"
        if not script.is_file():
            wrong.append(f"{where}: stages.{stage} does not exist")
        elif flag and f'"{flag}"' not in script.read_text(encoding="utf-8"):
            wrong.append(f"{where}: stages.{stage} has no flag {flag}")
    assert not wrong, "\n".join(wrong)


def test_dvc_artifacts_declare_every_model_family_and_every_model_is_in_one():
    """dvc.yaml `artifacts:` (DVC's model registry) has one artifact of type model per family in
    study.MODEL_FAMILIES, at models/<family>; every model the study trains or grafts is named
    <family>/..., and every model directory dvc.yaml writes lies under a declared artifact."""
    import yaml
    from dvc.repo.artifacts import check_name_format

    from tilelli import paths, study

    arts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    assert sorted(a["path"] for a in arts.values()) == sorted(paths.model_path(f) for f in study.MODEL_FAMILIES)
    for name, a in arts.items():
        check_name_format(name)
        assert a["type"] == "model" and a.get("desc") and a.get("labels"), name
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    names = [*study.trained_runs(params), *study.splice_models(params)]
    assert all(n.split("/")[0] in study.MODEL_FAMILIES for n in names), names
    models = [o for o in _dvc_outputs() if o.startswith(paths.MODELS + "/")]
    assert models and all(o.split("/")[1] in study.MODEL_FAMILIES for o in models), models


# ---------------------------------------------------------------------------------------------
# The path registry: tilelli.paths defines every pipeline artifact's path; nothing else spells one,
# and tilelli.study.outputs(params) (built from it and the study's run names) is what dvc.yaml declares.
# ---------------------------------------------------------------------------------------------
TOPS = ("models", "data", "metrics", "results", "plots", "checkpoints")
PATH_TEXT = re.compile(rf"(?<![\w./-])(?:{'|'.join(TOPS)})/|PAPER_OUTLINE\.md")
REGISTRY = SRC / "tilelli" / "paths.py"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (documentation may show an example path; code may not)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def path_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every pipeline path the code spells: a string (or an f-string's literal
    part) naming models/, data/, metrics/, results/, plots/, checkpoints/ or PAPER_OUTLINE.md, and
    a top directory joined as a component (root / "metrics", Path("models"))."""
    tree = ast.parse(source)
    docs, out = _docstrings(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if PATH_TEXT.search(node.value):
                out.append((node.lineno, node.value))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and side.value in TOPS:
                    out.append((node.lineno, side.value))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Path" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and arg.value in TOPS:
                out.append((node.lineno, arg.value))
    return out


def test_no_pipeline_path_is_spelled_outside_the_registry():
    """Every stage and library module takes its paths from tilelli.paths."""
    files = [f for f in [*(SRC / "tilelli").rglob("*.py"), *(ROOT / "stages").glob("*.py")] if f != REGISTRY]
    found = [f"{f.relative_to(ROOT)}:{line}: {text!r}" for f in files
             for line, text in path_literals(f.read_text(encoding="utf-8"))]
    assert not found, "pipeline paths outside tilelli.paths:\n" + "\n".join(found)


def test_the_path_literal_check_finds_every_spelling_and_spares_docstrings():
    code = '''"""Example: read_json("metrics/auroc.json")."""
def f(root, run):
    """models/x in a docstring is documentation."""
    a = "metrics/auroc.json"
    b = f"models/{run}"
    c = root / "metrics" / "claims.json"
    d = Path("models") / run
    e = f"{run} is not in data/sft"
    g = "PAPER_OUTLINE.md"
    h = "my-metrics/x and train_metrics/y and 'data' alone"
'''
    assert sorted(line for line, _ in path_literals(code)) == [4, 5, 6, 7, 8, 9]


def _dvc_outputs() -> set[str]:
    """Every out, metric and plot path of dvc.yaml's stages, resolved by DVC with params.yaml."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return {out.def_path for stage in repo.index.stages for out in stage.outs}


def registry_disagreement(declared: set[str], params: dict) -> list[str]:
    from tilelli import study

    want = study.outputs(params)
    return ([f"dvc.yaml declares {p}, which tilelli.study.outputs does not list" for p in sorted(declared - want)]
            + [f"tilelli.study.outputs lists {p}, which no dvc.yaml stage declares" for p in sorted(want - declared)])


def test_dvc_yaml_declares_exactly_the_registry_outputs():
    """dvc.yaml's hand-written outs (resolved for params.yaml's profile) are study.outputs(params)."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    declared = _dvc_outputs()
    assert not registry_disagreement(declared, params)
    # the check fails both ways: an out the registry lacks, a registry path dvc.yaml lacks
    model = next(p for p in declared if p.startswith("models/metacog/"))
    assert registry_disagreement(declared - {model}, params) == [
        f"tilelli.study.outputs lists {model}, which no dvc.yaml stage declares"]
    assert registry_disagreement(declared | {"metrics/extra.json"}, params) == [
        "dvc.yaml declares metrics/extra.json, which tilelli.study.outputs does not list"]


def test_the_tables_load_no_matplotlib_until_a_figure_is_drawn():
    """eval.auroc_report holds the tables the paper stage reads and the figures the auroc stage
    draws: matplotlib (about a second to import) loads only when a figure is drawn."""
    import subprocess
    import sys

    code = ("import sys, tilelli.eval.auroc_report as r, tilelli.eval.paper; "
            "print('matplotlib' in sys.modules); r.pyplot(); print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}).stdout.split()
    assert out == ["False", "True"]
