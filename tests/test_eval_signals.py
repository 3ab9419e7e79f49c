"""Signals with a stub model obeying the forward contract (docs/CONTRACTS.md); the probe loop."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tilelli.eval.probe import chat_prompt, probe_model, probe_signals
from tilelli.io import TilelliError
from tilelli.model import TilelliLM


class StubLM(nn.Module):
    """Causal (prefix-mean) toy LM with a router per layer and an abstain head: ModelOutput fields."""

    def __init__(self, n_layers=2, n_paths=3, d=16, router=True, max_seq=None):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.head, self.abstain = nn.Embedding(256, d), nn.Linear(d, 256), nn.Linear(d, 1)
        self.routers = nn.ModuleList(nn.Linear(d, n_paths) for _ in range(n_layers)) if router else None
        self.config = SimpleNamespace(max_seq=max_seq)

    def forward(self, idx, targets=None, return_signals=False):
        x = self.emb(idx)
        h = torch.tanh(x.cumsum(1) / torch.arange(1, idx.shape[1] + 1)[None, :, None])
        logits = self.head(h) * 3
        out = SimpleNamespace(logits=logits, loss=None, aux_loss=torch.zeros(()))
        if return_signals:
            rp = None if self.routers is None else torch.stack(
                [torch.softmax(r(h + i * x), -1) for i, r in enumerate(self.routers)])
            al = self.abstain(h).squeeze(-1)
            out.router_probs, out.hidden, out.abstain_logit, out.abstain_p = rp, h, al, torch.sigmoid(al)
        return out

    @torch.no_grad()
    def generate(self, prompt, max_new, temperature=0.0, stop=None, **kw):
        assert temperature == 0.0 and stop is None
        outs = []
        for p in prompt:
            seq = list(p)
            for _ in range(max_new):
                seq.append(int(self(torch.tensor([seq])).logits[0, -1].argmax()))
            outs.append(seq)
        return outs


PROMPTS = [list(b"USER: hi\nTILELLI:"), list(b"a"), list(b"USER: what is the capital of France?\nTILELLI:"),
           list(b"xq"), list(b"USER: 1+1?\nTILELLI:")]


def test_padding_and_batching_do_not_change_signals():
    lm = StubLM()
    batched = probe_signals(lm, PROMPTS, batch_size=3)
    alone = [probe_signals(lm, [p], batch_size=1)[0] for p in PROMPTS]
    for b, a in zip(batched, alone):
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-7), k


def test_signal_values_match_a_direct_computation():
    lm = StubLM()
    p = PROMPTS[2]
    sig = probe_signals(lm, PROMPTS, batch_size=8)[2]  # padded to the longest prompt
    with torch.no_grad():
        out = lm(torch.tensor([p]), return_signals=True)
    probs = torch.softmax(out.logits[0].double(), -1).numpy()
    ent = -(probs * np.log(probs)).sum(-1)
    rp = out.router_probs[:, 0].double().numpy()  # [L, T, P]
    h = -(rp * np.log(rp)).sum(-1)
    assert sig["max_softmax_last"] == pytest.approx(probs[-1].max(), rel=1e-6)
    assert sig["max_softmax_mean"] == pytest.approx(probs.max(-1).mean(), rel=1e-6)
    assert sig["entropy_mean"] == pytest.approx(ent.mean(), rel=1e-6)
    assert sig["energy"] == pytest.approx(torch.logsumexp(out.logits[0].double(), -1).mean().item(), rel=1e-6)
    assert sig["router_entropy_mean"] == pytest.approx(h.mean(), rel=1e-6)
    assert sig["router_entropy_var"] == pytest.approx(h.var(), rel=1e-5)
    assert sig["router_conf"] == pytest.approx(1 - h.mean() / math.log(3), rel=1e-6)
    assert sig["abstain_p"] == pytest.approx(out.abstain_p[0, -1].item(), rel=1e-6)
    assert 0 <= sig["router_conf"] <= 1 and sig["router_entropy_mean"] <= math.log(3) + 1e-9


def test_reading_padding_would_change_the_signals():
    """Guard for the test above: the stub's padded positions DO differ, so a leak would show."""
    lm = StubLM()
    with torch.no_grad():
        padded = lm(torch.tensor([PROMPTS[1] + [0] * 5]), return_signals=True)
    assert padded.abstain_p[0, -1] != padded.abstain_p[0, 0]


def test_no_router_gives_nan_router_signals():
    sig = probe_signals(StubLM(router=False), PROMPTS[:2], batch_size=2)
    for s in sig:
        assert all(math.isnan(s[k]) for k in ("router_conf", "router_entropy_mean", "router_entropy_var"))
        assert not math.isnan(s["max_softmax_mean"])


def test_empty_prompt_is_a_clear_error():
    with pytest.raises(TilelliError, match="empty prompt"):
        probe_signals(StubLM(), [[]], batch_size=1)


def test_probe_model_rows_labels_truncation_and_order():
    lm = StubLM(max_seq=64)
    prompts = [{"id": i, "regime": "in_domain", "expected": "answer", "prompt": t}
               for i, t in enumerate(["hi", "what is 2+2?", "long " * 40])]
    rows, timing = probe_model(lm, prompts, batch_size=2, gen_bytes=8)
    assert [r["id"] for r in rows] == [0, 1, 2] and timing["n"] == 3
    assert rows[2]["truncated"] and rows[2]["prompt_bytes"] == 64 - 8
    assert not rows[0]["truncated"] and rows[0]["prompt_bytes"] == len(chat_prompt("hi").encode())
    assert all(r["label"] in ("answer", "refusal", "loop") for r in rows)
    assert all(len(r["generation"].encode("utf-8", "surrogatepass")) >= 1 for r in rows)
    gate_rows, _ = probe_model(lm, [{"set": "idk_heldout", "id": 0, "prompt": "hi"}], gen_bytes=8,
                               with_signals=False)
    assert gate_rows[0]["set"] == "idk_heldout" and "abstain_p" not in gate_rows[0]
    assert all(isinstance(r["collapsed"], bool) for r in rows + gate_rows)   # probe and gate rows alike
    assert chat_prompt("USER: x\nTILELLI:") == "USER: x\nTILELLI:"


def test_real_tiny_model_padding_invariance_and_contract():
    torch.manual_seed(0)
    lm = TilelliLM.from_config("tilelli-lite-fp32-tiny")
    prompts = [list(b"USER: hi\nTILELLI:"), list(b"USER: what is the capital of France?\nTILELLI:"), list(b"x")]
    batched = probe_signals(lm, prompts, batch_size=3)
    alone = [probe_signals(lm, [p], batch_size=1)[0] for p in prompts]
    for b, a in zip(batched, alone):
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), k
    assert all(0 <= r["router_conf"] <= 1 and 0 < r["abstain_p"] < 1 for r in batched)
    rows, _ = probe_model(lm, [{"id": 0, "prompt": "hi"}, {"id": 1, "prompt": "a much longer question?"}],
                          batch_size=2, gen_bytes=6)
    assert all(r["label"] in ("answer", "refusal", "loop") for r in rows)
