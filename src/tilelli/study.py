"""The study's model list: which models exist, under which names, in which groups.

One small module that training (what to train) and evaluation (what to probe, pool and compare)
both read, so the two can never disagree about the sweep. Everything is derived from params,
never from a directory glob (a removed sweep entry leaves its old files on disk).

    study_seeds(params)     params `seeds`: one seed = one whole replication of the study
    base_chain(seed)        [(stage, init, model), ...]: base/pretrain-s<seed> -> base/chat-s<seed> -> base/v4-s<seed>
    base_models(params)     ["base/v4-s<seed>", ...]  the study's chat model v4, one per seed
    model_bases(params)     {model: "base/v4-s<seed>"}  the base each probed model was trained from
    metacog_groups(params)  {variant: ["metacog/<variant>-s<seed>", ...]}   every trained variant
    ranked_variants(params) the published variants compared for "best abstain head" (v5..v8b)
    n4_pair(params)         (variant, control) of claim N4: v8b vs v8b with the router frozen
    weight0_variant(params) the weight-0 variant the best head is compared with (default v8b)
    splice_models(params)   ["splice/<main>-s<seed>", ...]  one graft per seed of the main variant
    probe_groups(params)    {group: [model, ...]}  what the probe, the AUROC report and the claims read
    ab_runs(params)         [(arm, seed), ...]  (the A/B's own seeds, params ab.seeds)
    ab_plan(params)         params ab, checked (ABPlan); sweep_run / final_run: the A/B's run names
    chosen_lr(params, arm)  the arm's lr from metrics/ab_lr.json (written by tilelli.eval.ab_report)
    expectations_of(profile) the profile whose pre-registered verdicts apply (a preflight: its target's)
    trained_runs(params)    every training run's name (base chains, variants, A/B sweep and finals)
    outputs(params)         every path dvc.yaml declares (tests/test_layout.py checks the two agree)

Where each of these lives on disk is tilelli.paths (models/<name>, metrics/train/<name>.json, ...).

A seed is a whole replication: seed s trains its own base chain (pretrain, chat SFT and abstain
SFT with seed s for init and data order), and metacog/<variant>-s<s> and splice/<main>-s<s> are
fine-tuned from (grafted onto) base/v4-s<s>, so every CI over seeds includes the base's training
variance. Model directories are models/<name>; every training run's resume state, logs and
summary use the same name (checkpoints/<name>, plots/train/<name>, metrics/train/<name>.json).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tilelli import paths
from tilelli.io import TilelliError, is_number, read_json
from tilelli.paths import LR_CHOICE
from tilelli.stage import param


# The base chain: (params section = training stage, model name); each step starts from the one before.
BASE_CHAIN = (("pretrain", "pretrain"), ("chat_sft", "chat"), ("abstain_sft", "v4"))
BASE_GROUP = "v4"   # the probe group (metrics/auroc.json groups.v4) of every seed's base/v4-s<seed>


# The model families: every model name is <family>/<run> and lives in models/<family>/<run>
# (dvc.yaml declares each family as an artifact of type model; tests/test_layout.py checks both).
MODEL_FAMILIES = ("base", "metacog", "splice", "ab")
BASE, METACOG, SPLICE, AB = MODEL_FAMILIES


def base_dir(model: str, seed: int) -> str:
    """models/<this>: base/pretrain-s<seed>, base/chat-s<seed>, base/v4-s<seed>."""
    return f"{BASE}/{model}-s{seed}"


def v4_dir(seed: int) -> str:
    return base_dir(BASE_GROUP, seed)


def base_chain(seed: int) -> list[tuple[str, str | None, str]]:
    """[(stage, init model or None, output model)] of seed's base chain, in training order."""
    out, init = [], None
    for stage, model in BASE_CHAIN:
        out.append((stage, init, base_dir(model, seed)))
        init = base_dir(model, seed)
    return out


def base_step(stage: str, seed: int) -> tuple[str | None, str]:
    """(init, output) model names of one base-chain stage (pretrain, chat_sft, abstain_sft)."""
    for name, init, out in base_chain(seed):
        if name == stage:
            return init, out
    raise TilelliError(f"'{stage}' is not a base-chain stage ({', '.join(s for s, _ in BASE_CHAIN)})")


def variant_dir(variant: str, seed: int) -> str:
    return f"{METACOG}/{variant}-s{seed}"


def splice_dir(main: str, seed: int) -> str:
    return f"{SPLICE}/{main}-s{seed}"


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


WEIGHT0_VARIANT = "v8b"   # the published weight-0 variant (metacog weight 0: CE + BCE only)


def weight0_variant(params: dict) -> str:
    """params metacog.weight0_variant (default v8b): the reference of the "best variant vs weight 0"
    comparison (stages/auroc.py writes its abstain_p AUROC) and the weight-0 row of the paper's
    controls table (eval/paper.py reads it back)."""
    return param(params, "metacog").get("weight0_variant", WEIGHT0_VARIANT)


def study_seeds(params: dict) -> list[int]:
    """params `seeds`: every seed trains a base chain, each variant and a splice from that base."""
    seeds = param(params, "seeds")
    ok = isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                   for s in seeds)
    if not ok or len(set(seeds)) != len(seeds):
        raise TilelliError(f"params.yaml: seeds must be a non-empty list of distinct integers >= 0 (got {seeds!r})")
    return list(seeds)


def check_seed(params: dict, seed: int) -> int:
    """`seed` if it is one of params `seeds` (a stage run by hand for another seed is an error)."""
    if seed not in study_seeds(params):
        raise TilelliError(f"seed {seed} is not in params.yaml seeds {study_seeds(params)}")
    return seed


# A preflight profile runs another profile's whole DAG cut to a few steps (conf/profile/preflight.yaml
# runs paper's): its claims are read against that profile's expectations and never judged.
PREFLIGHT = "preflight"
PREFLIGHT_OF = {PREFLIGHT: "paper"}


def expectations_of(profile: str) -> str:
    """The profile whose expected verdicts (claims.yaml `expected`) the active profile is checked
    against: itself, or for a preflight profile the profile it preflights (verify and the paper)."""
    return PREFLIGHT_OF.get(profile, profile)


def seed_groups(groups: dict[str, list[str]], index: int) -> dict[str, list[str]]:
    """The probe groups restricted to the seed at position `index` (probe_groups pairs by position)."""
    return {g: [ms[index]] for g, ms in groups.items()}


def base_models(params: dict) -> list[str]:
    """["base/v4-s<seed>", ...]: the study's chat model, one per seed (the probe group `v4`)."""
    return [v4_dir(s) for s in study_seeds(params)]


def metacog_groups(params: dict) -> dict[str, list[str]]:
    """{variant: [metacog/<variant>-s<seed>, ...]} for every trained variant."""
    return {v: [variant_dir(v, s) for s in study_seeds(params)] for v in metacog_variants(params)}


def metacog_models(params: dict) -> list[str]:
    return [name for names in metacog_groups(params).values() for name in names]


def splice_models(params: dict) -> list[str]:
    """One splice per seed: base/v4-s<seed> + the abstain head of metacog/<main>-s<seed>."""
    main = param(params, "metacog.main")
    return [splice_dir(main, s) for s in study_seeds(params)]


def model_bases(params: dict) -> dict[str, str]:
    """{model: the base/v4-s<seed> it was trained from} for every probed model (a base maps to itself)."""
    main = param(params, "metacog.main")
    out = {}
    for s in study_seeds(params):
        out[v4_dir(s)] = v4_dir(s)
        out[splice_dir(main, s)] = v4_dir(s)
        out.update({variant_dir(v, s): v4_dir(s) for v in metacog_variants(params)})
    return out


def probe_groups(params: dict) -> dict[str, list[str]]:
    """{group: [model, ...]}: v4, the splice and each metacog variant, each over the study's seeds
    (position i of every group is seed i, so groups pair by position)."""
    groups: dict[str, list[str]] = {BASE_GROUP: base_models(params), "splice": splice_models(params)}
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


# ---------------------------------------------------------------------------------------------
# The Lite-vs-vanilla A/B (tilelli.eval.ab_report explains the design): what training
# (tilelli.train.recipes, the A/B runs) and the report both need, so neither imports the other.
# ---------------------------------------------------------------------------------------------
ARMS = ("lite", "vanilla")


def lr_tag(lr: float) -> str:
    """The lr as it appears in run names: Python's str(), which is also how dvc.yaml writes ${item.lr}."""
    return str(float(lr))


def sweep_run(arm: str, lr: float) -> str:
    return f"{AB}/sweep/{arm}-lr{lr_tag(lr)}"


def final_run(arm: str, seed: int) -> str:
    return f"{AB}/{arm}-s{seed}"


@dataclass(frozen=True)
class ABPlan:
    """params `ab`, checked: models {arm: config name}, seeds, the sweep's seed and lrs, ab.train."""
    models: dict
    seeds: list
    sweep_seed: int
    lrs: list
    train: dict

    def check_arm(self, arm: str) -> str:
        if arm not in self.models:
            raise TilelliError(f"unknown ab arm {arm!r}; params.yaml ab.models lists {', '.join(self.models)}")
        return arm


def ab_plan(params: dict) -> ABPlan:
    """The A/B's params as an ABPlan; every bad value is one line naming its key."""
    ab = param(params, "ab")
    models, seeds, train = ab.get("models") or {}, ab.get("seeds") or [], ab.get("train") or {}
    sweep = param(params, "ab.sweep")
    if set(models) != set(ARMS):
        raise TilelliError(f"params.yaml: ab.models must name exactly 'lite' and 'vanilla', got {sorted(models)}")
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) for s in seeds):
        raise TilelliError(f"params.yaml: ab.seeds={seeds!r}: need >= 2 distinct integer seeds (Welch's test)")
    lrs = sweep.get("lrs") or []
    if len(lrs) < 3 or not all(is_number(v) and v > 0 for v in lrs) or len(set(lrs)) != len(lrs):
        raise TilelliError(f"params.yaml: ab.sweep.lrs={lrs!r}: need >= 3 distinct positive numbers "
                           "(write 0.0003, not 3e-4: YAML reads that as text)")
    if not isinstance(sweep.get("seed"), int) or isinstance(sweep.get("seed"), bool):
        raise TilelliError(f"params.yaml: ab.sweep.seed={sweep.get('seed')!r}: must be an integer")
    if "lr" in train:
        raise TilelliError("params.yaml: ab.train.lr is not used: each arm trains at the lr its sweep chose "
                           f"(ab.sweep.lrs -> {LR_CHOICE}); remove it")
    return ABPlan(dict(models), list(seeds), sweep["seed"], [float(v) for v in lrs], dict(train))


def _read_json(path: Path, hint: str) -> dict:
    """tilelli.io.read_json, its one-line error followed by how to make the file."""
    try:
        return read_json(path)
    except TilelliError as e:
        raise TilelliError(f"{e} ({hint})") from None


def run_metrics(run: str, hint: str) -> dict:
    """metrics/train/<run>.json, with the final `val_bpb` every A/B run writes."""
    path = paths.train_metrics(run)
    m = _read_json(path, hint)
    if "val_bpb" not in m:
        raise TilelliError(f"{path}: no val_bpb ({hint})")
    return m


def chosen_lr(params: dict, arm: str) -> float:
    """The arm's lr from metrics/ab_lr.json, checked against the sweep params it must come from."""
    plan = ab_plan(params)
    plan.check_arm(arm)
    hint = "run `dvc repro ab_lr` or `python -m stages.ab_report --choose-lr`"
    choice = _read_json(LR_CHOICE, hint)
    if choice.get("lrs") != plan.lrs or choice.get("seed") != plan.sweep_seed:
        raise TilelliError(f"{LR_CHOICE} is stale: it chose among lrs {choice.get('lrs')} at seed {choice.get('seed')}, "
                           f"params.yaml ab.sweep has {plan.lrs} at seed {plan.sweep_seed} ({hint})")
    lr = (choice.get("chosen_lr") or {}).get(arm)
    if not is_number(lr) or float(lr) not in plan.lrs:
        raise TilelliError(f"{LR_CHOICE} has no chosen lr for arm {arm!r} among {plan.lrs} ({hint})")
    return float(lr)


def trained_runs(params: dict) -> list[str]:
    """Every training run's name, in DAG order: each seed's base chain, every metacog variant, the
    A/B sweep and the A/B's final runs (each writes models/, plots/train/ and metrics/train/<run>)."""
    plan = ab_plan(params)
    return ([out for s in study_seeds(params) for _, _, out in base_chain(s)] + metacog_models(params)
            + [sweep_run(arm, lr) for arm in plan.models for lr in plan.lrs]
            + [final_run(arm, s) for arm in plan.models for s in plan.seeds])


def outputs(params: dict) -> set[str]:
    """Every path the pipeline declares as a DVC output (outs, metrics and plots of dvc.yaml's
    stages): tests/test_layout.py checks dvc.yaml, resolved with these params, declares exactly these."""
    p = paths
    files = {p.PARAMS_CHECK, p.NUMERICS, p.RAW_DIR, p.MANIFEST, p.PACKED_DIR, p.SFT_DIR, p.PROMPTS, p.SURFACE_ROWS,
             p.SURFACE, p.LR_CHOICE, p.AB_PLOT, p.AB_PNG, p.AB_REPORT, p.AUROC_TABLES, p.AUROC_PLOTS, p.SEED_METRICS,
             p.AUROC, p.BEHAVIOUR, p.ROUTER_SHIFT, p.CLAIMS_MD, p.CLAIMS_JSON, p.PAPER}
    for run in trained_runs(params):
        files |= {p.model_path(run), p.train_plots(run), p.train_metrics(run)}
    files |= {p.model_path(m) for m in splice_models(params)}
    for m in probe_models(params):
        files |= {p.probe_rows(m), p.probe_gates(m)}
    return files
