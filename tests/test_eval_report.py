"""Orientation, the win rule, the Holm-corrected router family, controls, seed-pooled groups,
group contrasts, the best variant, behaviour."""
import json
import math

import numpy as np
import pytest

from _eval_rows import synthetic_controls, synthetic_rows, with_controls
from tilelli.eval import stats
from tilelli.eval.auroc_report import (REFERENCES, ReportConfig, _compare, _router_family, behaviour, build_report,
                                       merge_controls)
from tilelli.eval.regimes import (CANDIDATES, CONTRASTS, CONTROLS, OOD_REGIMES, ORIENTATION, REGIMES, REPORTED,
                                  ROUTER_FAMILY, SIGNALS, contrast_rows, oriented)
from tilelli.eval.stats import auroc
from tilelli.io import TilelliError

FAST = ReportConfig(bootstrap=300)
P_MIN = 2 / (FAST.bootstrap + 1)   # the smallest seed-pooled p (bootstrap: every replicate on one side of 0)


def _groups(n_seeds=3, variants=("v7", "v8b")):
    g = {"v4": ["v4"], "splice": [f"splice/v7-s{s}" for s in range(n_seeds)]}
    g.update({v: [f"metacog/{v}-s{s}" for s in range(n_seeds)] for v in variants})
    return g


def _study_rows(groups, effects_by_group=None, n=30):
    """Every model of the groups probed on the same prompts, with the same controls merged in."""
    controls = synthetic_controls(n=n)
    out, i = {}, 0
    for g, members in groups.items():
        for m in members:
            i += 1
            out[m] = merge_controls(synthetic_rows(i, n=n, effects=(effects_by_group or {}).get(g)), controls, m)
    return out


def test_orientation_is_fixed_and_confidence_signals_are_negated():
    assert {s for s, v in ORIENTATION.items() if v < 0} == {"max_softmax_last", "max_softmax_mean",
                                                           "router_conf", "energy"}
    assert all(ORIENTATION[c] == 1 for c in CONTROLS)
    rows = [{"regime": "in_domain", "max_softmax_mean": 0.9}, {"regime": "gibberish", "max_softmax_mean": 0.2}]
    keep, y = contrast_rows(rows, "gibberish")
    assert auroc(y, oriented(keep, "max_softmax_mean")) == 1.0  # less confident = more OOD
    assert np.isnan(oriented([{"regime": "in_domain", "router_conf": None}], "router_conf")).all()


def test_router_conf_is_counted_once():
    """router_entropy_mean ranks prompts exactly as router_conf (a monotone transform): not a signal."""
    for names in (SIGNALS, CANDIDATES, ROUTER_FAMILY, REPORTED):
        assert "router_entropy_mean" not in names
    assert ROUTER_FAMILY == ("router_conf", "router_entropy_var") and len(CANDIDATES) == 4
    assert set(CONTROLS).isdisjoint(SIGNALS) and set(CONTROLS) <= set(REPORTED)
    with pytest.raises(TilelliError, match="unknown signal"):
        oriented([{"regime": "in_domain", "router_entropy_mean": 1.0}], "router_entropy_mean")
    metrics, tests = build_report({"m": with_controls(synthetic_rows(0))}, FAST)
    assert "router_entropy_mean" not in json.dumps(metrics) + json.dumps(tests)


def test_regimes_come_from_the_prompt_set():
    from tilelli.data import prompts

    assert REGIMES == prompts.REGIMES and OOD_REGIMES == prompts.REGIMES[1:]
    assert CONTRASTS == OOD_REGIMES + ("cross",)


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

    def compare(a, b, cfg=FAST):
        return _compare(stats.draws(y, a, cfg.bootstrap), stats.draws(y, b, cfg.bootstrap), cfg)

    strong = base + 3 * y  # far better than the baseline: both criteria hold
    c = compare(strong, base)
    assert c["win"] and c["lo"] > 0 and c["delta"] > 0.3
    assert not compare(strong, base, ReportConfig(bootstrap=300, min_gain=c["delta"] + 0.01))["win"]  # gain short
    assert not compare(base, base)["win"]  # delta 0
    noisy = base + 0.3 * y + rng.normal(0, 1.5, 60)  # gain >= 0.02 but the CI crosses 0
    c = compare(noisy, base)
    assert c["delta"] >= 0.02 and c["lo"] < 0 and not c["win"]


def test_report_config_reads_params_under_the_same_names():
    cfg = ReportConfig.from_params({"bootstrap": 500, "ci": 0.9, "ceiling": 0.9, "contrasts": []})
    assert (cfg.bootstrap, cfg.ci, cfg.ceiling, cfg.alpha) == (500, 0.9, 0.9, 0.05)
    with pytest.raises(TilelliError, match="bootstrap"):
        ReportConfig.from_params({"bootstrap": 10})
    with pytest.raises(TilelliError, match="auroc"):
        ReportConfig.from_params({"alpha": "five percent"})


def _tests_with_wins(won, holm=True):
    return {ref: {c: {k: {"win": (c == "router_conf" and k in won), "win_holm": holm and (c == "router_conf" and k in won)}
                      for k in CONTRASTS} for c in SIGNALS} for ref in REFERENCES}


@pytest.mark.parametrize("won,proven", [
    (["ood_topic", "ood_style", "long_input", "cross"], False),   # 4 wins, no hard regime
    (["ood_topic", "ood_style", "long_input", "gibberish"], True),
    (["ood_topic", "factual_misleading", "neo_false_inability"], False),  # only 3
    (list(CONTRASTS), True),
])
def test_router_family_proven_rule(won, proven):
    rf = _router_family(_tests_with_wins(won), ReportConfig())
    assert rf["proven"] is proven and rf["wins_vs_best_baseline"] == len(won)
    none = _router_family(_tests_with_wins(won, holm=False), ReportConfig())  # raw wins only: no family win
    assert none["wins_vs_best_baseline"] == 0 and not none["proven"]


def test_family_win_needs_a_holm_significant_member():
    """router_conf beats the best baseline on ood_topic by the raw rule (delta >= 0.02, CI > 0,
    DeLong p ~ 0.01) but not after Holm over the 28 candidate x contrast tests: no family win."""
    rows = with_controls(synthetic_rows(0, effects={"router_conf": {"ood_topic": 0.8}}))
    metrics, tests = build_report({"m": rows}, ReportConfig(bootstrap=500))
    cell = tests["m"]["best_baseline"]["router_conf"]["ood_topic"]
    assert cell["win"] and cell["p"] < 0.05 and cell["p_holm"] >= 0.05 and not cell["win_holm"]
    assert metrics["m"]["wins"]["best_baseline"]["router_conf"] >= 1
    assert metrics["m"]["wins_holm"]["best_baseline"]["router_conf"] == 0
    assert metrics["m"]["router_family"]["wins_vs_best_baseline"] == 0
    assert "ood_topic" not in metrics["m"]["router_family"]["regimes_won_vs_best_baseline"]


def test_report_finds_a_planted_router_signal_and_not_a_null_one():
    effects = {"router_entropy_var": {r: 2.0 for r in OOD_REGIMES}, "max_softmax_mean": {"gibberish": 2.5}}
    metrics, tests = build_report({"m": with_controls(synthetic_rows(1, effects=effects))}, FAST)
    m = metrics["m"]
    assert m["router_entropy_var"]["cross"]["auroc"] > 0.85
    assert m["max_softmax_mean"]["gibberish"]["auroc"] > 0.85
    assert m["wins_holm"]["best_baseline"]["router_entropy_var"] >= 5
    assert m["wins"]["best_baseline"]["entropy_mean"] <= 1
    assert m["router_family"]["proven"] and m["router_family"]["wins_vs_max_softmax_mean"] >= 5
    assert tests["m"]["best_baseline"]["router_conf"]["gibberish"]["baseline"] == "max_softmax_mean"
    cell = tests["m"]["best_baseline"]["router_entropy_var"]["cross"]
    assert cell["p_holm"] >= cell["p"] and cell["win_holm"]


def test_surface_control_is_reported_and_every_signal_is_compared_with_it():
    """abstain_p separates gibberish and ood_topic; surface separates gibberish only, as well."""
    controls = synthetic_controls(effects={"surface": {"gibberish": 3.0}, "byte_length": {"long_input": 5.0}})
    rows = merge_controls(synthetic_rows(3, effects={"abstain_p": {"gibberish": 3.0, "ood_topic": 3.0}}), controls, "m")
    metrics, tests = build_report({"m": rows}, FAST)
    m = metrics["m"]
    assert m["byte_length"]["long_input"]["auroc"] > 0.95 and m["surface"]["gibberish"]["auroc"] > 0.95
    assert set(m["vs_surface"]) == set(SIGNALS) and set(tests["m"]["surface"]) == set(SIGNALS)
    assert all(set(m["vs_surface"][s]) == set(CONTRASTS) for s in SIGNALS)
    topic, gib = m["vs_surface"]["abstain_p"]["ood_topic"], m["vs_surface"]["abstain_p"]["gibberish"]
    assert topic["win_holm"] and topic["lo"] > 0.3 and topic["p"] < 1e-6
    assert not gib["win"] and gib["lo"] < 0 < gib["hi"]
    assert {"delta", "lo", "hi", "p", "p_holm"} <= set(topic)
    assert m["wins_holm"]["surface"]["abstain_p"] == sum(m["vs_surface"]["abstain_p"][k]["win_holm"] for k in CONTRASTS) >= 1
    assert "surface" not in m["wins"]["best_baseline"] and "byte_length" not in m["wins"]["surface"]


def test_controls_merge_by_id_and_refuse_a_mismatch():
    rows, controls = synthetic_rows(0, n=3), synthetic_controls(n=3)
    merged = merge_controls(list(reversed(rows)), controls, "m")
    by_id = {c["id"]: c for c in controls}
    assert all(r["surface"] == by_id[r["id"]]["surface"] for r in merged)
    with pytest.raises(TilelliError, match="m: probe ids differ"):
        merge_controls(rows[1:], controls, "m")
    bad = [dict(c, regime="gibberish") if c["id"] == "in_domain-0" else c for c in controls]
    with pytest.raises(TilelliError, match="in_domain-0"):
        merge_controls(rows, bad, "m")
    with pytest.raises(TilelliError, match="surface"):
        merge_controls(rows, [dict(c, surface=None) for c in controls], "m")


def test_report_is_json_safe_deterministic_and_handles_no_router():
    controls = synthetic_controls()
    rows = {"lite": merge_controls(synthetic_rows(2), controls, "lite"),
            "vanilla": merge_controls(synthetic_rows(3, router=False), controls, "vanilla"),
            "splice": merge_controls(synthetic_rows(4), controls, "splice")}
    contrasts = [{"name": "splice_vs_joint", "a": "splice", "b": "lite"}]
    m1, t1 = build_report(rows, FAST, contrasts)
    m2, _ = build_report(rows, FAST, contrasts)
    assert json.dumps(m1, allow_nan=False) == json.dumps(m2, allow_nan=False)
    json.dumps(t1, allow_nan=False)
    assert m1["vanilla"]["router_conf"]["cross"]["auroc"] is None
    assert m1["vanilla"]["router_family"]["wins_vs_best_baseline"] == 0
    c = m1["summary"]["contrasts"]["splice_vs_joint"]
    assert c["delta"] == pytest.approx(c["auroc_a"] - c["auroc_b"]) and c["lo"] <= c["delta"] <= c["hi"]
    assert m1["summary"]["best_variant"] is None  # nothing ranked
    with pytest.raises(TilelliError, match="reserved"):
        build_report({"groups": rows["lite"]}, FAST)
    with pytest.raises(TilelliError, match="different prompt ids"):
        build_report({"a": rows["lite"], "b": rows["lite"][1:]}, FAST)


def test_groups_pool_seeds_and_a_single_model_group_is_the_model():
    groups = _groups()
    rows = _study_rows(groups, {"v7": {"abstain_p": {r: 1.5 for r in OOD_REGIMES}}})
    metrics, _ = build_report(rows, FAST, groups=groups)
    assert set(metrics["groups"]) == set(groups)
    v4 = metrics["groups"]["v4"]
    for s in REPORTED:
        for k in CONTRASTS:
            model = metrics["v4"][s][k]
            assert (v4[s][k]["auroc"], v4[s][k]["lo"], v4[s][k]["hi"]) == (model["auroc"], model["lo"], model["hi"])
    cell = metrics["groups"]["v7"]["abstain_p"]["cross"]
    per_seed = [metrics[m]["abstain_p"]["cross"]["auroc"] for m in groups["v7"]]
    assert cell["per_seed"] == per_seed and cell["n_seeds"] == 3
    assert cell["auroc"] == pytest.approx(np.mean(per_seed)) and cell["lo"] < cell["auroc"] < cell["hi"]
    vs = metrics["groups"]["v7"]["vs_surface"]
    assert set(vs) == set(SIGNALS) and {"delta", "lo", "hi", "p", "n_seeds"} <= set(vs["abstain_p"]["cross"])
    assert vs["abstain_p"]["cross"]["delta"] > 0.2 and vs["abstain_p"]["cross"]["p"] == P_MIN
    assert vs["max_softmax_mean"]["cross"]["lo"] < 0 < vs["max_softmax_mean"]["cross"]["hi"]


def test_group_contrasts_pair_seeds_by_position():
    groups = _groups()
    rows = _study_rows(groups, {"v7": {"abstain_p": {r: 1.0 for r in OOD_REGIMES}}})
    specs = [{"name": "splice_vs_joint", "a": "splice", "b": "v7", "signal": "abstain_p", "regime": "cross"},
             {"name": "v4_vs_joint", "a": "v4", "b": "v7"},                       # one model vs each seed
             {"name": "seed0", "a": "splice/v7-s0", "b": "metacog/v7-s0"}]      # model names still work
    metrics, tests = build_report(rows, FAST, specs, groups)
    c = metrics["summary"]["contrasts"]["splice_vs_joint"]
    assert c["n_seeds"] == 3 and len(c["per_seed"]) == 3
    for s, (a, b) in enumerate(zip(groups["splice"], groups["v7"])):
        want = metrics[a]["abstain_p"]["cross"]["auroc"] - metrics[b]["abstain_p"]["cross"]["auroc"]
        assert c["per_seed"][s]["delta"] == pytest.approx(want)
    assert c["delta"] == pytest.approx(np.mean([p["delta"] for p in c["per_seed"]]))
    assert c["delta"] < -0.2 and c["hi"] < 0 and c["p"] < 0.05   # 3 seeds: t at 2 df
    assert metrics["summary"]["contrasts"]["v4_vs_joint"]["n_seeds"] == 3
    one = metrics["summary"]["contrasts"]["seed0"]
    assert one["n_seeds"] == 1 and one["delta"] == pytest.approx(c["per_seed"][0]["delta"])
    assert one["p"] == pytest.approx(c["per_seed"][0]["p"])
    with pytest.raises(TilelliError, match="neither a probe group"):
        build_report(rows, FAST, [{"name": "x", "a": "splice", "b": "v9"}], groups)
    with pytest.raises(TilelliError, match="pairing needs equal counts"):
        build_report(rows, FAST, [{"name": "x", "a": "splice", "b": "v7"}],
                     {**groups, "splice": groups["splice"][:2]})


def test_best_variant_ranks_pooled_seeds_and_flags_the_ceiling():
    variants = ("v5", "v7", "v8b", "control")
    groups = _groups(variants=variants)
    strong = {"abstain_p": {r: 6.0 for r in OOD_REGIMES}}  # AUROC ~1: every CI above 0.95
    effects = {v: strong for v in variants}
    effects["v5"] = {"abstain_p": {r: 8.0 for r in OOD_REGIMES}}
    effects["control"] = {"abstain_p": {r: 20.0 for r in OOD_REGIMES}}  # not ranked: never "best"
    ranked = ["v5", "v7", "v8b"]
    metrics, _ = build_report(_study_rows(groups, effects, n=20), FAST, groups=groups, ranked=ranked, reference="v8b")
    bv = metrics["summary"]["best_variant"]
    assert bv["ceiling"] is True and bv["reference"] == "v8b" and bv["best"] in ranked
    assert set(bv["vs_v8b"]) == {"v5", "v7"} and len(bv["vs_v8b"]["v7"]["per_seed"]) == 3
    want = (metrics["groups"]["v8b"]["abstain_p"]["cross"]["auroc"] - metrics["groups"]["v7"]["abstain_p"]["cross"]["auroc"])
    assert bv["vs_v8b"]["v7"]["delta"] == pytest.approx(want)

    effects["v7"] = {"abstain_p": {r: 0.0 for r in OOD_REGIMES}}  # one ranked variant off the ceiling (at chance)
    effects["v8b"] = {"abstain_p": {r: 2.5 for r in OOD_REGIMES}}
    metrics, _ = build_report(_study_rows(groups, effects, n=20), FAST, groups=groups, ranked=ranked, reference="v8b")
    bv = metrics["summary"]["best_variant"]
    assert bv["ceiling"] is False and bv["best"] == "v5"
    assert bv["best_auroc"]["auroc"] == metrics["groups"]["v5"]["abstain_p"]["cross"]["auroc"]
    v7 = bv["vs_v8b"]["v7"]
    assert v7["delta"] > 0.1 and v7["lo"] > 0 and v7["p"] < 0.05 and v7["n_seeds"] == 3
    with pytest.raises(TilelliError, match="not probe groups"):
        build_report(_study_rows(groups, effects, n=20), FAST, groups=groups, ranked=ranked, reference="v9")


def test_behaviour_rates():
    rows = synthetic_rows(0, n=10, labels={"gibberish": "refusal", "ood_style": "loop", "in_domain": "refusal"})
    gates = [{"set": "idk_heldout", "label": "refusal", "abstained": i < 9, "collapsed": False} for i in range(10)]
    b = behaviour(rows, gates)
    assert b["probe"]["idk_on_abstain"]["hits"] == 10 and b["probe"]["idk_on_abstain"]["n"] == 20
    assert b["probe"]["refusal_on_answerable"]["rate"] == pytest.approx(10 / 50)
    assert b["probe"]["loop"]["hits"] == 10
    assert b["gates"]["idk_heldout"]["abstained"]["hits"] == 9
    assert b["gates"]["idk_heldout"]["refused"]["rate"] == 1.0
    assert b["abstain_p_aurc"]["random"] == pytest.approx(20 / 70) and not math.isnan(b["abstain_p_aurc"]["aurc"])


def test_group_behaviour_pools_each_leaf_over_seeds_item_by_item():
    """Every leaf is stats.pooled_rate of the seeds' behaviour_flags [n_seeds, n_items], items aligned
    by id (any row order): n = the items, not items x seeds; hits = the mean count over seeds;
    per_seed = each seed's rate. `collapse` counts `collapsed` (bytes after the turn too), not the
    loop label. One seed: the model's own Wilson rates. Seeds probed on other prompts: an error."""
    from tilelli.eval.auroc_report import behaviour_flags, group_behaviour

    members = []
    for s in range(3):
        rows = synthetic_rows(s, n=10, labels={"gibberish": "refusal"})
        for r in rows:
            r["collapsed"] = s == 0 and r["regime"] == "long_input"   # rambles after an answered turn
        gates = [{"set": "idk_heldout", "id": j, "label": "refusal", "abstained": j < 9 - s, "collapsed": False}
                 for j in range(10)]
        members.append((rows[::-1] if s == 1 else rows, gates[::-1] if s == 2 else gates))
    flags = behaviour_flags(*members[0])
    assert sum(flags["probe"]["collapse"]) == 10 and sum(flags["probe"]["loop"]) == 0
    g = group_behaviour(members, 0.95, 400, 0)
    idk = g["gates"]["idk_heldout"]["abstained"]
    assert (idk["hits"], idk["n"], idk["n_seeds"], idk["per_seed"]) == (8.0, 10, 3, [0.9, 0.8, 0.7])
    assert idk == stats.pooled_rate([[int(j < 9 - s) for j in range(10)] for s in range(3)], 0.95, 400, 0)
    assert idk["lo"] < stats.wilson_ci(8, 10)[0]           # wider than one model's 8/10: seeds differ
    assert g["probe"]["collapse"]["per_seed"] == pytest.approx([10 / 70, 0, 0])
    assert g["probe"]["idk_on_abstain"]["n"] == 20 and g["probe"]["idk_on_abstain"]["rate"] == 0.5
    assert g["abstain_p_aurc"]["per_seed"] == [behaviour(*m)["abstain_p_aurc"]["aurc"] for m in members]
    one, alone = group_behaviour(members[:1])["gates"]["idk_heldout"]["abstained"], behaviour(*members[0])
    assert (one["rate"], one["lo"], one["hi"], one["n_seeds"]) == pytest.approx(
        (*(alone["gates"]["idk_heldout"]["abstained"][k] for k in ("rate", "lo", "hi")), 1))
    other = [dict(r, id=f"x{r['id']}") for r in members[1][0]]
    with pytest.raises(TilelliError, match="ids differ"):
        group_behaviour([members[0], (other, members[1][1])])


def test_aurc_metric_and_figure_share_one_definition(tmp_path):
    """The AURC in behaviour.json and the risk-coverage curve DVC plots come from one function."""
    import csv

    from tilelli.eval import auroc_report

    rows = synthetic_rows(5, n=10, effects={"abstain_p": {"gibberish": 3.0, "factual_misleading": 3.0}})
    aurc = behaviour(rows)["abstain_p_aurc"]
    cov, risk, _, value = auroc_report.abstain_risk_coverage(rows)
    assert aurc["aurc"] == value < aurc["random"]
    auroc_report.write_plot_data(tmp_path, {"m": rows})
    with open(tmp_path / "m" / "risk_coverage.csv") as f:
        plotted = [(r["coverage"], r["risk"]) for r in csv.DictReader(f)]
    assert plotted == [(f"{c:.6g}", f"{r:.6g}") for c, r in zip(cov, risk)]


def test_groups_report_the_heads_false_positive_rate_on_in_domain_prompts():
    """abstain_flags_in_domain: share of in-domain prompts with abstain_p >= 0.5, pooled over seeds;
    one model: exactly its Wilson rate; every seed at 0 flags: a CI that still reaches above 0."""
    groups = _groups()
    rows = _study_rows(groups)
    for s, m in enumerate(groups["splice"]):          # seed s flags the first 3 * (s + 1) in-domain prompts
        in_domain = [r for r in rows[m] if r["regime"] == "in_domain"]
        for i, r in enumerate(in_domain):
            r["abstain_p"] = 0.9 if i < 3 * (s + 1) else 0.1
    for m in groups["v7"]:
        for r in rows[m]:
            r["abstain_p"] = 0.2                          # never flags
    metrics, _ = build_report(rows, FAST, groups=groups)
    sp = metrics["groups"]["splice"]["abstain_flags_in_domain"]
    assert sp["per_seed"] == pytest.approx([0.1, 0.2, 0.3]) and sp["rate"] == pytest.approx(0.2)
    assert sp["n"] == 30 and sp["n_seeds"] == 3 and sp["threshold"] == 0.5 and sp["lo"] < 0.2 < sp["hi"]
    v7 = metrics["groups"]["v7"]["abstain_flags_in_domain"]
    assert v7["rate"] == 0 and v7["lo"] == 0 and v7["hi"] == pytest.approx(stats.wilson_ci(0, 30)[1])
    one = metrics["groups"]["v4"]["abstain_flags_in_domain"]
    k = sum(r["abstain_p"] >= 0.5 for r in rows["v4"] if r["regime"] == "in_domain")
    assert (one["rate"], one["lo"], one["hi"]) == pytest.approx((k / 30, *stats.wilson_ci(k, 30)))


# ---------------------------------------------------------------------------------------------
# v4 over base seeds: the per-model analysis (tests, Holm, router family) on seed-pooled draws
# ---------------------------------------------------------------------------------------------
def test_pool_is_pooled_as_one_draws():
    rng = np.random.default_rng(3)
    y = np.array([0] * 30 + [1] * 60)
    a = [stats.draws(y, rng.normal(size=90) + 0.5 * y, 300, 0) for _ in range(3)]
    b = [stats.draws(y, rng.normal(size=90), 300, 0) for _ in range(3)]
    direct, via = stats.pooled(a, b, 0.95, 0), stats.pooled([stats.pool(a, 0)], [stats.pool(b, 0)], 0.95, 0)
    for k in ("estimate", "lo", "hi", "z", "p"):
        assert via[k] == pytest.approx(direct[k], abs=1e-12), k
    one = stats.pool(a[:1], 0)
    assert one.auroc == a[0].auroc and np.array_equal(one.boot, a[0].boot)     # one seed: the model itself


def test_a_one_member_group_has_the_models_router_family():
    groups = {"v4": ["v4"]}
    rows = _study_rows(groups, {"v4": {"router_entropy_var": {"long_input": 3.0}}})
    metrics, _ = build_report(rows, FAST, groups=groups)
    for key in ("wins", "wins_holm", "router_family"):
        assert metrics["groups"]["v4"][key] == metrics["v4"][key], key


def test_v4_group_pools_its_base_seeds():
    """groups.v4 has one member per base seed; its router family comes from seed-pooled tests,
    so a router effect on one base only is diluted, never read off seed 0 alone. Five bases, and
    2,000 resamples: the seed-pooled p is a bootstrap p (>= 2 / (B + 1)), which must survive Holm
    over 28 comparisons."""
    cfg = ReportConfig(bootstrap=2000)
    effect = {"router_entropy_var": {"long_input": 3.0}}
    groups = {"v4": [f"base/v4-s{i}" for i in range(5)]}
    controls = synthetic_controls(n=30)
    both = {m: merge_controls(synthetic_rows(i, n=30, effects=effect), controls, m)
            for i, m in enumerate(groups["v4"])}
    metrics, _ = build_report(both, cfg, groups=groups)
    v4 = metrics["groups"]["v4"]
    assert v4["members"] == groups["v4"] and v4["router_conf"]["cross"]["n_seeds"] == 5
    assert "long_input" in v4["router_family"]["regimes_won_vs_max_softmax_mean"]
    assert v4["wins_holm"]["max_softmax_mean"]["router_entropy_var"] >= 1
    # base s1 reverses the effect and s2-s4 have none: seed 0 alone wins long_input, the bases pooled do not
    opposite = {"router_entropy_var": {"long_input": -3.0}}
    split = dict(both, **{m: merge_controls(synthetic_rows(i, n=30, effects=opposite if i == 1 else None), controls, m)
                          for i, m in enumerate(groups["v4"]) if i})
    m1, _ = build_report(split, cfg, groups=groups)
    assert "long_input" in m1["base/v4-s0"]["router_family"]["regimes_won_vs_max_softmax_mean"]
    assert "long_input" not in m1["groups"]["v4"]["router_family"]["regimes_won_vs_max_softmax_mean"]
    pooled = m1["groups"]["v4"]["router_entropy_var"]["long_input"]
    assert pooled["auroc"] == pytest.approx(np.mean(pooled["per_seed"])) and pooled["lo"] < 0.5 < pooled["hi"]
