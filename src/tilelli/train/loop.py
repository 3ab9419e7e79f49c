"""The one training loop and what it runs on: its objectives, the optimizer and its schedule, resume state,
process groups.

Objectives
----------
Training objectives: what each stage minimises, as functions `loss_fn(model, batch, cfg)`.

Batches are dicts of tensors built by tilelli.train.recipes:
    x, y             [B,T] inputs and targets (-100 = no loss: prompt bytes, padding)
    pos              [B]   index of the last prompt byte (where the abstain head reads; the last
                           byte of a raw text, whose every position the router term reads)
    abstain          [B]   1.0 = the ideal reply is the abstain template, 0.0 = answer, -1 = unlabelled
    ood              [B]   1.0 = out-of-domain input, 0.0 = in-domain, -1 = unlabelled

- pretrain, chat SFT: `lm_loss` = CE + lb_weight * router load balance.
- abstain SFT (v4): `AbstainLoss` = lm_loss + bce_weight * BCE(abstain head, abstain label).
- metacognition (v5..v8b): `MetacogLoss` = lm_loss on in-domain rows + weight * BCE(router
  confidence, in-domain) + bce_weight * BCE(abstain head, abstain label). Router confidence of a
  sequence is 1 - H(router)/ln P averaged over layers and prompt positions, so the metacog term
  pushes the router to be decisive on in-domain prompts and undecided on OOD ones. weight = 0
  (v8b) leaves CE + BCE, whose gradients still flow through the (unfrozen) router; the N4
  control freezes it. The variants' recipes (train/recipes.py) set weight, the data, and
  bce_weight = 0 where the head does not train (router-only v5, v6).

Loop
----
The training loop shared by every training stage.

    summary = train(model, cfg, batch_fn, loss_fn, eval_fn,
                    out_dir="models/base/pretrain-s0", state_dir="checkpoints/base/pretrain-s0",
                    log_dir="plots/train/base/pretrain-s0", metadata={...})

- `batch_fn(step, micro, rank, world) -> dict` of CPU tensors; it must be a pure function of
  its arguments (batches drawn from a generator seeded by (seed, step)) so that a resumed run
  sees exactly the batches an uninterrupted run would.
- `loss_fn(model, batch, cfg) -> (loss, {name: float})`; the default is LM cross-entropy plus
  `lb_weight` x the router load-balance loss.
- `eval_fn(model) -> {name: float}` runs every `eval_every` steps and at the end (rank 0 value
  is averaged over ranks).
- AdamW + warmup/cosine (Optimizer, below), gradient accumulation, clipping; DDP under torchrun
  (Process groups, below). `cfg.compile` (torch.compile) and `cfg.precision` (fp32 | bf16 autocast)
  come from params and mean the same on every device: the paper profile turns both on, and the CPU
  preflight (conf/profile/preflight.yaml) runs that very path on inductor's CPU backend and CPU
  autocast; the tiny profile leaves both off (fp32 eager, its pinned numerics). bf16 on CPU with
  the pinned numerics is refused (one line): with oneDNN off a bf16 step runs many times slower
  than native (measurements: docs/LOG.md), and the compiled vanilla model's bf16 attention
  (inductor's SDPA kernel) fails under ATEN_CPU_CAPABILITY=avx2 on an AVX-512 CPU.
- Resume: a checkpoint every `ckpt_every` steps in `state_dir` (Resume state, below); on the
  next call with the same fingerprint the run continues and ends with the same weights as an
  uninterrupted run. A finished run saves `out_dir` atomically and deletes its state.
- The per-step log (train.csv) and evaluation log (eval.csv) in `log_dir` are rewritten
  atomically at each checkpoint and at the end (from the rows stored in the resume state), so
  they always match the weights. Only rank 0 writes files.

Optimizer
---------
AdamW with decoupled weight decay on matrices only, and warmup + cosine learning rate.

Norm gains, biases, embeddings, the router and SSM scalars get no weight decay: decaying a
LayerNorm gain or a position embedding toward 0 only fights the loss. Matrices (ndim >= 2,
except embedding tables) are decayed, as in the published recipe (AdamW, wd 0.01).

Resume state
------------
Resume state: model + optimizer tensors in safetensors, the rest in JSON, written atomically.

Layout of `state_dir` (checkpoints/<run>: git-ignored and outside DVC, so DVC never deletes it):
    state.safetensors   model.<name> and optim.<param index>.<key> tensors
    state.json          step, fingerprint, optimizer param_groups, the training log so far

The fingerprint hashes everything that defines the run (training config, model config, the
init checkpoint's sha256), so a run with other params never resumes from stale state. A
finished run deletes its state: a later forced re-run starts fresh. No pickle is involved.

Process groups
--------------
Process-group helpers: the same loop runs alone or under `torchrun --nproc_per_node N`.

Under torchrun (WORLD_SIZE > 1) each process takes `batch_size / world` sequences of every
global batch, DistributedDataParallel averages gradients, and only rank 0 writes files. The
backend is NCCL on CUDA and gloo on CPU (the tests run 2 CPU processes with gloo).

TrainConfig and MetacogRecipe
-----------------------------
TrainConfig: the knobs of one training stage, read from its params.yaml section and checked.

Every training stage has the same keys (see conf/profile/tiny.yaml, `pretrain:`), so one
dataclass validates them all; a bad value is one clear line naming the key and the stage.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import difflib
import hashlib
import io
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from tilelli import numerics
from tilelli.io import TilelliError, atomic_dir, read_json, write_text
from tilelli.model.checkpoint import tensor_bytes
from tilelli.model.quantities import bits_per_byte, nll_sum, router_confidence  # router_confidence: the one eval/probe.py measures
from tilelli.stage import log, quiet


# ---------------------------------------------------------------------------------------------
# TrainConfig and MetacogRecipe: every training section of params.yaml, checked
# ---------------------------------------------------------------------------------------------
PRECISIONS = ("fp32", "bf16")

# Keys a stage reads from its own training section besides TrainConfig's (where it reads them).
STAGE_KEYS = {"abstain_sft": ("bce_weight",)}   # train/recipes.py abstain_sft: the head's BCE weight


def reject_unknown(keys, valid, where: str) -> None:
    """One line for the first key not in `valid`, with the nearest valid key (a misspelt key
    must never be ignored silently: `warmup_steps: 5` would train with the default warmup)."""
    for key in keys:
        if key not in valid:
            near = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.5)
            hint = f"did you mean {near[0]}?" if near else f"valid keys: {', '.join(sorted(valid))}"
            raise TilelliError(f"params.yaml: {where}.{key}: unknown key; {hint}")


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int            # global batch (sequences per optimizer step, across processes)
    seq_len: int
    lr: float
    grad_accum: int = 1
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup: int = 0
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0     # 0 disables clipping
    lb_weight: float = 0.01    # router load-balance auxiliary loss
    eval_every: int = 100
    eval_batches: int = 8
    ckpt_every: int = 100      # resume checkpoint cadence (steps)
    seed: int = 0
    compile: bool = False      # torch.compile the model (any device: inductor's CPU backend needs gcc)
    precision: str = "fp32"    # fp32 | bf16 (bf16 autocast around forward + loss, any device; weights stay fp32)
    name: str = "train"        # stage name, used in messages

    @classmethod
    def from_params(cls, section: dict, name: str, seed: int = 0, key: str | None = None,
                    **extra) -> "TrainConfig":
        """`section` is params[key] (key defaults to `name`); an unknown key is an error naming it."""
        key = key or name
        if not isinstance(section, dict):
            raise TilelliError(f"params.yaml: {key}: expected a mapping of training keys, got {section!r}")
        known = {f.name for f in fields(cls)} - {"name"}
        reject_unknown(section, known | set(STAGE_KEYS.get(key, ())), key)
        for k in STAGE_KEYS.get(key, ()):
            v = section.get(k, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise TilelliError(f"params.yaml: {key}.{k}={v!r}: must be a number >= 0")
        values = {k: v for k, v in section.items() if k in known}
        values.update(extra)
        missing = [f.name for f in fields(cls) if f.name in ("steps", "batch_size", "seq_len", "lr")
                   and f.name not in values]
        if missing:
            raise TilelliError(f"params.yaml: {name}: missing {', '.join(missing)}")
        cfg = cls(**{**values, "seed": values.get("seed", seed), "name": name})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        def bad(key, why):
            raise TilelliError(f"params.yaml: {self.name}.{key}={getattr(self, key)!r}: {why}")
        for f in fields(self):  # YAML reads `3e-4` as a string: say so instead of a TypeError
            v = getattr(self, f.name)
            if f.type in ("float", float) and (isinstance(v, bool) or not isinstance(v, (int, float))):
                bad(f.name, "must be a number (write 0.0003, not 3e-4: YAML reads that as text)")
        for key in ("steps", "batch_size", "seq_len", "grad_accum", "eval_every", "eval_batches", "ckpt_every"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                bad(key, "must be a positive integer")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            bad("warmup", "must be an integer >= 0")
        if not self.lr > 0:
            bad("lr", "learning rate must be > 0")
        for key in ("weight_decay", "grad_clip", "lb_weight"):
            if getattr(self, key) < 0:
                bad(key, "must be >= 0")
        if not 0 <= self.min_lr_ratio <= 1:
            bad("min_lr_ratio", "must be in [0, 1]")
        for key in ("beta1", "beta2"):
            if not 0 <= getattr(self, key) < 1:
                bad(key, "must be in [0, 1)")
        if self.batch_size % self.grad_accum:
            bad("batch_size", f"must be divisible by grad_accum={self.grad_accum}")
        if not isinstance(self.compile, bool):
            bad("compile", "must be true or false")
        if self.precision not in PRECISIONS:
            bad("precision", f"must be one of {', '.join(PRECISIONS)}")

    def as_dict(self) -> dict:
        return asdict(self)


TRAINABLE = ("all", "router", "all_but_router")
METACOG_DATA = ("raw_text", "chat_vs_ood", "in_domain_subset")


@dataclass(frozen=True)
class MetacogRecipe:
    """One metacognition variant (params metacog.recipes.<variant>): what it optimises, which
    parameters move, on which data. Every variant starts from v4 and uses metacog.train, with
    `train` overriding single keys (e.g. the published v5 ran 500 steps, not the sweep's 1,000).

    weight     metacog loss weight: BCE(router confidence, in-domain) (train/loop.py)
    trainable  all | router (the router Linears only: 4 x 112 x 3 = 1,344 weights at tiny, 6,144
               at paper scale) | all_but_router (the N4 control: CE cannot move the router)
    data       raw_text: packed corpus windows (in-domain, CE) + OOD texts without a chat frame;
               chat_vs_ood: chat + unanswerable pairs (CE) + OOD prompts in the chat frame;
               in_domain_subset: as chat_vs_ood, but only a ce_subset fraction of the in-domain
               pairs keep their CE (the rest, and the OOD prompts, carry only the head's label)
    The abstain head's BCE (metacog.bce_weight) applies only when the head trains (not `router`).
    """
    weight: float
    trainable: str
    data: str
    ce_subset: float = 1.0     # in_domain_subset: fraction of in-domain pairs with CE, in (0, 1)
    windows: int = 0           # raw_text: number of corpus windows (in-domain examples)
    train: dict = field(default_factory=dict)
    name: str = "recipe"

    @classmethod
    def from_params(cls, metacog: dict, variant: str) -> "MetacogRecipe":
        recipes = metacog.get("recipes") or {}
        if variant not in recipes:
            raise TilelliError(f"unknown metacog variant {variant!r}; params.yaml metacog.recipes lists "
                               f"{', '.join(recipes) or 'nothing'}")
        raw = recipes[variant]
        name = f"metacog.recipes.{variant}"
        known = {f.name for f in fields(cls)} - {"name"}
        if not isinstance(raw, dict) or set(raw) - known:
            extra = sorted(set(raw) - known) if isinstance(raw, dict) else raw
            raise TilelliError(f"params.yaml: {name}: unknown key(s) {extra}; valid keys: {', '.join(sorted(known))}")
        missing = [k for k in ("weight", "trainable", "data") if k not in raw]
        if missing:
            raise TilelliError(f"params.yaml: {name}: missing {', '.join(missing)}")
        recipe = cls(**raw, name=name)
        recipe.validate()
        return recipe

    @property
    def trains_head(self) -> bool:
        return self.trainable != "router"

    def validate(self) -> None:
        def bad(key, why):
            raise TilelliError(f"params.yaml: {self.name}.{key}={getattr(self, key)!r}: {why}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight >= 0:
            bad("weight", "must be a number >= 0")
        if self.trainable not in TRAINABLE:
            bad("trainable", f"must be one of {', '.join(TRAINABLE)}")
        if self.data not in METACOG_DATA:
            bad("data", f"must be one of {', '.join(METACOG_DATA)}")
        subset = self.data == "in_domain_subset"
        if isinstance(self.ce_subset, bool) or not isinstance(self.ce_subset, (int, float)) or \
                not (0 < self.ce_subset < 1 if subset else self.ce_subset == 1):
            bad("ce_subset", "must be in (0, 1) for data in_domain_subset, and is not used (1.0) otherwise")
        raw = self.data == "raw_text"
        if isinstance(self.windows, bool) or not isinstance(self.windows, int) or \
                not (self.windows > 0 if raw else self.windows == 0):
            bad("windows", "must be a positive integer for data raw_text, and is not used (0) otherwise")
        overridable = {f.name for f in fields(TrainConfig)} - {"name", "seed"}
        if not isinstance(self.train, dict):
            bad("train", f"overrides keys of metacog.train; valid keys: {', '.join(sorted(overridable))}")
        reject_unknown(self.train, overridable, f"{self.name}.train")

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "name"}


# ---- Objectives ----------------------------------------------------------------------------------
def lm_loss(model, batch, cfg):
    out = model(batch["x"], targets=batch["y"])
    loss = out.loss + cfg.lb_weight * out.aux_loss
    return loss, {"loss": out.loss.item(), "aux": out.aux_loss.item()}


def _last_prompt(values: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    return values[torch.arange(values.shape[0], device=values.device), pos]


def _masked_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    mask = labels >= 0
    if not mask.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[mask].float(), labels[mask].float())


@dataclass(frozen=True)
class AbstainLoss:
    bce_weight: float = 1.0

    def __call__(self, model, batch, cfg):
        out = model(batch["x"], targets=batch["y"], return_signals=True)
        bce = _masked_bce(_last_prompt(out.abstain_logit, batch["pos"]), batch["abstain"])
        loss = out.loss + cfg.lb_weight * out.aux_loss + self.bce_weight * bce
        return loss, {"loss": out.loss.item(), "aux": out.aux_loss.item(), "bce": bce.item()}


@dataclass(frozen=True)
class MetacogLoss:
    weight: float
    bce_weight: float = 1.0

    def __call__(self, model, batch, cfg):
        out = model(batch["x"], targets=batch["y"], return_signals=True)
        bce = _masked_bce(_last_prompt(out.abstain_logit, batch["pos"]), batch["abstain"])
        labelled = batch["ood"] >= 0
        prompt_mask = torch.arange(batch["x"].shape[1], device=batch["x"].device)[None, :] <= batch["pos"][:, None]
        conf = router_confidence(out.router_probs, prompt_mask).clamp(1e-4, 1 - 1e-4)
        if labelled.any():  # BCE by hand in fp32: F.binary_cross_entropy is banned under CUDA autocast
            c, target = conf[labelled].float(), 1.0 - batch["ood"][labelled].float()
            meta = -(target * c.log() + (1 - target) * (1 - c).log()).mean()
        else:
            meta = conf.sum() * 0.0
        loss = out.loss + cfg.lb_weight * out.aux_loss + self.weight * meta + self.bce_weight * bce
        return loss, {"loss": out.loss.item(), "aux": out.aux_loss.item(), "bce": bce.item(),
                      "metacog": meta.item()}


# ---- Loop ----------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_lm(model, batches, device) -> dict:
    """Token-weighted mean loss over fixed batches; bytes are tokens, so bpb = nats / ln 2."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        nats, n = nll_sum(model(x).logits, y)
        total, count = total + nats, count + n
    model.train(was_training)
    return {"val_loss": total / max(count, 1), "val_bpb": bits_per_byte(total, count)}


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text(path, buf.getvalue())


def _write_logs(log_dir, rows: list[dict]) -> None:
    log_dir = Path(log_dir)
    _write_csv(log_dir / "train.csv", [{k: v for k, v in r.items() if not k.startswith("val_")} for r in rows])
    _write_csv(log_dir / "eval.csv", [{"step": r["step"], **{k: v for k, v in r.items() if k.startswith("val_")}}
                                      for r in rows if any(k.startswith("val_") for k in r)])


def _describe(loss_fn) -> str:
    """The objective with its settings, e.g. "MetacogLoss(weight=5.0, bce_weight=1.0)" (stable reprs)."""
    return repr(loss_fn) if dataclasses.is_dataclass(loss_fn) else getattr(loss_fn, "__qualname__", repr(loss_fn))


def _to(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def train(model, cfg, batch_fn, loss_fn=lm_loss, eval_fn=None, *, out_dir, state_dir, log_dir,
          metadata=None, identity=None, device="auto") -> dict:
    """Train `model` for cfg.steps optimizer steps; returns a summary dict (rank 0)."""
    device = resolve_device(device) if isinstance(device, str) else device
    dist, device = init(device)
    if cfg.batch_size % (cfg.grad_accum * dist.world):
        raise TilelliError(f"params.yaml: {cfg.name}.batch_size={cfg.batch_size} does not divide into "
                           f"grad_accum={cfg.grad_accum} x {dist.world} processes")
    if cfg.precision == "bf16" and device.type == "cpu" and numerics.pinned():
        raise TilelliError(f"params.yaml: {cfg.name}.precision=bf16 on CPU needs deterministic: false (the pinned "
                           f"numerics run bf16 many times slower, and compiled bf16 attention fails on AVX-512 CPUs)")
    torch.manual_seed(cfg.seed)
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    fp = fingerprint(cfg.as_dict(), getattr(model, "config", None), identity, dist.world, _describe(loss_fn))
    resumed = load_state(state_dir, model, optimizer, fp)
    start, rows = resumed if resumed else (0, [])
    if resumed and dist.main:
        log(f"[{cfg.name}] resuming from step {start}/{cfg.steps} ({state_dir})")

    net = torch.compile(model) if cfg.compile else model
    if dist.world > 1:
        net = DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None,
                                      find_unused_parameters=True)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if cfg.precision == "bf16"
                else contextlib.nullcontext())

    tokens_per_step = cfg.batch_size * cfg.seq_len
    bar = tqdm(total=cfg.steps, initial=start, desc=cfg.name, disable=quiet() or not dist.main,
               dynamic_ncols=True, mininterval=1.0)
    train_time, t_last = 0.0, time.perf_counter()
    for step in range(start, cfg.steps):
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        logs: dict[str, float] = {}
        for micro in range(cfg.grad_accum):
            batch = _to(batch_fn(step, micro, dist.rank, dist.world), device)
            sync = micro == cfg.grad_accum - 1 or dist.world == 1
            ctx = contextlib.nullcontext() if sync else net.no_sync()
            with ctx, autocast:
                loss, micro_logs = loss_fn(net, batch, cfg)
                (loss / cfg.grad_accum).backward()
            for k, v in micro_logs.items():
                logs[k] = logs.get(k, 0.0) + v / cfg.grad_accum
        grad_norm = (torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip).item()
                     if cfg.grad_clip > 0 else float("nan"))
        optimizer.step()
        row = {"step": step + 1, "lr": lr, **{k: all_mean(v, dist) for k, v in logs.items()},
               "grad_norm": grad_norm}
        now = time.perf_counter()
        train_time += now - t_last
        if eval_fn is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            row.update({k: all_mean(v, dist) for k, v in eval_fn(model).items()})
            if bar.disable and dist.main:  # CI / no terminal: one line per evaluation instead of a bar
                log(f"[{cfg.name}] step {step + 1}/{cfg.steps} loss {row.get('loss', float('nan')):.4f} "
                    f"val_bpb {row.get('val_bpb', float('nan')):.4f}")
        rows.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{row.get('loss', float('nan')):.3f}",
                        tok_s=f"{tokens_per_step * (step + 1 - start) / max(train_time, 1e-9):.0f}")
        if (step + 1) % cfg.ckpt_every == 0 and step + 1 < cfg.steps:
            if dist.main:
                save_state(state_dir, model, optimizer, step + 1, fp, rows)
                _write_logs(log_dir, rows)
            barrier(dist)
        t_last = time.perf_counter()
    bar.close()

    final = {k: v for r in rows for k, v in r.items() if k.startswith("val_")}
    summary = {"steps": cfg.steps, "tokens": tokens_per_step * cfg.steps,
               "final_loss": rows[-1].get("loss") if rows else None, **final}
    timing = {"wall_s": round(train_time, 2), "resumed_from": start, "device": device.type,
              "world": dist.world,
              "tokens_per_s": round(tokens_per_step * (cfg.steps - start) / max(train_time, 1e-9), 1)}
    if dist.main:
        _write_logs(log_dir, rows)
        model.to("cpu")
        model.save_pretrained(out_dir, metadata={"stage": cfg.name, "train": cfg.as_dict(),
                                                 "summary": summary, **(metadata or {})})
        clear_state(state_dir)
    barrier(dist)
    return {**summary, "timing": timing, "main_process": dist.main}


# ---- Optimizer -----------------------------------------------------------------------------------
def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim >= 2 and id(p) not in embedding_ids and "router" not in name:
            decay.append(p)
        else:
            no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, cfg) -> torch.optim.AdamW:
    # foreach=False keeps CPU results bit-identical between runs and across resume.
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr,
                             betas=(cfg.beta1, cfg.beta2), foreach=False)


def lr_at(step: int, cfg) -> float:
    """Linear warmup over `warmup` steps, then cosine from lr to lr*min_lr_ratio at `steps`."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


# ---- Resume state --------------------------------------------------------------------------------
def fingerprint(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_state(state_dir, model, optimizer, step: int, fp: str, log_rows: list[dict]) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for idx, pstate in opt["state"].items():
        for key, value in pstate.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{idx}.{key}"] = t.detach().cpu().contiguous()
    meta = {"step": step, "fingerprint": fp, "param_groups": opt["param_groups"], "log": log_rows}
    with atomic_dir(state_dir, need=tensor_bytes(tensors)) as tmp:      # a full disk: one line
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps(meta, default=list))


def load_state(state_dir, model, optimizer, fp: str):
    """Restore in place; return (step, log_rows), or None when there is nothing to resume."""
    state_dir = Path(state_dir)
    meta_path, tensor_path = state_dir / "state.json", state_dir / "state.safetensors"
    if not meta_path.is_file() or not tensor_path.is_file():
        return None
    try:
        meta = read_json(meta_path)
        tensors = load_file(str(tensor_path))
    except (TilelliError, SafetensorError, OSError) as e:
        raise TilelliError(f"{state_dir}: resume state is corrupt ({e}); delete the folder to start fresh") from None
    if meta.get("fingerprint") != fp:
        return None  # another configuration: not ours to resume
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"]), list(meta["log"])


def clear_state(state_dir) -> None:
    shutil.rmtree(state_dir, ignore_errors=True)


# ---- Process groups ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TilelliError(f"device={name!r} but CUDA is not available; use device=cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise TilelliError(f"device={name!r}: expected auto, cpu or cuda[:N]")
    return torch.device(name)


def init(device: torch.device) -> tuple[Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    return Dist(rank, world, local), device


def all_mean(value: float, dist: Dist) -> float:
    if dist.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    torch_dist.all_reduce(t)
    return t.item() / dist.world


def barrier(dist: Dist) -> None:
    if dist.world > 1:
        torch_dist.barrier()
