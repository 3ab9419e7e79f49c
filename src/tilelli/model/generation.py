"""Autoregressive generation: greedy or seeded sampling, stop sequences, streaming, batches, caches.

    lm.generate(prompt, max_new, temperature=0.0, top_k=None, top_p=None, seed=None,
                stop=None, callback=None, use_cache=True)

- prompt: list[int] (or bytes) -> list[int]; list of those -> list of list[int]. Each output is
  the prompt followed by the new bytes, cut before the first stop sequence.
- temperature 0 is greedy (top_k/top_p ignored). Otherwise logits/temperature, then top-k, then
  top-p (smallest set of bytes whose probability reaches p), then a draw. With a seed every row
  draws from its own local torch.Generator seeded with `seed` (the global RNG is untouched), so
  a row of a batch samples exactly what that prompt samples alone with the same seed.
- stop: byte sequences (bytes, str or list[int], or a list of them), searched in the new bytes
  only (the chat prompt itself contains "\\n").
- callback(token_id) streams a single prompt. A byte that could begin a stop sequence is held
  back until it cannot, so the stream is exactly the returned new bytes.
- Batches of different lengths are LEFT-padded for decoding: pad keys are masked in attention,
  pad inputs are zeroed before convs/SSMs, and positions restart at 0 at each row's first real
  byte, so every row decodes as if it were alone (tests check equality with one-by-one).

Context rule: the model always conditions on the last `max_seq` bytes. A longer prompt is
windowed, not rejected; once prompt + output exceeds max_seq the window slides one byte per
step. Learned absolute positions shift when the window slides, so from then on cached decoding
re-encodes the window each step (as costly as `use_cache=False`); below max_seq it is
incremental: one position per step through the attention K/V buffers, the conv tails and the SSM
state. The cached and uncached paths apply the same rule, so they produce the same tokens.

Runs under torch.no_grad in eval mode and restores the previous training mode afterwards.
"""
from __future__ import annotations

import torch

from tilelli.errors import TilelliError
from tilelli.model.layers import Span


def _as_tokens(seq, what: str) -> list[int]:
    if isinstance(seq, str):
        seq = seq.encode("utf-8")
    seq = list(seq)
    if not seq or not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 256 for t in seq):
        raise TilelliError(f"{what} must be a non-empty sequence of byte ids 0..255")
    return seq


def _normalise_prompt(prompt) -> tuple[bool, list[list[int]]]:
    if isinstance(prompt, (bytes, bytearray)) or (
            isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt)):
        return False, [_as_tokens(prompt, "prompt")]
    if isinstance(prompt, (list, tuple)) and prompt:
        return True, [_as_tokens(p, f"prompt {i}") for i, p in enumerate(prompt)]
    raise TilelliError("prompt must be a non-empty list[int] of byte ids or a list of such lists")


def _normalise_stop(stop) -> list[list[int]]:
    if stop is None:
        return []
    if isinstance(stop, (bytes, bytearray, str)) or (
            isinstance(stop, list) and stop and all(isinstance(t, int) for t in stop)):
        return [_as_tokens(stop, "stop sequence")]
    return [_as_tokens(s, "stop sequence") for s in stop]


def _left_pad(windows: list[list[int]], device):
    """idx [B, L], key_mask [B, L] or None (no padding), positions [B, L]."""
    L = max(len(w) for w in windows)
    idx = torch.zeros(len(windows), L, dtype=torch.long, device=device)
    mask = torch.zeros(len(windows), L, dtype=torch.bool, device=device)
    for row, w in enumerate(windows):
        idx[row, L - len(w):] = torch.as_tensor(w, dtype=torch.long, device=device)
        mask[row, L - len(w):] = True
    positions = (mask.long().cumsum(1) - 1).clamp(min=0)
    return idx, (None if bool(mask.all()) else mask), positions


class IncrementalDecoder:
    """Next-byte logits for a batch of growing sequences, with or without caches."""

    def __init__(self, lm, use_cache: bool):
        self.lm, self.use_cache = lm, use_cache
        self.window = lm.config.max_seq
        self.device = lm.embed.weight.device
        self.cache = None

    def _encode(self, seqs: list[list[int]]) -> torch.Tensor:
        windows = [s[-self.window:] for s in seqs]
        idx, mask, positions = _left_pad(windows, self.device)
        self.cache = [{} for _ in self.lm.blocks] if self.use_cache else None
        hidden, _ = self.lm.trunk(idx, positions, Span(0, mask), self.cache)
        self.length = idx.shape[1]
        self.key_mask = None
        if mask is not None:
            self.key_mask = torch.ones(len(seqs), self.window, dtype=torch.bool, device=self.device)
            self.key_mask[:, :self.length] = mask
        self.next_pos = positions[:, -1:] + 1                               # [B, 1]
        return self.lm.head(hidden[:, -1])

    def next_logits(self, seqs: list[list[int]], last: list[int] | None) -> torch.Tensor:
        """logits [B, 256] for the byte after each sequence; `last` = bytes appended since."""
        if self.cache is None or last is None or self.length + 1 > self.window:
            return self._encode(seqs)
        idx = torch.tensor(last, dtype=torch.long, device=self.device).unsqueeze(1)   # [B, 1]
        mask = None if self.key_mask is None else self.key_mask[:, :self.length + 1]
        hidden, _ = self.lm.trunk(idx, self.next_pos, Span(self.length, mask), self.cache)
        self.length += 1
        self.next_pos = self.next_pos + 1
        return self.lm.head(hidden[:, -1])


def _pick(logits: torch.Tensor, temperature, top_k, top_p, generators) -> list[int]:
    if temperature == 0:
        return logits.argmax(-1).tolist()
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, -1)
        drop = probs.cumsum(-1) - probs >= top_p                            # mass before >= p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = torch.softmax(logits, -1)
    return [int(torch.multinomial(probs[b], 1, generator=generators[b])) for b in range(len(probs))]


def _held_back(new: list[int], stops: list[list[int]]) -> int:
    """Length of the longest suffix of `new` that is a proper prefix of a stop sequence."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(new)), best, -1):
            if new[-k:] == s[:k]:
                best = k
                break
    return best


def generate(lm, prompt, max_new: int, temperature: float = 0.0, top_k: int | None = None,
             top_p: float | None = None, seed: int | None = None, stop=None, callback=None,
             use_cache: bool = True):
    batched, rows = _normalise_prompt(prompt)
    if not isinstance(max_new, int) or max_new < 0:
        raise TilelliError(f"max_new must be an integer >= 0, got {max_new!r}")
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise TilelliError(f"temperature must be >= 0, got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise TilelliError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and not (0 < top_p <= 1):
        raise TilelliError(f"top_p must be in (0, 1] or None, got {top_p!r}")
    if callback is not None and batched:
        raise TilelliError("callback streams a single prompt; pass one prompt or no callback")
    stops = _normalise_stop(stop)
    generators = [None] * len(rows)
    if seed is not None:
        generators = [torch.Generator(device="cpu").manual_seed(int(seed)) for _ in rows]

    was_training = lm.training
    lm.eval()
    try:
        with torch.no_grad():
            new = _decode(lm, rows, max_new, temperature, top_k, top_p, generators, stops,
                          callback, use_cache)
    finally:
        lm.train(was_training)
    outputs = [r + n for r, n in zip(rows, new)]
    return outputs if batched else outputs[0]


def _decode(lm, rows, max_new, temperature, top_k, top_p, generators, stops, callback, use_cache):
    seqs = [list(r) for r in rows]
    new: list[list[int]] = [[] for _ in rows]
    done = [False] * len(rows)
    emitted = 0                                                  # streamed bytes (single prompt)
    decoder = IncrementalDecoder(lm, use_cache)
    last = None
    for _ in range(max_new):
        if all(done):
            break
        tokens = _pick(decoder.next_logits(seqs, last), temperature, top_k, top_p, generators)
        for b, t in enumerate(tokens):
            seqs[b].append(t)
            if done[b]:
                continue
            new[b].append(t)
            ending = [len(s) for s in stops if new[b][-len(s):] == s]
            if ending:                                   # cut before the earliest-starting stop
                del new[b][-max(ending):]
                done[b] = True
        last = tokens
        if callback is not None:
            upto = len(new[0]) if done[0] else len(new[0]) - _held_back(new[0], stops)
            for t in new[0][emitted:upto]:
                callback(t)
            emitted = max(emitted, upto)
    if callback is not None:
        for t in new[0][emitted:]:
            callback(t)
    return new
