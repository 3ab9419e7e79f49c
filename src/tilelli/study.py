"""The study's model list: which models exist, under which names, in which groups.

One small module that training (what to train) and evaluation (what to probe, pool and compare)
both read, so the two can never disagree about the sweep. Everything is derived from params,
never from a directory glob (a removed sweep entry leaves its old files on disk).

    metacog_groups(params)  {variant: ["metacog/<variant>-s<seed>", ...]}   every trained variant
    ranked_variants(params) the published variants compared for "best abstain head" (v5..v8b)
    n4_pair(params)         (variant, control) of claim N4: v8b vs v8b with the router frozen
    splice_models(params)   ["splice/<main>-s<seed>", ...]  one graft per seed of the main variant
    probe_groups(params)    {group: [model, ...]}  what the probe, the AUROC report and the claims read
    ab_runs(params)         [(arm, seed), ...]
"""
from __future__ import annotations

from tilelli.errors import TilelliError
from tilelli.stage import param


def variant_dir(variant: str, seed: int) -> str:
    return f"metacog/{variant}-s{seed}"


def splice_dir(main: str, seed: int) -> str:
    return f"splice/{main}-s{seed}"


def metacog_variants(params: dict) -> list[str]:
    """Every trained metacog variant (the published ones and any control), in params order."""
    return list(param(params, "metacog.variants"))


def ranked_variants(params: dict) -> list[str]:
    """The variants ranked for "best abstain_p" (controls excluded); params metacog.ranked."""
    m = param(params, "metacog")
    ranked = list(m.get("ranked", m["variants"]))
    unknown = [v for v in ranked if v not in m["variants"]]
    if unknown:
        raise TilelliError(f"params.yaml: metacog.ranked lists {', '.join(unknown)}, not in metacog.variants")
    return ranked


def n4_pair(params: dict) -> tuple[str, str]:
    """(variant, control) that claim N4 compares (params metacog.n4): how far v8b's router moves
    from v4 against the same training with the router Linears frozen, which moves it only through
    the LayerNorm input the other weights feed it. The control is trained but never ranked."""
    n4 = param(params, "metacog.n4")
    pair = (n4.get("variant"), n4.get("control")) if isinstance(n4, dict) else (None, None)
    unknown = [str(v) for v in pair if v not in metacog_variants(params)]
    if unknown:
        raise TilelliError(f"params.yaml: metacog.n4 needs variant and control from metacog.variants; "
                           f"not there: {', '.join(unknown)}")
    if pair[1] in ranked_variants(params) or pair[0] == pair[1]:
        raise TilelliError(f"params.yaml: metacog.n4.control={pair[1]} must be a control, not in metacog.ranked "
                           f"and not the variant itself")
    return pair


def metacog_seeds(params: dict) -> list[int]:
    seeds = list(param(params, "metacog.seeds"))
    if not seeds:
        raise TilelliError("params.yaml: metacog.seeds is empty")
    return seeds


def metacog_groups(params: dict) -> dict[str, list[str]]:
    """{variant: [metacog/<variant>-s<seed>, ...]} for every trained variant."""
    return {v: [variant_dir(v, s) for s in metacog_seeds(params)] for v in metacog_variants(params)}


def metacog_models(params: dict) -> list[str]:
    return [name for names in metacog_groups(params).values() for name in names]


def splice_models(params: dict) -> list[str]:
    """One splice per seed: v4 + the abstain head of metacog/<main>-s<seed>."""
    main = param(params, "metacog.main")
    return [splice_dir(main, s) for s in metacog_seeds(params)]


def probe_groups(params: dict) -> dict[str, list[str]]:
    """{group: [model, ...]}: v4 alone, the splice over seeds, each metacog variant over seeds."""
    groups: dict[str, list[str]] = {"v4": ["v4"], "splice": splice_models(params)}
    clash = set(groups) & set(metacog_variants(params))
    if clash:
        raise TilelliError(f"params.yaml: metacog variant name(s) {', '.join(sorted(clash))} are reserved")
    groups.update(metacog_groups(params))
    return groups


def probe_models(params: dict) -> list[str]:
    return [m for members in probe_groups(params).values() for m in members]


def ab_runs(params: dict) -> list[tuple[str, int]]:
    ab = param(params, "ab")
    return [(arm, s) for arm in ab["models"] for s in ab["seeds"]]
