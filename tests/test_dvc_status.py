"""A clone that pulled the committed outputs must be up to date (.ci/fresh_clone.py proves it on this
repository after CI's run). Two causes made every fresh clone look changed; these fail if one returns:
a stage that is always changed, and machine-made files (__pycache__/) inside a code dep's hash."""
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT

DVC = str(Path(sys.executable).parent / "dvc")


def always_changed(dvc_yaml: dict) -> list[str]:
    return [name for name, stage in dvc_yaml["stages"].items() if stage.get("always_changed")]


def test_no_stage_is_always_changed():
    assert always_changed(yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))) == []
    assert always_changed({"stages": {"numerics": {"cmd": "x", "always_changed": True}, "b": {"cmd": "y"}}}) == ["numerics"]


def ignored(*paths: str) -> set[str]:
    """The paths (relative to the repo root) that .dvcignore keeps out of DVC's hashes."""
    out = subprocess.run([DVC, "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


def test_machine_made_files_are_out_of_every_dep_hash_and_code_is_in():
    made = ["src/tilelli/data/__pycache__/chat.cpython-311.pyc", "stages/__pycache__/pack.cpython-311.pyc",
            "src/tilelli/eval/probe.pyc", "src/tilelli.egg-info/PKG-INFO"]
    code = ["src/tilelli/data/chat.py", "stages/pack.py", "conf/profile/tiny.yaml"]
    assert ignored(*made, *code) == set(made)
