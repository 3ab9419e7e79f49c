"""Claim verdicts: every test can give each verdict; every claim can fail; verify's exit code.

Three metric sets are fed to the real claims.yaml:
(a) the published figures (with CIs of the width n = 30 gives)  -> every claim REPRODUCED;
(b) a null set: signals at chance, no head, equal arms, no shift -> every positive AUROC claim flips;
(c) the opposite of each negative claim (router wins, a significant A/B, a head that improves when
    spliced, a frozen router that moves more)                    -> every negative claim flips.
A claim that is REPRODUCED under (a), (b) and (c) alike could not fail: the test names it. A claim
that can fail only on one side is caught separately: every "about X" band must give NOT REPRODUCED
for a CI just above AND just below it inside [0, 1], and a rate for 0 of n and n of n.
"""
import copy
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tilelli.eval.claims import (INCONCLUSIVE, MISSING, NOT_REPRODUCED, REPRODUCED, MetricStore, evaluate,
                                 headline, load_claims, mismatches, verify_claims)
from tilelli.eval.stats import wilson_ci
from tilelli.io import TilelliError
from tilelli.stage import compose
from conftest import ROOT, run_stage

CLAIMS = ROOT / "claims.yaml"
SIGNALS4 = ("max_softmax_last", "max_softmax_mean", "router_conf", "router_entropy_var")
REGIMES = ("ood_topic", "ood_style", "factual_misleading", "long_input", "neo_false_inability", "gibberish")
VARIANTS = ("v5", "v6", "v7", "v8a")


def ci(x, half=0.10):
    return {"auroc": x, "lo": max(0.0, x - half), "hi": min(1.0, x + half)}


def delta(x, half):
    return {"delta": x, "lo": x - half, "hi": x + half, "p": 0.5}


def rate(x, n):
    """A rate on n prompts with its Wilson CI (x may be a seed-mean, so hits need not be whole)."""
    lo, hi = wilson_ci(x * n, n)
    return {"hits": x * n, "n": n, "rate": x, "lo": lo, "hi": hi}


def arms(lite, vanilla, drop):
    """metrics/ab.json: final val bpb per seed and each arm's drop over its last quarter."""
    return {"lite_bpb": lite, "vanilla_bpb": vanilla, "n_a": len(lite), "n_b": len(vanilla),
            "convergence": {a: {"drop_last_quarter": drop} for a in ("lite", "vanilla")}}


SEEDS = 2   # v4's metrics pool the base seeds: AUROCs and rates in groups.v4 (a rate's n is its prompts, not x SEEDS)


def metric_set(*, cross, regime, gib, wins, proven, heads, splice_delta, best_deltas, ab, n4, idk, fi, surface,
               untrained_delta, splice_fpr, familiarity, abstain_vs_answer=0.1):
    v4 = {s: {"cross": ci(cross[s]), **{r: ci(regime, 0.13) for r in REGIMES}} for s in SIGNALS4}
    v4["max_softmax_mean"]["gibberish"] = ci(gib, 0.07)
    v4["router_family"] = {"wins_vs_max_softmax_mean": wins, "wins_vs_best_baseline": wins, "proven": proven,
                           "wins_vs_max_softmax_mean_and_byte_length": wins}
    groups = {g: {"abstain_p": {"cross": ci(a)}, "vs_surface": {"abstain_p": {"cross": delta(surface, 0.07)}}}
              for g, a in heads.items()}
    groups["splice"]["abstain_flags_in_domain"] = rate(splice_fpr, 30)
    groups["v4"] = v4
    return {
        "metrics/auroc.json": {"groups": groups, "summary": {
            "best_variant": {"best": "v8b", "ceiling": False, "vs_v8b": {v: delta(best_deltas, 0.07) for v in VARIANTS}},
            "contrasts": {"splice_vs_joint": delta(splice_delta, 0.1),
                          "splice_vs_untrained": delta(untrained_delta, 0.03)},
            "familiarity": {"baseline": {"name": "nn_char4"},
                            "controls": {h: delta(d, 0.07) for h, d in familiarity.items()}},
            "abstain_vs_answer": {"v7": {"group": "v7", "signal": "abstain_p", "auroc": ci(0.5 + abstain_vs_answer),
                                         "vs": {b: delta(abstain_vs_answer, 0.07) for b in ("byte_length", "nn_char4")}}}}},
        "metrics/behaviour.json": {"groups": {"v4": {"gates": {
            "idk_heldout": {"abstained": {**rate(idk / 10, 10), "n_seeds": SEEDS}},
            "false_inability": {"refused": {**rate(fi, 20), "n_seeds": SEEDS}}}}}},
        "metrics/ab.json": ab,
        "metrics/router_shift.json": {"n4": delta(n4, 0.03)},
    }


PUBLISHED = metric_set(cross=dict(zip(SIGNALS4, (0.51, 0.54, 0.53, 0.55))), regime=0.5, gib=0.93, wins=0,
                       proven=False, heads={"v8b": 0.85, "v7": 0.76, "splice": 0.54}, splice_delta=-0.22,
                       best_deltas=0.09, n4=0.05, idk=9, fi=0.35, surface=0.1, untrained_delta=0.04, splice_fpr=0.27,
                       # heads above a distance-to-training baseline; v4 and the splice (near chance) below it
                       familiarity={"v7": 0.1, "v8b": 0.1, "best_variant": 0.1, "v4": -0.3, "splice": -0.3},
                       ab=arms([0.5686, 0.5690, 0.5682], [0.5707, 0.5702, 0.5711], drop=0.002))
NULL = metric_set(cross=dict.fromkeys(SIGNALS4, 0.5), regime=0.5, gib=0.5, wins=0, proven=False,
                  heads={"v8b": 0.5, "v7": 0.5, "splice": 0.5}, splice_delta=0.0, best_deltas=0.0,
                  n4=0.0, idk=0, fi=0.0, surface=-0.3, untrained_delta=0.0, splice_fpr=0.0,
                  familiarity=dict.fromkeys(("v7", "v8b", "best_variant", "v4", "splice"), -0.4), abstain_vs_answer=-0.3,
                  ab=arms([0.57, 0.58, 0.56], [0.57, 0.58, 0.56], drop=0.002))
OPPOSITE = metric_set(cross=dict.fromkeys(SIGNALS4, 0.85), regime=0.9, gib=0.99, wins=7, proven=True,
                      heads={"v8b": 0.99, "v7": 0.99, "splice": 0.99}, splice_delta=0.2, best_deltas=-0.1,
                      n4=-0.05, idk=10, fi=0.95, surface=0.0, untrained_delta=-0.2, splice_fpr=1.0,
                      familiarity=dict.fromkeys(("v7", "v8b", "best_variant", "v4", "splice"), 0.3), abstain_vs_answer=0.3,
                      ab=arms([0.50, 0.51, 0.505], [0.60, 0.61, 0.605], drop=0.002))


def write_set(root: Path, files: dict) -> Path:
    for rel, obj in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(obj))
    return root


def verdicts(tmp_path, files, profile="paper"):
    root = write_set(tmp_path / f"set{len(list(tmp_path.iterdir()))}", files)
    return {r.id: r.verdict for r in verify_claims(load_claims(CLAIMS), root, profile)}


def test_published_figures_give_every_claim_its_paper_expectation(tmp_path):
    """Every published claim REPRODUCED; a control gets what the published figures imply (v4's
    near-chance signals and the splice do not beat a distance-to-training baseline)."""
    got = verdicts(tmp_path, PUBLISHED)
    want = {c["id"]: c["expected"]["paper"]["verdict"] for c in load_claims(CLAIMS)}
    assert got == want
    # A 10-prompt gate judged on its interval cannot establish ">= 9 of 10" (9/10: Wilson [0.60, 0.98]).
    assert [c for c, v in got.items() if not c.startswith("ctrl_") and v != REPRODUCED] == ["idk_heldout_gate"]


def test_every_claim_can_fail(tmp_path):
    null, opposite = verdicts(tmp_path, NULL), verdicts(tmp_path, OPPOSITE)
    cannot_fail = [c for c in null if null[c] == REPRODUCED and opposite[c] == REPRODUCED]
    assert cannot_fail == [], f"claims whose verdict cannot change: {cannot_fail}"
    one_sided = one_sided_bands(tmp_path / "bands")
    assert one_sided == [], "bands that cannot fail on one side:\n" + "\n".join(one_sided)


def _equivalence_claims():
    return [c for c in load_claims(CLAIMS) if c["rule"]["test"] == "equivalence"]


def _published_node(ref: str):
    rel, dotted = ref.split(":", 1)
    node = PUBLISHED[rel]
    for k in dotted.split("."):
        node = node[k]
    return node


def one_sided_bands(tmp_path) -> list[str]:
    """An "about X" band is two-sided: a CI just above its upper edge AND one just below its lower
    edge must both be NOT REPRODUCED, each inside the metric's range [0, 1] (AUROCs and rates). A band
    whose edge leaves no room in [0, 1] (0.85 + 0.15 = 1.0, 0.93 + 0.15 > 1) can only fail on one side:
    such a claim must be written as the one-sided `above`/`below` statement, with its reason. For a
    rate on n prompts, the most extreme outcomes (0 of n and n of n, with their Wilson CIs) must fail
    too: a band [0.10, 0.60] on 20 prompts is never disjoint from 0/20's CI [0, 0.16]."""
    one_sided = []
    for c in _equivalence_claims():
        rule, ref = c["rule"], c["metric"]
        key = rule.get("field", "auroc")
        lower, upper = rule["target"] - rule["margin"], rule["target"] + rule["margin"]
        for side, point in (("above", upper + 0.03), ("below", lower - 0.03)):
            node = {key: point, "lo": point - 0.02, "hi": point + 0.02}
            if node["lo"] < 0 or node["hi"] > 1:
                one_sided.append(f"{c['id']}: no CI fits {side} [{lower:.2f}, {upper:.2f}] inside [0, 1]")
            elif run_rule(tmp_path / f"{c['id']}-{side}", rule, node) != NOT_REPRODUCED:
                one_sided.append(f"{c['id']}: a CI just {side} the band is not NOT REPRODUCED")
        published = _published_node(ref)
        if isinstance(published, dict) and "n" in published:            # a rate on a fixed prompt set
            n = published["n"]
            for k in (0, n):
                lo, hi = wilson_ci(k, n)
                node = {"hits": k, "n": n, "rate": k / n, "lo": lo, "hi": hi}
                if run_rule(tmp_path / f"{c['id']}-k{k}", rule, node) != NOT_REPRODUCED:
                    one_sided.append(f"{c['id']}: {k}/{n} is not NOT REPRODUCED")
    return one_sided


def test_false_inability_fails_on_both_sides_and_reproduces_7_of_20(tmp_path):
    """The claim's own rule over every count of 20, with its Wilson CI: a model that never refuses
    (k = 0) and one that always refuses fail; the published 7 reproduces."""
    (claim,) = [c for c in load_claims(CLAIMS) if c["id"] == "false_inability_rate"]
    got = {k: run_rule(tmp_path / f"k{k}", claim["rule"], rate(k / 20, 20)) for k in range(21)}
    assert got[0] == NOT_REPRODUCED and got[20] == NOT_REPRODUCED and got[7] == REPRODUCED
    assert [k for k, v in got.items() if v == NOT_REPRODUCED] == [0, 1, 2, 12, 13, 14, 15, 16, 17, 18, 19, 20]


def test_null_set_flips_every_positive_auroc_claim(tmp_path):
    null = verdicts(tmp_path, NULL)
    for c in load_claims(CLAIMS):
        refs = c["metric"] if isinstance(c["metric"], list) else [c["metric"]]
        rule = c["rule"]
        near_chance = rule["test"] == "near_chance" or (
            rule["test"] == "equivalence" and abs(rule["target"] - 0.5) <= rule["margin"])  # "about 0.54" is chance
        absence = rule["test"] == "count" and rule["op"] == "==" and rule["n"] == 0   # "no win": null reproduces it
        if c["kind"] in ("positive", "control") and not (near_chance or absence) and any("auroc.json" in r for r in refs):
            assert null[c["id"]] != REPRODUCED, c["id"]


def test_every_claim_has_a_reasoned_expectation_per_profile():
    for c in load_claims(CLAIMS):
        assert set(c["expected"]) >= {"paper", "tiny"}, c["id"]
        assert c["why"].strip(), c["id"]


# ---------------------------------------------------------------------------------------------
# Each test of the grammar gives each verdict
# ---------------------------------------------------------------------------------------------
def run_rule(tmp_path, rule, node, ref="metrics/m.json:x"):
    write_set(tmp_path, {"metrics/m.json": {"x": node}})
    return evaluate(rule, [ref], MetricStore(tmp_path))[0]


REFUTE = {"test": "equivalence", "target": 0.35, "margin": 0.25, "refute_target": True}
NINE_OF_TEN = {"test": "count", "op": ">=", "n": 9, "of": 10}
ARMS = {"test": "equivalent_arms", "arms": ["lite", "vanilla"], "margin": 0.01, "alpha": 0.05, "min_n": 3,
        "epsilon": 0.01}


@pytest.mark.parametrize("rule,node,want", [
    ({"test": "equivalence", "target": 0.5, "margin": 0.15}, ci(0.5), REPRODUCED),
    ({"test": "equivalence", "target": 0.5, "margin": 0.15}, ci(0.9), NOT_REPRODUCED),
    ({"test": "equivalence", "target": 0.5, "margin": 0.15}, ci(0.62), INCONCLUSIVE),
    ({"test": "above", "bound": 0}, delta(0.2, 0.1), REPRODUCED),
    ({"test": "above", "bound": 0}, delta(-0.2, 0.1), NOT_REPRODUCED),
    ({"test": "above", "bound": 0}, delta(0.05, 0.1), INCONCLUSIVE),
    ({"test": "below", "bound": 0}, delta(-0.2, 0.1), REPRODUCED),
    ({"test": "below", "bound": 0}, delta(0.2, 0.1), NOT_REPRODUCED),
    ({"test": "below", "bound": 0}, delta(0.0, 0.1), INCONCLUSIVE),
    ({"test": "count", "op": ">=", "n": 9}, 9, REPRODUCED),
    ({"test": "count", "op": ">=", "n": 9}, 8, NOT_REPRODUCED),
    ({"test": "count", "op": "==", "n": 0}, True, MISSING),            # a bool is not a count
    # "9 of 10" judged on the seed-mean rate's CI against 0.9: above R, below N, straddling I
    (NINE_OF_TEN, {"hits": 9.7, "n": 10, "rate": 0.97, "lo": 0.92, "hi": 0.99}, REPRODUCED),
    (NINE_OF_TEN, {"hits": 9.7, "n": 10, "rate": 0.97, "lo": 0.90, "hi": 0.99}, REPRODUCED),   # lo = 0.9 is >= 0.9
    (NINE_OF_TEN, rate(0.5, 10), NOT_REPRODUCED),                         # Wilson [0.24, 0.76]
    (NINE_OF_TEN, rate(0.84, 10), INCONCLUSIVE),                          # 8.4/10 = 0.84 [0.55, 0.96]
    (NINE_OF_TEN, rate(1.0, 10), INCONCLUSIVE),                           # even 10/10: Wilson lo 0.72
    ({**NINE_OF_TEN, "op": ">"}, {"hits": 9, "n": 10, "rate": 0.9, "lo": 0.8, "hi": 0.9}, NOT_REPRODUCED),
    ({**NINE_OF_TEN, "op": "<="}, rate(0.5, 10), REPRODUCED),
    ({**NINE_OF_TEN, "op": "<="}, {"hits": 9.7, "n": 10, "rate": 0.97, "lo": 0.92, "hi": 0.99}, NOT_REPRODUCED),
    ({**NINE_OF_TEN, "op": "<"}, rate(0.84, 10), INCONCLUSIVE),
    (NINE_OF_TEN, 18, MISSING),                                           # a bare count has no interval
    (NINE_OF_TEN, {"hits": 18, "n": 20, "rate": 0.9}, MISSING),           # a rate without its CI never passes
    ({"test": "equals", "value": False}, False, REPRODUCED),
    ({"test": "equals", "value": False}, True, NOT_REPRODUCED),
    ({"test": "equals", "value": False}, 0, NOT_REPRODUCED),           # 0 is not false
    ({"test": "not_significant", "alpha": 0.05, "min_n": 3}, {"p": 0.4, "n_a": 3, "n_b": 3}, REPRODUCED),
    ({"test": "not_significant", "alpha": 0.05, "min_n": 3}, {"p": 0.01, "n_a": 3, "n_b": 3}, NOT_REPRODUCED),
    ({"test": "not_significant", "alpha": 0.05, "min_n": 3}, {"p": 0.4, "n_a": 3, "n_b": 1}, INCONCLUSIVE),
    ({"test": "not_significant", "alpha": 0.05, "min_n": 3}, {"p": 1.5, "n_a": 3, "n_b": 3}, MISSING),
    ({"test": "equivalence", "target": 0.35, "margin": 0.25, "field": "rate"}, rate(0.0, 20), INCONCLUSIVE),
    ({**REFUTE, "field": "rate"}, rate(0.0, 20), NOT_REPRODUCED),        # 0/20 refutes 0.35
    ({**REFUTE, "field": "rate"}, rate(0.35, 20), REPRODUCED),
    ({**REFUTE, "field": "rate"}, rate(0.55, 20), INCONCLUSIVE),         # [0.34, 0.74]: straddles, holds 0.35
    ({**REFUTE, "field": "rate"}, rate(0.65, 20), NOT_REPRODUCED),
    (ARMS, arms([0.5686, 0.5690, 0.5682], [0.5707, 0.5702, 0.5711], 0.002), REPRODUCED),   # TOST: equivalent
    (ARMS, arms([0.50, 0.51, 0.505], [0.60, 0.61, 0.605], 0.002), NOT_REPRODUCED),        # Welch: differ
    (ARMS, arms([0.50, 0.51, 0.505], [0.60, 0.61, 0.605], 0.05), INCONCLUSIVE),           # not converged
    (ARMS, arms([0.55, 0.59, 0.57], [0.56, 0.60, 0.58], 0.002), INCONCLUSIVE),             # low power is not "no difference"
    (ARMS, arms([0.5686, 0.5690], [0.5707, 0.5702], 0.002), INCONCLUSIVE),                 # 2 seeds per arm
    (ARMS, {"lite_bpb": [0.5, 0.5, 0.5], "vanilla_bpb": [0.5, 0.5, 0.5]}, MISSING),         # no convergence
    ({"test": "equivalence", "target": 0.5, "margin": 0.15}, {"auroc": 0.5}, MISSING),   # no CI: never passes
    ({"test": "equivalence", "target": 0.5, "margin": 0.15}, {"auroc": None, "lo": 0.4, "hi": 0.6}, MISSING),
])
def test_rule_verdicts(tmp_path, rule, node, want):
    assert run_rule(tmp_path, rule, node) == want


def test_a_k_of_n_gate_is_three_valued_on_its_interval(tmp_path):
    """"9 of 10" like every other gate: a CI that straddles 0.9 is INCONCLUSIVE, never judged on
    its point. The point rule (hits x of >= n x N) said NOT REPRODUCED for 17 of 20 = 0.85, whose CI
    [0.64, 0.95] holds 0.9; an integer count is still exact (no `of`); "==" has no interval reading."""
    from tilelli.eval import claims

    straddling = rate(0.85, 20)
    assert straddling["lo"] < 0.9 < straddling["hi"] and 17 * 10 < 9 * 20      # the point rule: N
    assert run_rule(tmp_path / "a", NINE_OF_TEN, straddling) == INCONCLUSIVE
    assert run_rule(tmp_path / "b", NINE_OF_TEN, {**straddling, "lo": 0.91}) == REPRODUCED
    assert run_rule(tmp_path / "c", NINE_OF_TEN, {**straddling, "hi": 0.89}) == NOT_REPRODUCED
    write_set(tmp_path / "d", {"metrics/m.json": {"x": {"hits": 8.4, "n": 10, "rate": 0.84, "lo": 0.70, "hi": 0.93}}})
    (ev,) = evaluate(NINE_OF_TEN, ["metrics/m.json:x"], MetricStore(tmp_path / "d"))[1]
    assert (ev.text, ev.verdict, ev.why) == ("8.4/10 = 0.84 [0.70, 0.93]", INCONCLUSIVE, "CI straddles 9/10 = 0.9")
    assert "CI" in claims.rule_text(NINE_OF_TEN)
    with pytest.raises(TilelliError, match="judged on its CI"):
        claims._check_rule("x", {**NINE_OF_TEN, "op": "=="})


def test_near_chance_checks_each_regime_and_honours_exemptions(tmp_path):
    rule = {"test": "near_chance", "margin": 0.15, "regime_margin": 0.15, "signals": ["a"]}
    flat = {"a": {"cross": ci(0.5), "gibberish": ci(0.5, 0.13), "long_input": ci(0.5, 0.13)}}
    assert run_rule(tmp_path, rule, flat) == REPRODUCED
    hidden = copy.deepcopy(flat)  # pooled 0.5 hides 0.9 on one regime and 0.1 on another
    hidden["a"]["gibberish"], hidden["a"]["long_input"] = ci(0.9, 0.08), ci(0.1, 0.08)
    assert run_rule(tmp_path / "b", rule, hidden) == NOT_REPRODUCED
    assert run_rule(tmp_path / "c", {k: v for k, v in rule.items() if k != "regime_margin"}, hidden) == REPRODUCED
    exempt = copy.deepcopy(hidden)
    exempt["a"]["long_input"] = ci(0.5, 0.13)
    assert run_rule(tmp_path / "d", {**rule, "exempt": {"a": ["gibberish"]}}, exempt) == REPRODUCED


def test_dominates_is_inconclusive_at_ceiling(tmp_path):
    rule = {"test": "dominates", "field": "vs", "ceiling": "ceiling"}
    wins = {"vs": {"v7": delta(0.1, 0.05), "v5": delta(0.2, 0.05)}, "ceiling": False}
    assert run_rule(tmp_path, rule, wins) == REPRODUCED
    assert run_rule(tmp_path / "b", rule, {**wins, "ceiling": True}) == INCONCLUSIVE
    worse = {"vs": {"v7": delta(-0.1, 0.05), "v5": delta(0.2, 0.05)}, "ceiling": False}
    assert run_rule(tmp_path / "c", rule, worse) == NOT_REPRODUCED


def test_missing_metric_is_never_acceptable(tmp_path):
    files = copy.deepcopy(PUBLISHED)
    del files["metrics/auroc.json"]["groups"]["v7"]
    root = write_set(tmp_path, files)
    results = verify_claims(load_claims(CLAIMS), root, "paper")
    by_id = {r.id: r for r in results}
    assert by_id["joint_head_auroc"].verdict == MISSING
    (line,) = mismatches([by_id["joint_head_auroc"]])
    assert "joint_head_auroc" in line and "groups.v7" in line
    assert "1 missing" in headline(results, "paper")


@pytest.mark.parametrize("bad,msg", [
    ({"rule": {"test": "between"}}, "rule needs test"),
    ({"rule": {"test": "equivalence", "target": 0.5}}, "needs margin"),
    ({"expected": {"tiny": {"verdict": "PASS", "reason": "x"}}}, "needs verdict"),
    ({"expected": {"tiny": {"verdict": "REPRODUCED"}}}, "needs verdict"),
    ({"kind": "maybe"}, "kind must be"),
    ({"expected": {"tiny": {"verdict": "REPRODUCED", "reason": "x", "revised": "run 2"}}}, "keeps original"),
    ({"expected": {"tiny": {"verdict": "REPRODUCED", "reason": "x", "original": {"verdict": "INCONCLUSIVE"},
                            "revised": "run 2"}}}, "keeps original"),
    ({"expected": {"tiny": {"verdict": "REPRODUCED", "reason": "x",
                            "original": {"verdict": "INCONCLUSIVE", "reason": "y"}}}}, "keeps original"),
])
def test_load_claims_rejects_bad_entries(tmp_path, bad, msg):
    doc = yaml.safe_load(CLAIMS.read_text())
    doc["claims"][0].update(bad)
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(TilelliError, match=msg):
        load_claims(path)


# ---------------------------------------------------------------------------------------------
# The verify stage: exit 0 as pre-registered; one line naming the claim otherwise
# ---------------------------------------------------------------------------------------------
def run_verify(cwd: Path):
    return run_stage(cwd, "verify")


@pytest.fixture
def published_repo(tmp_path):
    write_set(tmp_path, PUBLISHED)
    (tmp_path / "claims.yaml").write_text(CLAIMS.read_text())
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    compose(["profile=paper"], tmp_path / "params.yaml", tmp_path / "conf")   # the paper profile as committed
    return tmp_path


def flip_one_expectation(repo: Path) -> str:
    doc = yaml.safe_load((repo / "claims.yaml").read_text())
    doc["claims"][3]["expected"]["paper"]["verdict"] = NOT_REPRODUCED
    (repo / "claims.yaml").write_text(yaml.safe_dump(doc))
    return doc["claims"][3]["id"]


def test_verify_exits_zero_when_every_verdict_is_as_expected(published_repo):
    res = run_verify(published_repo)
    assert res.returncode == 0, res.stderr
    report = (published_repo / "results/claims.md").read_text()
    assert "all as expected" in report and "PASS" not in report
    data = json.loads((published_repo / "metrics/claims.json").read_text())
    expected = [c["expected"]["paper"]["verdict"] for c in load_claims(CLAIMS)]
    assert data["all_as_expected"] and data["counts"][REPRODUCED] == expected.count(REPRODUCED)


def test_verify_names_a_flipped_expectation(published_repo):
    cid = flip_one_expectation(published_repo)
    res = run_verify(published_repo)
    assert res.returncode == 1
    bad = [l for l in res.stderr.splitlines() if "NOT AS EXPECTED" in l]
    assert len(bad) == 1 and cid in bad[0]
    assert json.loads((published_repo / "metrics/claims.json").read_text())["params_as_committed"] is True


def test_verify_reports_moved_verdicts_of_an_experiment_and_keeps_it(published_repo):
    """`dvc exp run -S metacog_weight=0`: a moved verdict is the result; exit 0 so DVC keeps the
    experiment's metrics (a failed experiment keeps none). The same move on committed params fails."""
    cid = flip_one_expectation(published_repo)
    compose(["profile=paper", "metacog_weight=0"], published_repo / "params.yaml", published_repo / "conf")
    res = run_verify(published_repo)
    assert res.returncode == 0, res.stderr
    moved = [l for l in res.stderr.splitlines() if "MOVED" in l]
    assert len(moved) == 1 and cid in moved[0] and "NOT AS EXPECTED" not in res.stderr
    assert "metacog_weight" in res.stderr and "exit 0" in res.stderr
    data = json.loads((published_repo / "metrics/claims.json").read_text())
    assert data["params_as_committed"] is False and data["claims"][cid]["as_expected"] is False
    report = (published_repo / "results/claims.md").read_text()
    assert "**an experiment**" in report and "metacog.recipes.v7.weight" in report


def test_verify_fails_an_experiment_with_a_missing_metric(published_repo):
    compose(["profile=paper", "metacog_weight=0"], published_repo / "params.yaml", published_repo / "conf")
    (published_repo / "metrics/ab.json").write_text(json.dumps({"n_a": 3, "n_b": 3}))
    res = run_verify(published_repo)
    assert res.returncode == 1 and "metric missing" in res.stderr


def test_verify_names_a_missing_metric(published_repo):
    path = published_repo / "metrics/ab.json"
    path.write_text(json.dumps({"n_a": 3, "n_b": 3}))
    res = run_verify(published_repo)
    assert res.returncode == 1
    assert any("n2_lite_vs_vanilla_not_established" in l and "'lite_bpb'" in l for l in res.stderr.splitlines())


def test_committed_run_matches_the_tiny_expectations():
    """(c) this run: the committed metrics give exactly the pre-registered tiny verdicts."""
    if not (ROOT / "metrics/auroc.json").is_file():
        pytest.fail("metrics/auroc.json is not committed")
    results = verify_claims(load_claims(CLAIMS), ROOT, "tiny")
    assert mismatches(results) == []


# ---------------------------------------------------------------------------------------------
# computed_by: a claim -> its metric key -> the function that computes it, checked
# ---------------------------------------------------------------------------------------------
DATA_KEYED = ("groups", "contrasts", "controls")   # mappings whose keys are names from params/data


def _read_key(claim: dict) -> tuple[str, str | None]:
    """(metric file, the key the claim reads): the last component of its metric path that is
    not the child of a mapping keyed by data (groups.<group>, contrasts.<name>, controls.<head>
    are names from params, not keys in code); near_chance reads <signal>.cross under its node."""
    ref = claim["metric"] if isinstance(claim["metric"], str) else claim["metric"][0]
    file, _, path = ref.partition(":")
    if claim["rule"]["test"] == "near_chance":
        return file, "cross"
    parts = [p for p in path.split(".") if p]
    keys = [p for i, p in enumerate(parts) if i == 0 or parts[i - 1] not in DATA_KEYED]
    return file, keys[-1] if keys else None


def _strings(fn) -> set[str]:
    """Every string fn's code uses: its literals (nested functions and constant tuples, such as a
    dict literal's keys, included), the module-level str/Path constants and tuples of str it names,
    and its own name."""
    import inspect
    import types
    module, out = inspect.getmodule(fn), {fn.__name__}

    def consts(values):
        for c in values:
            if isinstance(c, str):
                out.add(c)
            elif isinstance(c, (tuple, frozenset)):
                consts(c)
            elif isinstance(c, types.CodeType):
                code(c)

    def code(co):
        consts(co.co_consts)
        for name in co.co_names:
            value = getattr(module, name, None)
            if isinstance(value, (str, Path)):
                out.add(str(value))
            elif isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
                out.update(value)
    code(fn.__code__)
    return out


def computes(fn, file: str, key: str | None) -> bool:
    """fn computes `key` of `file`: a whole-file claim (no key) needs fn to name the file; else the
    key is a string fn uses, or an f-string prefix it uses followed by a name it uses (wins_vs_ +
    max_softmax_mean), or a line of fn's module writes the key from a call to fn ("key": fn(...),
    out["key"] = fn(...), or "key": {name: fn(...) for ...})."""
    import inspect
    strings = _strings(fn)
    if key is None:
        return file in strings
    if key in strings or any(key.startswith(p) and key[len(p):] in strings for p in strings if p.endswith("_")):
        return True
    writes = re.compile(rf"""["']{re.escape(key)}["']\]?\s*[:=]\s*(\{{[^:{{]*:\s*)?{re.escape(fn.__name__)}\(""")
    return any(writes.search(line) for line in inspect.getsource(inspect.getmodule(fn)).splitlines())


def _function(dotted: str):
    import importlib
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name, None)


def test_computed_by_names_the_function_that_writes_the_metric():
    """claims.yaml -> metric key -> function in three hops: each claim's computed_by exists, is a
    function of its module, and computes the key the claim reads (see `computes`)."""
    wrong = []
    for c in load_claims(CLAIMS):
        fn = _function(c["computed_by"])
        file, key = _read_key(c)
        if not callable(fn) or fn.__module__ != c["computed_by"].rpartition(".")[0]:
            wrong.append(f"{c['id']}: {c['computed_by']} is not a function of that module")
        elif not computes(fn, file, key):
            wrong.append(f"{c['id']}: {c['computed_by']} does not compute {file}:{key}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("cid,other", [
    ("splice_head_auroc", "tilelli.eval.auroc_report.behaviour"),          # a rate, not an AUROC
    ("idk_heldout_gate", "tilelli.eval.auroc_report.group_report"),
    ("n2_lite_vs_vanilla_not_established", "tilelli.eval.ab_report.choose_lr"),   # writes ab_lr.json
    ("n4_weight0_shifts_router", "tilelli.eval.probe.kl_per_layer"),
    ("n1_router_entropy_wins_none", "tilelli.eval.auroc_report.group_report"),
])
def test_computed_by_check_rejects_the_wrong_function(cid, other):
    claim = next(c for c in load_claims(CLAIMS) if c["id"] == cid)
    fn = _function(other)
    assert fn is not None and not computes(fn, *_read_key(claim))


def test_load_claims_requires_computed_by(tmp_path):
    doc = yaml.safe_load(CLAIMS.read_text())
    for bad, msg in ((None, "has no 'computed_by'"), ("auroc_report.group_report", "computed_by must name")):
        claims = copy.deepcopy(doc)
        if bad is None:
            del claims["claims"][0]["computed_by"]
        else:
            claims["claims"][0]["computed_by"] = bad
        path = tmp_path / "claims.yaml"
        path.write_text(yaml.safe_dump(claims))
        with pytest.raises(TilelliError, match=msg):
            load_claims(path)


def test_a_revised_expectation_keeps_its_prediction_and_the_record_counts_it():
    """A revision after a run shows its original prediction in the table, and the lead counts verdicts
    against what was predicted before any run, not against the revised expectation."""
    from tilelli.eval.claims import ClaimResult, claims_table, prediction_record
    kept = ClaimResult("a", "s", "positive", "0.5", {"test": "above", "bound": 0}, "w", [], REPRODUCED,
                       REPRODUCED, "why")
    revised = ClaimResult("b", "s", "positive", "0.5", {"test": "above", "bound": 0}, "w", [], INCONCLUSIVE,
                          INCONCLUSIVE, "now", original=REPRODUCED, revised="run 2: it moved")
    assert revised.as_expected
    assert prediction_record([kept, revised]) == ("1 of 2 verdicts as predicted before any run; 1 expectation(s) "
                                                  "revised after a run, each beside its original prediction: b")
    assert prediction_record([kept]).endswith("no expectation revised after a run")
    table = claims_table([kept, revised])
    assert "*Revised after a run* (run 2: it moved); predicted before it: REPRODUCED" in table
    assert table.count("Revised after a run") == 1
    loaded = [c for c in load_claims(CLAIMS) if "original" in c["expected"]["tiny"]]
    assert loaded and all(c["expected"]["tiny"]["revised"].strip() for c in loaded)


def test_a_control_mismatch_is_worded_as_a_control():
    """verify's mismatch line says HOLDS / DOES NOT HOLD for a control, never "NOT REPRODUCED"."""
    from tilelli.eval.claims import ClaimResult
    r = ClaimResult("ctrl_x", "s", "control", "p", {"test": "above", "bound": 0}, "w", [], NOT_REPRODUCED,
                    INCONCLUSIVE, "r")
    (line,) = mismatches([r])
    assert line == "ctrl_x: verdict DOES NOT HOLD, expected INCONCLUSIVE"


def test_read_with_shows_the_other_claims_verdict_beside_this_one(tmp_path):
    by_id = {r.id: r for r in verify_claims(load_claims(CLAIMS), write_set(tmp_path, PUBLISHED), "paper")}
    (note,) = by_id["splice_head_auroc"].notes
    assert note.startswith("read with ctrl_splice_beats_untrained_head: HOLDS")
    bad = tmp_path / "bad.yaml"
    bad.write_text(CLAIMS.read_text().replace("read_with: ctrl_splice_beats_untrained_head", "read_with: nope"))
    with pytest.raises(TilelliError, match="read_with must name another claim"):
        load_claims(bad)
