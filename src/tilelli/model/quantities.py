"""The quantities that training and evaluation must compute identically: one definition each.

    IGNORE_INDEX                     -100: a target without loss (prompt bytes, padding)
    nll_sum(logits, targets)         (summed cross-entropy in nats, number of scored bytes)
    bits_per_byte(nats, n)           nats / n / ln 2: bytes are tokens, so this is bits per byte
    router_entropy(probs)            H(router) over the pathway axis, nats, in [0, ln P]
    router_confidence(probs, mask)   mean over layers and masked positions of 1 - H / ln P

Claims N1 and N4 compare what the metacog loss trains (train/loop.py) with what the probe
measures (eval/probe.py) and what router_shift reports; all three read these functions, so a
trained objective and a measured signal cannot drift apart.

ROUTER_EPS = 1e-9 clamps p before log p (p = 0 would give 0 * -inf = NaN). For p < eps the
clamped term -p ln(eps) differs from -p ln(p) by at most eps / e = 3.7e-10 nats per pathway, far
below any difference the study reports (AUROCs to 3 decimals).

No torch import at module level: tilelli.data.chat re-exports IGNORE_INDEX, and the torch-free
data stages must not pay torch's import.
"""
from __future__ import annotations

import math

IGNORE_INDEX = -100
ROUTER_EPS = 1e-9
LN2 = math.log(2.0)


def nll_sum(logits, targets) -> tuple[float, int]:
    """Summed cross-entropy (nats, fp32) over targets != IGNORE_INDEX, and how many bytes it scored."""
    import torch.nn.functional as F

    mask = targets != IGNORE_INDEX
    nats = F.cross_entropy(logits[mask].float(), targets[mask], reduction="sum").item()
    return nats, int(mask.sum())


def bits_per_byte(nats: float, n: int) -> float:
    """Mean nats per scored byte / ln 2; 0 scored bytes give 0 rather than a division error."""
    return nats / max(n, 1) / LN2


def router_entropy(probs):
    """[..., P] router probabilities -> [...] entropy in nats (0 = one pathway, ln P = uniform)."""
    return -(probs.clamp_min(ROUTER_EPS).log() * probs).sum(-1)


def router_confidence(probs, mask):
    """[L,B,T,P] router probabilities, [B,T] positions to read -> [B] mean of 1 - H/ln P over
    layers and the masked positions (a row with no masked position gives 0)."""
    conf = (1.0 - router_entropy(probs) / math.log(probs.shape[-1])).mean(0)      # [B, T]
    m = mask.to(conf.dtype)
    return (conf * m).sum(-1) / m.sum(-1).clamp_min(1.0)
