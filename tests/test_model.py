"""Model zoo: parameter budgets, forward contract, causality, router signals, config errors."""
import json
import math
from dataclasses import asdict

import pytest
import torch

from tilelli import TilelliError
from tilelli.model import ModelConfig, TilelliLM, list_configs, pad_batch
from tilelli.model.config import config_from_dict
from tilelli.model.lm import load_balance_loss


NAMED = ["tilelli-lite-fp32", "tilelli-lite-ternary", "tilelli-fp32", "tilelli-ternary", "vanilla-fp32"]
TINY = [n + "-tiny" for n in NAMED]


def count(name: str) -> int:
    with torch.device("meta"):
        return TilelliLM.from_config(name).num_params()


@pytest.fixture(scope="module")
def tiny_models():
    return {name: TilelliLM.from_config(name, seed=0).eval() for name in TINY}


def test_registry_names():
    assert set(NAMED + TINY) == set(list_configs())


@pytest.mark.parametrize("name", NAMED)
def test_named_configs_are_10m_within_5_percent(name):
    assert 9.5e6 <= count(name) <= 10.5e6


@pytest.mark.parametrize("name", TINY)
def test_tiny_configs_are_about_1m(name):
    assert 0.9e6 <= count(name) <= 1.1e6


def test_param_fair_pairs_within_3_percent():
    for lite, vanilla in [("tilelli-lite-fp32", "vanilla-fp32"),
                          ("tilelli-lite-fp32-tiny", "vanilla-fp32-tiny")]:
        assert abs(count(lite) / count(vanilla) - 1) <= 0.03


def test_published_shapes():
    lm = TilelliLM.from_config("tilelli-lite-fp32", seed=0)
    c = lm.config
    assert (c.d_model, c.n_layers, c.n_heads, c.top_k, c.ffn_expand, c.max_seq) == (256, 8, 8, 16, 4, 256)
    assert sum(b.router.weight.numel() for b in lm.blocks) == 6144        # Linear 256->3, no bias
    assert all(b.router.bias is None for b in lm.blocks)
    parent = TilelliLM.from_config("tilelli-ternary").config
    assert (parent.d_model, parent.n_layers, parent.quantize, parent.n_paths) == (512, 7, True, 5)
    assert {k for k in lm.state_dict() if k.startswith("abstain.")} == {"abstain.weight", "abstain.bias"}


@pytest.mark.parametrize("name", TINY)
def test_forward_contract(tiny_models, name):
    lm = tiny_models[name]
    c = lm.config
    x = torch.randint(0, 256, (2, 24))
    out = lm(x, x, return_signals=True)
    assert out.logits.shape == (2, 24, 256)
    assert out.loss.dim() == 0 and out.aux_loss.dim() == 0
    assert out.hidden.shape == (2, 24, c.d_model)
    assert out.abstain_logit.shape == out.abstain_p.shape == (2, 24)
    assert ((out.abstain_p > 0) & (out.abstain_p < 1)).all()
    if c.arch == "vanilla":
        assert out.router_probs is None and out.aux_loss.item() == 0.0
    else:
        assert out.router_probs.shape == (c.n_layers, 2, 24, c.n_paths)
    plain = lm(x)
    assert plain.loss is None and plain.router_probs is None and plain.abstain_p is None
    torch.testing.assert_close(plain.logits, out.logits)


@pytest.mark.parametrize("name", TINY)
def test_causality(tiny_models, name):
    """Changing bytes after position t never changes the logits at or before t."""
    lm = tiny_models[name]
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (2, 80), generator=g)
    for t in (0, 17, 63):
        y = x.clone()
        y[:, t + 1:] = torch.randint(0, 256, y[:, t + 1:].shape, generator=g)
        a, b = lm(x, return_signals=True), lm(y, return_signals=True)
        assert torch.equal(a.logits[:, :t + 1], b.logits[:, :t + 1])
        if a.router_probs is not None:
            assert torch.equal(a.router_probs[:, :, :t + 1], b.router_probs[:, :, :t + 1])
        assert not torch.equal(a.logits[:, t + 1:], b.logits[:, t + 1:])  # the test can fail


@pytest.mark.parametrize("name", [n for n in TINY if not n.startswith("vanilla")])
def test_router_rows_and_entropy(tiny_models, name):
    lm = tiny_models[name]
    probs = lm(torch.randint(0, 256, (3, 40)), return_signals=True).router_probs
    torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:-1]))
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1)
    assert (entropy <= math.log(probs.shape[-1]) + 1e-5).all()


def test_signals_and_losses_are_differentiable():
    lm = TilelliLM.from_config("tilelli-fp32-tiny", seed=0)
    x = torch.randint(0, 256, (2, 32))
    out = lm(x, x, return_signals=True)
    entropy = -(out.router_probs * out.router_probs.log()).sum(-1).mean()
    (entropy + out.abstain_logit.mean() + out.aux_loss).backward()
    assert lm.blocks[0].router.weight.grad.abs().sum() > 0
    assert lm.abstain.weight.grad.abs().sum() > 0
    assert lm.blocks[0].paths["ssm"].mixer.a_raw.grad is not None


def test_loss_ignores_masked_targets(tiny_models):
    lm = tiny_models["tilelli-lite-fp32-tiny"]
    x = torch.randint(0, 256, (2, 16))
    y = x.clone()
    y[:, :10] = -100
    out = lm(x, y)
    expected = torch.nn.functional.cross_entropy(out.logits[:, 10:].reshape(-1, 256), x[:, 10:].reshape(-1))
    torch.testing.assert_close(out.loss, expected)
    all_masked = lm(x, torch.full_like(x, -100)).loss
    assert all_masked.item() == 0.0
    all_masked.backward()                       # a gradient path, all zeros, no NaN
    assert lm.embed.weight.grad is not None and not lm.embed.weight.grad.any()
    lm.zero_grad(set_to_none=True)


def test_loss_is_bit_identical_to_the_mean_reduction(tiny_models):
    """lm.forward computes the masked mean as sum / count (no data-dependent branch, so no graph
    break under compile): loss and gradient equal reduction="mean" bit for bit, so the committed
    models did not move when the branch went."""
    lm = tiny_models["tilelli-lite-fp32-tiny"]
    g = torch.Generator().manual_seed(3)
    for masked in (0, 5, 15):
        x = torch.randint(0, 256, (3, 16), generator=g)
        y = x.clone()
        y[:, :masked] = -100
        out = lm(x, y)
        out.logits.retain_grad()
        out.loss.backward()
        logits = out.logits.detach().requires_grad_()
        ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), y.reshape(-1), ignore_index=-100)
        ref_grad, = torch.autograd.grad(ref, logits)
        assert torch.equal(out.loss.detach(), ref.detach()) and torch.equal(out.logits.grad, ref_grad)
        lm.zero_grad(set_to_none=True)


def test_load_balance_loss_bounds():
    uniform = torch.full((2, 5, 3), 1 / 3)
    collapsed = torch.zeros(2, 5, 3)
    collapsed[..., 0] = 1
    assert abs(load_balance_loss([uniform]).item()) < 1e-6
    assert load_balance_loss([collapsed]).item() == pytest.approx(2.0)


def test_right_padding_is_exact(tiny_models):
    lm = tiny_models["tilelli-fp32-tiny"]
    seqs = [list(b"short"), list(b"a somewhat longer prompt"), list(b"mid length")]
    idx, lengths = pad_batch(seqs)
    assert idx.shape == (3, 24) and lengths.tolist() == [5, 24, 10]
    batched = lm(idx, return_signals=True)
    for row, s in enumerate(seqs):
        alone = lm(torch.tensor([s]), return_signals=True)
        n = len(s)
        torch.testing.assert_close(batched.logits[row, :n], alone.logits[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batched.abstain_p[row, :n], alone.abstain_p[0], atol=1e-6, rtol=1e-5)


def test_sequence_longer_than_context_is_one_clear_line(tiny_models):
    lm = tiny_models["vanilla-fp32-tiny"]
    with pytest.raises(TilelliError, match="exceeds the model context max_seq=256") as e:
        lm(torch.zeros(1, 257, dtype=torch.long))
    assert "\n" not in str(e.value)


def test_unknown_name_and_bad_overrides_name_valid_choices():
    with pytest.raises(TilelliError) as e:
        TilelliLM.from_config("tilelli-lightning")
    assert "tilelli-lite-fp32" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(TilelliError) as e:
        TilelliLM.from_config("tilelli-lite-fp32-tiny", d_modle=64)
    assert "d_modle" in str(e.value) and "d_model" in str(e.value) and "\n" not in str(e.value)
    for bad in (dict(d_model="wide"), dict(n_heads=5), dict(pathways=["conv", "teleport"]),
                dict(quantize="yes"), dict(top_k=0)):
        with pytest.raises(TilelliError) as e:
            TilelliLM.from_config("tilelli-lite-fp32-tiny", **bad)
        assert "\n" not in str(e.value)
    lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", d_model=64, n_layers=2, seed=0)
    assert lm.config.d_model == 64 and len(lm.blocks) == 2


def test_seeded_construction_is_deterministic_and_leaves_global_rng():
    state = torch.get_rng_state()
    a = TilelliLM.from_config("tilelli-lite-ternary-tiny", seed=3).state_dict()
    b = TilelliLM.from_config("tilelli-lite-ternary-tiny", seed=3).state_dict()
    c = TilelliLM.from_config("tilelli-lite-ternary-tiny", seed=4).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["embed.weight"], c["embed.weight"])


def test_config_is_json_serialisable_and_round_trips():
    cfg = TilelliLM.from_config("tilelli-ternary-tiny").config
    data = json.loads(json.dumps(asdict(cfg)))
    assert config_from_dict(data) == cfg
    assert isinstance(cfg, ModelConfig) and data["quantize"] is True
    with pytest.raises(TilelliError):
        config_from_dict({**data, "colour": "blue"})
