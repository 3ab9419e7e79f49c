"""How far each metacog variant moved from its own base: routing KL, chat bits per byte, behaviour; N4.

Claim N4 ("turn off the metacog loss and the router is left alone") is tested here: for every
model, the per-token KL(p_model || p_base) between the router distributions of the model and the
base it was fine-tuned from (seed s: base/v4-s<s>, tilelli.study.model_bases) on the same
held-out in-domain chat text (data/sft/chat_valid.jsonl, prompt + answer), averaged over tokens,
for each layer; `kl_mean` averages the layers. Beside it: validation bits per byte
on the same text (generation quality) and, from the probe rows, the degenerate-loop rate and the
refusal rate on answerable prompts. Per variant, the seeds are summarised as mean, std, min, max.

A KL above 0 alone does not show that CE moved the router: with the router frozen its input
(the LayerNorm of a residual stream that the other weights change) still moves its output. So
`n4` compares the weight-0 variant (v8b) with its control (the same recipe with the router
Linears frozen, params metacog.n4): the difference of the seed means, their ratio, a one-sided
Welch test (v8b > control; 3 seeds per arm detect only gaps of ~3.5 SD) and the Welch 95% CI.
"""
from __future__ import annotations

import math
import statistics

import numpy as np
import torch
from scipy import stats as st

from tilelli.data.loader import sft_eval_batches
from tilelli.errors import TilelliError
from tilelli.eval.stats import welch_test
from tilelli.model.quantities import bits_per_byte, nll_sum


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
        nats, n = nll_sum(out.logits, y)
        nll, count = nll + nats, count + n
    return torch.cat(probs, dim=1), bits_per_byte(nll, count)


def kl_per_layer(p: torch.Tensor, q: torch.Tensor) -> list[float]:
    """Mean over tokens of KL(p || q) for each layer; p, q: [L, N, P]."""
    p, q = p.clamp_min(1e-9), q.clamp_min(1e-9)
    return (p * (p.log() - q.log())).sum(-1).mean(-1).tolist()


def _summary(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def shift_vs_control(kl_variant: list[float], kl_control: list[float], ci: float = 0.95) -> dict:
    """N4 over seeds: {kl_v8b, kl_control (seed means), delta, ratio, p (one-sided Welch, variant >
    control), lo, hi (Welch CI of delta), n_v8b, n_control}; p, lo, hi are None below 2 seeds."""
    a, b = np.asarray(kl_variant, dtype=np.float64), np.asarray(kl_control, dtype=np.float64)
    delta = float(a.mean() - b.mean())
    out = {"kl_v8b": float(a.mean()), "kl_control": float(b.mean()), "delta": delta,
           "ratio": float(a.mean() / b.mean()) if b.mean() > 0 else None,
           "p": None, "lo": None, "hi": None, "n_v8b": len(a), "n_control": len(b)}
    if min(len(a), len(b)) < 2:
        return out
    w = welch_test(a, b)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if se == 0:   # both arms constant over seeds: the difference is exact
        return {**out, "p": 0.0 if delta > 0 else 1.0, "lo": delta, "hi": delta}
    half = float(st.t.ppf(0.5 + ci / 2, w["df"])) * se
    return {**out, "p": float(st.t.sf(w["t"], w["df"])), "lo": delta - half, "hi": delta + half}


def router_shift(models: dict[str, object], bases: dict[str, str], rows: list[dict], seq_len: int, batch_size: int,
                 behaviour: dict[str, dict], groups: dict[str, list[str]], n4: tuple[str, str]) -> dict:
    """{model: {base, kl_per_layer, kl_mean, chat_bpb, loop_rate, refusal_rate}, <group>: summaries,
    n4: shift_vs_control(variant, control)}. `bases` maps every model to the base it was trained
    from (a base to itself, KL 0); the KL of a model is to its own base."""
    missing = sorted(n for n in models if bases.get(n) not in models)
    if missing:
        raise TilelliError(f"router shift: no base model loaded for {', '.join(missing[:3])}")
    batches = sft_eval_batches(rows, seq_len, batch_size)
    routed = {name: routing_and_bpb(lm, batches) for name, lm in models.items()}
    out: dict = {}
    for name, (probs, bpb) in routed.items():
        kl = kl_per_layer(probs, routed[bases[name]][0])
        probe = behaviour.get(name, {}).get("probe", {})
        out[name] = {"base": bases[name], "kl_per_layer": kl, "kl_mean": statistics.fmean(kl), "chat_bpb": bpb,
                     "loop_rate": probe.get("loop", {}).get("rate"),
                     "refusal_rate_answerable": probe.get("refusal_on_answerable", {}).get("rate")}
    for group, members in groups.items():
        out[group] = {key: _summary([out[m][key] for m in members])
                      for key in ("kl_mean", "chat_bpb", "loop_rate", "refusal_rate_answerable")
                      if all(out[m][key] is not None for m in members)}
    variant, control = n4
    out["n4"] = shift_vs_control([out[m]["kl_mean"] for m in groups[variant]],
                                 [out[m]["kl_mean"] for m in groups[control]])
    return out
