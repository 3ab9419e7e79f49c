"""The Lite-vs-vanilla A/B: lr choice, the chosen-lr hand-off, the Welch report, the stage flags,
and a miniature sweep -> choice -> final runs -> report through the real training loop."""
import json
import math
from pathlib import Path

import pytest
import yaml

from tilelli.eval import ab_report as R
from tilelli.eval.stats import welch_test
from tilelli.io import TilelliError
from conftest import ROOT, run_stage

BASE = yaml.safe_load((ROOT / "params.yaml").read_text())
LRS = [0.001, 0.003, 0.01]


def _params(**ab):
    params = yaml.safe_load(yaml.safe_dump(BASE))
    params["ab"] = {"models": {"lite": "tilelli-lite-fp32-tiny", "vanilla": "vanilla-fp32-tiny"},
                    "seeds": [0, 1, 2], "sweep": {"seed": 0, "lrs": list(LRS)},
                    "train": {"steps": 4, "batch_size": 2, "seq_len": 16, "warmup": 1, "eval_every": 2,
                              "eval_batches": 2, "ckpt_every": 100}, **ab}
    return params


def _write(path, obj):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(obj if isinstance(obj, str) else json.dumps(obj))


# ---- the lr choice ------------------------------------------------------------------------------
def test_choose_lr_picks_the_lowest_final_bpb_per_arm():
    sweep = {"lite": {"0.001": 1.04, "0.003": 0.81, "0.01": 0.77},
             "vanilla": {"0.001": 2.62, "0.003": 2.01, "0.01": 2.91}}
    assert R.choose_lr(sweep) == {"lite": 0.01, "vanilla": 0.003}


def test_choose_lr_skips_diverged_runs_and_breaks_ties_toward_the_smaller_lr():
    sweep = {"lite": {"0.001": 0.9, "0.003": 0.9, "0.01": math.nan},      # NaN would win a plain min()
             "vanilla": {"0.001": None, "0.003": math.inf, "0.01": 2.5}}    # None = JSON null
    assert R.choose_lr(sweep) == {"lite": 0.001, "vanilla": 0.01}
    with pytest.raises(TilelliError, match="every lr of arm 'vanilla' diverged") as e:
        R.choose_lr({"vanilla": {"0.001": math.nan, "0.003": None}})
    assert "\n" not in str(e.value)


def test_lr_choice_reads_every_sweep_run_and_records_edges(chdir_tmp):
    params = _params()
    values = {"lite": [1.04, 0.81, 0.77], "vanilla": [2.62, 2.01, 2.91]}
    for arm, bpbs in values.items():
        for lr, bpb in zip(LRS, bpbs):
            _write(f"metrics/train/{R.sweep_run(arm, lr)}.json", {"val_bpb": bpb})
    out = R.write_lr_choice(params)
    assert out["chosen_lr"] == {"lite": 0.01, "vanilla": 0.003}
    assert out["at_edge"] == {"lite": True, "vanilla": False}
    assert json.loads(Path("metrics/ab_lr.json").read_text())["sweep"]["vanilla"] == dict(zip(["0.001", "0.003", "0.01"], values["vanilla"]))
    assert R.chosen_lr(params, "vanilla") == 0.003
    Path(f"metrics/train/{R.sweep_run('vanilla', 0.01)}.json").unlink()
    with pytest.raises(TilelliError, match="vanilla-lr0.01.json: file not found"):
        R.write_lr_choice(params)


def test_lr_tag_matches_the_stage_names_dvc_writes():
    # dvc.yaml names outputs with ${item.lr}, which DVC renders with str(); run names must agree.
    assert [R.lr_tag(v) for v in (0.001, 0.0003, 0.01, 1)] == ["0.001", "0.0003", "0.01", "1.0"]
    assert R.sweep_run("lite", 0.003) == "ab/sweep/lite-lr0.003" and R.final_run("vanilla", 2) == "ab/vanilla-s2"


def test_missing_chosen_lr_is_one_line(chdir_tmp):
    params = _params()
    _write("metrics/ab_lr.json", {"seed": 0, "lrs": LRS, "chosen_lr": {"lite": 0.01}})
    with pytest.raises(TilelliError) as e:
        R.chosen_lr(params, "vanilla")
    assert "no chosen lr for arm 'vanilla'" in str(e.value) and "\n" not in str(e.value)
    _write("metrics/ab_lr.json", {"seed": 0, "lrs": [0.1, 0.2, 0.3], "chosen_lr": {"vanilla": 0.2}})
    with pytest.raises(TilelliError, match="stale"):
        R.chosen_lr(params, "vanilla")
    Path("metrics/ab_lr.json").unlink()
    with pytest.raises(TilelliError, match="ab_lr.json: file not found"):
        R.chosen_lr(params, "vanilla")


@pytest.mark.parametrize("ab,needle", [
    ({"sweep": {"seed": 0, "lrs": [0.001, 0.003]}}, ">= 3 distinct positive numbers"),
    ({"sweep": {"seed": 0, "lrs": ["3e-4", 0.001, 0.003]}}, "write 0.0003"),
    ({"sweep": {"seed": 0, "lrs": [float("inf"), 0.001, 0.003]}}, "ab.sweep.lrs"),   # a number, but not finite
    ({"sweep": {"seed": "zero", "lrs": LRS}}, "ab.sweep.seed"),
    ({"seeds": [0]}, "ab.seeds"),
    ({"models": {"lite": "tilelli-lite-fp32-tiny", "gpt": "vanilla-fp32-tiny"}}, "exactly 'lite' and 'vanilla'"),
])
def test_bad_ab_params_are_one_line(ab, needle):
    with pytest.raises(TilelliError, match=needle) as e:
        R.ab_plan(_params(**ab))
    assert "\n" not in str(e.value)


def test_an_lr_in_ab_train_is_refused():
    params = _params()
    params["ab"]["train"]["lr"] = 0.003
    with pytest.raises(TilelliError, match="ab.train.lr is not used"):
        R.ab_plan(params)


# ---- the report -------------------------------------------------------------------------------
def _fake_final_runs(params, curves, lrs):
    """curves {arm: [[bpb at step 2, 4, 6, 8] per seed]}; the final value is the last one."""
    _write("metrics/ab_lr.json", {"seed": 0, "lrs": LRS, "sweep": {a: {"0.003": 1.0} for a in R.ARMS},
                                  "chosen_lr": lrs, "at_edge": {a: False for a in R.ARMS}})
    for arm, runs in curves.items():
        for seed, bpbs in zip(params["ab"]["seeds"], runs):
            run = R.final_run(arm, seed)
            _write(f"metrics/train/{run}.json", {"val_bpb": bpbs[-1], "lr": lrs[arm], "steps": 8, "tokens": 256,
                                                 "tokens_per_step": 32, "params": 100 if arm == "lite" else 101})
            _write(f"plots/train/{run}/eval.csv",
                   "step,val_loss,val_bpb\n" + "".join(f"{2 * (i + 1)},0,{b}\n" for i, b in enumerate(bpbs)))


def test_welch_report_reads_the_final_value_of_every_seed(chdir_tmp):
    params = _params()
    # every curve's minimum lies before its end, so a report that read the best value would differ
    curves = {"lite": [[3.0, 1.0, 0.70, 0.80], [3.1, 1.1, 0.72, 0.83], [2.9, 0.9, 0.69, 0.79]],
              "vanilla": [[3.5, 3.4, 1.9, 2.0], [3.6, 3.3, 2.0, 2.1], [3.5, 3.5, 2.1, 2.2]]}
    _fake_final_runs(params, curves, {"lite": 0.01, "vanilla": 0.003})
    rep = R.ab_report(params)
    finals = {arm: [c[-1] for c in runs] for arm, runs in curves.items()}
    assert rep["lite_bpb"] == finals["lite"] and rep["vanilla_bpb"] == finals["vanilla"]
    assert {k: rep[k] for k in ("n_a", "n_b", "p", "mean_a", "mean_b", "diff", "hedges_g")} == \
        {k: v for k, v in welch_test(finals["lite"], finals["vanilla"]).items()
         if k in ("n_a", "n_b", "p", "mean_a", "mean_b", "diff", "hedges_g")}
    assert rep["chosen_lr"] == {"lite": 0.01, "vanilla": 0.003} and "vanilla" in rep["sweep"]
    assert rep["plateau"]["vanilla"]["step_half"] == 4
    assert rep["plateau"]["vanilla"]["bpb_half"] == pytest.approx((3.4 + 3.3 + 3.5) / 3)
    assert rep["plateau"]["vanilla"]["bpb_end"] == pytest.approx(2.1)
    conv = rep["convergence"]["vanilla"]           # last quarter: step 6 -> 8
    assert (conv["step_from"], conv["step_end"]) == (6, 8)
    assert conv["drop_per_seed"] == pytest.approx([-0.1, -0.1, -0.1])       # still rising: a negative drop
    assert rep["convergence"]["lite"]["drop_last_quarter"] == pytest.approx(-0.31 / 3)
    assert rep["param_ratio"] == pytest.approx(100 / 101)
    assert json.loads(Path("metrics/ab.json").read_text())["p"] == rep["p"]
    rows = Path("plots/ab/val_bpb.csv").read_text().splitlines()
    assert rows[0].startswith("tokens,step,lite,vanilla,lite_s0")
    assert rows[1].split(",")[:4] == ["64", "2", "3", "3.53333"]            # tokens = step x 32, seed means
    png = Path("plots/ab/val_bpb.png").read_bytes()                        # the same curves drawn, for the paper
    assert png.startswith(b"\x89PNG") and R.ab_report(params) and Path("plots/ab/val_bpb.png").read_bytes() == png
    Path(f"metrics/train/{R.final_run('vanilla', 2)}.json").unlink()
    with pytest.raises(TilelliError, match="vanilla-s2.json: file not found"):
        R.ab_report(params)


def test_report_refuses_a_run_trained_at_another_lr(chdir_tmp):
    params = _params()
    curves = {arm: [[3.0, 2.0, 1.5, 1.0]] * 3 for arm in R.ARMS}
    _fake_final_runs(params, curves, {"lite": 0.01, "vanilla": 0.003})
    _write("metrics/ab_lr.json", {"seed": 0, "lrs": LRS, "chosen_lr": {"lite": 0.01, "vanilla": 0.01}})
    with pytest.raises(TilelliError, match="trained at lr 0.003"):
        R.ab_report(params)


# ---- stages -------------------------------------------------------------------------------------
def _stage(tmp_path, module, params, *args):
    return run_stage(tmp_path, module, *args, params=params, timeout=120)


def test_stage_flag_is_arm(tmp_path):
    old = _stage(tmp_path, "ab", _params(), "--arch", "lite", "--seed", "1")
    assert old.returncode == 2 and "--arm" in old.stderr            # argparse: --arm is required
    bad = _stage(tmp_path, "ab", _params(), "--arm", "gpt", "--seed", "1")
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert bad.returncode == 2 and len(errors) == 1 and "unknown ab arm 'gpt'" in errors[0], bad.stderr
    nolr = _stage(tmp_path, "ab", _params(), "--arm", "vanilla", "--seed", "1")   # no metrics/ab_lr.json
    errors = [line for line in nolr.stderr.splitlines() if line.startswith("error:")]
    assert nolr.returncode == 2 and len(errors) == 1 and "ab_lr.json: file not found" in errors[0], nolr.stderr


# ---- the whole A/B in miniature -------------------------------------------------------------------
def test_sweep_choice_final_runs_and_report_end_to_end(chdir_tmp):
    """4 steps of batch 2 x 16 per run: sweep 3 lrs x 2 arms, choose, seeds 0 (reused) and 1, report."""
    import torch
    from safetensors.torch import load_file

    from tilelli.data.packing import pack_documents
    from tilelli.train.recipes import ab_run, ab_sweep_run, ab_train

    pack_documents([f"document number {i}: the river runs to the sea. " * 8 for i in range(300)],
                   "data/packed", 0.1, 0)
    params = _params(seeds=[0, 1])
    for arm in R.ARMS:
        for lr in LRS:
            ab_sweep_run(params, arm, lr)
    chosen = R.write_lr_choice(params)["chosen_lr"]
    for arm in R.ARMS:
        for seed in (0, 1):
            ab_run(params, arm, seed)
    rep = R.ab_report(params)
    assert rep["chosen_lr"] == chosen and rep["n_a"] == rep["n_b"] == 2
    for arm in R.ARMS:
        src = R.sweep_run(arm, chosen[arm])
        reused = json.loads(Path(f"metrics/train/{R.final_run(arm, 0)}.json").read_text())
        assert reused["reused_from"] == src and reused["val_bpb"] == rep[f"{arm}_bpb"][0]
        assert json.loads(Path(f"metrics/train/{R.final_run(arm, 1)}.json").read_text())["lr"] == chosen[arm]
    # the reuse is exact: retraining seed 0 at the chosen lr gives the sweep run's weights
    ab_train(params, "vanilla", 0, chosen["vanilla"], "ab/retrained")
    a = load_file(f"models/{R.final_run('vanilla', 0)}/model.safetensors")
    b = load_file("models/ab/retrained/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a sweep run that no longer matches ab.train is not reused
    params["ab"]["train"]["warmup"] = 2
    with pytest.raises(TilelliError, match="differs in warmup"):
        ab_run(params, "lite", 0)
