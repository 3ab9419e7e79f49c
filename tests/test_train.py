"""The training loop: resume after kill -9, DDP equivalence, determinism, bad params."""
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from tilelli.io import TilelliError
from tilelli.stage import compose
from tilelli.train import TrainConfig
from tilelli.data.chat import IGNORE_INDEX, format_completion, format_prompt
from tilelli.train.recipes import encode_example, example_batches, window_batches
from tilelli.train.loop import lr_at
from conftest import ROOT

SCRIPT = str(Path(__file__).with_name("_train_script.py"))
ENV = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1", "LB": "0.01"}


def _run(*args, check=True):
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], env=ENV, capture_output=True, text=True,
                          check=check, timeout=300)


def _weights(path):
    return load_file(str(Path(path) / "model" / "model.safetensors"))


def test_kill_and_resume_matches_uninterrupted(tmp_path):
    _run(tmp_path / "straight", -1)
    crashed = _run(tmp_path / "crash", 7, check=False)
    assert crashed.returncode == -9
    assert (tmp_path / "crash" / "state" / "state.safetensors").is_file()   # checkpoint at step 5
    assert not (tmp_path / "crash" / "model").exists()                       # no output that looks complete
    resumed = _run(tmp_path / "crash", -1)
    assert "resuming from step 5/12" in resumed.stderr
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "crash")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not (tmp_path / "crash" / "state").exists()                       # finished runs leave no state
    log = (tmp_path / "crash" / "logs" / "train.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == [str(s) for s in range(1, 13)]


def test_same_seed_same_machine_gives_identical_metrics_and_weights(tmp_path):
    _run(tmp_path / "a", -1, 6)
    _run(tmp_path / "b", -1, 6)
    assert (tmp_path / "a/logs/train.csv").read_text() == (tmp_path / "b/logs/train.csv").read_text()
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def _launch(tmp_path, name, overrides, env):
    """Run the script the way dvc.yaml runs a training stage: `${launcher} <module> ...` from params."""
    params = yaml.safe_load(compose(overrides, tmp_path / f"{name}.yaml", ROOT / "conf").read_text())
    cmd = shlex.split(params["launcher"]) + ["tests._train_script", str(tmp_path / name), "-1", "6"]
    env = {**env, "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")}
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=300)


def test_ddp_two_processes_match_single_process(tmp_path):
    # The router load-balance loss is computed on each process's share of the batch (as in MoE
    # practice) and is not linear in the batch, so the exact comparison turns it off.
    # Both runs go through the `launcher` param (default `python -m`; here torchrun, gloo on 2 CPU
    # processes); --standalone makes torchrun take a free port, so parallel runs never collide.
    env = {**ENV, "LB": "0"}
    single = _launch(tmp_path, "single", [], env)
    ddp = _launch(tmp_path, "ddp", ["launcher=torchrun --standalone --nproc_per_node 2 -m"], env)
    assert single.args[:2] == ["python", "-m"] and ddp.args[:4] == ["torchrun", "--standalone", "--nproc_per_node", "2"]
    a, b = _weights(tmp_path / "single"), _weights(tmp_path / "ddp")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=k)  # seen: max 2e-5


def test_batches_are_pure_functions_of_step_and_split_across_ranks():
    shard = np.arange(10_000, dtype=np.int64).astype(np.uint8)
    cfg = TrainConfig(steps=3, batch_size=8, seq_len=16, lr=1e-3, grad_accum=2)
    fn = window_batches(shard, 16, cfg)
    assert torch.equal(fn(2, 1)["x"], fn(2, 1)["x"])
    assert not torch.equal(fn(2, 0)["x"], fn(2, 1)["x"])
    whole = fn(1, 0, 0, 1)["x"]
    halves = torch.cat([fn(1, 0, 0, 2)["x"], fn(1, 0, 1, 2)["x"]])
    assert whole.shape == (4, 16) and torch.equal(whole, halves)
    assert torch.equal(fn(0, 0)["y"][:, :-1], fn(0, 0)["x"][:, 1:])


def test_sft_examples_mask_prompt_and_padding_and_cover_each_epoch():
    ex = [encode_example(f"Question {i}?", f"Answer {i}.", 48, abstain=0.0, ood=0.0) for i in range(10)]
    for i, e in enumerate(ex):
        prompt = format_prompt(f"Question {i}?").encode()
        assert bytes(e["x"][:len(prompt)]) == prompt and e["pos"] == len(prompt) - 1
        assert bytes(t for t in e["y"] if t != IGNORE_INDEX) == format_completion(f"Answer {i}.").encode()
        assert e["y"][e["pos"]] == ord(" ") and all(t == IGNORE_INDEX for t in e["y"][:e["pos"]])
    ood = encode_example("gibberish xq", None, 48, abstain=1.0, ood=1.0)
    assert all(t == IGNORE_INDEX for t in ood["y"]) and bytes(ood["x"][:ood["pos"] + 1]).endswith(b"TILELLI:")
    cfg = TrainConfig(steps=3, batch_size=5, seq_len=48, lr=1e-3)
    fn = example_batches(ex, cfg)
    b = fn(0, 0)
    assert b["x"].shape == (5, 48) and b["pos"].dtype == torch.long and b["abstain"].dtype == torch.float32
    seen = torch.cat([fn(0, 0)["x"][:, 6], fn(1, 0)["x"][:, 6]]).tolist()  # byte 6 = first byte of "Question"
    firsts = [bytes(fn(s, 0)["x"][r, 6:16].tolist()) for s in (0, 1) for r in range(5)]
    assert sorted(firsts) == sorted(bytes(e["x"][6:16]) for e in ex) and len(seen) == 10
    assert torch.equal(fn(2, 0)["x"], example_batches(ex, cfg)(2, 0)["x"])


def test_schedule_warmup_then_cosine_to_floor():
    cfg = TrainConfig(steps=100, batch_size=1, seq_len=8, lr=1.0, warmup=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(100, cfg) == pytest.approx(0.1)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 100))


@pytest.mark.parametrize("key,value,needle", [
    ("lr", -1e-3, "lr=-0.001"), ("steps", 0, "positive integer"), ("batch_size", 6, "divisible"),
    ("beta2", 1.0, "beta2"), ("warmup", -1, "warmup"),
])
def test_bad_train_params_are_one_clear_line(key, value, needle):
    section = {"steps": 10, "batch_size": 4, "seq_len": 8, "lr": 1e-3, "grad_accum": 4, key: value}
    with pytest.raises(TilelliError) as e:
        TrainConfig.from_params(section, "pretrain")
    assert needle in str(e.value) and "\n" not in str(e.value) and "pretrain" in str(e.value)
