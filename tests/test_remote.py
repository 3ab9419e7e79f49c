"""A DVC remote used for real: build a model in one repo, push it, pull it into a clone, chat with it.

Offline and CPU-only: the remote is a local directory, the "pipeline" one stage that saves a
random tilelli-lite-fp32-tiny (1.0M parameters). Every step is the command a collaborator types:
    dvc repro; dvc remote add -d store DIR; dvc push --run-cache
    git clone; dvc pull; dvc status (nothing to re-run); dvc repro (nothing runs); tilelli chat
    git clone; dvc repro --pull (restores from the remote instead of running)
    git tag -a <artifact>@v0.1.0; dvc artifacts get (the model registry, from the remote)
"""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent                  # the venv's dvc, python and tilelli
BUILD = """from tilelli import TilelliLM
TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0).save_pretrained("models/m", metadata={"stage": "demo"})
"""
DVC_YAML = """stages:
  build:
    cmd: python build.py
    deps: [build.py]
    outs: [models/m]
artifacts:
  tilelli-demo:
    path: models
    type: model
"""


def _env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_NOSYSTEM": "1"}


def sh(cwd: Path, *cmd: str) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_push_then_pull_into_a_clone_needs_no_rerun_and_chats(tmp_path):
    dvc = str(BIN / "dvc")
    proj, remote = tmp_path / "proj", tmp_path / "remote"
    proj.mkdir()
    sh(proj, "git", "init", "-q")
    sh(proj, dvc, "init", "-q")
    sh(proj, dvc, "config", "core.analytics", "false")
    sh(proj, dvc, "config", "core.check_update", "false")
    (proj / "build.py").write_text(BUILD)
    (proj / "dvc.yaml").write_text(DVC_YAML)
    assert "Running stage 'build'" in sh(proj, dvc, "repro")
    sh(proj, dvc, "remote", "add", "-d", "store", str(remote))
    sh(proj, "git", "add", "-A")
    sh(proj, "git", "commit", "-qm", "model")
    sh(proj, dvc, "push", "--run-cache")
    built = digest(proj / "models" / "m")
    assert sorted(built) == ["README.md", "config.json", "model.safetensors"]

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(proj), str(clone))
    assert not (clone / "models" / "m").exists()
    sh(clone, dvc, "pull")
    assert digest(clone / "models" / "m") == built
    assert sh(clone, dvc, "status", "--json").strip() == "{}"             # nothing to re-run
    again = sh(clone, dvc, "repro")
    assert "Running stage" not in again and "didn't change" in again
    chat = subprocess.run([str(BIN / "tilelli"), "chat", "--model", "models/m", "--max-new", "12", "hi"],
                          cwd=clone, env=_env(), capture_output=True, text=True, timeout=120)
    assert chat.returncode == 0 and chat.stdout.strip(), chat.stderr

    # DVC's model registry (dvc.yaml `artifacts:`, as the project declares its model families):
    # a version is an annotated tag <name>@v<semver>; `dvc artifacts get` fetches it from the remote.
    sh(proj, "git", "tag", "-a", "tilelli-demo@v0.1.0", "-m", "Registering artifact tilelli-demo version v0.1.0")
    sh(tmp_path, dvc, "artifacts", "get", str(proj), "tilelli-demo", "-o", "got")
    assert digest(tmp_path / "got" / "m") == built

    fresh = tmp_path / "fresh"                                             # `dvc repro --pull`
    sh(tmp_path, "git", "clone", "-q", str(proj), str(fresh))
    restored = sh(fresh, dvc, "repro", "--pull")
    assert "Running stage" not in restored and digest(fresh / "models" / "m") == built
