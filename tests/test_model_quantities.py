"""One definition per quantity: what the metacog loss trains is what the probe measures."""
import math
import subprocess
import sys

import pytest
import torch

from tilelli.data.chat import IGNORE_INDEX as DATA_IGNORE_INDEX
from tilelli.eval.probe import signals_from_output
from tilelli.model.quantities import (IGNORE_INDEX, ROUTER_EPS, bits_per_byte, nll_sum, router_confidence,
                                      router_entropy)
from tilelli.train import loop


def test_router_confidence_ends_and_mask():
    uniform = torch.full((2, 1, 3, 4), 0.25)
    one_hot = torch.zeros(2, 1, 3, 4)
    one_hot[..., 1] = 1.0
    mask = torch.tensor([[True, True, False]])
    assert router_entropy(uniform)[0, 0, 0].item() == pytest.approx(math.log(4))
    assert router_confidence(uniform, mask).item() == pytest.approx(0.0, abs=1e-7)
    assert router_confidence(one_hot, mask).item() == pytest.approx(1.0)
    mixed = torch.cat([one_hot[:, :, :2], uniform[:, :, 2:]], dim=2)     # the masked-out position is uniform
    assert router_confidence(mixed, mask).item() == pytest.approx(1.0)
    assert router_confidence(uniform, torch.zeros(1, 3, dtype=torch.bool)).item() == 0.0


def test_clamp_bounds_the_error_at_tiny_probabilities():
    p = torch.tensor([1 - 1e-12, 1e-12], dtype=torch.float64)
    exact = -(p * p.log()).sum().item()
    assert abs(router_entropy(p).item() - exact) <= ROUTER_EPS / math.e
    assert router_entropy(torch.tensor([1.0, 0.0])).item() == 0.0      # 0 * log 0 is 0, not NaN


def test_training_and_probe_read_the_same_router_confidence():
    assert loop.router_confidence is router_confidence
    torch.manual_seed(0)
    rp = torch.softmax(torch.randn(3, 4, 7, 3) * 4, -1).double()
    lengths = torch.tensor([7, 3, 1, 5])
    mask = torch.arange(7)[None, :] < lengths[:, None]
    out = type("Out", (), {"logits": torch.randn(4, 7, 256), "abstain_p": torch.rand(4, 7), "router_probs": rp})
    rows = signals_from_output(out, lengths)
    trained = router_confidence(rp, mask)
    for row, conf, h in zip(rows, trained, (router_entropy(rp) * mask).sum((0, 2)) / (3 * lengths)):
        assert row["router_conf"] == pytest.approx(conf.item(), abs=1e-12)
        assert row["router_conf"] == pytest.approx(1 - h.item() / math.log(3), abs=1e-12)


def test_bits_per_byte_of_a_uniform_model_is_8_and_ignores_masked_targets():
    logits = torch.zeros(2, 5, 256)
    y = torch.randint(0, 256, (2, 5))
    y[0, :3] = IGNORE_INDEX
    nats, n = nll_sum(logits, y)
    assert n == 7 and bits_per_byte(nats, n) == pytest.approx(8.0)
    assert bits_per_byte(0.0, 0) == 0.0
    assert DATA_IGNORE_INDEX is IGNORE_INDEX == -100


def test_chat_format_does_not_import_torch():
    code = "import sys, tilelli.data.chat, tilelli.io; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
