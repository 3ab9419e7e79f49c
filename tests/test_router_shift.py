"""Router shift (claim N4): KL of each model to its own base per model and variant, and v8b
against its router-frozen control."""
import subprocess
import sys

import pytest
import torch

from tilelli.errors import TilelliError
from tilelli.eval.router_shift import router_shift, shift_vs_control


def test_n4_compares_the_variant_with_its_control_by_one_sided_welch():
    moved = shift_vs_control([0.30, 0.32, 0.31], [0.10, 0.12, 0.11])
    assert moved["delta"] == pytest.approx(0.20) and moved["ratio"] == pytest.approx(0.31 / 0.11)
    assert moved["p"] < 0.001 and moved["lo"] < 0.20 < moved["hi"] and moved["lo"] > 0
    assert (moved["n_v8b"], moved["n_control"]) == (3, 3)
    reverse = shift_vs_control([0.10, 0.12, 0.11], [0.30, 0.32, 0.31])
    assert reverse["p"] > 0.999 and reverse["hi"] < 0                         # one-sided: v8b > control
    same = shift_vs_control([0.10, 0.14, 0.12], [0.11, 0.13, 0.12])
    assert 0.3 < same["p"] < 0.7 and same["lo"] < 0 < same["hi"]
    assert shift_vs_control([0.2], [0.1])["p"] is None                          # one seed: no test


def _tiny_models():
    """Two bases (different inits, as two base seeds) and, per seed s, a v8b-like variant of base s
    (router moved) and a control that is an exact copy of base s (KL 0 to its own base only)."""
    from tilelli.model import TilelliLM

    def variant(base_seed, seed, router_scale, trunk_noise):
        lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=base_seed).eval()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in lm.named_parameters():
                if ".router." in name:
                    p.add_(router_scale * torch.randn(p.shape, generator=g))
                elif p.ndim == 2 and name.startswith("blocks."):
                    p.add_(trunk_noise * torch.randn(p.shape, generator=g))
        return lm

    models, bases, groups = {}, {}, {"v4": [], "v8b": [], "ctl": []}
    for s in range(2):
        base = f"base/v4-s{s}"
        models[base] = variant(s, 0, 0.0, 0.0)
        models[f"metacog/v8b-s{s}"] = variant(s, 10 + s, 0.5, 0.01)
        models[f"metacog/ctl-s{s}"] = variant(s, 0, 0.0, 0.0)
        for g in groups:
            name = base if g == "v4" else f"metacog/{g}-s{s}"
            groups[g].append(name)
            bases[name] = base
    rows = [{"prompt": f"What is the capital of Land{i}?", "response": f"Town{i}."} for i in range(8)]
    return models, bases, groups, rows


def test_router_shift_compares_each_variant_with_its_own_base():
    models, bases, groups, rows = _tiny_models()
    out = router_shift(models, bases, rows, 64, 4, {}, groups, ("v8b", "ctl"))
    for s in range(2):
        assert out[f"base/v4-s{s}"]["kl_mean"] == 0.0 and len(out[f"base/v4-s{s}"]["kl_per_layer"]) == 4
        assert out[f"metacog/ctl-s{s}"]["base"] == f"base/v4-s{s}"
        assert out[f"metacog/ctl-s{s}"]["kl_mean"] == 0.0          # a copy of its own base (not of base s0)
    assert out["v4"]["kl_mean"]["n"] == 2 and out["v4"]["kl_mean"]["max"] == 0.0
    assert out["v8b"]["kl_mean"]["n"] == 2 and out["v8b"]["kl_mean"]["min"] > 0
    assert out["n4"]["kl_v8b"] == pytest.approx(out["v8b"]["kl_mean"]["mean"])
    assert out["n4"]["kl_control"] == 0.0 and out["n4"]["delta"] > 0          # a moved router vs an unmoved one
    # against one shared base (the old design) seed 1's copy would look moved
    shared = router_shift(models, dict.fromkeys(models, "base/v4-s0"), rows, 64, 4, {}, groups, ("v8b", "ctl"))
    assert shared["metacog/ctl-s1"]["kl_mean"] > 0


def test_router_shift_needs_every_base():
    models, bases, groups, rows = _tiny_models()
    del models["base/v4-s1"]
    with pytest.raises(TilelliError, match="no base model loaded for"):
        router_shift(models, bases, rows, 64, 4, {}, {"v8b": groups["v8b"], "ctl": groups["ctl"]}, ("v8b", "ctl"))


def test_eval_does_not_import_the_training_package():
    code = ("import sys, tilelli.eval.router_shift, tilelli.study; "
            "bad = [m for m in sys.modules if m.startswith('tilelli.train')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
