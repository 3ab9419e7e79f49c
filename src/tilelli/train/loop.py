"""The training loop shared by every training stage.

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
- AdamW + warmup/cosine (tilelli.train.optim), gradient accumulation, clipping; DDP under torchrun
  (tilelli.train.dist). `cfg.compile` (torch.compile) and `cfg.precision` (fp32 | bf16 autocast)
  come from params and mean the same on every device: the paper profile turns both on, and the CPU
  preflight (conf/profile/preflight.yaml) runs that very path on inductor's CPU backend and CPU
  autocast; the tiny profile leaves both off (fp32 eager, its pinned numerics). Before, both were
  applied on CUDA only, so the paper path had never run before it met a GPU. bf16 on CPU with the
  pinned numerics is refused (one line): measured on a 2-core AVX-512 VM, a paper-size step took 17 s
  pinned (oneDNN off) against 0.6 s native, and the compiled vanilla model's bf16 attention
  (inductor's SDPA kernel) fails under ATEN_CPU_CAPABILITY=avx2 on an AVX-512 CPU.
- Resume: a checkpoint every `ckpt_every` steps in `state_dir` (tilelli.train.state); on the
  next call with the same fingerprint the run continues and ends with the same weights as an
  uninterrupted run. A finished run saves `out_dir` atomically and deletes its state.
- The per-step log (train.csv) and evaluation log (eval.csv) in `log_dir` are rewritten
  atomically at each checkpoint and at the end (from the rows stored in the resume state), so
  they always match the weights. Only rank 0 writes files.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from tilelli import numerics
from tilelli.io import write_text
from tilelli.model.quantities import bits_per_byte, nll_sum
from tilelli.stage import log, quiet
from tilelli.train import dist as D
from tilelli.train.objectives import lm_loss
from tilelli.train.optim import lr_at, make_optimizer
from tilelli.train.state import clear_state, fingerprint, load_state, save_state


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
    device = D.resolve_device(device) if isinstance(device, str) else device
    dist, device = D.init(device)
    if cfg.batch_size % (cfg.grad_accum * dist.world):
        from tilelli.errors import TilelliError
        raise TilelliError(f"params.yaml: {cfg.name}.batch_size={cfg.batch_size} does not divide into "
                           f"grad_accum={cfg.grad_accum} x {dist.world} processes")
    if cfg.precision == "bf16" and device.type == "cpu" and numerics.pinned():
        from tilelli.errors import TilelliError
        raise TilelliError(f"params.yaml: {cfg.name}.precision=bf16 on CPU needs deterministic: false (the pinned "
                           f"numerics run bf16 ~28x slower, and compiled bf16 attention fails on AVX-512 CPUs)")
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
        row = {"step": step + 1, "lr": lr, **{k: D.all_mean(v, dist) for k, v in logs.items()},
               "grad_norm": grad_norm}
        now = time.perf_counter()
        train_time += now - t_last
        if eval_fn is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            row.update({k: D.all_mean(v, dist) for k, v in eval_fn(model).items()})
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
            D.barrier(dist)
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
    D.barrier(dist)
    return {**summary, "timing": timing, "main_process": dist.main}
