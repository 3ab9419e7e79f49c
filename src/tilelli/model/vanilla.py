"""The vanilla baseline block: a pre-norm transformer layer (GPT-2 shape, no biases).

    x = x + attn(LN1(x))        dense causal attention, 8 heads of 40 at d=320 (SDPA)
    x = x + ffn(LN2(x))         d -> 4d -> d, GELU

At d=320, L=8 this is 12 * 320^2 = 1.23M parameters per layer, 10.09M with embeddings, learned
positions and an untied head: within 0.4% of tilelli-lite (10.05M), which is what makes the
Lite-vs-vanilla comparison parameter-fair. It shares the LM shell (lm.py), the ternary option,
the abstain head and the decoding cache with the routed models; it has no router, so it returns
no router probabilities and a zero load-balance loss.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from tilelli.model.attention import DenseAttention, Span
from tilelli.model.config import ModelConfig
from tilelli.model.pathways import FeedForward


class VanillaBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.norm1 = nn.LayerNorm(d)
        self.attn = DenseAttention(d, cfg.n_heads, cfg.max_seq, cfg.quantize, cfg.hadamard)
        self.norm2 = nn.LayerNorm(d)
        self.ffn = FeedForward(d, cfg.ffn_expand, cfg.quantize, cfg.hadamard)

    def forward(self, x: torch.Tensor, span: Span | None = None, state: dict | None = None):
        """x [B, T, d] -> (x [B, T, d], None): no router."""
        x = x + self.attn(self.norm1(x), span, None if state is None else state.setdefault("attn", {}))
        return x + self.ffn(self.norm2(x)), None
