"""CI's determinism gate (.ci/same_as_committed.py) fails on both sides of what it guards: a metric
or a model hash that differs on the committed floats is red; the same difference on another CPU's
floats (another fingerprint) is listed and passes; identical outputs pass."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

GATE = ROOT / ".ci" / "same_as_committed.py"
LOCK = ("schema: '2.0'\nstages:\n  pretrain@0:\n    cmd: python -m stages.pretrain\n    outs:\n"
        "    - path: models/base/pretrain-s0\n      md5: {md5}.dir\n")


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def write(repo: Path, fingerprint="aaaa", auroc=0.9, md5="abc", cpu="Intel", compared=None):
    (repo / "metrics").mkdir(exist_ok=True)
    (repo / "metrics" / "numerics.json").write_text(json.dumps({"fingerprint": fingerprint, "cpu": cpu}))
    (repo / "metrics" / "claims.json").write_text(json.dumps({"numerics": {"committed": compared}, "n_claims": 1}))
    (repo / "metrics" / "auroc.json").write_text(json.dumps({"groups": {"v7": {"cross": auroc}}}))
    (repo / "dvc.lock").write_text(LOCK.format(md5=md5))


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    write(tmp_path)
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "committed run")
    return tmp_path


def gate(repo) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GATE)], cwd=repo, capture_output=True, text=True)


def test_identical_outputs_pass_even_from_another_cpu_model(repo):
    write(repo, cpu="AMD EPYC", compared="aaaa")     # same floats, another CPU name: not a difference
    out = gate(repo)
    assert out.returncode == 0 and "reproduced exactly" in out.stdout


@pytest.mark.parametrize("change", [dict(auroc=0.91), dict(md5="abd")])
def test_a_difference_on_the_committed_floats_fails(repo, change):
    write(repo, **change)
    out = gate(repo)
    assert out.returncode == 1 and "FAIL" in out.stdout


def test_a_difference_on_another_cpus_floats_is_listed_not_failed(repo):
    write(repo, fingerprint="bbbb", auroc=0.91, md5="abd")
    out = gate(repo)
    assert out.returncode == 0 and "differs from the committed" in out.stdout
    assert "groups.v7.cross" in out.stdout and "models/base/pretrain-s0" in out.stdout


def test_a_missing_fingerprint_fails(repo):
    (repo / "metrics" / "numerics.json").unlink()
    assert gate(repo).returncode == 1
