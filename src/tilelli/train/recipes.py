"""The training stages as functions of params: pretrain, chat SFT, abstain SFT, metacog, A/B.

Stage scripts (stages/*.py) call these; everything here goes through the one loop in
tilelli.train.loop. Paths follow dvc.yaml: models/<name> (DVC-cached save_pretrained dirs),
checkpoints/<name> (resume state, git-ignored, outside DVC), plots/train/<name>/{train,eval}.csv
(logs), metrics/train/<name>.json (deterministic summary), metrics/timing/<name>.json
(tokens/s and wall time: git-ignored, since they change from run to run). The base chain runs
once per study seed (tilelli.study.base_chain: base/pretrain-s<seed> -> base/chat-s<seed> ->
base/v4-s<seed>), seeded with that seed for init and data order.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tilelli.io import read_jsonl, sha256_file, write_json
from tilelli.data.loader import open_shard, sft_eval_batches, valid_batches
from tilelli.errors import TilelliError
from tilelli.stage import log, param
from tilelli.study import base_step, check_seed
from tilelli.train.batches import encode_example, example_batches, window_batches
from tilelli.train.config import TrainConfig
from tilelli.train.dist import resolve_device
from tilelli.train.loop import evaluate_lm, train
from tilelli.train.objectives import AbstainLoss, lm_loss

PACKED = Path("data/packed")
SFT = Path("data/sft")


def sft_examples(rows: list[dict], seq_len: int, template: str) -> list[dict]:
    return [encode_example(r["prompt"], r["response"], seq_len,
                           abstain=1.0 if r["response"].strip() == template.strip() else 0.0, ood=0.0)
            for r in rows]


def train_config(params: dict, key: str, model, run: str, seed: int, overrides: dict | None = None) -> TrainConfig:
    """params[key] (+ overrides) as a checked TrainConfig for `model`, named `run` (its artifacts),
    seeded with `seed` (data order): called before any data is read. Errors name the params key."""
    section = param(params, key)
    if not isinstance(section, dict):
        raise TilelliError(f"params.yaml: {key}: expected a mapping of training keys, got {section!r}")
    cfg = replace(TrainConfig.from_params({**section, **(overrides or {})}, key, seed=seed, key=key), name=run)
    if cfg.seq_len > model.config.max_seq:
        raise TilelliError(f"params.yaml: {key}.seq_len={cfg.seq_len} exceeds the model's context "
                           f"({model.config.max_seq})")
    return cfg


def run_training(params: dict, cfg: TrainConfig, model, batch_fn, eval_batches, *, out: str,
                 loss_fn=lm_loss, identity=None, metadata=None) -> dict:
    """Train `model` under `cfg` (see train_config) and save models/<out>.

    The evaluation batches are built once, before the first step: every input (the training
    shard through batch_fn, the validation shard or rows through eval_batches) is checked first.

    cfg.name names the artifacts: checkpoints/<run> (resume state),
    plots/train/<run>/{train,eval}.csv, metrics/train/<run>.json, metrics/timing/<run>.json.
    """
    run = cfg.name
    device = resolve_device(params.get("device", "auto"))
    # Built (and the shards behind them verified: size, sha256, separator) before the first step,
    # so a corrupt valid.bin fails here rather than at the first evaluation, after steps have run.
    evals = eval_batches(cfg)
    summary = train(model, cfg, batch_fn(cfg), loss_fn, lambda m: evaluate_lm(m, evals, device),
                    out_dir=f"models/{out}", state_dir=f"checkpoints/{run}", log_dir=f"plots/train/{run}",
                    metadata=metadata, identity=identity, device=device)
    timing, main = summary.pop("timing"), summary.pop("main_process")
    if main:  # under torchrun only rank 0 writes
        write_json(f"metrics/train/{run}.json", summary)
        write_json(f"metrics/timing/{run}.json", timing)
        log(f"[{run}] {summary} {timing}")
    return summary


def pretrain(params: dict, seed: int) -> dict:
    """models/base/pretrain-s<seed> from a random init drawn with `seed`."""
    from tilelli.model import TilelliLM

    _, out = base_step("pretrain", check_seed(params, seed))
    mcfg = param(params, "model")
    torch_seed(seed)
    # The name decides quantisation (*-ternary* names are ternary); an optional model.quantize
    # that contradicts it is an error naming both (model/config.py), never a silent FP32 run.
    extra = {"quantize": mcfg["quantize"]} if "quantize" in mcfg else {}
    model = TilelliLM.from_config(mcfg["name"], **extra)
    cfg = train_config(params, "pretrain", model, run=out, seed=seed)
    train_shard = open_shard(PACKED / "train.bin")
    return run_training(
        params, cfg, model, out=out,
        batch_fn=lambda c: window_batches(train_shard, c.seq_len, c),
        eval_batches=lambda c: valid_batches(PACKED / "valid.bin", c.seq_len, c.batch_size, c.eval_batches),
        identity={"model": mcfg, "data": sha256_file(PACKED / "meta.json")},
        metadata={"stage": "pretrain", "model_name": mcfg["name"], "seed": seed})


def sft(params: dict, name: str, seed: int, files: list[str], loss_fn=lm_loss) -> dict:
    """Base-chain stage `name` of `seed`: fine-tune its init model into its output
    (tilelli.study.base_step) on data/sft/<file>_train.jsonl (eval: *_valid)."""
    from tilelli.model import TilelliLM

    init, out = base_step(name, check_seed(params, seed))
    model = TilelliLM.from_pretrained(f"models/{init}")
    cfg = train_config(params, name, model, run=out, seed=seed)
    template = param(params, "sft.abstain_template")
    train_rows = [r for f in files for r in read_jsonl(SFT / f"{f}_train.jsonl")]
    valid_rows = [r for f in files for r in read_jsonl(SFT / f"{f}_valid.jsonl")]
    train_ex = sft_examples(train_rows, cfg.seq_len, template)
    return run_training(
        params, cfg, model, out=out,
        batch_fn=lambda c: example_batches(train_ex, c),
        eval_batches=lambda c: sft_eval_batches(valid_rows, c.seq_len, c.batch_size, c.eval_batches),
        loss_fn=loss_fn, identity={"init": sha256_file(f"models/{init}/config.json"),
                                   "data": [sha256_file(SFT / f"{f}_train.jsonl") for f in files]},
        metadata={"stage": name, "init": init, "seed": seed, "files": files})


def chat_sft(params: dict, seed: int) -> dict:
    return sft(params, "chat_sft", seed, ["chat"])


def abstain_sft(params: dict, seed: int) -> dict:
    weight = float(param(params, "abstain_sft").get("bce_weight", 0.0))
    return sft(params, "abstain_sft", seed, ["chat", "abstain"], loss_fn=AbstainLoss(weight))


def torch_seed(seed: int) -> None:
    import random

    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
