"""The blocks a TilelliLM stacks: the routed multi-pathway block and the vanilla transformer block.

Routed block
------------
The routed multi-pathway block and its load-balance loss.

    h     = LayerNorm(x)                                   [B, T, d]
    p     = softmax(router(h))                             [B, T, P]  router: Linear d->P, no bias
    u     = down(h)          (parent only, d -> path_dim)  [B, T, c]
    mix   = sum_i p[..., i] * pathway_i(u)                 [B, T, c]
    x_out = x + up(mix)      (up only in the parent)       [B, T, d]

Lite (d=256, P=3): conv, sparse attention, FFN at the full width; router 256*3 = 768 weights
per block, 6,144 over 8 blocks (the published count). Parent (d=512, L=7, P=5): the same
pathways plus a wide conv and a diagonal SSM, run at path_dim=256 inside a 512->256->512
projection pair. Why: at d=512 a single d->4d FFN is 2.1M parameters per block (14.7M over 7
blocks), so the published ~10M parent cannot run its pathways at full width; at 256 they are
exactly the Lite pathways (8 heads of 32, top_k 16, FFN 256->1024->256).

Every pathway runs on every token (dense soft mixing), so `p` is differentiable end to end:
the router, the metacognition loss on router entropy, and the LM loss all shape it.

Load balance: with p_bar = mean of p over batch and time, aux = P * sum(p_bar^2) - 1 per block,
averaged over blocks. It is 0 when mean use is uniform (1/P each) and P-1 when one pathway takes
everything; the trainer adds `weight * aux_loss`.

Vanilla block
-------------
The vanilla baseline block: a pre-norm transformer layer (GPT-2 shape, no biases).

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

from tilelli.model.config import ModelConfig
from tilelli.model.layers import (CausalDepthwiseConv, DenseAttention, DiagonalSSM, FeedForward, MixerPathway,
                                  SparseTopKAttention, Span, TernaryLinear)


# ---- Routed block --------------------------------------------------------------------------------
def build_pathway(name: str, cfg: ModelConfig) -> nn.Module:
    c, q, hd = cfg.path_dim, cfg.quantize, cfg.hadamard
    inner = max(1, round(cfg.mixer_expand * c))
    if name == "attn":
        return SparseTopKAttention(c, cfg.n_heads, cfg.top_k, cfg.max_seq, q, hd)
    if name == "ffn":
        return FeedForward(c, cfg.ffn_expand, q, hd)
    if name == "conv":
        return MixerPathway(CausalDepthwiseConv(c, cfg.conv_kernel), c, inner, q, hd)
    if name == "wide_conv":
        return MixerPathway(CausalDepthwiseConv(c, cfg.wide_kernel), c, inner, q, hd)
    if name == "ssm":
        return MixerPathway(DiagonalSSM(c, cfg.ssm_state), c, inner, q, hd)
    raise ValueError(name)  # unreachable: ModelConfig.validate checks names


class RoutedBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, c = cfg.d_model, cfg.path_dim
        self.norm = nn.LayerNorm(d)
        self.router = nn.Linear(d, cfg.n_paths, bias=False)              # FP32 in every config
        self.down = TernaryLinear(d, c, cfg.quantize, cfg.hadamard) if c != d else None
        self.up = TernaryLinear(c, d, cfg.quantize, cfg.hadamard) if c != d else None
        self.paths = nn.ModuleDict({name: build_pathway(name, cfg) for name in cfg.pathways})

    def forward(self, x: torch.Tensor, span: Span | None = None, state: dict | None = None):
        """x [B, T, d] -> (x + update [B, T, d], router probabilities [B, T, P])."""
        h = self.norm(x)
        probs = torch.softmax(self.router(h), dim=-1)                     # [B, T, P]
        u = self.down(h) if self.down is not None else h
        mix = None
        for i, (name, path) in enumerate(self.paths.items()):
            y = path(u, span, None if state is None else state.setdefault(name, {}))
            term = y * probs[..., i:i + 1]
            mix = term if mix is None else mix + term
        if self.up is not None:
            mix = self.up(mix)
        return x + mix, probs


def load_balance_loss(router_probs: list[torch.Tensor]) -> torch.Tensor:
    """Mean over blocks of P * sum_i(mean_bt p_i)^2 - 1 (0 at uniform use); 0-dim tensor."""
    losses = []
    for p in router_probs:                                               # each [B, T, P]
        p_bar = p.reshape(-1, p.shape[-1]).mean(0)
        losses.append(p.shape[-1] * (p_bar * p_bar).sum() - 1)
    return torch.stack(losses).mean()


# ---- Vanilla block -------------------------------------------------------------------------------
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
