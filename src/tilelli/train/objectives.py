"""Training objectives: what each stage minimises, as functions `loss_fn(model, batch, cfg)`.

Batches are dicts of tensors built by tilelli.train.batches:
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
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tilelli.model.quantities import router_confidence  # the same function eval/probe.py measures


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
