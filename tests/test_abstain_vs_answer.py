"""abstain_vs_answer (issue 27 item 4): "should the model abstain?" beside the published "is this
prompt in-domain?"; byte length as a reference of its own, outside every other Holm family."""
import json
import math

import numpy as np
import pytest

from _eval_rows import synthetic_controls, synthetic_rows, with_controls
from tilelli.eval import auroc_report as ar
from tilelli.eval.auroc_report import (ABSTAIN_REFERENCES, REFERENCES, ReportConfig, _router_family, abstain_heads,
                                       abstain_vs_answer, auroc_table, behaviour, build_report, group_report,
                                       merge_controls, model_report, score, summary_page)
from tilelli.eval.regimes import (ABSTAIN, CANDIDATES, CONTRASTS, CONTROLS, EXTRA_CONTRASTS, OOD_REGIMES, REPORTED,
                                  ROUTER_FAMILY, SIGNALS, contrast_rows)
from tilelli.io import TilelliError

FAST = ReportConfig(bootstrap=300)
ABSTAIN_REGIMES = ("factual_misleading", "gibberish")  # synthetic_rows' expected == "abstain"


def _groups(n_seeds=2):
    g = {"v4": ["base/v4-s0"], "splice": [f"splice/v7-s{s}" for s in range(n_seeds)]}
    g.update({v: [f"metacog/{v}-s{s}" for s in range(n_seeds)] for v in ("v7", "v8b")})
    return g


def _study(groups, controls, head=None):
    """Every model probed on the same prompts; head(row, rng) -> v7's abstain_p, if given."""
    out, i = {}, 0
    rng = np.random.default_rng(7)
    for g, members in groups.items():
        for m in members:
            i += 1
            rows = merge_controls(synthetic_rows(i), controls, m)
            if head and g == "v7":
                for r in rows:
                    r["abstain_p"] = head(r, rng)
            out[m] = rows
    return out


def _report(groups, controls, head=None):
    return build_report(_study(groups, controls, head), FAST, groups=groups, ranked=["v7", "v8b"],
                        reference="v8b", heads={"v7": "v7", "v8b": "v8b"})


def test_contrast_rows_labels_expected_abstain_as_positive():
    rows = synthetic_rows(n=5)
    keep, y = contrast_rows(rows, ABSTAIN)
    assert len(keep) == len(rows) and y.sum() == 10 and (y == 0).sum() == 25
    assert all(yi == (r["expected"] == "abstain") for r, yi in zip(keep, y))
    assert {r["regime"] for r, yi in zip(keep, y) if yi} == set(ABSTAIN_REGIMES)
    assert "in_domain" in {r["regime"] for r, yi in zip(keep, y) if not yi}     # answerable: in_domain included
    # an extra question, never one of the 7 published contrasts (Holm families, win counts)
    assert EXTRA_CONTRASTS == (ABSTAIN,) and ABSTAIN not in CONTRASTS and len(CONTRASTS) == 7
    with pytest.raises(TilelliError, match="needs expected abstain and answer"):
        score(with_controls([{**r, "expected": "answer"} for r in synthetic_rows(n=5)]), FAST)


def test_a_head_that_flags_exactly_the_abstain_prompts_scores_1_while_its_cross_auroc_is_lower():
    groups = _groups()
    controls = synthetic_controls()
    metrics, tests = _report(groups, controls, head=lambda r, rng: float(r["expected"] == "abstain") + 1e-3 * rng.random())
    av = metrics["summary"]["abstain_vs_answer"]
    v7 = av["v7"]
    assert (v7["group"], v7["signal"]) == ("v7", "abstain_p")
    assert v7["auroc"]["auroc"] == 1.0 and v7["auroc"]["n_seeds"] == 2
    assert metrics["groups"]["v7"][ABSTAIN]["abstain_p"]["auroc"] == 1.0
    cross = metrics["groups"]["v7"]["abstain_p"]["cross"]["auroc"]
    assert cross < 0.8     # 2 of the 6 OOD regimes: "is it in-domain?" is another question
    one = metrics["metacog/v7-s0"][ABSTAIN]["abstain_p"]
    assert (one["auroc"], one["n_pos"], one["n_neg"]) == (1.0, 60, 150)
    # the signal tables keep exactly the 7 published contrasts (near_chance reads every key of them)
    for table in (metrics["metacog/v7-s0"], metrics["groups"]["v4"]):
        assert all(set(table[s]) == set(CONTRASTS) for s in REPORTED)
    assert set(metrics["groups"]["v4"][ABSTAIN]) == set(REPORTED)
    assert ABSTAIN not in json.dumps(tests)   # no paired test, no Holm, no win on the extra question
    # the heads, fixed in advance, and every control beside the fixed references
    assert set(av) == {"question", "references", "baselines", "v7", "v8b", "best_variant", "splice", "v4",
                       "v4_router_conf", "v4_router_entropy_var", "v4_max_softmax_mean"}
    assert av["v4_router_conf"]["signal"] == "router_conf" and av["v4"]["signal"] == "abstain_p"
    assert "abstain" in av["question"]
    assert av["references"] == list(ABSTAIN_REFERENCES) == ["byte_length", "nn_char4"]
    assert list(av["baselines"]) == ["byte_length", "nn_char4", "surface", "ngram_lr"]
    assert set(v7["vs"]) == set(CONTROLS) and {"delta", "lo", "hi", "p", "n_seeds"} <= set(v7["vs"]["byte_length"])
    assert v7["vs"]["byte_length"]["delta"] == pytest.approx(1.0 - av["baselines"]["byte_length"]["auroc"])
    assert v7["vs"]["nn_char4"]["lo"] > 0


def test_a_length_only_head_is_matched_by_byte_length():
    """As designed, the abstain prompts are the short ones: a head that reads shortness alone."""
    groups = _groups()
    controls = synthetic_controls(effects={"byte_length": {r: -3.0 for r in ABSTAIN_REGIMES}})
    metrics, _ = _report(groups, controls, head=lambda r, rng: -r["byte_length"] + rng.normal(0, 0.05))
    v7 = metrics["summary"]["abstain_vs_answer"]["v7"]
    assert v7["auroc"]["auroc"] > 0.9                       # looks like a good head...
    d = v7["vs"]["byte_length"]
    assert d["lo"] <= 0 <= d["hi"] and abs(d["delta"]) < 0.02   # ...but reads no more than prompt length
    assert metrics["summary"]["abstain_vs_answer"]["baselines"]["byte_length"]["auroc"] > 0.9


def test_byte_length_is_a_holm_family_of_its_own(monkeypatch):
    """Adding byte_length as a reference leaves every other family's p_holm exactly as without it."""
    effects = {"router_entropy_var": {r: 0.8 for r in OOD_REGIMES}, "max_softmax_mean": {"gibberish": 1.0},
               "energy": {"ood_topic": 0.6}}
    scored = score(with_controls(synthetic_rows(3, effects=effects)), FAST)
    _, with_length = model_report(scored, FAST)
    assert REFERENCES[-1] == "byte_length" and set(with_length["byte_length"]) == set(CANDIDATES)
    monkeypatch.setattr(ar, "REFERENCES", REFERENCES[:-1])
    monkeypatch.setattr(ar, "_router_family", lambda tests, cfg: {})
    _, without = model_report(scored, FAST)
    assert set(without) == set(REFERENCES[:-1])
    for ref in without:
        for c in without[ref]:
            for k in CONTRASTS:
                assert with_length[ref][c][k]["p_holm"] == without[ref][c][k]["p_holm"]
                assert with_length[ref][c][k]["win_holm"] == without[ref][c][k]["win_holm"]


def _tests(wins: dict[tuple[str, str], list[str]]) -> dict:
    """{ref: {signal: {contrast: cell}}} with win_holm where (ref, signal) lists the contrast."""
    return {ref: {c: {k: {"win": k in wins.get((ref, c), []), "win_holm": k in wins.get((ref, c), [])}
                      for k in CONTRASTS} for c in SIGNALS} for ref in REFERENCES}


def test_router_family_counts_wins_against_max_softmax_mean_and_byte_length():
    rc, rv = ROUTER_FAMILY
    t = _tests({("max_softmax_mean", rc): ["gibberish", "long_input", "cross"],
                ("byte_length", rc): ["gibberish"],
                ("byte_length", rv): ["long_input"],       # another member: not the same member's win
                ("max_softmax_mean", rv): ["ood_topic"]})
    rf = _router_family(t, ReportConfig())
    assert rf["wins_vs_max_softmax_mean"] == 4                         # the published count, unchanged
    assert rf["wins_vs_byte_length"] == 2
    assert rf["wins_vs_max_softmax_mean_and_byte_length"] == 1
    assert rf["regimes_won_vs_max_softmax_mean_and_byte_length"] == ["gibberish"]


def test_a_length_driven_router_win_is_not_a_win_against_byte_length():
    controls = synthetic_controls(effects={"byte_length": {"long_input": 3.0}})
    rows = merge_controls(synthetic_rows(4), controls, "m")
    rng = np.random.default_rng(1)
    for r in rows:
        r["router_entropy_var"] = r["byte_length"] + rng.normal(0, 0.05)
    metrics, _ = build_report({"m": rows}, ReportConfig(bootstrap=500))
    rf = metrics["m"]["router_family"]
    assert "long_input" in rf["regimes_won_vs_max_softmax_mean"]
    assert "long_input" not in rf["regimes_won_vs_byte_length"]
    assert rf["wins_vs_max_softmax_mean_and_byte_length"] == 0
    assert rf["wins_vs_max_softmax_mean"] >= 1
    assert "wins_vs_max_softmax_mean_and_byte_length" in metrics["groups"]["m"]["router_family"]


def test_abstain_heads_are_fixed_in_advance():
    groups = {"v7": ["a"], "v8b": ["b"]}
    assert abstain_heads({"v7": "v7", "v8b": "v8b"}, groups, None) == {"v7": ("v7", "abstain_p"),
                                                                      "v8b": ("v8b", "abstain_p")}
    both = abstain_heads({"v7": "v7"}, {**groups, "v4": ["c"], "splice": ["d"]}, "v8b")
    assert both == {"v7": ("v7", "abstain_p"), "best_variant": ("v8b", "abstain_p"), "splice": ("splice", "abstain_p"),
                    "v4": ("v4", "abstain_p"), "v4_router_conf": ("v4", "router_conf"),
                    "v4_router_entropy_var": ("v4", "router_entropy_var"),
                    "v4_max_softmax_mean": ("v4", "max_softmax_mean")}
    with pytest.raises(TilelliError, match="clash"):
        abstain_vs_answer({"baselines": ("v7", "abstain_p")}, {"a": score(with_controls(synthetic_rows(0)), FAST)},
                          {"v7": ["a"]}, FAST)
    # a group without a router: its router cells are null, not an error
    rows = with_controls(synthetic_rows(0, router=False))
    scored = {"a": score(rows, FAST)}
    av = ar.nan_to_none(abstain_vs_answer({"v4_router_conf": ("v4", "router_conf")}, scored, {"v4": ["a"]}, FAST))
    assert av["v4_router_conf"]["auroc"]["auroc"] is None
    assert math.isnan(group_report([scored["a"]], FAST)[ABSTAIN]["router_conf"]["auroc"])  # null once written


def test_pages_say_which_question_each_number_answers():
    groups = _groups(n_seeds=1)
    metrics, _ = _report(groups, synthetic_controls())
    models = [m for ms in groups.values() for m in ms]
    rows = _study(groups, synthetic_controls())
    page = summary_page(metrics, {m: behaviour(rows[m]) for m in models}, models)
    assert "## Should the model abstain? (abstain-vs-answer AUROC, beyond the paper)" in page
    assert "is this prompt in-domain?" in page and "minus byte_length [CI]" in page and "minus nn_char4 [CI]" in page
    assert "vs max_softmax_mean and byte_length" in page
    table = auroc_table(metrics["metacog/v7-s0"])
    assert table.splitlines()[0].endswith(f"| {ABSTAIN} (should abstain? beyond the paper) |")
    no_extra = auroc_table({s: metrics["metacog/v7-s0"][s] for s in REPORTED})
    assert ABSTAIN not in no_extra                         # a table without it (e.g. an older metrics file)


def test_claims_can_name_the_functions_that_write_these_keys():
    """claims.yaml's computed_by check (test_eval_claims.computes) accepts the new metric keys."""
    from test_eval_claims import _read_key, computes

    for metric, fn in (("summary.abstain_vs_answer.v7.vs.byte_length", abstain_vs_answer),
                       ("summary.abstain_vs_answer.v7.vs.nn_char4", abstain_vs_answer),
                       ("summary.abstain_vs_answer.v7.auroc", abstain_vs_answer),
                       ("summary.abstain_vs_answer.baselines.byte_length", abstain_vs_answer),
                       ("groups.v7.abstain_vs_answer.abstain_p", group_report),
                       ("groups.v4.router_family.wins_vs_max_softmax_mean_and_byte_length", _router_family)):
        claim = {"metric": f"metrics/auroc.json:{metric}", "rule": {"test": "above"}}
        assert computes(fn, *_read_key(claim)), metric


def test_the_orientation_on_this_question_is_fixed_from_the_design_not_chosen_on_the_probe():
    """byte_length enters reversed (the answerable set holds long_input: shorter = should abstain)
    whatever the probe says, even where length in its published direction scores above 0.5; nn_char4
    keeps its published sign even where its AUROC on this question is below 0.5."""
    from tilelli.eval.regimes import ABSTAIN_ORIENTATION
    assert ABSTAIN_ORIENTATION == {"byte_length": -1}
    controls = synthetic_controls(effects={"byte_length": {r: 2.0 for r in ABSTAIN_REGIMES},
                                           "nn_char4": {r: -2.0 for r in ABSTAIN_REGIMES}})
    metrics, _ = _report(_groups(), controls)
    av = metrics["summary"]["abstain_vs_answer"]
    published = metrics["metacog/v7-s0"][ABSTAIN]         # the per-signal table keeps the published signs
    base = av["baselines"]
    assert {b: c["orientation"] for b, c in base.items()} == {"byte_length": -1, "nn_char4": 1, "surface": 1,
                                                              "ngram_lr": 1}
    assert published["byte_length"]["auroc"] > 0.5 and base["byte_length"]["auroc"] < 0.5
    assert base["byte_length"]["auroc"] == pytest.approx(1 - published["byte_length"]["auroc"])
    assert base["nn_char4"]["auroc"] < 0.5
    assert base["nn_char4"]["auroc"] == pytest.approx(published["nn_char4"]["auroc"])
    v7 = av["v7"]
    assert v7["vs"]["nn_char4"]["delta"] == pytest.approx(v7["auroc"]["auroc"] - base["nn_char4"]["auroc"])


def test_reversing_a_control_is_draws_on_the_negated_scores():
    """Byte length is oriented 'longer = more OOD' for the published question; on abstain-vs-answer
    the answerable prompts are the long ones by design, so it predicts abstention by shortness. The
    head is held against length reversed (AUROC 1 - a), never against a control that is wrong by
    construction; reversing is exactly `draws` on the negated scores."""
    from tilelli.eval import stats
    y = np.r_[np.ones(30, int), np.zeros(30, int)]
    s = np.random.default_rng(3).normal(size=60) - y
    d, neg = stats.draws(y, s, 300, 1), stats.draws(y, -s, 300, 1)
    r = stats.reversed_draws(d)
    assert r.auroc == pytest.approx(neg.auroc) and np.allclose(r.boot, neg.boot)
    assert np.allclose(r.v10, neg.v10) and np.allclose(r.v01, neg.v01)
