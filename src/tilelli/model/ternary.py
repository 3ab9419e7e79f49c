"""TernaryLinear: a bias-free Linear whose forward weight is {-a, 0, +a} (BitNet b1.58 style).

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
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


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
    """y = x @ W_eff^T, W: [out, in] FP32 latent; see the module docstring."""

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
