"""Router shift (claim N4): KL to v4 per model and variant, and v8b against its router-frozen control."""
import subprocess
import sys

import pytest
import torch

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


def test_router_shift_on_tiny_models_reports_every_model_group_and_n4():
    from tilelli.model import TilelliLM

    base = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0).eval()

    def variant(seed, router_scale, trunk_noise):
        lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0).eval()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in lm.named_parameters():
                if ".router." in name:
                    p.add_(router_scale * torch.randn(p.shape, generator=g))
                elif p.ndim == 2 and name.startswith("blocks."):
                    p.add_(trunk_noise * torch.randn(p.shape, generator=g))
        return lm

    models = {"v4": base}
    groups = {"v8b": [], "ctl": []}
    for s in range(3):
        models[f"metacog/v8b-s{s}"] = variant(s, 0.5, 0.01)
        models[f"metacog/ctl-s{s}"] = variant(10 + s, 0.0, 0.01)
        groups["v8b"].append(f"metacog/v8b-s{s}")
        groups["ctl"].append(f"metacog/ctl-s{s}")
    rows = [{"prompt": f"What is the capital of Land{i}?", "response": f"Town{i}."} for i in range(8)]
    out = router_shift(models, "v4", rows, 64, 4, {}, groups, ("v8b", "ctl"))
    assert out["v4"]["kl_mean"] == 0.0 and len(out["v4"]["kl_per_layer"]) == 4
    assert out["v8b"]["kl_mean"]["n"] == 3 and out["v8b"]["kl_mean"]["min"] > 0
    assert out["n4"]["kl_v8b"] == pytest.approx(out["v8b"]["kl_mean"]["mean"])
    assert out["n4"]["kl_control"] == pytest.approx(out["ctl"]["kl_mean"]["mean"])
    assert out["n4"]["delta"] > 0 and out["n4"]["p"] < 0.05                   # a moved router vs a frozen one


def test_eval_does_not_import_the_training_package():
    code = ("import sys, tilelli.eval.router_shift, tilelli.study; "
            "bad = [m for m in sys.modules if m.startswith('tilelli.train')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
