"""TilelliLM: the byte-level language model shell shared by every named config.

    idx [B, T] bytes
      -> embed(idx) + pos(positions)                [B, T, d]   FP32 embeddings, learned positions
      -> blocks (routed or vanilla), each optionally returning router probs [B, T, P]
      -> final LayerNorm = `hidden`                 [B, T, d]
      -> head: Linear d->256, untied, FP32          logits [B, T, 256]
      -> abstain: Linear d->1 (+bias), FP32         abstain_logit [B, T], abstain_p = sigmoid

    out = lm(idx, targets=None, return_signals=False)   -> ModelOutput (docs/CONTRACTS.md)

`loss` is the mean cross-entropy over targets != IGNORE_INDEX (-100, model/quantities.py); 0
with a gradient path when every target is masked, so an all-prompt SFT batch never yields NaN.
`aux_loss` is the router load-balance loss (block.py), a 0-dim zero for vanilla. With
`return_signals=True` the same pass returns the router probabilities of every layer [L, B, T, P],
the final hidden state and the abstain head outputs; all are differentiable, so a metacognition
loss can backpropagate through them.

Sequences longer than `max_seq` are rejected (there are only max_seq learned positions);
generation slides a window instead (generation.py). Right-padded batches need no mask: the
model is causal, so outputs at positions < length are exact (`pad_batch`).

Construction: `TilelliLM.from_config(name, seed=None, **overrides)`; with a seed the weights are
drawn under that seed in a forked RNG (the global RNG is left untouched), otherwise from the
global torch RNG. Init: N(0, 0.02) for matrices and embeddings, residual output projections
scaled by 1/sqrt(2L) (GPT-2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from tilelli.errors import TilelliError
from tilelli.model.block import RoutedBlock, VanillaBlock, load_balance_loss
from tilelli.model.config import ModelConfig, get_config
from tilelli.model.layers import Span, TernaryLinear
from tilelli.model.quantities import IGNORE_INDEX
from tilelli.numerics import configure_torch

configure_torch()   # pinned numerics: oneDNN off and a fixed thread count before any model runs

RESIDUAL_OUTPUTS = ("out", "w2", "w_out", "up")   # projections that write into the residual


@dataclass
class ModelOutput:
    logits: torch.Tensor                          # [B, T, 256]
    loss: torch.Tensor | None = None              # 0-dim, or None without targets
    aux_loss: torch.Tensor | None = None          # 0-dim router load-balance loss
    router_probs: torch.Tensor | None = None      # [L, B, T, P]; None for vanilla or no signals
    hidden: torch.Tensor | None = None            # [B, T, d] after the final norm
    abstain_logit: torch.Tensor | None = None     # [B, T]
    abstain_p: torch.Tensor | None = None         # [B, T]


def pad_batch(seqs: list[list[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad byte lists into idx [B, T_max] (long) and lengths [B] (long).

    Causality makes right padding exact for a forward pass: row b's outputs at positions
    < lengths[b] equal those of the unpadded row. Read signals at lengths - 1 for the last token.
    """
    if not seqs or any(len(s) == 0 for s in seqs):
        raise TilelliError("pad_batch: need at least one sequence and no empty sequences")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    idx = torch.full((len(seqs), int(lengths.max())), pad_id, dtype=torch.long)
    for row, s in enumerate(seqs):
        idx[row, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return idx, lengths


class TilelliLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = cfg = config.validate()
        d = cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, d)
        self.pos = nn.Embedding(cfg.max_seq, d)
        block = RoutedBlock if cfg.arch == "routed" else VanillaBlock
        self.blocks = nn.ModuleList([block(cfg) for _ in range(cfg.n_layers)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.vocab_size, bias=False)
        self.abstain = nn.Linear(d, 1)
        self._init_weights()

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_config(cls, name: str, seed: int | None = None, **overrides) -> "TilelliLM":
        config = get_config(name, **overrides)
        if seed is None:
            return cls(config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(config)

    @classmethod
    def from_pretrained(cls, name_or_path, revision: str | None = None, *, cache_dir=None,
                        local_files_only: bool | None = None, token=None) -> "TilelliLM":
        """A folder written by save_pretrained, or a Hub id `org/name` at `revision` (model/checkpoint.py: resolve)."""
        from tilelli.model.checkpoint import load_pretrained, resolve
        return load_pretrained(resolve(name_or_path, revision, cache_dir=cache_dir,
                                       local_files_only=local_files_only, token=token), cls)

    def save_pretrained(self, path, metadata: dict | None = None) -> None:
        """model.safetensors + flat config.json + README.md card (tilelli.model.checkpoint)."""
        from tilelli.model.checkpoint import save_pretrained
        save_pretrained(self, path, metadata)

    def _init_weights(self) -> None:
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, module in self.named_modules():
            if isinstance(module, (nn.Linear, TernaryLinear, nn.Embedding)):
                std = resid_std if name.rsplit(".", 1)[-1] in RESIDUAL_OUTPUTS else 0.02
                nn.init.normal_(module.weight, std=std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def router_parameters(self) -> list[nn.Parameter]:
        """The router Linears' weights (one d x P matrix per routed block; none in vanilla): what
        the router-only metacog variants train and the N4 control freezes."""
        return [block.router.weight for block in self.blocks if isinstance(block, RoutedBlock)]

    # ---- forward ---------------------------------------------------------------------------
    def check_idx(self, idx: torch.Tensor) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype != torch.long:
            raise TilelliError("model input must be a LongTensor [batch, time] of byte ids")
        if idx.shape[1] > self.config.max_seq:
            raise TilelliError(f"sequence length {idx.shape[1]} exceeds the model context "
                               f"max_seq={self.config.max_seq}; crop or window the input")

    def trunk(self, idx: torch.Tensor, positions: torch.Tensor | None = None,
              span: Span | None = None, cache: list[dict] | None = None):
        """Embeddings + blocks + final norm -> (hidden [B, T, d], list of router probs)."""
        if positions is None:
            positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.embed(idx) + self.pos(positions)
        probs = []
        for i, block in enumerate(self.blocks):
            x, p = block(x, span, None if cache is None else cache[i])
            if p is not None:
                probs.append(p)
        return self.norm(x), probs

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                return_signals: bool = False) -> ModelOutput:
        self.check_idx(idx)
        hidden, probs = self.trunk(idx)
        logits = self.head(hidden)                                          # [B, T, 256]
        aux = load_balance_loss(probs) if probs else logits.new_zeros(())
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise TilelliError(f"targets shape {tuple(targets.shape)} != input shape {tuple(idx.shape)}")
            # The mean over unmasked targets as sum / count, without a data-dependent branch (a graph
            # break under torch.compile, a device sync per step on GPU): bit-identical to
            # reduction="mean" when any target counts (tests/test_model.py), and 0 with a gradient
            # path when none does.
            n = (targets != IGNORE_INDEX).sum()
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1),
                                   ignore_index=IGNORE_INDEX, reduction="sum") / n.clamp(min=1)
        out = ModelOutput(logits=logits, loss=loss, aux_loss=aux)
        if return_signals:
            out.router_probs = torch.stack(probs) if probs else None        # [L, B, T, P]
            out.hidden = hidden
            out.abstain_logit = self.abstain(hidden).squeeze(-1)            # [B, T]
            out.abstain_p = torch.sigmoid(out.abstain_logit)
        return out

    # ---- generation ------------------------------------------------------------------------
    def generate(self, prompt, max_new: int, temperature: float = 0.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, stop=None, callback=None,
                 use_cache: bool = True):
        """See tilelli.model.generation.generate (docs/CONTRACTS.md)."""
        from tilelli.model.generation import generate
        return generate(self, prompt, max_new, temperature=temperature, top_k=top_k, top_p=top_p,
                        seed=seed, stop=stop, callback=callback, use_cache=use_cache)
