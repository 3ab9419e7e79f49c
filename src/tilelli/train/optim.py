"""AdamW with decoupled weight decay on matrices only, and warmup + cosine learning rate.

Norm gains, biases, embeddings, the router and SSM scalars get no weight decay: decaying a
LayerNorm gain or a position embedding toward 0 only fights the loss. Matrices (ndim >= 2,
except embedding tables) are decayed, as in the published recipe (AdamW, wd 0.01).
"""
from __future__ import annotations

import math

import torch


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
