"""Router shift (claim N4): KL of each model to its own base per model and variant, and v8b
against its router-frozen control."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from tilelli.eval.probe import router_shift, shift_vs_control
from tilelli.io import TilelliError


def kl(name, values):
    return {f"metacog/{name}-s{s}": v for s, v in enumerate(values)}


def test_n4_is_a_paired_t_over_seeds_with_one_two_sided_interval_and_p():
    # the per-seed differences: paired CI [0.0030, 0.0054]; the unpaired Welch CI was [-0.001, 0.009]
    ctl = [0.0132, 0.0120, 0.0144]
    v8b = [c + d for c, d in zip(ctl, (0.00470, 0.00374, 0.00417))]
    r = shift_vs_control(kl("v8b", v8b), kl("ctl", ctl))
    assert r["delta"] == pytest.approx(0.00420333) and r["per_seed"] == pytest.approx([0.00470, 0.00374, 0.00417])
    assert (round(r["lo"], 4), round(r["hi"], 4)) == (0.0030, 0.0054) and r["n_pairs"] == 3
    assert r["p"] < 0.05 and "two-sided" in r["test"]
    reverse = shift_vs_control(kl("v8b", ctl), kl("ctl", v8b))
    assert reverse["hi"] < 0 and reverse["p"] == pytest.approx(r["p"])           # two-sided: symmetric
    same = shift_vs_control(kl("v8b", [0.10, 0.14, 0.12]), kl("ctl", [0.11, 0.13, 0.12]))
    assert same["p"] > 0.5 and same["lo"] < 0 < same["hi"]
    assert shift_vs_control(kl("v8b", [0.2]), kl("ctl", [0.1]))["p"] is None        # one seed: no test


@pytest.mark.parametrize("ctl_values", [[0.012, 0.011], [0.012, 0.011, 0.013, 0.014]])
def test_n4_refuses_unpaired_seeds(ctl_values):
    with pytest.raises(TilelliError, match="pairs the variant and its control by seed"):
        shift_vs_control(kl("v8b", [0.02, 0.02, 0.02]), kl("ctl", ctl_values))


def test_n4_interval_and_p_always_agree():
    """The verdict's interval excludes 0 exactly when the reported p < 0.05 (one test, not two)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        ctl = rng.uniform(0.01, 0.02, 3)
        r = shift_vs_control(kl("v8b", ctl + rng.normal(0.002, 0.003, 3)), kl("ctl", ctl))
        assert (r["p"] < 0.05) == (r["lo"] > 0 or r["hi"] < 0)


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
    code = ("import sys, tilelli.eval.probe, tilelli.study; "
            "bad = [m for m in sys.modules if m.startswith('tilelli.train')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
