"""The preflight profile is the paper profile cut short, and the preflight fails loudly, naming the stage.

The full preflight (`make preflight`, every paper stage kind on CPU, 2 of the paper seeds) runs in CI (.ci/run);
these tests keep it honest in seconds: preflight.yaml may differ from paper.yaml only in step
counts, batches, cadence, corpus size/source and how it executes; the paper-only knobs (compile,
bf16) reach the training loop on CPU; verify's preflight mode fails on a missing metric; and a
broken paper key stops the preflight runner with one line naming the failing stage.
"""
import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tilelli.io import TilelliError
from tilelli.stage import _diff, compose
from tilelli.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]

# The only keys in which the composed preflight params may differ from the composed paper params.
ALLOWED = ["profile", "device", "deterministic", "seeds",
           "data.source", "data.max_bytes", "data.valid_fraction",
           "*.steps", "*.batch_size", "*.warmup", "*.eval_every", "*.eval_batches", "*.ckpt_every",
           "metacog.recipes.*.windows", "metacog.recipes.*.train.steps"]


def _composed(tmp_path, profile):
    return yaml.safe_load(compose([f"profile={profile}"], tmp_path / f"{profile}.yaml", ROOT / "conf").read_text())


def test_preflight_differs_from_paper_only_in_allowed_keys(tmp_path):
    paper, pre = _composed(tmp_path, "paper"), _composed(tmp_path, "preflight")
    pre.pop("overrides"), paper.pop("overrides")
    changed = _diff(paper, pre)
    assert not [k for k in changed if not any(fnmatch.fnmatchcase(k, pat) for pat in ALLOWED)]
    assert {"pretrain.steps", "ab.train.steps", "metacog.train.steps", "profile"} <= set(changed)
    # what the preflight exists to exercise is the paper's: shapes, model names, probe, compile/bf16
    # seeds: a prefix of the paper's, at least 2 (groups pool seeds, N4 pairs them)
    assert len(pre["seeds"]) >= 2 and pre["seeds"] == paper["seeds"][:len(pre["seeds"])]
    for key in ("model", "probe", "ab.models", "metacog.variants", "metacog_weight"):
        node_p, node_q = paper, pre
        for part in key.split("."):
            node_p, node_q = node_p[part], node_q[part]
        assert node_p == node_q, key
    for section in ("pretrain", "chat_sft", "abstain_sft"):
        cfg = TrainConfig.from_params(pre[section], section)
        assert (cfg.compile, cfg.precision, cfg.seq_len) == (True, "bf16", 256)
        assert cfg.ckpt_every < cfg.steps <= 8          # a checkpoint is written (and the run is short)
    assert pre["data"]["source"] == "builtin" and pre["device"] == "cpu"


def test_precision_is_validated_and_recorded():
    base = {"steps": 2, "batch_size": 2, "seq_len": 8, "lr": 0.001}
    assert TrainConfig.from_params(base, "pretrain").as_dict()["precision"] == "fp32"    # recorded in every model's metadata
    assert TrainConfig.from_params({**base, "precision": "bf16"}, "pretrain").as_dict()["precision"] == "bf16"
    with pytest.raises(TilelliError, match=r"^params.yaml: pretrain.precision='fp16': must be one of fp32, bf16$"):
        TrainConfig.from_params({**base, "precision": "fp16"}, "pretrain")


def test_bf16_on_cpu_with_pinned_numerics_is_one_line(tmp_path):
    from tilelli.model import TilelliLM
    from tilelli.train.loop import train

    cfg = TrainConfig.from_params({"steps": 1, "batch_size": 2, "seq_len": 16, "lr": 0.001, "precision": "bf16"},
                                  "chat_sft")
    with pytest.raises(TilelliError, match=r"^params.yaml: chat_sft.precision=bf16 on CPU needs deterministic: false"):
        train(TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0), cfg, None, out_dir=tmp_path / "m",
              state_dir=tmp_path / "s", log_dir=tmp_path / "l", device="cpu")


def test_the_stages_get_the_machines_environment_not_the_runners_pins(tmp_path):
    """The runner imported tilelli, which pinned ATEN_CPU_CAPABILITY in its own environment; a stage
    must see the machine's value (unset here), or its native numerics are not native."""
    from tilelli import numerics
    from tilelli.preflight import _env

    env = _env(tmp_path, tmp_path / "inductor")
    for key in numerics.PINNED_ENV:
        assert env.get(key) == numerics._original.get(key, os.environ.get(key))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path / "src")


def test_bf16_autocast_runs_on_cpu_through_the_training_loop(tmp_path, monkeypatch):
    """The loop honours precision on CPU (before: bf16 on CUDA only); torch.compile on CPU is left to
    the preflight run (a cold inductor compile takes minutes; it has no device condition either)."""
    import torch

    from tilelli import numerics
    from tilelli.model import TilelliLM
    from tilelli.train.loop import train

    monkeypatch.setattr(numerics, "pinned", lambda: False)   # the preflight runs native (preflight.yaml)
    cfg = TrainConfig.from_params({"steps": 2, "batch_size": 2, "seq_len": 16, "lr": 0.001, "eval_every": 2,
                                   "ckpt_every": 2, "precision": "bf16"}, "pretrain")
    seen = []

    def loss_fn(model, batch, cfg):
        out = model(batch["x"], targets=batch["y"])
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return out.loss, {"loss": out.loss.item()}

    def batch_fn(step, micro, rank, world):
        x = torch.randint(0, 256, (2, 17), generator=torch.Generator().manual_seed(step))
        return {"x": x[:, :-1], "y": x[:, 1:]}

    model = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0)
    out = train(model, cfg, batch_fn, loss_fn, out_dir=tmp_path / "m", state_dir=tmp_path / "s",
                log_dir=tmp_path / "l", device="cpu")
    assert seen == [torch.bfloat16, torch.bfloat16] and out["final_loss"] == out["final_loss"]


def test_verify_in_preflight_mode_fails_on_a_missing_metric_naming_it(tmp_path, monkeypatch):
    import stages.verify as verify

    (tmp_path / "claims.yaml").write_text((ROOT / "claims.yaml").read_text())
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TilelliError, match=r"^preflight: \d+ claim\(s\) miss a metric the paper run needs; first: "):
        verify.main({"profile": "preflight", "seeds": [0]})
    assert yaml.safe_load((tmp_path / "metrics" / "claims.json").read_text())["verdicts_judged"] is False
    md = (tmp_path / "results" / "claims.md").read_text()
    assert md.startswith("# Claim verdicts (preflight profile: paper expectations, verdicts not judged)")
    assert "**preflight: verdicts not judged (a few training steps); against the paper expectations: paper: " in md


def test_the_paper_renders_under_the_preflight_profile_with_the_paper_expectations(tmp_path, monkeypatch):
    """The paper stage read the claims with the active profile and failed the preflight at its last
    stage ("claim ... has no expected verdict for profile 'preflight'"); it now takes verify's
    judgement (eval.claims.judge_study), which maps a preflight to the paper expectations."""
    from tilelli.eval.paper import render

    params = {**_composed(tmp_path, "preflight"), "seeds": _composed(tmp_path, "tiny")["seeds"]}
    monkeypatch.chdir(ROOT)
    text = render(params)   # the committed (tiny) metrics: numbers differ, every section renders
    assert "**preflight: verdicts not judged (a few training steps); against the paper expectations: paper: " in text
    assert "expected verdict for the paper profile is pre-registered" in text


def test_a_broken_paper_key_fails_the_preflight_with_one_line_naming_the_stage(tmp_path):
    """The runner end to end on a scratch copy, stopped at the first stage that reads the broken key:
    pretrain.precision (a key only the paper path sets) made invalid."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-m", "tilelli.preflight", "--dir", str(tmp_path), "--skip-checks",
                          "--target", "pretrain@0", "-o", "pretrain.precision=fp16", "-o", "data.max_bytes=200000"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1, out.stderr[-2000:]
    assert last.startswith("preflight: stage 'pretrain@0' failed: error: params.yaml: pretrain.precision='fp16': "
                           "must be one of fp32, bf16 (workspace kept: "), last
    kept = Path(last.rsplit("workspace kept: ", 1)[1].rstrip(")"))
    assert (kept / "params.yaml").is_file() and kept.parent == tmp_path
