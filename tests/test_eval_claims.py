"""Claim gates: every rule kind can pass and fail; missing metrics fail; the verify stage's exit code."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _eval_rows import synthetic_rows
from tilelli.errors import TilelliError
from tilelli.eval.claims import Measured, check_rule, load_claims, parse_rule, verify_claims

ROOT = Path(__file__).resolve().parents[1]


def m(value, lo=None, hi=None):
    return Measured("metrics/x.json:a.auroc", value, lo, hi)


@pytest.mark.parametrize("rule,measured,ok", [
    (">= 9", m(9), True), (">= 9", m(8), False),
    ("> 0.5", m(0.51), True), ("> 0.5", m(0.5), False),
    ("<= 3", m(3), True), ("<= 3", m(4), False),
    ("< 0", m(-0.2), True), ("< 0", m(0.0), False),
    ("== 0", m(0), True), ("== 0", m(1), False),
    ("!= 0", m(1), True), ("!= 0", m(0), False),
    ("between [0.4, 0.6]", m(0.54), True), ("between [0.4, 0.6]", m(0.93), False),
    ("equals v8b", m("v8b"), True), ("equals v8b", m("metacog/v7"), False),
    ("equals false", m(False), True), ("equals false", m(True), False),
    ("equals 0", m(0), True), ("equals 1", m(True), False),  # a bool is not a count
    ("ci_includes 0.54", m(0.6, 0.5, 0.7), True), ("ci_includes 0.54", m(0.8, 0.7, 0.9), False),
    ("ci_excludes 0", m(-0.2, -0.3, -0.1), True), ("ci_excludes 0", m(-0.2, -0.4, 0.05), False),
    ("ci_includes 0.5", m(0.5), False),  # no CI next to the value: cannot pass
    ("p_value < 0.05", m(0.01), True), ("p_value < 0.05", m(0.2), False),
    ("p_value >= 0.05", m(0.2), True), ("p_value >= 0.05", m(0.049), False),
    ("p_value >= 0.05", m(1.5), False),  # not a probability
    (">= 9", m("nine"), False),
    (">= 9", Measured("metrics/x.json:a", missing="key 'a' not found"), False),
])
def test_every_rule_kind_can_pass_and_fail(rule, measured, ok):
    assert check_rule(rule, measured)[0] is ok


@pytest.mark.parametrize("bad", ["=> 9", "between [2, 1]", "ci_contains 0", "p_value = 0.05", "about 0.5"])
def test_bad_rule_syntax_is_rejected(bad):
    with pytest.raises(TilelliError):
        parse_rule(bad)


def _claim(cid, metric, rule, profile="tiny"):
    return {"id": cid, "statement": cid, "kind": "positive", "metric": metric, "expected": {profile: {"rule": rule}}}


def _metrics(root):
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / "auroc.json").write_text(json.dumps({
        "v4": {"max_softmax_mean": {"cross": {"auroc": 0.54, "lo": 0.44, "hi": 0.64},
                                    "gibberish": {"auroc": None, "lo": None, "hi": None}},
               "router_family": {"wins_vs_max_softmax_mean": 0, "proven": False}}}))


def test_verify_claims_pass_fail_and_missing(tmp_path):
    _metrics(tmp_path)
    claims = [
        _claim("ok", "metrics/auroc.json:v4.max_softmax_mean.cross.auroc", ["ci_includes 0.54", "between [0.4, 0.6]"]),
        _claim("wrong", "metrics/auroc.json:v4.max_softmax_mean.cross.auroc", ">= 0.9"),
        _claim("no_file", "metrics/ab.json:p", "p_value >= 0.05"),
        _claim("no_key", "metrics/auroc.json:v7.abstain_p.cross.auroc", ">= 0.5"),
        _claim("null", "metrics/auroc.json:v4.max_softmax_mean.gibberish.auroc", ">= 0.5"),
        _claim("table", "metrics/auroc.json:v4.max_softmax_mean", ">= 0.5"),
        _claim("list", ["metrics/auroc.json:v4.router_family.wins_vs_max_softmax_mean",
                        "metrics/auroc.json:v4.max_softmax_mean.cross.auroc"], "== 0"),
    ]
    res = {r.id: r for r in verify_claims(claims, tmp_path, "tiny")}
    assert res["ok"].passed and res["ok"].measured[0].lo == 0.44
    assert not res["wrong"].passed and "0.54" in res["wrong"].reason
    assert not res["no_file"].passed and "metrics/ab.json not found" in res["no_file"].reason
    assert not res["no_key"].passed and "key 'v7' not found" in res["no_key"].reason
    assert not res["null"].passed and "null" in res["null"].reason
    assert not res["table"].passed
    assert not res["list"].passed  # the second metric breaks the rule
    with pytest.raises(TilelliError, match="profile 'paper'"):
        verify_claims(claims, tmp_path, "paper")


def test_repository_claims_file_is_complete():
    claims = load_claims(ROOT / "claims.yaml")
    ids = {c["id"] for c in claims}
    assert {"idk_heldout_gate", "false_inability_rate", "v4_cross_near_chance", "v4_msm_gibberish",
            "best_abstain_p_is_weight0", "n1_router_entropy_wins_none", "n2_lite_vs_vanilla_not_established",
            "n3_head_not_liftable", "n4_weight0_shifts_router"} <= ids
    for c in claims:
        assert {"paper", "tiny"} <= set(c["expected"]), c["id"]
        refs = c["metric"] if isinstance(c["metric"], list) else [c["metric"]]
        assert all(r.split(":")[0].startswith("metrics/") for r in refs)
    assert {c["kind"] for c in claims} == {"positive", "negative"}


def _run_stage(module, cwd, params):
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TILELLI_PARAMS": str(cwd / "params.yaml")}
    return subprocess.run([sys.executable, "-m", module], cwd=cwd, env=env, capture_output=True, text=True)


def test_verify_stage_exit_codes(tmp_path):
    _metrics(tmp_path)
    good = {"claims": [_claim("msm", "metrics/auroc.json:v4.max_softmax_mean.cross.auroc", "ci_includes 0.54")]}
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(good))
    r = _run_stage("stages.verify", tmp_path, {"profile": "tiny"})
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "metrics" / "claims.json").read_text())["all_pass"] is True
    assert "PASS" in (tmp_path / "results" / "claims.md").read_text()

    bad = {"claims": good["claims"] + [_claim("n2", "metrics/ab.json:p", "p_value >= 0.05")]}
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(bad))
    r = _run_stage("stages.verify", tmp_path, {"profile": "tiny"})
    assert r.returncode == 1 and "FAIL n2" in r.stderr
    report = json.loads((tmp_path / "metrics" / "claims.json").read_text())
    assert report["n_fail"] == 1 and "not found" in report["claims"]["n2"]["reason"]
    assert "**FAIL**" in (tmp_path / "results" / "claims.md").read_text()


def test_auroc_stage_end_to_end_feeds_verify(tmp_path):
    from tilelli.io import write_jsonl

    effects = {"max_softmax_mean": {"gibberish": 2.5}}
    for name, seed in (("v4", 0), ("splice", 1), ("joint", 2)):
        write_jsonl(tmp_path / "data" / "probe" / f"{name}.jsonl", synthetic_rows(seed, effects=effects))
        write_jsonl(tmp_path / "data" / "probe" / f"{name}.gates.jsonl",
                    [{"set": "idk_heldout", "id": i, "label": "refusal", "abstained": i < 9} for i in range(10)])
    params = {"profile": "tiny",
              "probe": {"models": ["v4", "splice", "joint"], "include_metacog": False},
              "auroc": {"bootstrap": 200, "ci": 0.95, "seed": 0, "min_gain": 0.02,
                        "contrasts": [{"name": "splice_vs_joint", "a": "splice", "b": "joint"}]}}
    r = _run_stage("stages.auroc", tmp_path, params)
    assert r.returncode == 0, r.stderr
    auroc = json.loads((tmp_path / "metrics" / "auroc.json").read_text())
    assert auroc["v4"]["max_softmax_mean"]["gibberish"]["auroc"] > 0.85
    assert (tmp_path / "results" / "auroc" / "summary.md").is_file()
    assert (tmp_path / "plots" / "auroc" / "v4" / "heatmap.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "auroc" / "v4" / "roc" / "abstain_p.csv").read_text().startswith("fpr,tpr")
    claims = {"claims": [
        _claim("gib", "metrics/auroc.json:v4.max_softmax_mean.gibberish.auroc", ">= 0.8"),
        _claim("idk", "metrics/behaviour.json:v4.gates.idk_heldout.abstained.hits", ">= 9"),
        _claim("n3", "metrics/auroc.json:summary.contrasts.splice_vs_joint.delta", ["ci_includes 0"]),
    ]}
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(claims))
    r = _run_stage("stages.verify", tmp_path, params)
    assert r.returncode == 0, r.stderr + (tmp_path / "results" / "claims.md").read_text()
