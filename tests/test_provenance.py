"""Provenance header (commit, dirty, versions, device, wall time) and the conf/ -> params.yaml drift check."""
import json
import shutil
import subprocess

import pytest
import yaml

from tilelli import cli
from tilelli.io import TilelliError
from tilelli.stage import check_composed, compose
from tilelli.provenance import provenance, provenance_markdown
from conftest import ROOT

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


def test_provenance_records_commit_dirty_versions_device_and_wall_time(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    subprocess.run([*GIT, "-C", str(tmp_path), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(tmp_path), "commit", "-qm", "c"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    p = provenance(tmp_path)
    assert p["git_commit"] == head and p["git_dirty"] is False
    assert p["python"].count(".") == 2 and p["torch"] and p["dvc"] and "CPUs" in p["device"]
    assert p["torch_threads"] >= 1 and p["train_wall_s"] is None and p["dvc_experiment"] is None
    assert "not recorded here" in provenance_markdown(p) and f"`{head[:12]}` (clean)" in provenance_markdown(p)

    (tmp_path / "notes.txt").write_text("not code\n")                  # outside src/stages/conf/params
    assert provenance(tmp_path)["git_dirty"] is False
    (tmp_path / "src" / "a.py").write_text("x = 2\n")
    timing = tmp_path / "metrics" / "timing"
    (timing / "metacog").mkdir(parents=True)
    (timing / "pretrain.json").write_text(json.dumps({"wall_s": 100.25, "device": "cpu"}))
    (timing / "metacog" / "v7-s0.json").write_text(json.dumps({"wall_s": 20.0}))
    (timing / "half.json").write_text("{")                              # a torn file is not a run
    monkeypatch.setenv("DVC_EXP_NAME", "brisk-lynx")
    p = provenance(tmp_path)
    assert p["git_dirty"] is True and p["train_wall_s"] == 120.2 and p["train_runs"] == 2
    md = provenance_markdown(p)
    assert "+ uncommitted changes" in md and "DVC experiment `brisk-lynx`" in md
    assert "2 min 00 s (sum of 2 training runs in metrics/timing/)" in md
    assert f"torch {p['torch']}" in md and f"DVC {p['dvc']}" in md and md.endswith("\n\n")


def test_outside_git_the_header_says_so(tmp_path):
    p = provenance(tmp_path / "nowhere")
    assert p["git_commit"] is None and p["git_dirty"] is None
    assert "- Code: not a git checkout" in provenance_markdown(p)


@pytest.fixture
def conf(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    return tmp_path


def test_drift_between_conf_and_params_is_one_line_naming_the_recompose_command(conf, monkeypatch):
    params = compose(output=conf / "params.yaml", conf_dir=conf / "conf")
    assert check_composed(params, conf / "conf") is True                 # freshly composed: clean
    tiny = conf / "conf" / "profile" / "tiny.yaml"
    text = tiny.read_text()
    assert "\n  steps: 600\n" in text
    tiny.write_text(text.replace("\n  steps: 600\n", "\n  steps: 601\n", 1))   # conf edited, not recomposed
    with pytest.raises(TilelliError) as e:
        check_composed(params, conf / "conf")
    assert "(differs at pretrain.steps)" in str(e.value) and "run `tilelli params`" in str(e.value)
    assert "\n" not in str(e.value)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")                          # dvc exp run recomposes itself
    assert check_composed(params, conf / "conf") is False


def test_recorded_overrides_are_replayed_and_hand_edits_are_drift(conf):
    params = compose(["pretrain.steps=7", "launcher=torchrun --standalone --nproc_per_node 2 -m"],
                     conf / "params.yaml", conf / "conf")
    doc = yaml.safe_load(params.read_text())
    assert doc["pretrain"]["steps"] == 7 and doc["overrides"][0] == "pretrain.steps=7"
    check_composed(params, conf / "conf")
    params.write_text(params.read_text().replace("steps: 7\n", "steps: 8\n", 1))
    with pytest.raises(TilelliError, match=r"differs at pretrain.steps\): run `tilelli params pretrain.steps=7 "
                                           r"'launcher=torchrun --standalone --nproc_per_node 2 -m'`"):
        check_composed(params, conf / "conf")


def test_params_check_command(conf, monkeypatch, capsys):
    monkeypatch.chdir(conf)
    assert cli.main(["params"]) == 0 and cli.main(["params", "--check"]) == 0
    assert "params.yaml matches conf/" in capsys.readouterr().out
    (conf / "params.yaml").write_text((conf / "params.yaml").read_text().replace("profile: tiny\n", "profile: x\n", 1))
    assert cli.main(["params", "--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: params.yaml is out of date with conf/ (differs at profile)") and err.count("\n") == 1
