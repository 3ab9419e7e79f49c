"""Causal self-attention: the sparse top-k pathway (Tilelli) and dense SDPA (vanilla baseline).

Sparse top-k (8 heads, k = 16): each query keeps only its 16 highest-scoring causal keys.

    s = q k^T / sqrt(hd)                 [B, H, T, S]   one explicit score matrix
    s[masked] = -inf                     causal (and pad keys in left-padded batches)
    top, index = topk(s, 16)             [B, H, T, 16]  ONE topk call: values and positions
    w = scatter(zeros, index, softmax(top))             softmax over 16 entries, not S
    y = w v                              [B, H, T, hd]

The softmax runs on the 16 selected scores only, and the gradient flows through the topk values
(a gather) and the scatter, so no S-wide softmax, threshold pass or second mask is paid, forward
or backward. Exactly 16 keys per query (ties broken by topk); a row with fewer than 16 visible
keys gets -inf in the spare slots, i.e. weight 0, which is plain causal attention. At T = 256
the topk over [B, 8, 256, 256] is the price over SDPA; benchmarks/bench_model.py prints it.

Dense attention (vanilla) uses F.scaled_dot_product_attention with `is_causal` in training.

Span and caches: `Span(start, key_mask)` says the T new positions follow `start` cached ones;
key_mask [B, start+T] (True = real token) masks left padding. A query always sees itself, so
pad rows never become all -inf (their outputs are unused and never reach real positions).
During decoding the pathway keeps K/V in preallocated buffers [B, H, max_seq, hd].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from tilelli.model.ternary import TernaryLinear


@dataclass
class Span:
    """T new positions after `start` cached ones; key_mask [B, start+T] or None (all real)."""
    start: int = 0
    key_mask: torch.Tensor | None = None

    def new_mask(self, T: int) -> torch.Tensor | None:
        return None if self.key_mask is None else self.key_mask[:, self.start:self.start + T]


def allowed_keys(T: int, span: Span | None, device) -> torch.Tensor | None:
    """Bool [B|1, 1, T, S]: query i (absolute start+i) may see key j. None = no mask needed."""
    start = span.start if span is not None else 0
    key_mask = span.key_mask if span is not None else None
    if key_mask is None and T == 1:
        return None                                      # one new query sees every cached key
    S = start + T
    qpos = torch.arange(start, S, device=device).unsqueeze(1)
    kpos = torch.arange(S, device=device).unsqueeze(0)
    allowed = kpos <= qpos                                               # [T, S]
    if key_mask is not None:
        allowed = allowed & (key_mask[:, None, None, :S] | (kpos == qpos))  # [B, 1, T, S]
    return allowed


def sparse_topk_attention(q, k, v, top_k: int, allowed: torch.Tensor | None) -> torch.Tensor:
    """q [B, H, T, hd], k/v [B, H, S, hd], allowed [B|1, 1, T, S] or None -> [B, H, T, hd]."""
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)            # [B, H, T, S]
    if allowed is not None:
        scores = scores.masked_fill_(~allowed, float("-inf"))
    if scores.shape[-1] <= top_k:                                         # every key is kept
        return torch.softmax(scores, dim=-1) @ v
    top, index = scores.topk(top_k, dim=-1, sorted=False)                 # [B, H, T, k]
    if q.shape[2] == 1:                                  # decoding step: gather the k values
        picked = v.gather(2, index.transpose(-1, -2).expand(-1, -1, -1, v.shape[-1]))  # [B, H, k, hd]
        return torch.softmax(top, dim=-1) @ picked
    weights = scores.new_zeros(scores.shape).scatter(-1, index, torch.softmax(top, dim=-1))
    return weights @ v


class _Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int, max_seq: int, quantize: bool, hadamard: bool):
        super().__init__()
        self.n_heads, self.head_dim, self.max_seq = n_heads, dim // n_heads, max_seq
        self.qkv = TernaryLinear(dim, 3 * dim, quantize, hadamard)
        self.out = TernaryLinear(dim, dim, quantize, hadamard)

    def project(self, x: torch.Tensor, span: Span | None, state: dict | None):
        """q, k, v [B, H, *, hd]; with a state, k/v cover all cached positions plus the new ones."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if state is None:
            return q, k, v
        start = span.start if span is not None else 0
        if "k" not in state:
            shape = (B, self.n_heads, self.max_seq, self.head_dim)
            state["k"], state["v"] = x.new_zeros(shape), x.new_zeros(shape)
        state["k"][:, :, start:start + T] = k
        state["v"][:, :, start:start + T] = v
        return q, state["k"][:, :, :start + T], state["v"][:, :, :start + T]

    def merge(self, y: torch.Tensor) -> torch.Tensor:
        B, H, T, hd = y.shape
        return self.out(y.transpose(1, 2).reshape(B, T, H * hd))


class SparseTopKAttention(_Attention):
    """Each query attends to its top_k highest-scoring causal keys (see module docstring)."""

    def __init__(self, dim, n_heads, top_k, max_seq, quantize=False, hadamard=False):
        super().__init__(dim, n_heads, max_seq, quantize, hadamard)
        self.top_k = top_k

    def forward(self, x: torch.Tensor, span: Span | None = None, state: dict | None = None):
        q, k, v = self.project(x, span, state)
        return self.merge(sparse_topk_attention(q, k, v, self.top_k, allowed_keys(x.shape[1], span, x.device)))


class DenseAttention(_Attention):
    """Plain causal multi-head attention through F.scaled_dot_product_attention."""

    def forward(self, x: torch.Tensor, span: Span | None = None, state: dict | None = None):
        T = x.shape[1]
        q, k, v = self.project(x, span, state)
        if (span is None or (span.start == 0 and span.key_mask is None)):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed_keys(T, span, x.device))
        return self.merge(y)
