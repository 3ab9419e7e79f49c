"""Checkpoints: safetensors + config.json round trip, integrity checks, one-line errors."""
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


def test_config_json_contents(saved):
    lm, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    doc = json.loads((path / "config.json").read_text())
    assert doc["format_version"] == 1 and doc["config"]["quantize"] is True
    assert doc["config"]["name"] == "tilelli-ternary-tiny" and doc["num_params"] == lm.num_params()
    assert len(doc["weights"]["sha256"]) == 64
    assert doc["metadata"] == {"stage": "pretrain", "steps": 12}
    assert TilelliLM.from_pretrained(path).metadata == doc["metadata"]


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
