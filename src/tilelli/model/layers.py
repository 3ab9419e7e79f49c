"""The layers the blocks are built from: TernaryLinear, the diagonal SSM, attention and the other pathways.

TernaryLinear
-------------
TernaryLinear: a bias-free Linear whose forward weight is {-a, 0, +a} (BitNet b1.58 style).

    a      = max(mean(|W|), 1e-5)                 per-tensor absmean scale (one float)
    W_eff  = clamp(round(W / a), -1, 1) * a       what the forward pass multiplies by
    dL/dW := dL/dW_eff                            straight-through estimator (STE)

W is the FP32 "latent" weight the optimiser updates. W_eff is written `Q(W) + (W - W.detach())`:
forward values are exactly ternary (`x - x` is exactly 0 in floating point) and the backward is
the identity, so the latent weight receives exactly the gradient of the effective weight.
With `quantize=False` the layer is a plain FP32 Linear (the published chat model is FP32), so
one set of weights can run either way.

Hadamard option (`hadamard=True`, only meaningful with `quantize`): y = W x = (W H)(H x) for an
orthonormal, symmetric Hadamard H (H H = I). Ternarising the rotated weight W H spreads outlier
columns over all inputs before rounding. For in_features that are not a power of two, H is
block-diagonal with the largest power-of-two block dividing in_features (576 -> 9 blocks of 64).
H is a non-persistent buffer: it is rebuilt, never stored in checkpoints.

Which parameters stay full precision: only projection matrices inside the blocks are
TernaryLinear. Embeddings, learned positions, LayerNorms, routers, depthwise conv kernels, SSM
scalars (a, b, c), the abstain head and the LM head are ordinary FP32 parameters.

In eval mode under torch.no_grad (generation, probes) the effective weight is cached and
recomputed only when the latent weight changes (tracked by its in-place version counter), so
cached decoding does not pay ~10 elementwise passes over every weight per token.

Diagonal SSM
------------
Diagonal state-space mixer (parent block): non-selective, N states per channel, FP32 scalars.

    h_t = a * h_{t-1} + b * u_t        per channel c and state n; h_{-1} = 0
    y_t = sum_n c * h_t                a = tanh(a_raw) in (-1, 1): stable by construction

a_raw, b, c are [C, N] FP32 parameters in every config (never ternary). Init: decay 1-a is
log-spaced from 0.5 to 0.01 (memory time scales of ~2 to ~100 bytes), b = 1-a (unit DC gain),
c ~ N(0, 1/N).

Training (and prefill) unrolls the recurrence as a chunked causal convolution, Q = 32:
  - inside a chunk, y = Toeplitz(K) u with K_t = sum_n c b a^t   [C, Q, Q] lower triangular
  - each chunk's end state S_k = a^Q S_{k-1} + sum_j a^(Q-1-j) b u_j    (T/Q = 8 steps at T=256)
  - the state entering a chunk adds sum_n c a^(i+1) S_{k-1} to its outputs.
Every output is a sum over past inputs only (future terms are absent, not multiplied by 0.0 in
an FFT), so causality is exact to the bit, and the cost is ~O(T Q C) instead of O(T^2 C).
Generation steps the recurrence one byte at a time with h [B, C, N] as its cache.

Attention
---------
Causal self-attention: the sparse top-k pathway (Tilelli) and dense SDPA (vanilla baseline).

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

Pathways
--------
The non-attention pathways of a routed block: causal convs, a diagonal SSM, the dense FFN.

Every pathway maps x [B, T, C] -> [B, T, C] (C = path width) and has the signature
`forward(x, span, state)`:
  span   where the T new positions sit (Span, above: number of cached positions before them,
         and an optional key mask, True = real token, for left-padded batches);
  state  None in training; a dict the pathway owns during cached decoding.

Conv and SSM pathways (`MixerPathway`) are "sequence mixer, then gated channel mixer":

    u = mixer(x)                       depthwise causal conv (kernel 5 or 32) or diagonal SSM
    g, v = split(W_in u)               W_in: C -> 2m, ternary when quantize
    y = W_out(silu(g) * v)             W_out: m -> C, m = mixer_expand * C

A depthwise conv alone mixes no channels (1,280 parameters at C=256, k=5); the gated channel
mixer gives the pathway its own channel mixing and is where the Lite's parameter budget goes:
m = 2.25 * 256 = 576 puts tilelli-lite at 10.05M, beside vanilla-fp32's 10.09M (see model/config.py).

Caches: a conv keeps its last k-1 inputs (`tail` [B, k-1, C]); the SSM keeps h [B, C, N].
Pad positions are zeroed before the mixer, so in a left-padded batch the conv tail and the SSM
state at a row's first real token are exactly the zeros an unpadded sequence starts from.
The diagonal SSM mixer is DiagonalSSM, above.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- TernaryLinear -------------------------------------------------------------------------------
def ternarize(w: torch.Tensor) -> torch.Tensor:
    """Values clamp(round(w/a), -1, 1) * a with a = max(mean|w|, 1e-5); no gradient path."""
    a = w.abs().mean().clamp(min=1e-5)
    return (w / a).round().clamp(-1, 1) * a


def hadamard_matrix(n: int) -> torch.Tensor:
    """Orthonormal Sylvester Hadamard matrix of size n (a power of two): H @ H = I."""
    assert n > 0 and n & (n - 1) == 0, n
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h / math.sqrt(n)


class TernaryLinear(nn.Module):
    """y = x @ W_eff^T, W: [out, in] FP32 latent; see the module docstring (TernaryLinear)."""

    def __init__(self, in_features: int, out_features: int, quantize: bool = False,
                 hadamard: bool = False):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.quantize, self.hadamard = quantize, hadamard
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.normal_(self.weight, std=0.02)
        self.block = in_features & (-in_features)          # largest power of two dividing in
        if hadamard:
            self.register_buffer("rot", hadamard_matrix(self.block), persistent=False)
        self._cache_key = None
        self._cache_weight = None

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, quantize={self.quantize}, "
                f"hadamard={self.hadamard and self.quantize}")

    def _rotate(self, t: torch.Tensor) -> torch.Tensor:
        """t @ blockdiag(H) along the last dim (H is symmetric, so this is also H t)."""
        shape = t.shape
        t = t.reshape(*shape[:-1], shape[-1] // self.block, self.block) @ self.rot
        return t.reshape(shape)

    def effective_weight(self) -> torch.Tensor:
        """The weight the forward pass uses (ternary, rotated when hadamard), STE to latent."""
        w = self.weight
        if not self.quantize:
            return w
        use_cache = not torch.is_grad_enabled() and not self.training
        key = (w._version, w.data_ptr(), w.device, w.dtype)
        if use_cache and self._cache_key == key:
            return self._cache_weight
        if self.hadamard:
            w = self._rotate(w)
        w_eff = ternarize(w.detach()) + (w - w.detach())   # exact ternary values, identity grad
        if use_cache:
            self._cache_key, self._cache_weight = key, w_eff
        else:
            self._cache_key = self._cache_weight = None
        return w_eff

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.quantize and self.hadamard:
            x = self._rotate(x)
        return F.linear(x, self.effective_weight())


# ---- Diagonal SSM --------------------------------------------------------------------------------
class DiagonalSSM(nn.Module):
    chunk = 32

    def __init__(self, channels: int, n_state: int):
        super().__init__()
        a0 = 1 - torch.logspace(math.log10(0.5), -2, n_state)
        self.a_raw = nn.Parameter(torch.atanh(a0).repeat(channels, 1))    # [C, N]
        self.b = nn.Parameter((1 - a0).repeat(channels, 1))                # [C, N]
        self.c = nn.Parameter(torch.randn(channels, n_state) / math.sqrt(n_state))

    @staticmethod
    def powers(a: torch.Tensor, n: int) -> torch.Tensor:
        """[C, N, n+1] with a^0 .. a^n (cumprod keeps negative a exact and differentiable)."""
        ones = torch.ones_like(a).unsqueeze(-1)
        return torch.cumprod(torch.cat([ones, a.unsqueeze(-1).expand(-1, -1, n)], -1), -1)

    def forward(self, u: torch.Tensor, state: dict | None) -> torch.Tensor:
        """u [B, T, C] -> y [B, T, C]; with a state dict, continue from and store h [B, C, N]."""
        B, T, C = u.shape
        a = torch.tanh(self.a_raw)                                         # [C, N]
        h0 = state.get("h") if state is not None else None
        if T == 1 and h0 is not None:                                      # decoding step
            h = a * h0 + self.b * u[:, 0, :, None]                          # [B, C, N]
            state["h"] = h
            return (self.c * h).sum(-1).unsqueeze(1)                        # [B, 1, C]

        Q = min(self.chunk, T)
        n_chunks = -(-T // Q)
        x = F.pad(u, (0, 0, 0, n_chunks * Q - T)).view(B, n_chunks, Q, C)  # right pad: exact
        pw = self.powers(a, Q)                                             # [C, N, Q+1]
        kernel = torch.einsum("cn,cnt->ct", self.c * self.b, pw[..., :Q])   # K_t  [C, Q]
        lag = torch.arange(Q, device=u.device)
        lag = lag.unsqueeze(1) - lag.unsqueeze(0)                          # i - j  [Q, Q]
        toeplitz = kernel[:, lag.clamp(min=0)] * (lag >= 0)                # [C, Q, Q]
        y = torch.einsum("cij,bkjc->bkic", toeplitz, x)                    # intra-chunk
        local = torch.einsum("bkjc,cnj->bkcn", x, self.b.unsqueeze(-1) * pw[..., :Q].flip(-1))
        s = h0 if h0 is not None else u.new_zeros(B, C, a.shape[1])
        entering = []
        for k in range(n_chunks):                                          # T/Q chunk steps
            entering.append(s)
            s = pw[..., Q] * s + local[:, k]
        entering = torch.stack(entering, 1)                                # [B, n_chunks, C, N]
        y = y + torch.einsum("bkcn,cni->bkic", entering * self.c, pw[..., 1:])
        y = y.reshape(B, n_chunks * Q, C)[:, :T]
        if state is not None:                                              # h_{T-1} for decoding
            pt = self.powers(a, T)                                         # [C, N, T+1]
            h = torch.einsum("btc,cnt->bcn", u, self.b.unsqueeze(-1) * pt[..., :T].flip(-1))
            state["h"] = h if h0 is None else h + h0 * pt[..., T]
        return y


# ---- Attention -----------------------------------------------------------------------------------
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
    """Each query attends to its top_k highest-scoring causal keys (see the module docstring, Attention)."""

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


# ---- Pathways ------------------------------------------------------------------------------------
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
