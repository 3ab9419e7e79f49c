"""TernaryLinear: ternary forward values, straight-through gradient, Hadamard, eval cache."""
import torch
import torch.nn.functional as F

from tilelli.model import TilelliLM
from tilelli.model.ternary import TernaryLinear, hadamard_matrix, ternarize


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
