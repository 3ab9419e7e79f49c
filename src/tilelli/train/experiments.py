"""The study's experiments: metacognition variants, the splice, and Lite vs vanilla (A/B).

- `metacog(params, variant, seed)`: from models/v4, train with MetacogLoss(weight) where weight
  is params metacog.weights[variant] (v7's is the top-level `metacog_weight`, the main joint
  model the claims read) -> models/metacog/<variant>-s<seed>.
  Data: in-domain chat pairs (CE, answer label), unanswerable pairs (CE on the abstain
  template, abstain label), OOD texts as chat prompts (no CE; OOD + abstain labels).
- `splice(params)`: v4 with the abstain head of the main variant's first seed grafted on, no
  other change -> models/splice.
- `ab_run(params, arch, seed)`: a from-scratch pretrain of `ab.models[arch]` -> models/ab/...,
  same data, steps and batches for both architectures; `ab_report` aggregates the seeds.
"""
from __future__ import annotations

from pathlib import Path

from tilelli.data.jsonl import read_jsonl
from tilelli.data.loader import open_shard, sft_eval_batches, valid_batches
from tilelli.errors import TilelliError
from tilelli.io import sha256_file, write_json
from tilelli.stage import section
from tilelli.train.batches import encode_example, example_batches, window_batches
from tilelli.train.objectives import MetacogLoss
from tilelli.train.recipes import PACKED, SFT, run_training, sft_examples, torch_seed, train_config


def variant_dir(variant: str, seed: int) -> str:
    return f"metacog/{variant}-s{seed}"


def metacog_groups(params: dict) -> dict[str, list[str]]:
    """{variant: [metacog/<variant>-s<seed>, ...]}: the explicit list from params, never a glob."""
    m = section(params, "metacog")
    missing = [v for v in m["variants"] if v not in m["weights"]]
    if missing:
        raise TilelliError(f"params.yaml: metacog.weights has no entry for {', '.join(missing)}")
    return {v: [variant_dir(v, s) for s in m["seeds"]] for v in m["variants"]}


def metacog_models(params: dict) -> list[str]:
    return [name for names in metacog_groups(params).values() for name in names]


def metacog_examples(params: dict, seq_len: int) -> list[dict]:
    template = section(params, "sft.abstain_template")
    train = sft_examples(read_jsonl(SFT / "chat_train.jsonl") + read_jsonl(SFT / "abstain_train.jsonl"),
                         seq_len, template)
    for row in read_jsonl(SFT / "ood_train.jsonl"):
        text = row.get("prompt") or row.get("text")
        train.append(encode_example(text, None, seq_len, abstain=1.0, ood=1.0))
    return train


def metacog(params: dict, variant: str, seed: int) -> dict:
    from tilelli.model import TilelliLM

    m = section(params, "metacog")
    if variant not in m["weights"]:
        raise TilelliError(f"unknown metacog variant {variant!r}; params.yaml lists {', '.join(m['weights'])}")
    weight = float(m["weights"][variant])
    if weight < 0:
        raise TilelliError(f"params.yaml: metacog.weights.{variant}={weight}: must be >= 0")
    params = {**params, "seed": seed}
    torch_seed(seed)
    model = TilelliLM.from_pretrained("models/v4")
    name = variant_dir(variant, seed)
    cfg = train_config(params, "metacog.train", model, run=name)
    train_ex = metacog_examples(params, cfg.seq_len)
    valid_rows = read_jsonl(SFT / "chat_valid.jsonl")
    summary = run_training(
        params, cfg, model, out=name,
        batch_fn=lambda c: example_batches(train_ex, c),
        eval_batches=lambda c: sft_eval_batches(valid_rows, c.seq_len, c.batch_size, c.eval_batches),
        loss_fn=MetacogLoss(weight, float(m.get("bce_weight", 1.0))),
        identity={"init": sha256_file("models/v4/config.json"), "variant": variant, "weight": weight,
                  "data": [sha256_file(SFT / f) for f in ("chat_train.jsonl", "abstain_train.jsonl", "ood_train.jsonl")]},
        metadata={"init": "v4", "variant": variant, "weight": weight, "seed": seed})
    return summary


def splice(params: dict) -> Path:
    """Graft the main variant's abstain head (first seed) onto v4; nothing else changes."""
    from safetensors.torch import load_file

    from tilelli.model import TilelliLM

    m = section(params, "metacog")
    donor = variant_dir(m["main"], m["seeds"][0])
    base = TilelliLM.from_pretrained("models/v4")
    head = {k: v for k, v in load_file(f"models/{donor}/model.safetensors").items() if k.startswith("abstain.")}
    if not head:
        raise TilelliError(f"models/{donor}: no abstain.* tensors to graft")
    state = base.state_dict()
    mismatched = [k for k in head if k not in state or state[k].shape != head[k].shape]
    if mismatched:
        raise TilelliError(f"models/{donor}: abstain head {mismatched} does not fit v4 (different width?)")
    state.update(head)
    base.load_state_dict(state)
    base.save_pretrained("models/splice", metadata={"stage": "splice", "base": "v4", "head_from": donor,
                                                     "grafted": sorted(head)})
    return Path("models/splice")


def ab_run(params: dict, arch: str, seed: int) -> dict:
    """One from-scratch pretrain of ab.models[arch] with seed -> models/ab/<arch>-s<seed>."""
    from tilelli.model import TilelliLM

    ab = section(params, "ab")
    if arch not in ab["models"]:
        raise TilelliError(f"unknown ab arch {arch!r}; params.yaml ab.models lists {', '.join(ab['models'])}")
    params = {**params, "seed": seed}
    torch_seed(seed)
    model = TilelliLM.from_config(ab["models"][arch])
    name = f"ab/{arch}-s{seed}"
    cfg = train_config(params, "ab.train", model, run=name)
    shard = open_shard(PACKED / "train.bin")
    summary = run_training(
        params, cfg, model, out=name,
        batch_fn=lambda c: window_batches(shard, c.seq_len, c),
        eval_batches=lambda c: valid_batches(PACKED / "valid.bin", c.seq_len, c.batch_size, c.eval_batches),
        identity={"model": ab["models"][arch], "data": sha256_file(PACKED / "meta.json")},
        metadata={"arch": arch, "model_name": ab["models"][arch], "seed": seed})
    return {**summary, "params": model.num_params()}


def ab_report(params: dict) -> dict:
    """Mean +- std per arch, Welch's t-test and Hedges' g -> metrics/ab.json (reads explicit seeds)."""
    import json

    from tilelli.eval.stats import welch_test

    ab = section(params, "ab")
    if set(ab["models"]) != {"lite", "vanilla"}:
        raise TilelliError(f"params.yaml: ab.models must name exactly 'lite' and 'vanilla', got {sorted(ab['models'])}")
    vals = {arch: [json.loads(Path(f"metrics/train/ab/{arch}-s{s}.json").read_text())["val_bpb"] for s in ab["seeds"]]
            for arch in ab["models"]}
    from tilelli.model import TilelliLM

    n_params = {arch: TilelliLM.from_config(name).num_params() for arch, name in ab["models"].items()}
    import statistics
    report = {"seeds": ab["seeds"], "lite_bpb": vals["lite"], "vanilla_bpb": vals["vanilla"],
              "lite_std": statistics.stdev(vals["lite"]) if len(vals["lite"]) > 1 else 0.0,
              "vanilla_std": statistics.stdev(vals["vanilla"]) if len(vals["vanilla"]) > 1 else 0.0,
              "lite_params": n_params["lite"], "vanilla_params": n_params["vanilla"],
              "param_ratio": n_params["lite"] / n_params["vanilla"],
              **welch_test(vals["lite"], vals["vanilla"])}
    write_json("metrics/ab.json", report)
    return report
