"""Shard validation, the validation walk, chat encoding and SFT evaluation batches."""
import json

import numpy as np
import pytest
import torch

from tilelli.data import loader
from tilelli.data.chat import IGNORE_INDEX, encode_pair, format_completion, format_prompt
from tilelli.data.loader import open_shard, sft_eval_batches, valid_batches
from tilelli.data.packing import pack_documents
from tilelli.io import TilelliError


@pytest.fixture
def packed(tmp_path):
    docs = [f"Document number {i}. " * (1 + i % 5) for i in range(600)]
    pack_documents(docs, tmp_path / "packed", valid_fraction=0.1, seed=0)
    loader._VERIFIED.clear()
    return tmp_path / "packed"


# --- open_shard -------------------------------------------------------------------------------

def test_open_shard_maps_a_valid_shard(packed):
    m = open_shard(packed / "train.bin")
    assert m.dtype == np.uint8 and len(m) == json.loads((packed / "meta.json").read_text())["train"]["bytes"]


def test_missing_and_empty_shards(packed):
    with pytest.raises(TilelliError, match="not found"):
        open_shard(packed / "nope.bin")
    (packed / "train.bin").write_bytes(b"")
    with pytest.raises(TilelliError, match="empty"):
        open_shard(packed / "train.bin")


def test_truncated_shard(packed):
    data = (packed / "train.bin").read_bytes()
    (packed / "train.bin").write_bytes(data[:-10])
    with pytest.raises(TilelliError, match="truncated"):
        open_shard(packed / "train.bin")


def test_wider_dtype_shard_is_not_uint8(packed):
    data = np.frombuffer((packed / "train.bin").read_bytes(), dtype=np.uint8)
    data.astype(np.uint16).tofile(packed / "train.bin")
    with pytest.raises(TilelliError, match="not a uint8 shard"):
        open_shard(packed / "train.bin")


def test_corrupt_shard_fails_the_checksum(packed):
    data = bytearray((packed / "train.bin").read_bytes())
    data[100] ^= 0xFF
    (packed / "train.bin").write_bytes(bytes(data))
    with pytest.raises(TilelliError, match="corrupt"):
        open_shard(packed / "train.bin")


def test_shard_without_meta_still_loads(tmp_path):
    np.arange(300, dtype=np.uint8).tofile(tmp_path / "hand.bin")
    assert len(open_shard(tmp_path / "hand.bin")) == 300


# --- valid_batches ----------------------------------------------------------------------------

def test_valid_batches_deterministic_and_non_overlapping(packed):
    a = valid_batches(packed / "valid.bin", 16, 4, max_batches=3)
    b = valid_batches(packed / "valid.bin", 16, 4, max_batches=3)
    assert len(a) == 3 and all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))
    for x, y in a:
        assert x.shape == (4, 16) and torch.equal(x[:, 1:], y[:, :-1])
    full = valid_batches(packed / "valid.bin", 16, 4)
    n = len(open_shard(packed / "valid.bin"))
    windows = torch.cat([x for x, _ in full])
    assert windows.shape[0] == (n - 1) // 16  # every full window exactly once
    data = bytes(open_shard(packed / "valid.bin"))
    assert bytes(windows.flatten().tolist()) == data[: windows.shape[0] * 16]  # consecutive, no overlap


def test_valid_batches_spread_over_the_shard(packed):
    n = len(open_shard(packed / "valid.bin"))
    (x, _), = valid_batches(packed / "valid.bin", 8, 4, max_batches=1)
    data = bytes(open_shard(packed / "valid.bin"))
    last = data.rfind(bytes(x[-1].tolist()))
    assert last > n // 2  # the walk does not stop at the start of the split


# --- chat format and SFT batches --------------------------------------------------------------

def test_format_matches_the_contract():
    assert format_prompt("What is the capital of France?") == "USER: What is the capital of France?\nTILELLI:"
    assert format_completion("The capital of France is Paris.") == " The capital of France is Paris.\n"


def test_encode_pair_masks_the_prompt_only():
    q, a = "Where is Peru?", "Peru is in the Americas."
    x, y = encode_pair(q, a, seq_len=128)
    full = (format_prompt(q) + format_completion(a)).encode()
    assert bytes(x) == full[:-1]
    n_prompt = len(format_prompt(q).encode())
    assert y[: n_prompt - 1] == [IGNORE_INDEX] * (n_prompt - 1)
    assert bytes(y[n_prompt - 1:]) == format_completion(a).encode()


def test_encode_pair_truncates_the_prompt_from_the_left():
    q, a = "blah " * 60 + "What is the capital of Chile?", "The capital of Chile is Santiago."
    x, y = encode_pair(q, a, seq_len=64)
    assert len(x) == len(y) == 64
    text = bytes(x + [y[-1]]).decode()
    assert text.endswith("\nTILELLI:" + format_completion(a))
    assert bytes(t for t in y if t != IGNORE_INDEX) == format_completion(a).encode()


def test_sft_eval_batches_in_order():
    rows = [(f"q{i}", f"a{i}") for i in range(7)]
    batches = sft_eval_batches(rows, 32, 3)
    assert [x.shape[0] for x, _ in batches] == [3, 3, 1]
    assert bytes(batches[0][0][0][:8].tolist()) == b"USER: q0"
