"""How far each metacog variant moved from v4: routing KL, chat bits per byte, behaviour.

Claim N4 ("turn off the metacog loss and the router is left alone") is tested here: for every
model, the per-token KL(p_model || p_v4) between the router distributions of the two models on
the same held-out in-domain chat text (data/sft/chat_valid.jsonl, prompt + answer), averaged
over tokens, for each layer; `kl_mean` averages the layers. Beside it: validation bits per byte
on the same text (generation quality) and, from the probe rows, the degenerate-loop rate and the
refusal rate on answerable prompts. Per variant, the seeds are summarised as mean, std, min.
"""
from __future__ import annotations

import statistics

import torch

from tilelli.data.loader import sft_eval_batches
from tilelli.errors import TilelliError
from tilelli.train.loop import LN2


@torch.no_grad()
def routing_and_bpb(lm, batches) -> tuple[list[torch.Tensor], float]:
    """Router probabilities [L,N,P] of every non-padding token, and bits per byte on the answers."""
    if lm.config.arch == "vanilla":
        raise TilelliError(f"{lm.config.name}: router shift needs a routed model (vanilla has no router)")
    lm.eval()
    probs, nll, count = [], 0.0, 0
    for x, y in batches:
        out = lm(x, return_signals=True)
        keep = x != 0                       # padding is 0x00 (chat text never contains NUL)
        keep[:, 0] = True
        probs.append(out.router_probs[:, keep])          # [L, N, P]
        mask = y != -100
        nll += torch.nn.functional.cross_entropy(out.logits[mask].float(), y[mask], reduction="sum").item()
        count += int(mask.sum())
    return torch.cat(probs, dim=1), nll / max(count, 1) / LN2


def kl_per_layer(p: torch.Tensor, q: torch.Tensor) -> list[float]:
    """Mean over tokens of KL(p || q) for each layer; p, q: [L, N, P]."""
    p, q = p.clamp_min(1e-9), q.clamp_min(1e-9)
    return (p * (p.log() - q.log())).sum(-1).mean(-1).tolist()


def _summary(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def router_shift(models: dict[str, object], base: str, rows: list[dict], seq_len: int, batch_size: int,
                 behaviour: dict[str, dict], groups: dict[str, list[str]]) -> dict:
    """{model: {kl_per_layer, kl_mean, chat_bpb, loop_rate, refusal_rate}, <group>: summaries}."""
    batches = sft_eval_batches(rows, seq_len, batch_size)
    routed = {name: routing_and_bpb(lm, batches) for name, lm in models.items()}
    base_probs = routed[base][0]
    out: dict = {}
    for name, (probs, bpb) in routed.items():
        kl = kl_per_layer(probs, base_probs)
        probe = behaviour.get(name, {}).get("probe", {})
        out[name] = {"kl_per_layer": kl, "kl_mean": statistics.fmean(kl), "chat_bpb": bpb,
                     "loop_rate": probe.get("loop", {}).get("rate"),
                     "refusal_rate_answerable": probe.get("refusal_on_answerable", {}).get("rate")}
    for group, members in groups.items():
        out[group] = {key: _summary([out[m][key] for m in members])
                      for key in ("kl_mean", "chat_bpb", "loop_rate", "refusal_rate_answerable")
                      if all(out[m][key] is not None for m in members)}
    return out
