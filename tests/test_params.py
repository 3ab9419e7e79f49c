"""params.yaml is the composed tiny profile, and the paper profile composes too."""

import pytest
import yaml

from tilelli.io import TilelliError
from tilelli.stage import changed_from_profile, compose, load_params
from tilelli.study import (base_chain, check_seed, metacog_models, model_bases, n4_pair, probe_groups,
                           probe_models, ranked_variants, study_seeds)
from tilelli.train import TrainConfig
from tilelli.train.loop import MetacogRecipe
from conftest import ROOT



def test_committed_params_equal_the_composed_tiny_profile(tmp_path):
    out = compose(output=tmp_path / "params.yaml", conf_dir=ROOT / "conf")
    assert out.read_text() == (ROOT / "params.yaml").read_text(), "run `tilelli params` and commit params.yaml"


@pytest.mark.parametrize("profile", ["tiny", "paper", "preflight"])
def test_profiles_compose_with_valid_training_sections(tmp_path, profile):
    params = yaml.safe_load(compose([f"profile={profile}"], tmp_path / "p.yaml", ROOT / "conf").read_text())
    assert params["profile"] == profile
    for key in ("pretrain", "chat_sft", "abstain_sft"):
        TrainConfig.from_params(params[key], key)
    for lr in params["ab"]["sweep"]["lrs"]:          # ab.train has no lr: each arm's comes from the sweep
        TrainConfig.from_params({**params["ab"]["train"], "lr": lr}, "ab.train")
    m = params["metacog"]
    recipes = {v: MetacogRecipe.from_params(m, v) for v in m["variants"]}    # every trained variant has one
    for v, r in recipes.items():
        TrainConfig.from_params({**m["train"], **r.train}, f"metacog.recipes.{v}")
    assert recipes[m["main"]].weight == params["metacog_weight"]
    assert "seeds" not in m and "seed" not in params       # one list of study seeds, top-level
    assert len(metacog_models(params)) == len(m["variants"]) * len(params["seeds"])
    # tiny: >= 5 whole replications (seed-level intervals at n - 1 df); paper: its 3; preflight: 2 of them
    assert len(params["seeds"]) >= {"tiny": 5, "preflight": 2}.get(profile, 3)
    assert len(params["ab"]["seeds"]) >= 3


@pytest.mark.parametrize("profile", ["tiny", "paper", "preflight"])
def test_variant_recipes_follow_the_published_descriptions(tmp_path, profile):
    """v5 router-only on raw text; v6 router-only on chat-format in-domain vs OOD; v7 joint (all
    parameters, the head's BCE); v8a = v7 lighter; v8b weight 0 on an in-domain CE subset; the N4
    control = v8b with the router frozen, trained on every seed but never ranked."""
    params = yaml.safe_load(compose([f"profile={profile}"], tmp_path / "p.yaml", ROOT / "conf").read_text())
    m = params["metacog"]
    r = {v: MetacogRecipe.from_params(m, v) for v in m["variants"]}
    assert (r["v5"].trainable, r["v5"].data, r["v5"].weight) == ("router", "raw_text", 20.0)
    assert (r["v6"].trainable, r["v6"].data, r["v6"].weight) == ("router", "chat_vs_ood", 10.0)
    assert (r["v7"].trainable, r["v7"].data) == ("all", "chat_vs_ood") and r["v7"].trains_head
    assert r["v8a"].as_dict() == {**r["v7"].as_dict(), "weight": 1.0} and r["v8a"].weight < r["v7"].weight
    assert (r["v8b"].trainable, r["v8b"].data, r["v8b"].weight) == ("all", "in_domain_subset", 0.0)
    assert not r["v5"].trains_head and not r["v6"].trains_head
    variant, control = n4_pair(params)
    assert (variant, control) == ("v8b", "v8b_router_frozen")
    assert r[control].as_dict() == {**r[variant].as_dict(), "trainable": "all_but_router"}
    assert ranked_variants(params) == ["v5", "v6", "v7", "v8a", "v8b"] and control in m["variants"]
    assert "probe" in params and "models" not in params["probe"] and "include_metacog" not in params["probe"]
    seeds = params["seeds"]
    assert probe_models(params) == ([f"base/v4-s{s}" for s in seeds] + [f"splice/v7-s{s}" for s in seeds]
                                    + [f"metacog/{v}-s{s}" for v in m["variants"] for s in seeds])


@pytest.mark.parametrize("profile", ["tiny", "paper", "preflight"])
def test_a_seed_is_a_whole_replication(tmp_path, profile):
    """Group v4 has one member per seed; every variant and splice of seed s has base s as its base."""
    params = yaml.safe_load(compose([f"profile={profile}"], tmp_path / "p.yaml", ROOT / "conf").read_text())
    seeds = study_seeds(params)
    groups = probe_groups(params)
    assert groups["v4"] == [f"base/v4-s{s}" for s in seeds]
    assert all(len(members) == len(seeds) for members in groups.values())
    bases = model_bases(params)
    assert set(bases) == set(probe_models(params))
    for members in groups.values():           # position i of every group is seed i, on base i
        assert [bases[m] for m in members] == groups["v4"]
    assert base_chain(1) == [("pretrain", None, "base/pretrain-s1"), ("chat_sft", "base/pretrain-s1", "base/chat-s1"),
                             ("abstain_sft", "base/chat-s1", "base/v4-s1")]


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1], [True], "0", [0.5]])
def test_bad_seeds_are_one_line_errors(seeds):
    with pytest.raises(TilelliError, match="seeds") as e:
        study_seeds({"seeds": seeds})
    assert "\n" not in str(e.value)


def test_a_stage_for_a_seed_outside_the_study_is_an_error():
    assert check_seed({"seeds": [0, 1]}, 1) == 1
    with pytest.raises(TilelliError, match="seed 2 is not in params.yaml seeds"):
        check_seed({"seeds": [0, 1]}, 2)


def test_single_key_override_reaches_the_main_variant(tmp_path):
    params = yaml.safe_load(compose(["metacog_weight=0"], tmp_path / "p.yaml", ROOT / "conf").read_text())
    assert params["metacog"]["recipes"]["v7"]["weight"] == 0
    assert params["metacog"]["recipes"]["v8a"]["weight"] == 1.0         # only the main variant follows it


def test_unknown_override_is_one_clear_line(tmp_path):
    with pytest.raises(TilelliError) as e:
        compose(["profile=huge"], tmp_path / "p.yaml", ROOT / "conf")
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------
# changed_from_profile: the committed study vs an experiment (what `verify` gates on)
# ---------------------------------------------------------------------------------------------
def test_the_committed_params_are_no_experiment():
    assert changed_from_profile(load_params(ROOT / "params.yaml"), ROOT / "conf") == []


@pytest.mark.parametrize("overrides, changed", [
    (["profile=paper"], []),                                   # the paper profile as committed
    (["metacog_weight=0"], ["metacog.recipes.v7.weight", "metacog_weight"]),   # interpolation followed
    (["pretrain.steps=7"], ["pretrain.steps"]),
    (["launcher=torchrun --standalone --nproc_per_node 2 -m", "device=cpu"], []),   # execution only
])
def test_changed_from_profile_names_what_an_experiment_changed(tmp_path, overrides, changed):
    path = compose(overrides, tmp_path / "params.yaml", ROOT / "conf")   # records `overrides:`, ignored
    assert changed_from_profile(load_params(path), ROOT / "conf") == changed


def test_changed_from_profile_needs_a_profile(tmp_path):
    with pytest.raises(TilelliError, match="profile"):
        changed_from_profile({"seed": 0}, ROOT / "conf")
