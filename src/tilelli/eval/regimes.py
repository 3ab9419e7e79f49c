"""The probe's fixed design: regimes, signals, baselines, controls, and each signal's orientation.

Positive class = OOD. Every signal has a sign fixed here, before any data is seen, so that a
higher oriented score means "more OOD"; there is no post-hoc flipping (an AUROC below 0.5 is
reported as such, it means the signal points the wrong way). Confidence signals are negated:

    max_softmax_last, max_softmax_mean   high = confident = in-domain       -> negated
    router_conf (1 - H/ln P)              high = decisive router = in-domain -> negated
    energy (mean logsumexp of logits)     high = low free energy = in-domain -> negated
    entropy_mean, router_entropy_var, abstain_p                             -> as is

router_entropy_mean is not a signal of the report although the probe still writes it: router_conf
= 1 - router_entropy_mean / ln P is a strictly decreasing transform of it, so after orientation
both rank every prompt identically (equal AUROC in all 7 contrasts). Counting both would count
one measurement twice in the router family and in the Holm family. The four published signals
are max_softmax_last, max_softmax_mean, router_conf and router_entropy_var.

Controls (this study's addition, not the published one's): `surface`, a logistic regression on
trivial prompt features fitted on the training prompts, `byte_length`, the prompt's length, and
the distance-to-training baselines of eval/familiarity.py: `nn_char4` (1 - nearest-neighbour
character-4-gram cosine to the chat training prompts) and `ngram_lr` (a logistic regression on
hashed character n-grams fitted on the training prompts). All are prompt-only (identical for
every model) and oriented +1 (higher = more OOD). They are reported like signals, but are neither
baselines nor candidates of the win rule. PROMPT_BASELINES are the ones a head must beat: the
report picks the strongest of them (highest pooled cross AUROC on the probe) as the reference of
the familiarity controls; `surface` stays the per-signal reference of the vs_surface tables.

The 210 prompts are 7 regimes x 30 (tilelli.data.prompts.REGIMES, the one definition).
`in_domain` is the reference class, so a signal is compared on 7 contrasts: in_domain vs each of
the 6 OOD regimes, and "cross" = in_domain vs all 6 pooled (30 vs 180). The pre-registered "wins
>= 4 of 7 regimes" counts these 7 contrasts.
"""
from __future__ import annotations

import numpy as np

from tilelli.data.prompts import REGIMES
from tilelli.errors import TilelliError

IN_DOMAIN = "in_domain"
OOD_REGIMES = tuple(r for r in REGIMES if r != IN_DOMAIN)
CROSS = "cross"
CONTRASTS = OOD_REGIMES + (CROSS,)  # the 7 comparisons every signal gets

SURFACE = "surface"
CONTROLS = (SURFACE, "byte_length", "nn_char4", "ngram_lr")  # prompt-only, merged into every model's rows by id
# The prompt-only baselines a head is held against (byte_length is one of surface's features).
PROMPT_BASELINES = (SURFACE, "nn_char4", "ngram_lr")

# +1: higher raw value = more OOD; -1: higher raw value = more in-domain (confidence).
ORIENTATION = {
    "max_softmax_last": -1,
    "max_softmax_mean": -1,
    "entropy_mean": +1,
    "energy": -1,
    "router_conf": -1,
    "router_entropy_var": +1,
    "abstain_p": +1,
    SURFACE: +1,
    "byte_length": +1,
    "nn_char4": +1,
    "ngram_lr": +1,
}
SIGNALS = tuple(s for s in ORIENTATION if s not in CONTROLS)  # the model's signals (probe columns)
REPORTED = SIGNALS + CONTROLS  # every table and metrics cell: the signals, then the controls
BASELINES = ("max_softmax_last", "max_softmax_mean", "abstain_p")
CANDIDATES = tuple(s for s in SIGNALS if s not in BASELINES)  # Holm family: 4 candidates x 7 contrasts
ROUTER_FAMILY = ("router_conf", "router_entropy_var")
# The router family is "proven" only with a win in at least one of these (pre-registered).
HARD_REGIMES = ("gibberish", "factual_misleading", "neo_false_inability")
N1_REFERENCE = "max_softmax_mean"  # the published N1 compares the router family against this


def oriented(rows: list[dict], signal: str) -> np.ndarray:
    """The signal's values with its fixed sign applied (None or missing -> NaN, e.g. no router)."""
    if signal not in ORIENTATION:
        raise TilelliError(f"unknown signal '{signal}' (known: {', '.join(REPORTED)})")
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
