"""The non-attention pathways of a routed block: causal convs, a diagonal SSM, the dense FFN.

Every pathway maps x [B, T, C] -> [B, T, C] (C = path width) and has the signature
`forward(x, span, state)`:
  span   where the T new positions sit (attention.Span: number of cached positions before them,
         and an optional key mask, True = real token, for left-padded batches);
  state  None in training; a dict the pathway owns during cached decoding.

Conv and SSM pathways (`MixerPathway`) are "sequence mixer, then gated channel mixer":

    u = mixer(x)                       depthwise causal conv (kernel 5 or 32) or diagonal SSM
    g, v = split(W_in u)               W_in: C -> 2m, ternary when quantize
    y = W_out(silu(g) * v)             W_out: m -> C, m = mixer_expand * C

A depthwise conv alone mixes no channels (1,280 parameters at C=256, k=5); the gated channel
mixer gives the pathway its own channel mixing and is where the Lite's parameter budget goes:
m = 2.25 * 256 = 576 puts tilelli-lite at 10.05M, beside vanilla-fp32's 10.09M (see registry.py).

Caches: a conv keeps its last k-1 inputs (`tail` [B, k-1, C]); the SSM keeps h [B, C, N].
Pad positions are zeroed before the mixer, so in a left-padded batch the conv tail and the SSM
state at a row's first real token are exactly the zeros an unpadded sequence starts from.
The diagonal SSM mixer lives in ssm.py.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tilelli.model.ternary import TernaryLinear


class CausalDepthwiseConv(nn.Module):
    """y_t = sum_{j<k} w[:, j] * u_{t-k+1+j} per channel; zeros before the sequence start."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.kernel = kernel
        bound = 1.0 / math.sqrt(kernel)
        self.weight = nn.Parameter(torch.empty(channels, kernel).uniform_(-bound, bound))  # [C, k]

    def forward(self, u: torch.Tensor, state: dict | None) -> torch.Tensor:
        B, T, C = u.shape
        k = self.kernel
        tail = state.get("tail") if state is not None else None
        if tail is None:
            tail = u.new_zeros(B, k - 1, C)
        uu = torch.cat([tail, u], dim=1)                                   # [B, T+k-1, C]
        if state is not None:
            state["tail"] = uu[:, uu.shape[1] - (k - 1):]
        if T == 1:                                                         # decoding step
            return (uu * self.weight.t()).sum(1, keepdim=True)             # [B, 1, C]
        if u.is_cpu and not torch.backends.mkldnn.enabled:
            # pinned numerics (tilelli/numerics.py) turn oneDNN off; its conv has no CPU-independent
            # mode, and ATen's own depthwise conv is ~40x slower than these k multiply-adds
            y = uu[:, 0:T] * self.weight[:, 0]
            for j in range(1, k):
                y = y + uu[:, j:j + T] * self.weight[:, j]
            return y                                                       # [B, T, C]
        # conv2d on the strided [B, C, 1, T+k-1] view is ~4x faster than conv1d on CPU here
        y = F.conv2d(uu.transpose(1, 2).unsqueeze(2), self.weight.view(C, 1, 1, k), groups=C)
        return y.squeeze(2).transpose(1, 2)                                # [B, T, C]


class MixerPathway(nn.Module):
    """Sequence mixer (conv or SSM) followed by a SwiGLU channel mixer of width m."""

    def __init__(self, mixer: nn.Module, dim: int, inner: int, quantize: bool, hadamard: bool):
        super().__init__()
        self.mixer = mixer
        self.w_in = TernaryLinear(dim, 2 * inner, quantize, hadamard)     # C -> 2m
        self.w_out = TernaryLinear(inner, dim, quantize, hadamard)        # m -> C

    def forward(self, x: torch.Tensor, span, state: dict | None) -> torch.Tensor:
        mask = span.new_mask(x.shape[1]) if span is not None else None
        if mask is not None:
            x = x * mask.unsqueeze(-1).to(x.dtype)                          # zero pads
        g, v = self.w_in(self.mixer(x, state)).chunk(2, dim=-1)
        return self.w_out(F.silu(g) * v)


class FeedForward(nn.Module):
    """Dense FFN C -> expand*C -> C with GELU; per token, so it keeps no decoding state."""

    def __init__(self, dim: int, expand: int, quantize: bool, hadamard: bool):
        super().__init__()
        self.w1 = TernaryLinear(dim, expand * dim, quantize, hadamard)
        self.w2 = TernaryLinear(expand * dim, dim, quantize, hadamard)

    def forward(self, x: torch.Tensor, span=None, state: dict | None = None) -> torch.Tensor:
        return self.w2(F.gelu(self.w1(x)))
