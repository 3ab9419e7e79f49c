"""Every dvc.yaml stage depends on every module it runs, so a code change can never leave stale
results: `dvc repro` re-runs exactly the stages whose imports changed.

When this fails, paste the deps that `.venv/bin/python tests/_stage_deps.py <stage>` prints.
"""
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _stage_deps as sd  # noqa: E402

STAGES = sd.dvc_stages()


def test_every_stage_lists_every_module_it_imports():
    missing = {name: sd.missing_deps(stage) for name, stage in STAGES.items()}
    report = [f"{name}: {', '.join(files)}" for name, files in missing.items() if files]
    assert not report, "dvc.yaml deps miss imported modules (tests/_stage_deps.py prints the fix):\n" \
        + "\n".join(report)


@pytest.mark.parametrize("name", list(STAGES))
def test_expected_deps_cover_the_stage_and_removing_one_is_caught(name):
    stage = STAGES[name]
    deps = sd.expected_deps(name, STAGES)
    assert deps[0] == stage["module"].replace(".", "/") + ".py"       # the stage script, derived independently
    files = sd.files_of(stage["module"])                               # the import closure, computed once

    def missing(kept: list[str]) -> list[str]:                         # sd.missing_deps on the cached closure
        return [f for f in files if not sd.is_covered(f, kept)]

    assert missing(deps) == []
    for dropped in deps:
        left = missing([d for d in deps if d != dropped])
        assert left and all(f == dropped or f.startswith(dropped + "/") for f in left), dropped


def test_auroc_needs_more_than_eval():
    """The case that motivated the test: auroc imports io.py and stage.py outside eval/."""
    files = sd.files_of("stages.auroc")
    assert {"stages/auroc.py", "src/tilelli/io.py", "src/tilelli/stage.py"} <= set(files)
    assert not sd.missing_deps({"module": "stages.auroc",
                                "deps": ["stages/__init__.py", "stages/auroc.py", "src/tilelli"]})
    assert "src/tilelli/io.py" in sd.missing_deps({"module": "stages.auroc",
                                                   "deps": ["stages/auroc.py", "src/tilelli/eval"]})


def _package(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_function_level_relative_and_lazy_imports_are_followed(tmp_path, monkeypatch):
    _package(tmp_path, {
        "src/tilelli/__init__.py": "def __getattr__(name):\n    from tilelli import lazy\n    return lazy.X\n",
        "src/tilelli/lazy.py": "X = 1\n",
        "src/tilelli/unused.py": "Y = 2\n",
        "src/tilelli/sub/__init__.py": '"""docstring only"""\n',
        "src/tilelli/sub/a.py": "def f():\n    from tilelli.sub.b import g\n    return g()\n",
        "src/tilelli/sub/b.py": "from . import c\nimport json\ndef g():\n    return c\n",
        "src/tilelli/sub/c.py": "Z = 3\n",
        "stages/__init__.py": "",
        "stages/direct.py": "from tilelli.sub import a\n",
        "stages/via_lazy.py": "from tilelli import X\n",
    })
    monkeypatch.setattr(sd, "BASES", {"tilelli": tmp_path / "src", "stages": tmp_path})
    monkeypatch.setattr(sd, "ROOT", tmp_path)
    assert sd.files_of("stages.direct") == ["src/tilelli/__init__.py", "src/tilelli/sub/a.py",  # docstring-only
                                            "src/tilelli/sub/b.py", "src/tilelli/sub/c.py",      # files left out
                                            "stages/direct.py"]
    assert "src/tilelli/lazy.py" in sd.files_of("stages.via_lazy")
    assert "src/tilelli/lazy.py" not in sd.files_of("stages.direct")   # `from tilelli.sub import a`: a submodule
    assert sd.expected_deps("direct", {"direct": {"module": "stages.direct", "deps": []}}) == [
        "stages/direct.py", "src/tilelli/__init__.py", "src/tilelli/sub"]


@pytest.mark.parametrize("module", ["stages.pack", "stages.verify"])
def test_static_closure_contains_what_python_actually_imports(module):
    """Cross-check the ast reading against a real import (torch-free stages: fast)."""
    code = (f"import importlib, sys; importlib.import_module({module!r}); "
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('tilelli', 'stages')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=sd.ROOT, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out and set(out) <= sd.closure(module)


def test_a_stage_runs_the_library_of_its_own_tree(tmp_path):
    """A queued experiment runs in a copy (.dvc/tmp/exps/...); `pip install -e .` points `tilelli`
    at the main workspace. stages/__init__.py must make the copy's src/ win, or dvc.lock would
    record hashes of code that did not run."""
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages/__init__.py").write_text((sd.ROOT / "stages/__init__.py").read_text())
    _package(tmp_path, {"src/tilelli/__init__.py": "TREE = 'copy'\n"})
    out = subprocess.run([sys.executable, "-c", "import stages, tilelli; print(tilelli.TREE)"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "copy", out.stderr


def spurious_deps(stage: dict) -> list[str]:
    """Code deps (src/, stages/) that cover no file the stage runs: each makes `dvc repro` re-run the
    stage, and every stage below it, after an edit that cannot change its result."""
    files = sd.files_of(stage["module"])
    code = [d for d in stage["deps"] if d.startswith(("src/", "stages/"))]
    return [d for d in code if not any(sd.is_covered(f, [d]) for f in files)]


def test_no_stage_lists_code_it_does_not_run():
    report = [f"{name}: {', '.join(extra)}" for name, stage in STAGES.items() if (extra := spurious_deps(stage))]
    assert not report, "dvc.yaml deps list code the stage never imports:\n" + "\n".join(report)
    # and the check catches one: the A/B training never imports the evaluation code
    ab = STAGES["ab_sweep"]
    assert spurious_deps({**ab, "deps": ab["deps"] + ["src/tilelli/eval"]}) == ["src/tilelli/eval"]
