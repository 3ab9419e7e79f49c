"""Reading packed shards and SFT rows into (x, y) batches.

    from tilelli.data.loader import open_shard, windows, valid_batches, sft_eval_batches
    shard = open_shard("data/packed/train.bin")                     # checked against meta.json
    x, y = windows(shard, np.array([0, 4096]), seq_len=128)         # LongTensor [2, 128], y = x shifted
    evals = valid_batches("data/packed/valid.bin", 128, 16, max_batches=8)   # same list every call
    chat = sft_eval_batches(read_jsonl("data/sft/chat_valid.jsonl"), 128, 16)

Windows cross document boundaries; the 0x00 separator between documents is an ordinary
target (the model learns where documents end). Random training batches are drawn in
tilelli.train.recipes as pure functions of the step, so resumed and multi-process runs see
the same batches.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from tilelli.data.chat import IGNORE_INDEX, encode_pair
from tilelli.data.packing import SEPARATOR
from tilelli.io import TilelliError, read_json, sha256_file

_VERIFIED: dict[tuple, bool] = {}  # (path, size, mtime_ns) of shards whose sha256 matched


def open_shard(path: str | os.PathLike, verify: bool = True) -> np.memmap:
    """Memory-map a packed uint8 shard after checking it against meta.json beside it.

    Raises TilelliError for a missing, empty, truncated, wrongly sized (not uint8) or corrupt
    shard. The sha256 check runs once per (file, size, mtime) per process. Without a
    meta.json (hand-made test shards) only emptiness is checked.
    """
    path = Path(path)
    if not path.is_file():
        raise TilelliError(f"{path}: shard not found (run `dvc repro pack`)")
    size = path.stat().st_size
    if size == 0:
        raise TilelliError(f"{path}: shard is empty (re-run `dvc repro pack`)")
    meta_path = path.with_name("meta.json")
    if meta_path.is_file():
        try:
            meta = read_json(meta_path)
            entry = meta[path.stem]
            expected = int(entry["bytes"])
        except (TilelliError, KeyError, TypeError, ValueError):
            raise TilelliError(f"{meta_path}: unreadable or has no '{path.stem}' entry (re-run `dvc repro pack`)") from None
        if meta.get("dtype", "uint8") != "uint8":
            raise TilelliError(f"{meta_path}: dtype {meta.get('dtype')!r}, expected uint8")
        if size != expected:
            if size > expected and size % expected == 0:
                why = f"{size // expected}x the {expected} bytes in meta.json: not a uint8 shard"
            elif size < expected:
                why = f"truncated: {size} of {expected} bytes"
            else:
                why = f"{size} bytes but meta.json says {expected}"
            raise TilelliError(f"{path}: {why} (re-run `dvc repro pack`)")
        stamp = (str(path.resolve()), size, path.stat().st_mtime_ns)
        if verify and stamp not in _VERIFIED:
            if sha256_file(path) != entry.get("sha256"):
                raise TilelliError(f"{path}: corrupt (sha256 differs from meta.json; re-run `dvc repro pack`)")
            _VERIFIED[stamp] = True
    data = np.memmap(path, dtype=np.uint8, mode="r")
    if meta_path.is_file() and data[-1] != SEPARATOR:
        raise TilelliError(f"{path}: truncated (does not end with the 0x00 document separator)")
    return data


def windows(data: np.ndarray, starts: np.ndarray, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]
    chunk = torch.from_numpy(np.asarray(data[idx], dtype=np.int64))
    return chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()


def valid_batches(path: str | os.PathLike, seq_len: int, batch_size: int,
                  max_batches: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Deterministic (x, y) batches of non-overlapping windows spread evenly over the shard.

    With max_batches=None every full window is used (exact bits-per-byte of the split);
    otherwise max_batches * batch_size windows at evenly spaced offsets (the last batch may
    be smaller when the shard is short). bits/byte = mean CE in nats / ln 2.
    """
    data = open_shard(path)
    n_windows = (len(data) - 1) // seq_len
    if n_windows < 1:
        raise TilelliError(f"{path}: {len(data)} bytes, too short for seq_len={seq_len}")
    want = n_windows if max_batches is None else min(n_windows, max_batches * batch_size)
    starts = (np.arange(want, dtype=np.int64) * n_windows // want) * seq_len
    return [windows(data, starts[i:i + batch_size], seq_len) for i in range(0, want, batch_size)]


def _encode_rows(rows, seq_len: int) -> list[tuple[list[int], list[int]]]:
    out = []
    for i, r in enumerate(rows):
        if isinstance(r, dict):
            if "prompt" not in r or "response" not in r:
                raise TilelliError(f"SFT row {i} needs 'prompt' and 'response' fields, has {sorted(r)}")
            r = (r["prompt"], r["response"])
        out.append(encode_pair(r[0], r[1], seq_len))
    if not out:
        raise TilelliError("no SFT rows to batch")
    return out


def _pad(examples, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.full((len(examples), seq_len), SEPARATOR, dtype=torch.long)
    y = torch.full((len(examples), seq_len), IGNORE_INDEX, dtype=torch.long)
    for i, (xi, yi) in enumerate(examples):
        x[i, :len(xi)] = torch.tensor(xi, dtype=torch.long)
        y[i, :len(yi)] = torch.tensor(yi, dtype=torch.long)
    return x, y


def sft_eval_batches(rows, seq_len: int, batch_size: int, max_batches: int | None = None):
    """Deterministic (x, y) batches of SFT rows in file order, for validation loss."""
    ex = _encode_rows(rows, seq_len)
    if max_batches is not None:
        ex = ex[: max_batches * batch_size]
    return [_pad(ex[i:i + batch_size], seq_len) for i in range(0, len(ex), batch_size)]
