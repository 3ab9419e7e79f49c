"""The training stages as functions of params: pretrain, chat SFT, abstain SFT, the metacognition variants, the splice, and the A/B runs.

Base chain
----------
Stage scripts (stages/*.py) call these; everything here goes through the one loop in
tilelli.train.loop. Paths follow dvc.yaml: models/<name> (DVC-cached save_pretrained dirs),
checkpoints/<name> (resume state, git-ignored, outside DVC), plots/train/<name>/{train,eval}.csv
(logs), metrics/train/<name>.json (deterministic summary), metrics/timing/<name>.json
(tokens/s and wall time: git-ignored, since they change from run to run). The base chain runs
once per study seed (tilelli.study.base_chain: base/pretrain-s<seed> -> base/chat-s<seed> ->
base/v4-s<seed>), seeded with that seed for init and data order.

Experiments
-----------
The study's experiments: metacognition variants, the splice, and Lite vs vanilla (A/B).

- `metacog(params, variant, seed)`: models/base/v4-s<seed> -> models/metacog/<variant>-s<seed>, trained by
  the variant's recipe (params metacog.recipes.<variant>, train/loop.py MetacogRecipe): its
  metacog weight (v7's is the top-level `metacog_weight`, the main joint model the claims read),
  which parameters train (all / router / all_but_router: the others get requires_grad False and
  stay out of the optimizer, so they end bit-identical to their base), and which data:
    raw_text          packed corpus windows (in-domain: CE, router-confidence target 1) and the
                      OOD texts without a chat frame (no CE, target 0)          (published v5)
    chat_vs_ood       chat + unanswerable pairs in the chat frame (CE, abstain label 0/1, target 1)
                      and the OOD prompts in the chat frame (no CE, abstain 1, target 0)  (v6-v8a)
    in_domain_subset  as chat_vs_ood, but only a fixed ce_subset fraction of the pairs (chosen by
                      a hash of the prompt, the same for every seed) keeps its CE        (v8b)
  One objective for all (MetacogLoss: CE + weight x router-confidence BCE + the abstain head's
  BCE), the head's BCE only where the head trains (not in the router-only variants).
- `splice(params, seed)`: base/v4-s<seed> with the abstain head of metacog/<main>-s<seed> grafted
  on, no other change -> models/splice/<main>-s<seed> (one per seed: claims read every seed).
Seed s of a variant or splice always starts from seed s's own base (tilelli.study.v4_dir), so a
CI over seeds covers the training variance of the base chain too.
- Lite vs vanilla (A/B): the A/B runs below (lr sweep and final runs), tilelli.eval.ab_report.

A/B runs
--------
Lite vs vanilla (A/B) training runs: the lr sweep and the final runs, through the one loop.

    ab_sweep_run(params, arm, lr)  seed ab.sweep.seed at `lr`  -> models/ab/sweep/<arm>-lr<lr>
    ab_run(params, arm, seed)      seed at the arm's chosen lr -> models/ab/<arm>-s<seed>

Both are `ab_train`: a from-scratch pretrain of ab.models[arm] under ab.train with the lr set,
on the same packed data, steps and batches for both arms (run_training, above).
Run names and the chosen lr live in tilelli.study; the lr choice and the statistics in tilelli.eval.ab_report.

Reuse: the final run of seed ab.sweep.seed would repeat the sweep run at the chosen lr step
for step (same model, seed, data and TrainConfig; CPU training is deterministic), so it is a
copy of that run's model, logs and metrics, made only after checking that the two configs
agree: one training run fewer per arm.

The tiny A/B (conf/profile/tiny.yaml `ab`) runs 16 x 64 windows: vanilla leaves its loss plateau
after a number of optimizer steps more than of tokens, so its batch must let it escape within the
run, and a 64-byte context halves a step's cost at 128 without delaying the escape. Both arms are
then past their plateaus, but not converged: the tiny A/B measures how fast each arm learns, not
where it converges. The runs behind these choices: docs/LOG.md.

Training batches
----------------
Training batches as pure functions of (step, micro-batch, rank): resumable, DDP-consistent.

- `window_batches`: random windows of the packed shard; the global batch of (step, micro) is
  drawn from a generator seeded by (seed, step, micro).
- `example_batches`: encoded SFT examples in epochs; epoch e is a permutation seeded by
  (seed, e), and step s takes the next `batch` positions of that stream, so every example is
  seen once per epoch.
Each of `world` processes takes its contiguous slice of the global batch. So a run resumed
at step s sees the batches an uninterrupted run would, and 2 processes together see exactly
the batch that 1 process sees alone (the DDP test relies on it).
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from tilelli import paths
from tilelli.data.chat import IGNORE_INDEX, encode_pair
from tilelli.data.loader import open_shard, sft_eval_batches, valid_batches, windows
from tilelli.io import TilelliError, atomic_dir, read_jsonl, sha256_file, write_json
from tilelli.stage import log, param
from tilelli.study import (ab_plan, base_step, check_seed, chosen_lr, final_run, run_metrics, splice_dir, sweep_run,
                           v4_dir, variant_dir)
from tilelli.train.loop import (AbstainLoss, MetacogLoss, MetacogRecipe, TrainConfig, evaluate_lm, lm_loss,
                                resolve_device, train)


# ---------------------------------------------------------------------------------------------
# Training batches: pure functions of (step, micro-batch, rank)
# ---------------------------------------------------------------------------------------------
def step_generator(seed: int, *key: int) -> torch.Generator:
    digest = hashlib.sha256(":".join(map(str, (seed, *key))).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


def _my_slice(n: int, rank: int, world: int) -> slice:
    per = n // world
    return slice(rank * per, (rank + 1) * per)


def window_batches(shard: np.ndarray, seq_len: int, cfg):
    """Random windows of seq_len+1 bytes from a packed shard -> {x, y} [batch/world, seq_len]."""
    if len(shard) < seq_len + 2:
        raise TilelliError(f"shard of {len(shard)} bytes is shorter than seq_len+2={seq_len + 2}")
    micro_batch = cfg.batch_size // cfg.grad_accum

    def batch_fn(step: int, micro: int, rank: int = 0, world: int = 1) -> dict:
        g = step_generator(cfg.seed, step, micro)
        starts = torch.randint(0, len(shard) - seq_len, (micro_batch,), generator=g).numpy()
        x, y = windows(shard, starts[_my_slice(micro_batch, rank, world)], seq_len)
        return {"x": x, "y": y}

    return batch_fn


def encode_example(prompt: str, response: str | None, seq_len: int, *, abstain: float = -1.0,
                   ood: float = -1.0) -> dict:
    """One chat example padded to seq_len, with `pos` = index of the last prompt byte in x.

    response=None encodes the prompt alone with no LM loss (OOD inputs in metacog training).
    Labels: abstain/ood 1.0 or 0.0, -1.0 = unlabelled (see tilelli.train.loop, Objectives).
    """
    x, y = encode_pair(prompt, response or "", seq_len)
    pos = next(i for i, t in enumerate(y) if t != IGNORE_INDEX)
    if response is None:
        y = [IGNORE_INDEX] * len(y)
    pad = seq_len - len(x)
    return {"x": x + [0] * pad, "y": y + [IGNORE_INDEX] * pad, "pos": pos, "abstain": abstain, "ood": ood}


def encode_text(ids, seq_len: int, *, lm: bool, abstain: float = -1.0, ood: float = -1.0) -> dict:
    """Raw bytes without the chat frame (metacog data raw_text), padded to seq_len.

    lm=True: `ids` is a corpus window of seq_len + 1 bytes, CE on every next byte; lm=False: a
    text cut to seq_len bytes with no LM loss (OOD texts). pos = the last input byte, so the
    router-confidence term reads every position of the text (loop.MetacogLoss).
    """
    ids = [int(t) for t in ids]
    x = ids[:seq_len]
    if not x:
        raise TilelliError("encode_text: empty text")
    y = ids[1:seq_len + 1] if lm else []
    y = y + [IGNORE_INDEX] * (len(x) - len(y))
    pad = seq_len - len(x)
    return {"x": x + [0] * pad, "y": y + [IGNORE_INDEX] * pad, "pos": len(x) - 1, "abstain": abstain, "ood": ood}


def collate(examples: list[dict]) -> dict:
    batch = {"x": torch.tensor([e["x"] for e in examples], dtype=torch.long),
             "y": torch.tensor([e["y"] for e in examples], dtype=torch.long)}
    for key in ("pos", "abstain", "ood"):
        if key in examples[0]:
            batch[key] = torch.tensor([e[key] for e in examples],
                                      dtype=torch.long if key == "pos" else torch.float32)
    return batch


def example_batches(examples: list[dict], cfg):
    """Encoded examples in seeded epochs -> collated batches [batch/world, seq_len]."""
    if not examples:
        raise TilelliError(f"{cfg.name}: no training examples")
    n, micro_batch = len(examples), cfg.batch_size // cfg.grad_accum

    @lru_cache(maxsize=4)
    def epoch_order(epoch: int) -> list[int]:
        return torch.randperm(n, generator=step_generator(cfg.seed, epoch)).tolist()

    def batch_fn(step: int, micro: int, rank: int = 0, world: int = 1) -> dict:
        start = (step * cfg.grad_accum + micro) * micro_batch
        positions = list(range(start, start + micro_batch))[_my_slice(micro_batch, rank, world)]
        return collate([examples[epoch_order(k // n)[k % n]] for k in positions])

    return batch_fn


# ---- Base chain ----------------------------------------------------------------------------------
PACKED = Path(paths.PACKED_DIR)
SFT = Path(paths.SFT_DIR)


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
                    out_dir=paths.model_path(out), state_dir=paths.checkpoint_path(run), log_dir=paths.train_plots(run),
                    metadata=metadata, identity=identity, device=device)
    timing, main = summary.pop("timing"), summary.pop("main_process")
    if main:  # under torchrun only rank 0 writes
        write_json(paths.train_metrics(run), summary)
        write_json(paths.timing_metrics(run), timing)
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
    train_shard = open_shard(paths.TRAIN_SHARD)
    return run_training(
        params, cfg, model, out=out,
        batch_fn=lambda c: window_batches(train_shard, c.seq_len, c),
        eval_batches=lambda c: valid_batches(paths.VALID_SHARD, c.seq_len, c.batch_size, c.eval_batches),
        identity={"model": mcfg, "data": sha256_file(PACKED / "meta.json")},
        metadata={"stage": "pretrain", "model_name": mcfg["name"], "seed": seed})


def sft(params: dict, name: str, seed: int, files: list[str], loss_fn=lm_loss) -> dict:
    """Base-chain stage `name` of `seed`: fine-tune its init model into its output
    (tilelli.study.base_step) on data/sft/<file>_train.jsonl (eval: *_valid)."""
    from tilelli.model import TilelliLM

    init, out = base_step(name, check_seed(params, seed))
    model = TilelliLM.from_pretrained(paths.model_path(init))
    cfg = train_config(params, name, model, run=out, seed=seed)
    template = param(params, "sft.abstain_template")
    train_rows = [r for f in files for r in read_jsonl(SFT / f"{f}_train.jsonl")]
    valid_rows = [r for f in files for r in read_jsonl(SFT / f"{f}_valid.jsonl")]
    train_ex = sft_examples(train_rows, cfg.seq_len, template)
    return run_training(
        params, cfg, model, out=out,
        batch_fn=lambda c: example_batches(train_ex, c),
        eval_batches=lambda c: sft_eval_batches(valid_rows, c.seq_len, c.batch_size, c.eval_batches),
        loss_fn=loss_fn, identity={"init": sha256_file(Path(paths.model_path(init), "config.json")),
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


# ---- Experiments ---------------------------------------------------------------------------------
CHAT_FILES = ("chat_train.jsonl", "abstain_train.jsonl")
OOD_FILE = "ood_train.jsonl"


def select_trainable(model, trainable: str) -> int:
    """Set requires_grad for a recipe's `trainable`; returns the number of trainable weights.

    Frozen parameters get no gradient and tilelli.train.loop.param_groups leaves them out of
    AdamW (no update, no weight decay), so they are saved bit-identical to the initial model.
    """
    router = {id(p) for p in model.router_parameters()}
    if trainable != "all" and not router:
        raise TilelliError(f"metacog trainable={trainable!r} needs a routed model; {model.config.name} has no router")
    for p in model.parameters():
        p.requires_grad_(trainable == "all" or (id(p) in router) == (trainable == "router"))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def in_ce_subset(prompt: str, fraction: float) -> bool:
    """A fixed subset of about `fraction` of the prompts, by hash: the same for every seed."""
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "little") < fraction * 2**64


def _ood_texts() -> list[str]:
    return [row.get("prompt") or row.get("text") for row in read_jsonl(SFT / OOD_FILE)]


def raw_text_examples(recipe: MetacogRecipe, seq_len: int) -> list[dict]:
    """`windows` evenly spaced corpus windows (CE, in-domain) + the OOD texts unframed (no CE)."""
    shard = open_shard(paths.TRAIN_SHARD)
    starts = np.linspace(0, len(shard) - seq_len - 2, recipe.windows).astype(np.int64)
    windows = [encode_text(shard[s:s + seq_len + 1], seq_len, lm=True, ood=0.0) for s in starts]
    return windows + [encode_text(t.encode("utf-8"), seq_len, lm=False, ood=1.0) for t in _ood_texts()]


def chat_examples(params: dict, recipe: MetacogRecipe, seq_len: int) -> list[dict]:
    """Chat + unanswerable pairs (CE on all, or on the ce_subset) + the OOD prompts (no CE)."""
    rows = [r for f in CHAT_FILES for r in read_jsonl(SFT / f)]
    examples = sft_examples(rows, seq_len, param(params, "sft.abstain_template"))
    if recipe.data == "in_domain_subset":   # the rest keep their prompt and head label, no CE
        examples = [e if in_ce_subset(r["prompt"], recipe.ce_subset) else {**e, "y": [IGNORE_INDEX] * len(e["y"])}
                    for r, e in zip(rows, examples)]
    return examples + [encode_example(t, None, seq_len, abstain=1.0, ood=1.0) for t in _ood_texts()]


def metacog_examples(params: dict, recipe: MetacogRecipe, seq_len: int) -> tuple[list[dict], list[str]]:
    """(training examples, the files they come from) for the recipe's data."""
    if recipe.data == "raw_text":
        return raw_text_examples(recipe, seq_len), [paths.TRAIN_SHARD, SFT / OOD_FILE]
    return chat_examples(params, recipe, seq_len), [*(SFT / f for f in CHAT_FILES), SFT / OOD_FILE]


def metacog(params: dict, variant: str, seed: int) -> dict:
    """Train metacog/<variant>-s<seed> from base/v4-s<seed> by the variant's recipe; returns the summary."""
    from tilelli.model import TilelliLM

    m = param(params, "metacog")
    recipe = MetacogRecipe.from_params(m, variant)
    base = v4_dir(check_seed(params, seed))
    torch_seed(seed)
    model = TilelliLM.from_pretrained(paths.model_path(base))
    n_trainable = select_trainable(model, recipe.trainable)
    name = variant_dir(variant, seed)
    cfg = train_config(params, "metacog.train", model, run=name, seed=seed, overrides=recipe.train)
    train_ex, files = metacog_examples(params, recipe, cfg.seq_len)
    valid_rows = read_jsonl(SFT / "chat_valid.jsonl")
    bce_weight = float(m.get("bce_weight", 1.0)) if recipe.trains_head else 0.0
    return run_training(
        params, cfg, model, out=name,
        batch_fn=lambda c: example_batches(train_ex, c),
        eval_batches=lambda c: sft_eval_batches(valid_rows, c.seq_len, c.batch_size, c.eval_batches),
        loss_fn=MetacogLoss(float(recipe.weight), bce_weight),
        identity={"init": sha256_file(Path(paths.model_path(base), "model.safetensors")), "variant": variant,
                  "recipe": recipe.as_dict(), "data": [sha256_file(f) for f in files]},
        metadata={"init": base, "variant": variant, "seed": seed, "recipe": recipe.as_dict(),
                  "trainable_params": n_trainable})


def splice(params: dict, seed: int) -> Path:
    """Graft the abstain head of metacog/<main>-s<seed> onto base/v4-s<seed>; nothing else changes."""
    from safetensors.torch import load_file

    from tilelli.model import TilelliLM

    main = param(params, "metacog.main")
    base_name = v4_dir(check_seed(params, seed))
    donor, out = variant_dir(main, seed), Path(paths.model_path(splice_dir(main, seed)))
    base = TilelliLM.from_pretrained(paths.model_path(base_name))
    head = {k: v for k, v in load_file(Path(paths.model_path(donor), "model.safetensors")).items() if k.startswith("abstain.")}
    if not head:
        raise TilelliError(f"{paths.model_path(donor)}: no abstain.* tensors to graft")
    state = base.state_dict()
    mismatched = [k for k in head if k not in state or state[k].shape != head[k].shape]
    if mismatched:
        raise TilelliError(f"{paths.model_path(donor)}: abstain head {mismatched} does not fit {base_name} (different width?)")
    state.update(head)
    base.load_state_dict(state)
    base.save_pretrained(out, metadata={"stage": "splice", "base": base_name, "seed": seed, "head_from": donor,
                                        "grafted": sorted(head)})
    return out


# ---- A/B runs ------------------------------------------------------------------------------------
def ab_train(params: dict, arm: str, seed: int, lr: float, run: str) -> dict:
    """One from-scratch pretrain of ab.models[arm] at (seed, lr) -> models/<run>, metrics/train/<run>.json."""
    from tilelli.model import TilelliLM

    plan = ab_plan(params)
    name = plan.models[plan.check_arm(arm)]
    torch_seed(seed)
    model = TilelliLM.from_config(name)
    cfg = train_config(params, "ab.train", model, run=run, seed=seed, overrides={"lr": lr})
    shard = open_shard(paths.TRAIN_SHARD)
    summary = run_training(
        params, cfg, model, out=run,
        batch_fn=lambda c: window_batches(shard, c.seq_len, c),
        eval_batches=lambda c: valid_batches(paths.VALID_SHARD, c.seq_len, c.batch_size, c.eval_batches),
        identity={"model": name, "data": sha256_file(PACKED / "meta.json")},
        metadata={"arm": arm, "model_name": name, "seed": seed, "lr": lr})
    config = {k: v for k, v in cfg.as_dict().items() if k != "name"}
    metrics = {**summary, "arm": arm, "model_name": name, "seed": seed, "lr": lr, "params": model.num_params(),
               "tokens_per_step": cfg.batch_size * cfg.seq_len, "config": config}
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes (as run_training)
        write_json(paths.train_metrics(run), metrics)
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
        raise TilelliError(f"{paths.train_metrics(src)} is not the run {dst} would be (differs in "
                           f"{', '.join(differ)}); re-run `dvc repro ab_sweep`")
    with atomic_dir(paths.model_path(dst)) as tmp:
        shutil.copytree(paths.model_path(src), tmp, dirs_exist_ok=True)
    with atomic_dir(paths.train_plots(dst)) as tmp:
        shutil.copytree(paths.train_plots(src), tmp, dirs_exist_ok=True)
    out = {**metrics, "reused_from": src}
    write_json(paths.train_metrics(dst), out)
    log(f"[{dst}] = {src} (same model, seed {seed}, lr {lr} and config): copied, not retrained")
    return out
