"""Which fact keys and fictional places go to which set: one plan shared by sft_data and prompts.

    plan = split_plan(seed=0, n_chat_valid=100)

Held-out sets are disjoint *by fact key*: a probe question about the capital of Peru means no
SFT pair mentions Peru's capital in any phrasing (its continent may still be trained). The
corpus states every fact, so a held-out question is answerable from pretraining alone.

Allocation (sft.seed shuffles; counts are fixed so the probe never moves with SFT sizes):
- probe in_domain / ood_style / long_input / neo_false_inability: 30 keys each, 10 per easy
  family (capital, continent, language), and the false_inability gate set (20): all from the
  better-known half of places (population >= median, 118 of 235 places, 354 easy keys; 140
  used, each set on distinct places). neo_false_inability and false_inability used to come
  from the lesser-known half (Tuvalu, Niue); then they differed from in_domain in obscurity as
  well as in the hedge, and a detector could score obscurity. Now only the hedge differs.
- chat_valid: n_chat_valid further keys (any family); chat_train: every remaining key;
- fictional places: 10 for idk_heldout, 20 for abstain_valid, the rest for abstain_train.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field

from tilelli.data.facts import EASY_FAMILIES, FactKey, fact_keys, fictional_places, place_index

PROBE_PER_REGIME = 30
N_FALSE_INABILITY = 20
N_IDK_HELDOUT = 10
N_FICTIONAL_VALID = 20


@dataclass
class SplitPlan:
    in_domain: list[FactKey] = field(default_factory=list)
    ood_style: list[FactKey] = field(default_factory=list)
    long_input: list[FactKey] = field(default_factory=list)
    neo_false_inability: list[FactKey] = field(default_factory=list)
    false_inability: list[FactKey] = field(default_factory=list)
    chat_valid: list[FactKey] = field(default_factory=list)
    chat_train: list[FactKey] = field(default_factory=list)
    fictional_train: list[tuple[str, str]] = field(default_factory=list)
    fictional_valid: list[tuple[str, str]] = field(default_factory=list)
    fictional_idk: list[tuple[str, str]] = field(default_factory=list)

    def held_out_keys(self) -> set[FactKey]:
        return set(self.in_domain + self.ood_style + self.long_input + self.neo_false_inability
                   + self.false_inability + self.chat_valid)


def _take_balanced(pools: dict[str, list[FactKey]], n: int, used: set[FactKey]) -> list[FactKey]:
    """n keys, round-robin over families, each place used at most once within the set."""
    out, places = [], set()
    fams = list(pools)
    while len(out) < n:
        progressed = False
        for fam in fams:
            while pools[fam]:
                k = pools[fam].pop()
                if k not in used and k.place not in places:
                    out.append(k)
                    used.add(k)
                    places.add(k.place)
                    progressed = True
                    break
            if len(out) == n:
                break
        if not progressed:
            raise RuntimeError("not enough fact keys for the held-out sets")
    return out


def split_plan(seed: int = 0, n_chat_valid: int = 100) -> SplitPlan:
    r = random.Random(f"tilelli-splits-{seed}")
    keys = fact_keys()
    pops = {name: p.population for name, p in place_index().items()}
    median = statistics.median(pops.values())
    known = {f: [k for k in keys if k.family == f and pops[k.place] >= median] for f in EASY_FAMILIES}
    for pool in known.values():
        r.shuffle(pool)
    plan, used = SplitPlan(), set()
    plan.in_domain = _take_balanced(known, PROBE_PER_REGIME, used)
    plan.ood_style = _take_balanced(known, PROBE_PER_REGIME, used)
    plan.long_input = _take_balanced(known, PROBE_PER_REGIME, used)
    plan.neo_false_inability = _take_balanced(known, PROBE_PER_REGIME, used)
    plan.false_inability = _take_balanced(known, N_FALSE_INABILITY, used)
    rest = [k for k in keys if k not in used]
    r.shuffle(rest)
    plan.chat_valid, plan.chat_train = rest[:n_chat_valid], rest[n_chat_valid:]
    fict = list(fictional_places())
    r.shuffle(fict)
    plan.fictional_idk = fict[:N_IDK_HELDOUT]
    plan.fictional_valid = fict[N_IDK_HELDOUT:N_IDK_HELDOUT + N_FICTIONAL_VALID]
    plan.fictional_train = fict[N_IDK_HELDOUT + N_FICTIONAL_VALID:]
    return plan
