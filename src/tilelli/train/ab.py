"""Lite vs vanilla (A/B) training runs: the lr sweep and the final runs, through the one loop.

    ab_sweep_run(params, arm, lr)  seed ab.sweep.seed at `lr`  -> models/ab/sweep/<arm>-lr<lr>
    ab_run(params, arm, seed)      seed at the arm's chosen lr -> models/ab/<arm>-s<seed>

Both are `ab_train`: a from-scratch pretrain of ab.models[arm] under ab.train with the lr set,
on the same packed data, steps and batches for both arms (tilelli.train.recipes.run_training).
Run names and the chosen lr live in tilelli.study; the lr choice and the statistics in tilelli.eval.ab_report.

Reuse: the final run of seed ab.sweep.seed would repeat the sweep run at the chosen lr step
for step (same model, seed, data and TrainConfig; CPU training is deterministic), so it is a
copy of that run's model, logs and metrics, made only after checking that the two configs
agree. With 3 lrs and 3 seeds that is 10 runs instead of 12.

Tiny settings (conf/profile/tiny.yaml `ab`), measured on this 2-core machine with seed 0, warmup
30, cosine to 0.1 x lr; "escape" = first step whose 10-step mean train loss is below 2.0 nats
(vanilla's plateau is 2.3-2.5 nats, val 3.4-3.6 bits/byte):
  batch x seq  steps  vanilla lr: escape step, final val bpb          Lite lr: final val bpb
  16 x 128      300   3e-3: 237, 2.63 (51 s)
  16 x 128      600   3e-3: 230, 1.16 (94 s)
   8 x 128      400   1e-3 / 3e-3 / 1e-2: none, 3.10 / 2.93 / 3.13
   8 x 128     1000   3e-3: 354, 1.14 (86 s)
   4 x 128     1000   3e-3: 699, 2.50
   8 x 64       600   3e-3: 340, 2.19; 1e-2: none, 3.31               3e-3: 0.77
  16 x 32       600   3e-3: 229, 1.78 (23 s)                          3e-3: 0.94 (36 s)
  16 x 64       400   1e-3: 279, 2.62   2e-3: 196, 2.13   3e-3: 197, 2.01   1e-3: 1.04   3e-3: 0.815
                      5e-3: 223, 2.09   1e-2: 378, 2.91 (~28 s each)      1e-2: 0.772  3e-2: 0.865 (~36 s)
Vanilla leaves its plateau after a number of optimizer steps more than of tokens (batch 16:
~200-230, batch 8: ~350, batch 4: ~700), and a 64-byte context halves the cost of a step at 128
without moving the escape; so the tiny A/B runs 16 x 64 for 400 steps (410K tokens per run).
Its sweep [1e-3, 3e-3, 1e-2] picks 3e-3 for vanilla (interior; 2e-3 and 5e-3 are worse too) and
1e-2 for Lite (at the grid's edge, but 3e-2 is worse). Seeds 0/1/2, val bpb half-way -> end:
vanilla 2.91/2.96/3.03 -> 2.01/2.06/2.11, Lite 1.11/1.10/1.15 -> 0.77/0.79/0.78. Both are past
their plateaus (vanilla's half-way value is already 0.5 bits below its 3.45 at step 100), and
the 3.7x gap of the untuned A/B (2.66 vs 0.71) shrinks to 2.6x (2.06 vs 0.78); at 1,200 steps of 16 x 128 it is 1.4x (0.563 vs
0.393), so the tiny A/B measures how fast each arm learns, not where it converges.
Cost: 10 runs (~36 s Lite, ~28 s vanilla, +3 s start-up each), 2 copies and 2 reports: ~6 min.
"""
from __future__ import annotations

import os
import shutil

from tilelli.data.loader import open_shard, valid_batches
from tilelli.errors import TilelliError
from tilelli.io import atomic_dir, sha256_file, write_json
from tilelli.stage import log
from tilelli.study import ab_plan, chosen_lr, final_run, run_metrics, sweep_run
from tilelli.train.batches import window_batches
from tilelli.train.config import TrainConfig
from tilelli.train.recipes import PACKED, run_training, torch_seed, train_config


def ab_train(params: dict, arm: str, seed: int, lr: float, run: str) -> dict:
    """One from-scratch pretrain of ab.models[arm] at (seed, lr) -> models/<run>, metrics/train/<run>.json."""
    from tilelli.model import TilelliLM

    plan = ab_plan(params)
    name = plan.models[plan.check_arm(arm)]
    torch_seed(seed)
    model = TilelliLM.from_config(name)
    cfg = train_config(params, "ab.train", model, run=run, seed=seed, overrides={"lr": lr})
    shard = open_shard(PACKED / "train.bin")
    summary = run_training(
        params, cfg, model, out=run,
        batch_fn=lambda c: window_batches(shard, c.seq_len, c),
        eval_batches=lambda c: valid_batches(PACKED / "valid.bin", c.seq_len, c.batch_size, c.eval_batches),
        identity={"model": name, "data": sha256_file(PACKED / "meta.json")},
        metadata={"arm": arm, "model_name": name, "seed": seed, "lr": lr})
    config = {k: v for k, v in cfg.as_dict().items() if k != "name"}
    metrics = {**summary, "arm": arm, "model_name": name, "seed": seed, "lr": lr, "params": model.num_params(),
               "tokens_per_step": cfg.batch_size * cfg.seq_len, "config": config}
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes (as run_training)
        write_json(f"metrics/train/{run}.json", metrics)
    return metrics


def ab_sweep_run(params: dict, arm: str, lr: float) -> dict:
    plan = ab_plan(params)
    if float(lr) not in plan.lrs:
        raise TilelliError(f"ab sweep lr {lr} is not in params.yaml ab.sweep.lrs {plan.lrs}")
    return ab_train(params, arm, plan.sweep_seed, float(lr), sweep_run(arm, lr))


def ab_run(params: dict, arm: str, seed: int) -> dict:
    """The final run of (arm, seed) at the arm's chosen lr; the sweep seed's is the sweep run, copied."""
    plan = ab_plan(params)
    plan.check_arm(arm)
    if seed not in plan.seeds:
        raise TilelliError(f"ab seed {seed} is not in params.yaml ab.seeds {plan.seeds}")
    lr = chosen_lr(params, arm)
    if seed == plan.sweep_seed:
        return reuse_sweep_run(params, arm, seed, lr)
    return ab_train(params, arm, seed, lr, final_run(arm, seed))


def reuse_sweep_run(params: dict, arm: str, seed: int, lr: float) -> dict:
    """Copy the sweep run at (arm, lr) to final_run(arm, seed) after checking it is that run."""
    plan = ab_plan(params)
    src, dst = sweep_run(arm, lr), final_run(arm, seed)
    metrics = run_metrics(src, "run `dvc repro ab_sweep`")
    want = TrainConfig.from_params({**plan.train, "lr": lr}, dst, seed=seed, key="ab.train").as_dict()
    want = {**{k: v for k, v in want.items() if k != "name"}, "model_name": plan.models[arm]}
    got = {**metrics.get("config", {}), "model_name": metrics.get("model_name")}
    differ = sorted(k for k in want if got.get(k) != want[k])
    if differ:
        raise TilelliError(f"metrics/train/{src}.json is not the run {dst} would be (differs in "
                           f"{', '.join(differ)}); re-run `dvc repro ab_sweep`")
    with atomic_dir(f"models/{dst}") as tmp:
        shutil.copytree(f"models/{src}", tmp, dirs_exist_ok=True)
    with atomic_dir(f"plots/train/{dst}") as tmp:
        shutil.copytree(f"plots/train/{src}", tmp, dirs_exist_ok=True)
    out = {**metrics, "reused_from": src}
    write_json(f"metrics/train/{dst}.json", out)
    log(f"[{dst}] = {src} (same model, seed {seed}, lr {lr} and config): copied, not retrained")
    return out
