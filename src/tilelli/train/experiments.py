"""The study's experiments: metacognition variants, the splice, and Lite vs vanilla (A/B).

- `metacog(params, variant, seed)`: models/base/v4-s<seed> -> models/metacog/<variant>-s<seed>, trained by
  the variant's recipe (params metacog.recipes.<variant>, train/config.py MetacogRecipe): its
  metacog weight (v7's is the top-level `metacog_weight`, the main joint model the claims read),
  which parameters train (all / router / all_but_router: the others get requires_grad False and
  stay out of the optimizer, so they end bit-identical to their base), and which data:
    raw_text          packed corpus windows (in-domain: CE, router-confidence target 1) and the
                      OOD texts without a chat frame (no CE, target 0)          (published v5)
    chat_vs_ood       chat + unanswerable pairs in the chat frame (CE, abstain label 0/1, target 1)
                      and the OOD prompts in the chat frame (no CE, abstain 1, target 0)  (v6-v8a)
    in_domain_subset  as chat_vs_ood, but only a fixed ce_subset fraction of the pairs (chosen by
                      a hash of the prompt, the same for every seed) keeps its CE        (v8b)
  One objective for all (MetacogLoss: CE + weight x router-confidence BCE + the abstain head's
  BCE), the head's BCE only where the head trains (not in the router-only variants).
- `splice(params, seed)`: base/v4-s<seed> with the abstain head of metacog/<main>-s<seed> grafted
  on, no other change -> models/splice/<main>-s<seed> (one per seed: claims read every seed).
Seed s of a variant or splice always starts from seed s's own base (tilelli.study.v4_dir), so a
CI over seeds covers the training variance of the base chain too.
- Lite vs vanilla (A/B): tilelli.train.ab (lr sweep and final runs), tilelli.eval.ab_report.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tilelli.data.chat import IGNORE_INDEX
from tilelli.io import read_jsonl, sha256_file
from tilelli.data.loader import open_shard, sft_eval_batches
from tilelli.errors import TilelliError
from tilelli.stage import param
from tilelli.study import check_seed, splice_dir, v4_dir, variant_dir
from tilelli.train.batches import encode_example, encode_text, example_batches
from tilelli.train.config import MetacogRecipe
from tilelli.train.objectives import MetacogLoss
from tilelli.train.recipes import PACKED, SFT, run_training, sft_examples, torch_seed, train_config

CHAT_FILES = ("chat_train.jsonl", "abstain_train.jsonl")
OOD_FILE = "ood_train.jsonl"


def select_trainable(model, trainable: str) -> int:
    """Set requires_grad for a recipe's `trainable`; returns the number of trainable weights.

    Frozen parameters get no gradient and optim.param_groups leaves them out of AdamW (no
    update, no weight decay), so they are saved bit-identical to the initial model.
    """
    router = {id(p) for p in model.router_parameters()}
    if trainable != "all" and not router:
        raise TilelliError(f"metacog trainable={trainable!r} needs a routed model; {model.config.name} has no router")
    for p in model.parameters():
        p.requires_grad_(trainable == "all" or (id(p) in router) == (trainable == "router"))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def in_ce_subset(prompt: str, fraction: float) -> bool:
    """A fixed subset of about `fraction` of the prompts, by hash: the same for every seed."""
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "little") < fraction * 2**64


def _ood_texts() -> list[str]:
    return [row.get("prompt") or row.get("text") for row in read_jsonl(SFT / OOD_FILE)]


def raw_text_examples(recipe: MetacogRecipe, seq_len: int) -> list[dict]:
    """`windows` evenly spaced corpus windows (CE, in-domain) + the OOD texts unframed (no CE)."""
    shard = open_shard(PACKED / "train.bin")
    starts = np.linspace(0, len(shard) - seq_len - 2, recipe.windows).astype(np.int64)
    windows = [encode_text(shard[s:s + seq_len + 1], seq_len, lm=True, ood=0.0) for s in starts]
    return windows + [encode_text(t.encode("utf-8"), seq_len, lm=False, ood=1.0) for t in _ood_texts()]


def chat_examples(params: dict, recipe: MetacogRecipe, seq_len: int) -> list[dict]:
    """Chat + unanswerable pairs (CE on all, or on the ce_subset) + the OOD prompts (no CE)."""
    rows = [r for f in CHAT_FILES for r in read_jsonl(SFT / f)]
    examples = sft_examples(rows, seq_len, param(params, "sft.abstain_template"))
    if recipe.data == "in_domain_subset":   # the rest keep their prompt and head label, no CE
        examples = [e if in_ce_subset(r["prompt"], recipe.ce_subset) else {**e, "y": [IGNORE_INDEX] * len(e["y"])}
                    for r, e in zip(rows, examples)]
    return examples + [encode_example(t, None, seq_len, abstain=1.0, ood=1.0) for t in _ood_texts()]


def metacog_examples(params: dict, recipe: MetacogRecipe, seq_len: int) -> tuple[list[dict], list[str]]:
    """(training examples, the files they come from) for the recipe's data."""
    if recipe.data == "raw_text":
        return raw_text_examples(recipe, seq_len), [PACKED / "train.bin", SFT / OOD_FILE]
    return chat_examples(params, recipe, seq_len), [*(SFT / f for f in CHAT_FILES), SFT / OOD_FILE]


def metacog(params: dict, variant: str, seed: int) -> dict:
    """Train metacog/<variant>-s<seed> from base/v4-s<seed> by the variant's recipe; returns the summary."""
    from tilelli.model import TilelliLM

    m = param(params, "metacog")
    recipe = MetacogRecipe.from_params(m, variant)
    base = v4_dir(check_seed(params, seed))
    torch_seed(seed)
    model = TilelliLM.from_pretrained(f"models/{base}")
    n_trainable = select_trainable(model, recipe.trainable)
    name = variant_dir(variant, seed)
    cfg = train_config(params, "metacog.train", model, run=name, seed=seed, overrides=recipe.train)
    train_ex, files = metacog_examples(params, recipe, cfg.seq_len)
    valid_rows = read_jsonl(SFT / "chat_valid.jsonl")
    bce_weight = float(m.get("bce_weight", 1.0)) if recipe.trains_head else 0.0
    return run_training(
        params, cfg, model, out=name,
        batch_fn=lambda c: example_batches(train_ex, c),
        eval_batches=lambda c: sft_eval_batches(valid_rows, c.seq_len, c.batch_size, c.eval_batches),
        loss_fn=MetacogLoss(float(recipe.weight), bce_weight),
        identity={"init": sha256_file(f"models/{base}/model.safetensors"), "variant": variant,
                  "recipe": recipe.as_dict(), "data": [sha256_file(f) for f in files]},
        metadata={"init": base, "variant": variant, "seed": seed, "recipe": recipe.as_dict(),
                  "trainable_params": n_trainable})


def splice(params: dict, seed: int) -> Path:
    """Graft the abstain head of metacog/<main>-s<seed> onto base/v4-s<seed>; nothing else changes."""
    from safetensors.torch import load_file

    from tilelli.model import TilelliLM

    main = param(params, "metacog.main")
    base_name = v4_dir(check_seed(params, seed))
    donor, out = variant_dir(main, seed), Path("models") / splice_dir(main, seed)
    base = TilelliLM.from_pretrained(f"models/{base_name}")
    head = {k: v for k, v in load_file(f"models/{donor}/model.safetensors").items() if k.startswith("abstain.")}
    if not head:
        raise TilelliError(f"models/{donor}: no abstain.* tensors to graft")
    state = base.state_dict()
    mismatched = [k for k in head if k not in state or state[k].shape != head[k].shape]
    if mismatched:
        raise TilelliError(f"models/{donor}: abstain head {mismatched} does not fit {base_name} (different width?)")
    state.update(head)
    base.load_state_dict(state)
    base.save_pretrained(out, metadata={"stage": "splice", "base": base_name, "seed": seed, "head_from": donor,
                                        "grafted": sorted(head)})
    return out

