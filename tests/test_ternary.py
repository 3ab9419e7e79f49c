"""TernaryLinear: ternary forward values, straight-through gradient, Hadamard, eval cache; the
model name decides quantisation, and the pretrain recipe really trains a *-ternary name ternary."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tilelli.model import TilelliLM
from tilelli.model.layers import TernaryLinear, hadamard_matrix, ternarize


def _layer(in_f=64, out_f=48, **kw):
    torch.manual_seed(0)
    layer = TernaryLinear(in_f, out_f, **kw)
    with torch.no_grad():
        layer.weight.normal_(0, 0.1)
    return layer


def test_effective_weight_takes_values_minus_a_zero_a():
    layer = _layer(quantize=True)
    w_eff = layer.effective_weight().detach()
    a = layer.weight.detach().abs().mean()
    values = set(w_eff.unique().tolist())
    assert values == {-a.item(), 0.0, a.item()}
    # and the forward pass really uses it
    x = torch.randn(5, 64)
    assert torch.equal(layer(x), F.linear(x, w_eff))


def test_scale_is_clamped_for_zero_weights():
    layer = TernaryLinear(8, 4, quantize=True)
    with torch.no_grad():
        layer.weight.zero_()
    assert torch.equal(layer.effective_weight(), torch.zeros(4, 8))
    assert torch.isfinite(ternarize(torch.full((3, 3), 1e-9))).all()


def test_straight_through_gradient_equals_effective_weight_gradient():
    layer = _layer(quantize=True)
    x, g = torch.randn(7, 64), torch.randn(7, 48)
    (layer(x) * g).sum().backward()
    w_eff = ternarize(layer.weight.detach()).requires_grad_()
    (F.linear(x, w_eff) * g).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    torch.testing.assert_close(layer.weight.grad, w_eff.grad)


def test_quantize_off_is_a_plain_linear():
    layer = _layer(quantize=False)
    x = torch.randn(3, 64)
    assert torch.equal(layer(x), F.linear(x, layer.weight))


def test_hadamard_rotation():
    h = hadamard_matrix(16)
    torch.testing.assert_close(h @ h, torch.eye(16))
    rotated = _layer(in_f=48, out_f=8, quantize=True, hadamard=True)   # block 16 (48 = 3 x 16)
    assert rotated.block == 16
    x = torch.randn(4, 48)
    w_rot = rotated._rotate(rotated.weight.detach())
    expected = F.linear(rotated._rotate(x), ternarize(w_rot))
    torch.testing.assert_close(rotated(x), expected)
    assert len(rotated.effective_weight().detach().unique()) <= 3
    # without ternarisation the rotation cancels: (W H)(H x) = W x
    torch.testing.assert_close(F.linear(rotated._rotate(x), w_rot), F.linear(x, rotated.weight.detach()),
                               atol=1e-5, rtol=1e-5)


def test_eval_cache_follows_weight_updates():
    layer = _layer(quantize=True).eval()
    x = torch.randn(2, 64)
    with torch.no_grad():
        first = layer(x)
        assert layer._cache_weight is not None
        layer.weight.mul_(-1)                        # in-place update bumps the version
        second = layer(x)
    torch.testing.assert_close(second, -first)


def test_ternary_config_quantizes_projections_only():
    lm = TilelliLM.from_config("tilelli-lite-ternary-tiny", seed=0)
    ternary = [m for m in lm.modules() if isinstance(m, TernaryLinear)]
    assert ternary and all(m.quantize for m in ternary)
    full_precision = {"embed", "pos", "norm", "head", "abstain"}
    assert full_precision <= {name for name, _ in lm.named_children()}
    assert not isinstance(lm.head, TernaryLinear) and not isinstance(lm.blocks[0].router, TernaryLinear)
    fp32 = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0)
    assert not any(m.quantize for m in fp32.modules() if isinstance(m, TernaryLinear))


def test_the_name_decides_quantisation_and_a_contradiction_is_one_line():
    from tilelli.io import TilelliError
    from tilelli.model.config import CONFIGS, get_config

    for name in CONFIGS:
        assert get_config(name).quantize is ("-ternary" in name), name
    assert get_config("tilelli-lite-ternary-tiny", quantize=True).quantize is True     # agreeing: fine
    for name, q in (("tilelli-lite-ternary-tiny", False), ("tilelli-lite-fp32-tiny", True)):
        with pytest.raises(TilelliError) as e:
            TilelliLM.from_config(name, quantize=q)
        assert f"quantize={q}" in str(e.value) and name in str(e.value) and "\n" not in str(e.value)


def _pretrain_params(name: str, **model) -> dict:
    return {"seeds": [0], "device": "cpu", "model": {"name": name, **model},
            "pretrain": {"steps": 4, "batch_size": 4, "seq_len": 32, "lr": 0.01, "warmup": 0,
                         "eval_every": 4, "eval_batches": 1, "ckpt_every": 100}}


def test_pretrain_recipe_trains_a_ternary_name_ternary(chdir_tmp):
    """Through the real recipe path: the saved model is quantised, every projection's effective
    weight takes only {-a, 0, +a} (a = mean |latent|, per tensor), and training moved it."""
    from tilelli.data.packing import pack_documents
    from tilelli.io import TilelliError
    from tilelli.train.recipes import pretrain

    words = ["the", "river", "runs", "to", "a", "small", "town", "by", "old", "hills"]
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(words, 40)) + "." for _ in range(300)]
    pack_documents(docs, "data/packed", valid_fraction=0.2, seed=0)
    name = "tilelli-lite-ternary-tiny"
    with pytest.raises(TilelliError, match=f"quantize=False contradicts model name '{name}'"):
        pretrain(_pretrain_params(name, quantize=False), 0)
    pretrain(_pretrain_params(name), 0)
    lm = TilelliLM.from_pretrained("models/base/pretrain-s0")
    torch.manual_seed(0)
    init = dict(TilelliLM.from_config(name).named_modules())
    layers = {n: m for n, m in lm.named_modules() if isinstance(m, TernaryLinear)}
    assert lm.config.quantize and layers and all(m.quantize for m in layers.values())
    moved = 0
    for n, m in layers.items():
        w_eff = m.effective_weight().detach()
        a = m.weight.detach().abs().mean().clamp(min=1e-5).item()
        assert set(w_eff.unique().tolist()) <= {-a, 0.0, a}, n
        assert (w_eff == 0).any() and (w_eff != 0).any(), n
        moved += not torch.equal(m.weight, init[n].weight)
    assert moved == len(layers)          # every ternary projection was trained, not just carried
