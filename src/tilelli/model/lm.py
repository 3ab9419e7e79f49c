"""The model: the blocks it stacks (routed multi-pathway, vanilla transformer), TilelliLM and its generation.

Routed block
------------
The routed multi-pathway block and its load-balance loss.

    h     = LayerNorm(x)                                   [B, T, d]
    p     = softmax(router(h))                             [B, T, P]  router: Linear d->P, no bias
    u     = down(h)          (parent only, d -> path_dim)  [B, T, c]
    mix   = sum_i p[..., i] * pathway_i(u)                 [B, T, c]
    x_out = x + up(mix)      (up only in the parent)       [B, T, d]

Lite (d=256, P=3): conv, sparse attention, FFN at the full width; router 256*3 = 768 weights
per block, 6,144 over 8 blocks (the published count). Parent (d=512, L=7, P=5): the same
pathways plus a wide conv and a diagonal SSM, run at path_dim=256 inside a 512->256->512
projection pair. Why: at d=512 a single d->4d FFN is 2.1M parameters per block (14.7M over 7
blocks), so the published ~10M parent cannot run its pathways at full width; at 256 they are
exactly the Lite pathways (8 heads of 32, top_k 16, FFN 256->1024->256).

Every pathway runs on every token (dense soft mixing), so `p` is differentiable end to end:
the router, the metacognition loss on router entropy, and the LM loss all shape it.

Load balance: with p_bar = mean of p over batch and time, aux = P * sum(p_bar^2) - 1 per block,
averaged over blocks. It is 0 when mean use is uniform (1/P each) and P-1 when one pathway takes
everything; the trainer adds `weight * aux_loss`.

Vanilla block
-------------
The vanilla baseline block: a pre-norm transformer layer (GPT-2 shape, no biases).

    x = x + attn(LN1(x))        dense causal attention, 8 heads of 40 at d=320 (SDPA)
    x = x + ffn(LN2(x))         d -> 4d -> d, GELU

At d=320, L=8 this is 12 * 320^2 = 1.23M parameters per layer, 10.09M with embeddings, learned
positions and an untied head: within 0.4% of tilelli-lite (10.05M), which is what makes the
Lite-vs-vanilla comparison parameter-fair. It shares the LM shell (TilelliLM, below), the
ternary option, the abstain head and the decoding cache with the routed models; it has no router,
so it returns no router probabilities and a zero load-balance loss.

TilelliLM
---------
TilelliLM: the byte-level language model shell shared by every named config.

    idx [B, T] bytes
      -> embed(idx) + pos(positions)                [B, T, d]   FP32 embeddings, learned positions
      -> blocks (routed or vanilla), each optionally returning router probs [B, T, P]
      -> final LayerNorm = `hidden`                 [B, T, d]
      -> head: Linear d->256, untied, FP32          logits [B, T, 256]
      -> abstain: Linear d->1 (+bias), FP32         abstain_logit [B, T], abstain_p = sigmoid

    out = lm(idx, targets=None, return_signals=False)   -> ModelOutput (docs/CONTRACTS.md)

`loss` is the mean cross-entropy over targets != IGNORE_INDEX (-100, model/quantities.py); 0
with a gradient path when every target is masked, so an all-prompt SFT batch never yields NaN.
`aux_loss` is the router load-balance loss (Routed block, above), a 0-dim zero for vanilla. With
`return_signals=True` the same pass returns the router probabilities of every layer [L, B, T, P],
the final hidden state and the abstain head outputs; all are differentiable, so a metacognition
loss can backpropagate through them.

Sequences longer than `max_seq` are rejected (there are only max_seq learned positions);
generation slides a window instead (Generation, below). Right-padded batches need no mask: the
model is causal, so outputs at positions < length are exact (`pad_batch`).

Construction: `TilelliLM.from_config(name, seed=None, **overrides)`; with a seed the weights are
drawn under that seed in a forked RNG (the global RNG is left untouched), otherwise from the
global torch RNG. Init: N(0, 0.02) for matrices and embeddings, residual output projections
scaled by 1/sqrt(2L) (GPT-2).

Generation
----------
Autoregressive generation: greedy or seeded sampling, stop sequences, streaming, batches, caches.

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

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from tilelli.io import TilelliError
from tilelli.model.config import ModelConfig, get_config
from tilelli.model.layers import (CausalDepthwiseConv, DenseAttention, DiagonalSSM, FeedForward, MixerPathway,
                                  SparseTopKAttention, Span, TernaryLinear)
from tilelli.model.quantities import IGNORE_INDEX
from tilelli.numerics import configure_torch

configure_torch()   # pinned numerics: oneDNN off and a fixed thread count before any model runs


# ---- Routed block --------------------------------------------------------------------------------
def build_pathway(name: str, cfg: ModelConfig) -> nn.Module:
    c, q, hd = cfg.path_dim, cfg.quantize, cfg.hadamard
    inner = max(1, round(cfg.mixer_expand * c))
    if name == "attn":
        return SparseTopKAttention(c, cfg.n_heads, cfg.top_k, cfg.max_seq, q, hd)
    if name == "ffn":
        return FeedForward(c, cfg.ffn_expand, q, hd)
    if name == "conv":
        return MixerPathway(CausalDepthwiseConv(c, cfg.conv_kernel), c, inner, q, hd)
    if name == "wide_conv":
        return MixerPathway(CausalDepthwiseConv(c, cfg.wide_kernel), c, inner, q, hd)
    if name == "ssm":
        return MixerPathway(DiagonalSSM(c, cfg.ssm_state), c, inner, q, hd)
    raise ValueError(name)  # unreachable: ModelConfig.validate checks names


class RoutedBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, c = cfg.d_model, cfg.path_dim
        self.norm = nn.LayerNorm(d)
        self.router = nn.Linear(d, cfg.n_paths, bias=False)              # FP32 in every config
        self.down = TernaryLinear(d, c, cfg.quantize, cfg.hadamard) if c != d else None
        self.up = TernaryLinear(c, d, cfg.quantize, cfg.hadamard) if c != d else None
        self.paths = nn.ModuleDict({name: build_pathway(name, cfg) for name in cfg.pathways})

    def forward(self, x: torch.Tensor, span: Span | None = None, state: dict | None = None):
        """x [B, T, d] -> (x + update [B, T, d], router probabilities [B, T, P])."""
        h = self.norm(x)
        probs = torch.softmax(self.router(h), dim=-1)                     # [B, T, P]
        u = self.down(h) if self.down is not None else h
        mix = None
        for i, (name, path) in enumerate(self.paths.items()):
            y = path(u, span, None if state is None else state.setdefault(name, {}))
            term = y * probs[..., i:i + 1]
            mix = term if mix is None else mix + term
        if self.up is not None:
            mix = self.up(mix)
        return x + mix, probs


def load_balance_loss(router_probs: list[torch.Tensor]) -> torch.Tensor:
    """Mean over blocks of P * sum_i(mean_bt p_i)^2 - 1 (0 at uniform use); 0-dim tensor."""
    losses = []
    for p in router_probs:                                               # each [B, T, P]
        p_bar = p.reshape(-1, p.shape[-1]).mean(0)
        losses.append(p.shape[-1] * (p_bar * p_bar).sum() - 1)
    return torch.stack(losses).mean()


# ---- Vanilla block -------------------------------------------------------------------------------
class VanillaBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.norm1 = nn.LayerNorm(d)
        self.attn = DenseAttention(d, cfg.n_heads, cfg.max_seq, cfg.quantize, cfg.hadamard)
        self.norm2 = nn.LayerNorm(d)
        self.ffn = FeedForward(d, cfg.ffn_expand, cfg.quantize, cfg.hadamard)

    def forward(self, x: torch.Tensor, span: Span | None = None, state: dict | None = None):
        """x [B, T, d] -> (x [B, T, d], None): no router."""
        x = x + self.attn(self.norm1(x), span, None if state is None else state.setdefault("attn", {}))
        return x + self.ffn(self.norm2(x)), None


# ---- TilelliLM -----------------------------------------------------------------------------------
RESIDUAL_OUTPUTS = ("out", "w2", "w_out", "up")   # projections that write into the residual


@dataclass
class ModelOutput:
    logits: torch.Tensor                          # [B, T, 256]
    loss: torch.Tensor | None = None              # 0-dim, or None without targets
    aux_loss: torch.Tensor | None = None          # 0-dim router load-balance loss
    router_probs: torch.Tensor | None = None      # [L, B, T, P]; None for vanilla or no signals
    hidden: torch.Tensor | None = None            # [B, T, d] after the final norm
    abstain_logit: torch.Tensor | None = None     # [B, T]
    abstain_p: torch.Tensor | None = None         # [B, T]


def pad_batch(seqs: list[list[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad byte lists into idx [B, T_max] (long) and lengths [B] (long).

    Causality makes right padding exact for a forward pass: row b's outputs at positions
    < lengths[b] equal those of the unpadded row. Read signals at lengths - 1 for the last token.
    """
    if not seqs or any(len(s) == 0 for s in seqs):
        raise TilelliError("pad_batch: need at least one sequence and no empty sequences")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    idx = torch.full((len(seqs), int(lengths.max())), pad_id, dtype=torch.long)
    for row, s in enumerate(seqs):
        idx[row, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return idx, lengths


class TilelliLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = cfg = config.validate()
        d = cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, d)
        self.pos = nn.Embedding(cfg.max_seq, d)
        block = RoutedBlock if cfg.arch == "routed" else VanillaBlock
        self.blocks = nn.ModuleList([block(cfg) for _ in range(cfg.n_layers)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.vocab_size, bias=False)
        self.abstain = nn.Linear(d, 1)
        self._init_weights()

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_config(cls, name: str, seed: int | None = None, **overrides) -> "TilelliLM":
        config = get_config(name, **overrides)
        if seed is None:
            return cls(config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(config)

    @classmethod
    def from_pretrained(cls, name_or_path, revision: str | None = None, *, cache_dir=None,
                        local_files_only: bool | None = None, token=None) -> "TilelliLM":
        """A folder written by save_pretrained, or a Hub id `org/name` at `revision` (model/checkpoint.py: resolve)."""
        from tilelli.model.checkpoint import load_pretrained, resolve
        return load_pretrained(resolve(name_or_path, revision, cache_dir=cache_dir,
                                       local_files_only=local_files_only, token=token), cls)

    def save_pretrained(self, path, metadata: dict | None = None) -> None:
        """model.safetensors + flat config.json + README.md card (tilelli.model.checkpoint)."""
        from tilelli.model.checkpoint import save_pretrained
        save_pretrained(self, path, metadata)

    def _init_weights(self) -> None:
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, module in self.named_modules():
            if isinstance(module, (nn.Linear, TernaryLinear, nn.Embedding)):
                std = resid_std if name.rsplit(".", 1)[-1] in RESIDUAL_OUTPUTS else 0.02
                nn.init.normal_(module.weight, std=std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def router_parameters(self) -> list[nn.Parameter]:
        """The router Linears' weights (one d x P matrix per routed block; none in vanilla): what
        the router-only metacog variants train and the N4 control freezes."""
        return [block.router.weight for block in self.blocks if isinstance(block, RoutedBlock)]

    # ---- forward ---------------------------------------------------------------------------
    def check_idx(self, idx: torch.Tensor) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype != torch.long:
            raise TilelliError("model input must be a LongTensor [batch, time] of byte ids")
        if idx.shape[1] > self.config.max_seq:
            raise TilelliError(f"sequence length {idx.shape[1]} exceeds the model context "
                               f"max_seq={self.config.max_seq}; crop or window the input")

    def trunk(self, idx: torch.Tensor, positions: torch.Tensor | None = None,
              span: Span | None = None, cache: list[dict] | None = None):
        """Embeddings + blocks + final norm -> (hidden [B, T, d], list of router probs)."""
        if positions is None:
            positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.embed(idx) + self.pos(positions)
        probs = []
        for i, block in enumerate(self.blocks):
            x, p = block(x, span, None if cache is None else cache[i])
            if p is not None:
                probs.append(p)
        return self.norm(x), probs

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                return_signals: bool = False) -> ModelOutput:
        self.check_idx(idx)
        hidden, probs = self.trunk(idx)
        logits = self.head(hidden)                                          # [B, T, 256]
        aux = load_balance_loss(probs) if probs else logits.new_zeros(())
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise TilelliError(f"targets shape {tuple(targets.shape)} != input shape {tuple(idx.shape)}")
            # The mean over unmasked targets as sum / count, without a data-dependent branch (a graph
            # break under torch.compile, a device sync per step on GPU): bit-identical to
            # reduction="mean" when any target counts (tests/test_model.py), and 0 with a gradient
            # path when none does.
            n = (targets != IGNORE_INDEX).sum()
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1),
                                   ignore_index=IGNORE_INDEX, reduction="sum") / n.clamp(min=1)
        out = ModelOutput(logits=logits, loss=loss, aux_loss=aux)
        if return_signals:
            out.router_probs = torch.stack(probs) if probs else None        # [L, B, T, P]
            out.hidden = hidden
            out.abstain_logit = self.abstain(hidden).squeeze(-1)            # [B, T]
            out.abstain_p = torch.sigmoid(out.abstain_logit)
        return out

    # ---- generation ------------------------------------------------------------------------
    def generate(self, prompt, max_new: int, temperature: float = 0.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, stop=None, callback=None,
                 use_cache: bool = True):
        """See generate (Generation, below; docs/CONTRACTS.md)."""
        return generate(self, prompt, max_new, temperature=temperature, top_k=top_k, top_p=top_p,
                        seed=seed, stop=stop, callback=callback, use_cache=use_cache)


# ---- Generation ----------------------------------------------------------------------------------
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
