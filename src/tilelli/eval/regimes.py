"""The probe's fixed design: regimes, signals, baselines, and each signal's orientation.

Positive class = OOD. Every signal has a sign fixed here, before any data is seen, so that a
higher oriented score means "more OOD"; there is no post-hoc flipping (an AUROC below 0.5 is
reported as such, it means the signal points the wrong way). Confidence signals are negated:

    max_softmax_last, max_softmax_mean   high = confident = in-domain       -> negated
    router_conf (1 - H/ln P)              high = decisive router = in-domain -> negated
    energy (mean logsumexp of logits)     high = low free energy = in-domain -> negated
    entropy_mean, router_entropy_mean, router_entropy_var, abstain_p        -> as is

The 210 prompts are 7 regimes x 30. `in_domain` is the reference class, so a signal is
compared on 7 contrasts: in_domain vs each of the 6 OOD regimes, and "cross" = in_domain vs all
6 pooled (30 vs 180). The pre-registered "wins >= 4 of 7 regimes" counts these 7 contrasts.
"""
from __future__ import annotations

import numpy as np

from tilelli.errors import TilelliError

IN_DOMAIN = "in_domain"
OOD_REGIMES = ("ood_topic", "ood_style", "factual_misleading", "long_input",
               "neo_false_inability", "gibberish")
REGIMES = (IN_DOMAIN,) + OOD_REGIMES
CROSS = "cross"
CONTRASTS = OOD_REGIMES + (CROSS,)  # the 7 comparisons every signal gets

# +1: higher raw value = more OOD; -1: higher raw value = more in-domain (confidence).
ORIENTATION = {
    "max_softmax_last": -1,
    "max_softmax_mean": -1,
    "entropy_mean": +1,
    "energy": -1,
    "router_conf": -1,
    "router_entropy_mean": +1,
    "router_entropy_var": +1,
    "abstain_p": +1,
}
SIGNALS = tuple(ORIENTATION)
BASELINES = ("max_softmax_last", "max_softmax_mean", "abstain_p")
CANDIDATES = tuple(s for s in SIGNALS if s not in BASELINES)
ROUTER_FAMILY = ("router_conf", "router_entropy_mean", "router_entropy_var")
# The router family is "proven" only with a win in at least one of these (pre-registered).
HARD_REGIMES = ("gibberish", "factual_misleading", "neo_false_inability")
N1_REFERENCE = "max_softmax_mean"  # the published N1 compares the router family against this


def oriented(rows: list[dict], signal: str) -> np.ndarray:
    """The signal's values with its fixed sign applied (None -> NaN, e.g. no router)."""
    if signal not in ORIENTATION:
        raise TilelliError(f"unknown signal '{signal}' (known: {', '.join(SIGNALS)})")
    raw = np.array([np.nan if r.get(signal) is None else float(r[signal]) for r in rows])
    return ORIENTATION[signal] * raw


def contrast_rows(rows: list[dict], contrast: str) -> tuple[list[dict], np.ndarray]:
    """The rows of one contrast and their labels (1 = OOD). `contrast` is a regime or "cross"."""
    if contrast == CROSS:
        keep = [r for r in rows if r["regime"] in REGIMES]
    elif contrast in OOD_REGIMES:
        keep = [r for r in rows if r["regime"] in (IN_DOMAIN, contrast)]
    else:
        raise TilelliError(f"unknown contrast '{contrast}' (known: {', '.join(CONTRASTS)})")
    y = np.array([0 if r["regime"] == IN_DOMAIN else 1 for r in keep])
    return keep, y
