"""Checkpoints: safetensors + config.json round trip, integrity checks, one-line errors."""
import hashlib
import json
from pathlib import Path

import pytest
import torch

from tilelli import TilelliError, TilelliLM


SRC = Path(__file__).resolve().parents[1] / "src" / "tilelli"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    lm = TilelliLM.from_config("tilelli-ternary-tiny", seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "model"
    lm.save_pretrained(path, metadata={"stage": "pretrain", "steps": 12})
    return lm, path


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.mark.parametrize("name", ["tilelli-ternary-tiny", "tilelli-lite-fp32-tiny", "vanilla-fp32-tiny"])
def test_round_trip_gives_identical_logits(tmp_path, name):
    lm = TilelliLM.from_config(name, seed=1).eval()
    lm.save_pretrained(tmp_path / "m")
    back = TilelliLM.from_pretrained(tmp_path / "m")
    assert back.config == lm.config and not back.training
    x = torch.randint(0, 256, (2, 40))
    a, b = lm(x, return_signals=True), back(x, return_signals=True)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.abstain_p, b.abstain_p)


def test_config_json_is_flat_and_hugging_face_shaped(saved):
    lm, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    doc = json.loads((path / "config.json").read_text())
    c = lm.config
    assert doc["model_type"] == "tilelli" and doc["architectures"] == ["TilelliLM"]
    assert (doc["vocab_size"], doc["hidden_size"], doc["num_hidden_layers"], doc["num_attention_heads"],
            doc["max_position_embeddings"]) == (256, c.d_model, c.n_layers, c.n_heads, c.max_seq)
    assert "d_model" not in doc and "config" not in doc                 # one name per quantity, flat
    assert doc["tilelli_format_version"] == 2 and doc["quantize"] is True and doc["name"] == "tilelli-ternary-tiny"
    assert doc["num_parameters"] == lm.num_params()
    w = doc["weights"]
    assert w["file"] == "model.safetensors" and w["bytes"] == (path / "model.safetensors").stat().st_size
    assert w["sha256"] == hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert doc["metadata"] == {"stage": "pretrain", "steps": 12}
    assert TilelliLM.from_pretrained(path).metadata == doc["metadata"]


def test_card_has_the_hub_header_and_the_training_facts(tmp_path):
    from huggingface_hub import ModelCard

    lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0)
    meta = {"stage": "abstain_sft", "init": "chat", "files": ["chat", "abstain"],
            "train": {"batch_size": 16, "seq_len": 128, "lr": 0.001},
            "summary": {"steps": 300, "tokens": 614400, "final_loss": 0.0844, "val_bpb": 0.48766}}
    lm.save_pretrained(tmp_path / "v4", metadata=meta)
    card = ModelCard.load(tmp_path / "v4" / "README.md")                 # the Hub's own parser
    assert card.data.license == "apache-2.0" and card.data.library_name == "tilelli"
    assert card.data.pipeline_tag == "text-generation" and "tilelli" in card.data.tags
    body = card.text
    assert "1,031,633" in body and "conv, attn, ffn" in body and "d = 112, 4 layers, 4 heads" in body
    assert "| validation bits/byte | 0.4877 |" in body and "300 (614,400 tokens" in body
    assert "data/sft/chat_train.jsonl, data/sft/abstain_train.jsonl" in body and "`models/chat`" in body
    assert "tilelli card --model" in body                                 # verdicts: how to get them
    assert json.loads((tmp_path / "v4" / "config.json").read_text())["weights"]["sha256"] in body
    assert body.startswith("\n# v4\n") and f'from_pretrained("{tmp_path / "v4"}")' in body
    first = (tmp_path / "v4" / "README.md").read_bytes()
    lm.save_pretrained(tmp_path / "v4", metadata=meta)                    # no clock in the card
    assert (tmp_path / "v4" / "README.md").read_bytes() == first


def _as_format_1(path: Path) -> None:
    """Rewrite a saved folder as the layout before format 2 (nested config, no card)."""
    doc = json.loads((path / "config.json").read_text())
    names = {"hidden_size": "d_model", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
             "max_position_embeddings": "max_seq"}
    reserved = {"model_type", "architectures", "torch_dtype", "num_parameters", "tilelli_format",
                "tilelli_format_version", "tilelli_version", "weights", "metadata"}
    old = {"format": "tilelli-checkpoint", "format_version": 1,
           "config": {names.get(k, k): v for k, v in doc.items() if k not in reserved},
           "num_params": doc["num_parameters"], "weights": doc["weights"], "metadata": doc["metadata"]}
    (path / "config.json").write_text(json.dumps(old, indent=2) + "\n")
    (path / "README.md").unlink()


def test_format_1_folders_still_load_and_convert_in_place(saved, tmp_path):
    lm, path = saved
    old = _copy(path, tmp_path / "old")
    _as_format_1(old)
    x = torch.randint(0, 256, (1, 16))
    assert torch.equal(TilelliLM.from_pretrained(old)(x).logits, lm.eval()(x).logits)
    weights = (old / "model.safetensors").read_bytes()
    from tilelli.model.checkpoint import export_folder
    export_folder(old, old)
    assert json.loads((old / "config.json").read_text())["tilelli_format_version"] == 2
    assert (old / "README.md").is_file() and (old / "model.safetensors").read_bytes() == weights
    assert TilelliLM.from_pretrained(old).metadata == {"stage": "pretrain", "steps": 12}


def test_foreign_or_newer_configs_fail_with_one_line(saved, tmp_path):
    _, path = saved
    newer = _copy(path, tmp_path / "newer")
    doc = json.loads((newer / "config.json").read_text())
    (newer / "config.json").write_text(json.dumps({**doc, "tilelli_format_version": 3}))
    with pytest.raises(TilelliError, match="format version 3 is not readable.*upgrade tilelli") as e:
        TilelliLM.from_pretrained(newer)
    assert "\n" not in str(e.value)
    llama = _copy(path, tmp_path / "llama")
    (llama / "config.json").write_text(json.dumps({**doc, "model_type": "llama"}))
    with pytest.raises(TilelliError, match="'llama' is not a Tilelli model"):
        TilelliLM.from_pretrained(llama)
    typo = _copy(path, tmp_path / "typo")
    (typo / "config.json").write_text(json.dumps({**doc, "hiden_size": 3}))
    with pytest.raises(TilelliError, match="unknown keys"):
        TilelliLM.from_pretrained(typo)


def test_save_overwrites_atomically(saved, tmp_path):
    lm, _ = saved
    path = tmp_path / "m"
    lm.save_pretrained(path, metadata={"v": 1})
    lm.save_pretrained(path, metadata={"v": 2})
    assert TilelliLM.from_pretrained(path).metadata == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]                 # no temp leftovers
    with pytest.raises(TilelliError, match="JSON"):
        lm.save_pretrained(tmp_path / "bad", metadata={"x": object()})


def test_tampered_weights_fail_clearly(saved, tmp_path):
    _, path = saved
    bad = _copy(path, tmp_path / "tampered")
    data = bytearray((bad / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (bad / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(TilelliError, match="sha256") as e:
        TilelliLM.from_pretrained(bad)
    assert "\n" not in str(e.value)


def test_truncated_missing_and_malformed_fail_clearly(saved, tmp_path):
    _, path = saved
    trunc = _copy(path, tmp_path / "trunc")
    data = (trunc / "model.safetensors").read_bytes()
    (trunc / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(TilelliError, match="truncated"):
        TilelliLM.from_pretrained(trunc)

    no_weights = _copy(path, tmp_path / "noweights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(TilelliError, match="weights file missing"):
        TilelliLM.from_pretrained(no_weights)

    no_config = _copy(path, tmp_path / "noconfig")
    (no_config / "config.json").unlink()
    with pytest.raises(TilelliError, match="config.json"):
        TilelliLM.from_pretrained(no_config)

    garbled = _copy(path, tmp_path / "garbled")
    (garbled / "config.json").write_text("{not json")
    with pytest.raises(TilelliError, match="not valid JSON"):
        TilelliLM.from_pretrained(garbled)

    with pytest.raises(TilelliError, match="not found"):
        TilelliLM.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(TilelliError, match="not a directory"):
        TilelliLM.from_pretrained(path / "model.safetensors")


def test_abstain_head_can_be_grafted(saved):
    lm, path = saved
    from safetensors.torch import load_file
    head = {k: v for k, v in load_file(str(path / "model.safetensors")).items() if k.startswith("abstain.")}
    assert set(head) == {"abstain.weight", "abstain.bias"}
    other = TilelliLM.from_config("tilelli-ternary-tiny", seed=5)
    result = other.load_state_dict(head, strict=False)
    assert not result.unexpected_keys
    assert torch.equal(other.abstain.weight, lm.abstain.weight)


def test_no_pickle_anywhere_in_the_model_code():
    for path in (SRC / "model").glob("*.py"):
        text = path.read_text()
        assert "torch.load(" not in text and "import pickle" not in text and "pickle." not in text, path


def test_metacog_card_states_the_recipe_weight():
    """A metacog model's metadata keeps its weight under recipe.weight (train/recipes.py); the card
    once read meta['weight'] and said 'metacog weight None' for every variant."""
    from tilelli.model.checkpoint import training_rows

    meta = {"stage": "metacog/v7-s0", "init": "base/v4-s0", "variant": "v7", "seed": 0,
            "recipe": {"weight": 5.0, "trainable": "all", "data": "chat_vs_ood"}}
    rows = dict(training_rows(meta))
    assert rows["variant"] == "v7 (metacog weight 5.0, seed 0)"
