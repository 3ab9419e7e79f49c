"""The auroc stage end to end: study groups from params, controls merged by id, outputs written."""
import json
from pathlib import Path

from _eval_rows import synthetic_controls, synthetic_rows
from tilelli.eval.regimes import OOD_REGIMES
from tilelli.io import write_jsonl
from conftest import run_stage

VARIANTS = ["v7", "v8b", "v8b_frozen"]  # v8b_frozen: a control, trained and probed but not ranked


def _params(bootstrap=200):
    return {"profile": "tiny", "seeds": [0, 1],
            "metacog": {"main": "v7", "variants": VARIANTS, "ranked": ["v7", "v8b"]},
            "auroc": {"bootstrap": bootstrap, "ci": 0.95, "seed": 0, "min_gain": 0.02, "ceiling": 0.95,
                      "contrasts": [{"name": "splice_vs_joint", "a": "splice", "b": "v7",
                                     "signal": "abstain_p", "regime": "cross"}]}}


def write_probe_files(root: Path, models: list[str], n=30) -> None:
    """Synthetic data/probe/<model>.jsonl (+ gates) for every model and data/probe/surface.jsonl."""
    head = {"abstain_p": {r: 2.0 for r in OOD_REGIMES}}
    for i, m in enumerate(models):
        write_jsonl(root / "data" / "probe" / f"{m}.jsonl", synthetic_rows(i, n=n, effects=None if m.startswith("base/") else head))
        write_jsonl(root / "data" / "probe" / f"{m}.gates.jsonl",       # base seed s abstains on 9 - s of 10
                    [{"set": "idk_heldout", "id": j, "label": "refusal", "abstained": j < 9 - i,
                      "collapsed": False} for j in range(10)])
    write_jsonl(root / "data" / "probe" / "surface.jsonl",
                synthetic_controls(n=n, effects={"byte_length": {"long_input": 5.0}}))


def run_auroc(cwd: Path, params: dict):
    return run_stage(cwd, "auroc", params=params, env={"TILELLI_PARAMS": str(cwd / "params.yaml")})


def _models():
    return [f"base/v4-s{s}" for s in (0, 1)] + [f"splice/v7-s{s}" for s in (0, 1)] + [f"metacog/{v}-s{s}" for v in VARIANTS for s in (0, 1)]


def test_auroc_stage_reads_the_study_groups_and_the_controls(tmp_path):
    write_probe_files(tmp_path, _models())
    r = run_auroc(tmp_path, _params())
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "metrics" / "auroc.json").read_text())
    assert set(m["groups"]) == {"v4", "splice", *VARIANTS}
    assert m["groups"]["splice"]["members"] == ["splice/v7-s0", "splice/v7-s1"]
    assert m["groups"]["v4"]["members"] == ["base/v4-s0", "base/v4-s1"]      # one v4 per base seed
    assert m["base/v4-s1"]["byte_length"]["long_input"]["auroc"] > 0.95
    assert m["groups"]["v4"]["max_softmax_mean"]["cross"]["n_seeds"] == 2
    assert set(m["groups"]["v4"]["router_family"]) >= {"wins_vs_max_softmax_mean", "proven"}   # seed-pooled tests
    assert m["metacog/v7-s1"]["vs_surface"]["abstain_p"]["cross"]["delta"] > 0.2
    assert m["groups"]["v7"]["vs_surface"]["max_softmax_mean"]["cross"]["n_seeds"] == 2
    assert m["summary"]["contrasts"]["splice_vs_joint"]["n_seeds"] == 2
    bv = m["summary"]["best_variant"]
    assert bv["reference"] == "v8b" and set(bv["vs_v8b"]) == {"v7"} and bv["best"] in ("v7", "v8b")
    assert "router_entropy_mean" not in json.dumps(m)
    summary = (tmp_path / "results" / "auroc" / "summary.md").read_text()
    assert "byte_length" in summary and "Best abstain head" in summary
    assert (tmp_path / "results" / "auroc" / "metacog" / "v7-s0.md").is_file()
    assert (tmp_path / "plots" / "auroc" / "splice" / "v7-s1" / "heatmap.png").stat().st_size > 1000
    beh = json.loads((tmp_path / "metrics" / "behaviour.json").read_text())
    assert beh["base/v4-s1"]["gates"]["idk_heldout"]["abstained"]["hits"] == 8
    pooled = beh["groups"]["v4"]["gates"]["idk_heldout"]["abstained"]     # 9 and 8 of the same 10 prompts
    assert (pooled["hits"], pooled["n"], pooled["n_seeds"], pooled["per_seed"]) == (8.5, 10, 2, [0.9, 0.8])
    assert pooled["lo"] <= 0.85 <= pooled["hi"] and "collapse" in beh["groups"]["v4"]["probe"]
    assert beh["groups"]["v4"]["members"] == ["base/v4-s0", "base/v4-s1"]


def test_auroc_stage_refuses_missing_or_mismatched_controls(tmp_path):
    write_probe_files(tmp_path, _models())
    surface = tmp_path / "data" / "probe" / "surface.jsonl"
    write_jsonl(surface, synthetic_controls()[1:])
    r = run_auroc(tmp_path, _params())
    assert r.returncode == 2 and "base/v4-s0: probe ids differ from the controls'" in r.stderr
    surface.unlink()
    r = run_auroc(tmp_path, _params())
    assert r.returncode == 2 and "surface.jsonl" in r.stderr
    write_probe_files(tmp_path, _models())
    bad = _params()
    bad["metacog"]["weight0_variant"] = "v9"
    r = run_auroc(tmp_path, bad)
    assert r.returncode == 2 and "v9" in r.stderr and "not probe groups" in r.stderr
    bad = _params()
    del bad["auroc"]["ceiling"]                  # a study param, never a silent code default
    r = run_auroc(tmp_path, bad)
    assert r.returncode == 2 and "missing key 'auroc.ceiling'" in r.stderr
