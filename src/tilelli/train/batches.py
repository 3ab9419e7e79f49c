"""Training batches as pure functions of (step, micro-batch, rank): resumable, DDP-consistent.

- `window_batches`: random windows of the packed shard; the global batch of (step, micro) is
  drawn from a generator seeded by (seed, step, micro).
- `example_batches`: encoded SFT examples in epochs; epoch e is a permutation seeded by
  (seed, e), and step s takes the next `batch` positions of that stream, so every example is
  seen once per epoch.
Each of `world` processes takes its contiguous slice of the global batch. So a run resumed
at step s sees the batches an uninterrupted run would, and 2 processes together see exactly
the batch that 1 process sees alone (the DDP test relies on it).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import torch

from tilelli.data.chat import IGNORE_INDEX, encode_pair
from tilelli.data.loader import windows
from tilelli.io import TilelliError


def step_generator(seed: int, *key: int) -> torch.Generator:
    digest = hashlib.sha256(":".join(map(str, (seed, *key))).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


def _my_slice(n: int, rank: int, world: int) -> slice:
    per = n // world
    return slice(rank * per, (rank + 1) * per)


def window_batches(shard: np.ndarray, seq_len: int, cfg):
    """Random windows of seq_len+1 bytes from a packed shard -> {x, y} [batch/world, seq_len]."""
    if len(shard) < seq_len + 2:
        raise TilelliError(f"shard of {len(shard)} bytes is shorter than seq_len+2={seq_len + 2}")
    micro_batch = cfg.batch_size // cfg.grad_accum

    def batch_fn(step: int, micro: int, rank: int = 0, world: int = 1) -> dict:
        g = step_generator(cfg.seed, step, micro)
        starts = torch.randint(0, len(shard) - seq_len, (micro_batch,), generator=g).numpy()
        x, y = windows(shard, starts[_my_slice(micro_batch, rank, world)], seq_len)
        return {"x": x, "y": y}

    return batch_fn


def encode_example(prompt: str, response: str | None, seq_len: int, *, abstain: float = -1.0,
                   ood: float = -1.0) -> dict:
    """One chat example padded to seq_len, with `pos` = index of the last prompt byte in x.

    response=None encodes the prompt alone with no LM loss (OOD inputs in metacog training).
    Labels: abstain/ood 1.0 or 0.0, -1.0 = unlabelled (see tilelli.train.loop, Objectives).
    """
    x, y = encode_pair(prompt, response or "", seq_len)
    pos = next(i for i, t in enumerate(y) if t != IGNORE_INDEX)
    if response is None:
        y = [IGNORE_INDEX] * len(y)
    pad = seq_len - len(x)
    return {"x": x + [0] * pad, "y": y + [IGNORE_INDEX] * pad, "pos": pos, "abstain": abstain, "ood": ood}


def encode_text(ids, seq_len: int, *, lm: bool, abstain: float = -1.0, ood: float = -1.0) -> dict:
    """Raw bytes without the chat frame (metacog data raw_text), padded to seq_len.

    lm=True: `ids` is a corpus window of seq_len + 1 bytes, CE on every next byte; lm=False: a
    text cut to seq_len bytes with no LM loss (OOD texts). pos = the last input byte, so the
    router-confidence term reads every position of the text (loop.MetacogLoss).
    """
    ids = [int(t) for t in ids]
    x = ids[:seq_len]
    if not x:
        raise TilelliError("encode_text: empty text")
    y = ids[1:seq_len + 1] if lm else []
    y = y + [IGNORE_INDEX] * (len(x) - len(y))
    pad = seq_len - len(x)
    return {"x": x + [0] * pad, "y": y + [IGNORE_INDEX] * pad, "pos": len(x) - 1, "abstain": abstain, "ood": ood}


def collate(examples: list[dict]) -> dict:
    batch = {"x": torch.tensor([e["x"] for e in examples], dtype=torch.long),
             "y": torch.tensor([e["y"] for e in examples], dtype=torch.long)}
    for key in ("pos", "abstain", "ood"):
        if key in examples[0]:
            batch[key] = torch.tensor([e[key] for e in examples],
                                      dtype=torch.long if key == "pos" else torch.float32)
    return batch


def example_batches(examples: list[dict], cfg):
    """Encoded examples in seeded epochs -> collated batches [batch/world, seq_len]."""
    if not examples:
        raise TilelliError(f"{cfg.name}: no training examples")
    n, micro_batch = len(examples), cfg.batch_size // cfg.grad_accum

    @lru_cache(maxsize=4)
    def epoch_order(epoch: int) -> list[int]:
        return torch.randperm(n, generator=step_generator(cfg.seed, epoch)).tolist()

    def batch_fn(step: int, micro: int, rank: int = 0, world: int = 1) -> dict:
        start = (step * cfg.grad_accum + micro) * micro_batch
        positions = list(range(start, start + micro_batch))[_my_slice(micro_batch, rank, world)]
        return collate([examples[epoch_order(k // n)[k % n]] for k in positions])

    return batch_fn
