"""Training throughput of the two profiles' pretrain configs through the real loop, on this CPU.

    .venv/bin/python benchmarks/bench_train.py            # ~2 minutes on 2 cores

For each profile (params composed from conf/, as `dvc exp run -S profile=...` would), builds
the profile's model and runs `tilelli.train.train` for a few steps of its pretrain batch
(batch_size x seq_len) on random bytes, then prints median step time, tokens/s, the ratio
paper/tiny, and the wall time the profile's pretrain would take here at that rate. The first
step (allocation warm-up) is dropped. Printed, never asserted.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from tilelli.model import TilelliLM
from tilelli.stage import compose
from tilelli.train import TrainConfig, train
from tilelli.train.recipes import window_batches

STEPS = {"tiny": 12, "paper": 4}


def profile_params(profile: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        return yaml.safe_load(compose([f"profile={profile}"], Path(d) / "p.yaml").read_text())


def measure(profile: str) -> dict:
    params = profile_params(profile)
    section = {**params["pretrain"], "steps": STEPS[profile], "eval_every": 10_000, "ckpt_every": 10_000,
               "compile": False}
    cfg = TrainConfig.from_params(section, f"bench-{profile}")
    shard = np.random.default_rng(0).integers(0, 256, 2_000_000, dtype=np.uint8)
    inner, stamps = window_batches(shard, cfg.seq_len, cfg), []

    def batch_fn(step, micro, rank, world):
        stamps.append(time.perf_counter())
        return inner(step, micro, rank, world)

    model = TilelliLM.from_config(params["model"]["name"], seed=0)
    with tempfile.TemporaryDirectory() as d:
        train(model, cfg, batch_fn, out_dir=f"{d}/m", state_dir=f"{d}/s", log_dir=f"{d}/l", device="cpu")
    step_s = statistics.median(np.diff(stamps[1:]))
    tokens = cfg.batch_size * cfg.seq_len
    return {"profile": profile, "model": params["model"]["name"], "params": model.num_params(),
            "tokens_per_step": tokens, "step_s": step_s, "tokens_per_s": tokens / step_s,
            "pretrain_steps": params["pretrain"]["steps"]}


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    rows = [measure(p) for p in ("tiny", "paper")]
    for r in rows:
        hours = r["pretrain_steps"] * r["step_s"] / 3600
        print(f"{r['profile']:>5}: {r['model']} ({r['params']:,} params), {r['tokens_per_step']:,} tokens/step, "
              f"median {r['step_s']:.3f} s/step = {r['tokens_per_s']:,.0f} tokens/s; "
              f"its {r['pretrain_steps']:,}-step pretrain would take {hours:.2f} h here")
    print(f"paper/tiny tokens/s ratio: {rows[1]['tokens_per_s'] / rows[0]['tokens_per_s']:.3f}")


if __name__ == "__main__":
    main()
