"""Metacog recipes and the splice through the real stage functions, on a hermetic tiny workspace.

Each recipe trains what it says: router-only variants change the router Linears and nothing
else, the N4 control changes everything but the router, `all` changes both; frozen parameters
are bit-identical to the variant's base (seed s: base/v4-s<s>). The data kinds label and mask what the recipe describes, and the
splice writes one graft per seed.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from tilelli.data.chat import IGNORE_INDEX
from tilelli.io import TilelliError
from tilelli.stage import compose
from tilelli.train.loop import MetacogRecipe
from conftest import ROOT

TEMPLATE = "I don't know."


def _rows(n, prompt, response):
    return [{"prompt": prompt.format(i=i), "response": response.format(i=i)} for i in range(n)]


@pytest.fixture
def workspace(chdir_tmp):
    """models/base/v4-s{0,1} (random tiny Lites, different inits as two base seeds), data/sft/*.jsonl,
    data/packed/train.bin; tiny-profile params with metacog.train cut to 3 steps of 4 x 64."""
    from tilelli.model import TilelliLM

    for seed in (0, 1):
        TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=seed).save_pretrained(f"models/base/v4-s{seed}")
    sft = Path("data/sft")
    sft.mkdir(parents=True)
    files = {"chat_train": _rows(24, "What is the capital of Land{i}?", "The capital of Land{i} is Town{i}."),
             "abstain_train": _rows(8, "Name the capital of Nowhere{i}.", TEMPLATE),
             "ood_train": _rows(8, "zq{i}xv kk!! ~~{i}", TEMPLATE),
             "chat_valid": _rows(4, "What is the capital of Vale{i}?", "The capital of Vale{i} is Burg{i}.")}
    for name, rows in files.items():
        (sft / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    Path("data/packed").mkdir(parents=True)
    np.random.default_rng(0).integers(97, 123, 20_000, dtype=np.uint8).tofile("data/packed/train.bin")
    params = yaml.safe_load(compose([], chdir_tmp / "p.yaml", ROOT / "conf").read_text())
    params["device"] = "cpu"
    params["metacog"]["train"].update(steps=3, batch_size=4, seq_len=64, lr=0.01, warmup=0, eval_every=3,
                                      eval_batches=1, ckpt_every=100)
    params["metacog"]["recipes"]["v5"]["windows"] = 16
    for recipe in params["metacog"]["recipes"].values():
        recipe.pop("train", None)
    return params


def _changed(a: dict, b: dict) -> set[str]:
    assert a.keys() == b.keys()
    return {k for k in a if not torch.equal(a[k], b[k])}


def test_trainable_selection_is_real_and_frozen_weights_stay_bit_identical(workspace):
    from tilelli.train.recipes import metacog

    v4 = load_file("models/base/v4-s0/model.safetensors")
    router = {k for k in v4 if ".router." in k}
    head = {"abstain.weight", "abstain.bias"}
    assert len(router) == 4
    seen = set()
    for variant, recipe in workspace["metacog"]["recipes"].items():
        metacog(workspace, variant, 0)
        out = load_file(f"models/metacog/{variant}-s0/model.safetensors")
        changed = _changed(v4, out)
        if recipe["trainable"] == "router":
            assert changed == router, variant                          # nothing else moved, not even the head
        elif recipe["trainable"] == "all_but_router":
            assert changed and not changed & router and head <= changed, variant
        else:
            assert router <= changed and head <= changed and len(changed) > len(router) + 2, variant
        seen.add(recipe["trainable"])
        meta = json.loads(Path(f"models/metacog/{variant}-s0/config.json").read_text())
        assert "recipe" in json.dumps(meta)
    assert seen == {"router", "all", "all_but_router"}


def test_the_control_differs_from_v8b_only_in_the_frozen_router(workspace):
    from tilelli.train.recipes import metacog

    for variant in ("v8b", "v8b_router_frozen"):
        metacog(workspace, variant, 1)
    v4 = load_file("models/base/v4-s1/model.safetensors")
    v8b = load_file("models/metacog/v8b-s1/model.safetensors")
    control = load_file("models/metacog/v8b_router_frozen-s1/model.safetensors")
    router = {k for k in v4 if ".router." in k}
    assert router <= _changed(v4, v8b) and not _changed(v4, control) & router


def test_recipe_data_kinds_label_and_mask_as_described(workspace):
    from tilelli.train.recipes import chat_examples, in_ce_subset, raw_text_examples

    m = workspace["metacog"]
    raw = raw_text_examples(MetacogRecipe.from_params(m, "v5"), 64)
    windows, ood = raw[:16], raw[16:]
    assert len(ood) == 8
    assert all(e["ood"] == 0.0 and e["pos"] == 63 and IGNORE_INDEX not in e["y"] for e in windows)
    assert all(e["ood"] == 1.0 and set(e["y"]) == {IGNORE_INDEX} and e["abstain"] == -1.0 for e in ood)
    assert not any(bytes(e["x"][:6]) == b"USER: " for e in raw)                  # no chat frame

    full = chat_examples(workspace, MetacogRecipe.from_params(m, "v7"), 64)
    subset = chat_examples(workspace, MetacogRecipe.from_params(m, "v8b"), 64)
    assert len(full) == len(subset) == 24 + 8 + 8
    with_ce = [any(t != IGNORE_INDEX for t in e["y"]) for e in subset]
    assert sum(with_ce[:32]) < 32 and not any(with_ce[32:])                      # OOD prompts: no CE
    assert all(any(t != IGNORE_INDEX for t in e["y"]) for e in full[:32])
    assert [e["abstain"] for e in subset] == [e["abstain"] for e in full]       # head labels kept
    assert [e["abstain"] for e in full] == [0.0] * 24 + [1.0] * 16

    prompts = [f"prompt {i}" for i in range(4000)]
    share = sum(in_ce_subset(p, 0.25) for p in prompts) / len(prompts)
    assert 0.22 < share < 0.28 and [in_ce_subset(p, 0.25) for p in prompts] == [in_ce_subset(p, 0.25) for p in prompts]


@pytest.mark.parametrize("change,needle", [
    ({"trainable": "head"}, "trainable"), ({"data": "poetry"}, "data"), ({"weight": -1.0}, "weight"),
    ({"ce_subset": 0.5}, "ce_subset"), ({"windows": 0}, "windows"), ({"train": {"stepz": 3}}, "train"),
    ({"colour": "red"}, "colour"),
])
def test_bad_recipes_are_one_clear_line(change, needle):
    base = {"weight": 1.0, "trainable": "all", "data": "raw_text", "windows": 8}
    with pytest.raises(TilelliError) as e:
        MetacogRecipe.from_params({"recipes": {"vx": {**base, **change}}}, "vx")
    assert needle in str(e.value) and "metacog.recipes.vx" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(TilelliError, match="unknown metacog variant 'vy'"):
        MetacogRecipe.from_params({"recipes": {"vx": base}}, "vy")


def test_variant_seed_s_starts_from_base_s(workspace):
    """A seed is a whole replication: metacog/<variant>-s1 is fine-tuned from base/v4-s1 (its
    frozen weights equal base s1's, not base s0's) and records that base in its config."""
    from tilelli.model.checkpoint import read_config
    from tilelli.train.recipes import metacog

    metacog(workspace, "v6", 1)                                        # router-only: the rest is its init
    out = load_file("models/metacog/v6-s1/model.safetensors")
    base0, base1 = (load_file(f"models/base/v4-s{s}/model.safetensors") for s in (0, 1))
    router = {k for k in base1 if ".router." in k}
    assert _changed(base1, out) == router and len(_changed(base0, out)) > len(router)
    meta = read_config("models/metacog/v6-s1")["metadata"]
    assert (meta["init"], meta["seed"]) == ("base/v4-s1", 1)
    with pytest.raises(TilelliError, match="seed 5 is not in params.yaml seeds"):
        metacog(workspace, "v6", 5)


def test_splice_grafts_each_seeds_head_onto_its_own_base(workspace):
    from tilelli.model.checkpoint import read_config
    from tilelli.study import splice_models
    from tilelli.train.recipes import metacog, splice

    for seed in workspace["seeds"][:2]:
        metacog(workspace, "v7", seed)
        splice(workspace, seed)
    for seed in workspace["seeds"][:2]:
        v4 = load_file(f"models/base/v4-s{seed}/model.safetensors")
        donor = load_file(f"models/metacog/v7-s{seed}/model.safetensors")
        graft = load_file(f"models/splice/v7-s{seed}/model.safetensors")
        assert _changed(v4, graft) == {"abstain.weight", "abstain.bias"}
        assert all(torch.equal(graft[k], donor[k]) for k in ("abstain.weight", "abstain.bias"))
        assert read_config(f"models/splice/v7-s{seed}")["metadata"]["base"] == f"base/v4-s{seed}"
    assert splice_models(workspace)[:2] == ["splice/v7-s0", "splice/v7-s1"]
    with pytest.raises(TilelliError, match="seed 7 is not in"):
        splice(workspace, 7)
