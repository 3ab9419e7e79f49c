"""Orientation, the pre-registered win rule, the router-family verdict, behaviour, report outputs."""
import json
import math

import numpy as np
import pytest

from _eval_rows import synthetic_rows
from tilelli.errors import TilelliError
from tilelli.eval.auroc_report import ReportConfig, _compare, _router_family, behaviour, build_report
from tilelli.eval.regimes import CANDIDATES, CONTRASTS, ORIENTATION, OOD_REGIMES, contrast_rows, oriented
from tilelli.eval.stats import auroc

FAST = ReportConfig(n_boot=300)


def test_orientation_is_fixed_and_confidence_signals_are_negated():
    assert {s for s, v in ORIENTATION.items() if v < 0} == {"max_softmax_last", "max_softmax_mean",
                                                           "router_conf", "energy"}
    rows = [{"regime": "in_domain", "max_softmax_mean": 0.9}, {"regime": "gibberish", "max_softmax_mean": 0.2}]
    keep, y = contrast_rows(rows, "gibberish")
    assert auroc(y, oriented(keep, "max_softmax_mean")) == 1.0  # less confident = more OOD
    assert np.isnan(oriented([{"regime": "in_domain", "router_conf": None}], "router_conf")).all()


def test_contrasts_cover_seven_comparisons():
    rows = synthetic_rows(n=5)
    assert len(CONTRASTS) == 7
    _, y = contrast_rows(rows, "cross")
    assert (y == 0).sum() == 5 and (y == 1).sum() == 30
    _, y = contrast_rows(rows, "gibberish")
    assert len(y) == 10
    with pytest.raises(TilelliError):
        contrast_rows(rows, "in_domain")


def test_win_rule_needs_the_gain_and_a_ci_excluding_zero():
    y = np.r_[np.ones(30, int), np.zeros(30, int)]
    rng = np.random.default_rng(2)
    base = rng.normal(size=60)
    strong = base + 3 * y  # far better than the baseline: both criteria hold
    c = _compare(y, strong, base, FAST)
    assert c["win"] and c["lo"] > 0 and c["delta"] > 0.3
    assert not _compare(y, strong, base, ReportConfig(n_boot=300, min_gain=c["delta"] + 0.01))["win"]  # gain short
    assert not _compare(y, base, base, FAST)["win"]  # delta 0
    noisy = base + 0.3 * y + rng.normal(0, 1.5, 60)  # gain >= 0.02 but the CI crosses 0
    c = _compare(y, noisy, base, FAST)
    assert c["delta"] >= 0.02 and c["lo"] < 0 and not c["win"]


def _tests_with_wins(won):
    return {ref: {c: {k: {"win": (c == "router_conf" and k in won)} for k in CONTRASTS} for c in CANDIDATES}
            for ref in ("best_baseline", "max_softmax_mean")}


@pytest.mark.parametrize("won,proven", [
    (["ood_topic", "ood_style", "long_input", "cross"], False),   # 4 wins, no hard regime
    (["ood_topic", "ood_style", "long_input", "gibberish"], True),
    (["ood_topic", "factual_misleading", "neo_false_inability"], False),  # only 3
    (list(CONTRASTS), True),
])
def test_router_family_proven_rule(won, proven):
    rf = _router_family(_tests_with_wins(won), ReportConfig())
    assert rf["proven"] is proven and rf["wins_vs_best_baseline"] == len(won)


def test_report_finds_a_planted_router_signal_and_not_a_null_one():
    effects = {"router_entropy_var": {r: 2.0 for r in OOD_REGIMES}, "max_softmax_mean": {"gibberish": 2.5}}
    metrics, tests = build_report({"m": synthetic_rows(1, effects=effects)}, FAST)
    m = metrics["m"]
    assert m["router_entropy_var"]["cross"]["auroc"] > 0.85
    assert m["max_softmax_mean"]["gibberish"]["auroc"] > 0.85
    assert m["wins"]["best_baseline"]["router_entropy_var"] >= 5
    assert m["wins"]["best_baseline"]["entropy_mean"] <= 1
    assert m["router_family"]["proven"] and m["router_family"]["wins_vs_max_softmax_mean"] >= 5
    assert tests["m"]["best_baseline"]["router_conf"]["gibberish"]["baseline"] == "max_softmax_mean"
    cell = tests["m"]["best_baseline"]["router_entropy_var"]["cross"]
    assert cell["p_holm"] >= cell["p"] and cell["win_holm"]


def test_report_is_json_safe_deterministic_and_handles_no_router():
    rows = {"lite": synthetic_rows(2), "vanilla": synthetic_rows(3, router=False),
            "splice": synthetic_rows(4)}
    contrasts = [{"name": "splice_vs_joint", "a": "splice", "b": "lite"}]
    m1, t1 = build_report(rows, FAST, contrasts, {"lite": ["lite"], "vanilla": ["vanilla"], "splice": ["splice"]})
    m2, _ = build_report(rows, FAST, contrasts, {"lite": ["lite"], "vanilla": ["vanilla"], "splice": ["splice"]})
    assert json.dumps(m1, allow_nan=False) == json.dumps(m2, allow_nan=False)
    json.dumps(t1, allow_nan=False)
    assert m1["vanilla"]["router_conf"]["cross"]["auroc"] is None
    assert m1["vanilla"]["router_family"]["wins_vs_best_baseline"] == 0
    c = m1["summary"]["contrasts"]["splice_vs_joint"]
    assert c["delta"] == pytest.approx(c["auroc_a"] - c["auroc_b"]) and c["lo"] <= c["delta"] <= c["hi"]
    assert m1["summary"]["best_abstain_p"]["model"] in rows
    with pytest.raises(TilelliError, match="reserved"):
        build_report({"summary": rows["lite"]}, FAST)


def test_behaviour_rates():
    rows = synthetic_rows(0, n=10, labels={"gibberish": "refusal", "ood_style": "loop", "in_domain": "refusal"})
    gates = [{"set": "idk_heldout", "label": "refusal", "abstained": i < 9} for i in range(10)]
    b = behaviour(rows, gates)
    assert b["probe"]["idk_on_abstain"]["hits"] == 10 and b["probe"]["idk_on_abstain"]["n"] == 20
    assert b["probe"]["refusal_on_answerable"]["rate"] == pytest.approx(10 / 50)
    assert b["probe"]["loop"]["hits"] == 10
    assert b["gates"]["idk_heldout"]["abstained"]["hits"] == 9
    assert b["gates"]["idk_heldout"]["refused"]["rate"] == 1.0
    assert b["abstain_p_aurc"]["random"] == pytest.approx(20 / 70) and not math.isnan(b["abstain_p_aurc"]["aurc"])
