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
Linears frozen, params metacog.n4). The two are paired by design: seed s of each starts from the
same base and sees the same batches, so they differ only in whether the router trains. The test
is therefore the paired t-test on the per-seed differences KL(v8b_s) - KL(control_s): `delta`
its mean, (lo, hi) the two-sided 95% t-interval that decides the verdict, `p` the matching
two-sided p (p < 0.05 exactly when the interval excludes 0; no one-sided p that could disagree).
Why a t-interval and not a bootstrap over seeds: with 3 seeds a bootstrap has 10 distinct
resamples and its percentile interval is far too narrow; each seed's KL is already an average
over every token of the held-out text, so the seed is the unit of replication.
"""
from __future__ import annotations

import statistics

import torch

from tilelli.data.loader import sft_eval_batches
from tilelli.errors import TilelliError
from tilelli.eval.stats import paired_t
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


def _seed(model: str) -> str:
    return model.rsplit("-s", 1)[-1]


def shift_vs_control(variant: dict[str, float], control: dict[str, float], ci: float = 0.95) -> dict:
    """N4, paired by seed: {model: kl_mean} of the variant's and the control's seeds, matched by the
    "-s<seed>" suffix of their names. Returns {kl_v8b, kl_control (seed means), ratio, delta,
    per_seed (differences), lo, hi (two-sided t-interval of delta), p (two-sided, the same test),
    test, n_pairs}; lo, hi, p are None below 2 pairs."""
    by_seed = {_seed(m): kl for m, kl in control.items()}
    pairs = [(kl, by_seed[_seed(m)]) for m, kl in variant.items() if _seed(m) in by_seed]
    if len(pairs) != len(variant) or len(pairs) != len(control):
        raise TilelliError(f"N4 pairs the variant and its control by seed; their seeds differ "
                           f"({sorted(map(_seed, variant))} vs {sorted(by_seed)})")
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    out = {"kl_v8b": mean_a, "kl_control": mean_b, "ratio": mean_a / mean_b if mean_b > 0 else None,
           "delta": mean_a - mean_b, "per_seed": [x - y for x, y in pairs], "lo": None, "hi": None, "p": None,
           "test": "paired t over seeds (two-sided)", "n_pairs": len(pairs)}
    if len(pairs) < 2:
        return out
    t = paired_t(a, b, ci)
    return {**out, "delta": t["delta"], "lo": t["lo"], "hi": t["hi"], "p": t["p"]}


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
    out["n4"] = shift_vs_control({m: out[m]["kl_mean"] for m in groups[variant]},
                                 {m: out[m]["kl_mean"] for m in groups[control]})
    return out
