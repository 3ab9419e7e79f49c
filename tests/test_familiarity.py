"""Distance-to-training baselines (nn_char4, ngram_lr): training prompts only, exact familiarity,
a deterministic fit; the fixed baseline and the Holm-stepped familiarity controls of the report."""
import random

import numpy as np
import pytest

from _eval_rows import synthetic_controls, synthetic_rows, with_controls
from tilelli.data.prompts import build_probe
from tilelli.eval import controls as fam
from tilelli.eval.auroc_report import ReportConfig, build_report, familiarity_baseline, merge_controls, score
from tilelli.eval.claims import NOT_REPRODUCED, REPRODUCED, MetricStore, evaluate, load_claims
from tilelli.eval.regimes import (CONTROLS, FAMILIARITY_BASELINE, OOD_REGIMES, ORIENTATION, PROMPT_BASELINES,
                                  V4_FAMILIARITY_SIGNAL)
from tilelli.eval.stats import auroc
from tilelli.io import TilelliError, write_json

from test_eval_claims import CLAIMS

FAST = ReportConfig(bootstrap=300)


@pytest.fixture(scope="module")
def training(sets):
    return [r["prompt"] for r in sets["chat_train"]], [r["prompt"] for r in sets["ood_train"]]


def test_baselines_are_oriented_prompt_only_controls():
    assert set(fam.NAMES) <= set(PROMPT_BASELINES) <= set(CONTROLS)
    assert all(ORIENTATION[b] == +1 for b in PROMPT_BASELINES)


def test_a_training_prompt_has_similarity_one_and_a_changed_one_less():
    train = ["What is the capital of Peru?", "Where is Chad?", "hi"]
    sim = fam.nn_similarity(["What is the capital of Peru?", "what is the capital of peru", "hi",
                             "Where is Chad?!", "zzzz qqqq"], train)
    assert sim[0] == 1.0 and sim[2] == 1.0 and 0.5 < sim[1] < 1.0 and 0.5 < sim[3] < 1.0 and sim[4] == 0.0
    assert fam.nn_score(["Where is Chad?"], train)[0] == 0.0       # OOD score: higher = less familiar
    assert fam.nn_score(["zzzz qqqq"], train)[0] == 1.0


def test_probe_familiarity_sees_the_training_prompts_only(training):
    probe = build_probe(0)
    prompts = [r["prompt"] for r in probe]
    cols, metrics = fam.probe_familiarity(probe, *training)
    # every score is a function of (training prompts, that one prompt): the rest of the probe cannot move it
    assert np.array_equal(cols["nn_char4"], fam.nn_score(prompts, training[0]))       # the chat_train index only
    alone = [fam.nn_score([p], training[0])[0] for p in prompts[::30]]
    assert np.array_equal(cols["nn_char4"][::30], alone)
    model = fam.fit_ngram_lr(*training)
    assert np.array_equal(cols["ngram_lr"], model.score(prompts))
    assert np.array_equal(model.score(prompts[5:9]), cols["ngram_lr"][5:9])
    # a probe prompt among the training prompts is refused, in either class
    for leak in (0, 1):
        sets = [list(training[0]), list(training[1])]
        sets[leak].append(prompts[3])
        with pytest.raises(TilelliError, match="probe prompt") as e:
            fam.probe_familiarity(probe, *sets)
        assert "\n" not in str(e.value)


def test_ngram_lr_is_deterministic_rounded_and_separates_a_separable_set():
    r = random.Random(0)
    words = lambda n: [" ".join("".join(r.choice("abcdefgh") for _ in range(r.randint(3, 7))) for _ in range(4))
                       for _ in range(n)]
    ins = [f"What is the capital of {w}?" for w in words(150)]
    ood = [f"How do I {w} in Python?" for w in words(150)]
    a, b = fam.fit_ngram_lr(ins, ood), fam.fit_ngram_lr(ins, ood)
    assert np.array_equal(a.beta, b.beta) and a.iterations == b.iterations < 50
    fresh = [f"What is the capital of {w}?" for w in words(30)] + [f"How do I {w} in Python?" for w in words(30)]
    s = a.score(fresh)
    assert np.array_equal(s, np.round(s, fam.DECIMALS)) and np.array_equal(s, b.score(fresh))
    assert auroc(np.r_[np.zeros(30, int), np.ones(30, int)], s) == 1.0
    with pytest.raises(TilelliError, match="both classes"):
        fam.fit_ngram_lr(ins, [])


def _rows_with(controls_effects, head_effects, models=("v4", "v7")):
    controls = synthetic_controls(effects=controls_effects)
    return {m: merge_controls(synthetic_rows(i, effects=head_effects.get(m)), controls, m)
            for i, m in enumerate(models)}


def test_the_familiarity_baseline_is_fixed_in_advance_whichever_scores_best_on_the_probe():
    """nn_char4, never the maximum on the probe: even where surface or ngram_lr has the highest
    pooled cross AUROC, the heads are held against nn_char4; every baseline's AUROC stays reported."""
    assert FAMILIARITY_BASELINE == "nn_char4"
    pooled = {k: 1.5 for k in OOD_REGIMES}
    for strong in PROMPT_BASELINES:
        effects = {strong: pooled, **{b: {"gibberish": 6.0} for b in PROMPT_BASELINES if b != strong}}
        m, _ = build_report(_rows_with(effects, {}), FAST, heads={"v7": "v7"})
        sb = m["summary"]["familiarity"]["baseline"]
        assert sb["cross"][strong] == max(sb["cross"].values()) and set(sb["cross"]) == set(PROMPT_BASELINES)
        assert sb["name"] == "nn_char4" and "fixed in advance" in sb["chosen_by"]
        assert sb["regimes"]["cross"]["auroc"] == sb["cross"]["nn_char4"]
        assert sb["best_per_regime"]["gibberish"]["baseline"] != strong     # another one wins that regime
        assert set(m["summary"]["familiarity"]["controls"]) == {"v7", "v4"}
        v7 = m["summary"]["familiarity"]["controls"]["v7"]
        assert v7["baseline"] == "nn_char4" and v7["auroc_baseline"] == pytest.approx(sb["cross"]["nn_char4"])


def test_a_nan_familiarity_baseline_is_an_error():
    rows = [dict(r, nn_char4=float("nan")) for r in with_controls(synthetic_rows(0))]
    with pytest.raises(TilelliError, match="fixed baseline nn_char4"):
        familiarity_baseline(score(rows, FAST), FAST)


def test_v4_is_held_against_the_baseline_with_max_softmax_mean_even_where_another_signal_scores_higher():
    assert V4_FAMILIARITY_SIGNAL == "max_softmax_mean"
    rows = _rows_with({"nn_char4": {k: 1.0 for k in OOD_REGIMES}},
                      {"v4": {"energy": {k: 3.0 for k in OOD_REGIMES}, "max_softmax_mean": {"gibberish": 0.5}}})
    m, _ = build_report(rows, FAST, heads={"v7": "v7"})
    v4 = m["groups"]["v4"]
    assert v4["energy"]["cross"]["auroc"] > v4["max_softmax_mean"]["cross"]["auroc"] + 0.2   # energy is v4's best
    c = m["summary"]["familiarity"]["controls"]["v4"]
    assert (c["group"], c["signal"]) == ("v4", "max_softmax_mean")
    assert c["auroc_head"] == pytest.approx(v4["max_softmax_mean"]["cross"]["auroc"])


def _control_verdict(tmp_path, metrics, cid):
    claim = next(c for c in load_claims(CLAIMS) if c["id"] == cid)
    write_json(tmp_path / "metrics/auroc.json", metrics)
    return evaluate(claim["rule"], [claim["metric"]], MetricStore(tmp_path))[0]


def test_a_head_no_better_than_the_baseline_fails_its_control(tmp_path):
    strong = {"nn_char4": {k: 1.5 for k in OOD_REGIMES}}
    # v7's head reads exactly what nn_char4 reads: its abstain_p IS the baseline's score
    rows = _rows_with(strong, {})
    rows["v7"] = [dict(r, abstain_p=r["nn_char4"]) for r in rows["v7"]]
    m, _ = build_report(rows, FAST, heads={"v7": "v7"})
    c = m["summary"]["familiarity"]["controls"]["v7"]
    assert c["delta"] == 0.0 and c["lo"] <= 0 <= c["hi"]
    assert _control_verdict(tmp_path, m, "ctrl_joint_head_beats_familiarity") != REPRODUCED
    # a worse head: DOES NOT HOLD; a far better one: HOLDS
    for shift, verdict in ((0.3, NOT_REPRODUCED), (6.0, REPRODUCED)):
        rows = _rows_with(strong, {"v7": {"abstain_p": {k: shift for k in OOD_REGIMES}}})
        m, _ = build_report(rows, FAST, heads={"v7": "v7"})
        assert _control_verdict(tmp_path, m, "ctrl_joint_head_beats_familiarity") == verdict, shift


@pytest.mark.parametrize("v8b_noise", [0.0, 0.3])
def test_controls_follow_holm_step_down_and_count_a_shared_head_once(v8b_noise):
    """v7 far better than nn_char4 (rejected first at alpha/3); v8b = nn_char4 plus noise (not rejected at
    alpha/2: Holm stops); v9 = nn_char4 exactly (p = 1, last): it keeps the level of the step that stopped."""
    strong = {"nn_char4": {k: 1.0 for k in OOD_REGIMES}}
    rows = _rows_with(strong, {"v7": {"abstain_p": {k: 5.0 for k in OOD_REGIMES}}}, models=("v7", "v8b", "v9"))
    noise = np.random.default_rng(5).normal(0, 1, len(rows["v8b"]))
    rows["v8b"] = [dict(r, abstain_p=r["nn_char4"] + v8b_noise * z) for r, z in zip(rows["v8b"], noise)]
    rows["v9"] = [dict(r, abstain_p=r["nn_char4"]) for r in rows["v9"]]
    m, _ = build_report(rows, FAST, heads={"v7": "v7", "v8b": "v8b", "v9": "v9", "again": "v7"})
    ctrl, alpha = m["summary"]["familiarity"]["controls"], FAST.alpha
    assert ctrl["again"] == ctrl["v7"]                                   # one comparison, two labels
    assert ctrl["v7"]["ci_level"] == pytest.approx(1 - alpha / 3)       # m = 3 distinct comparisons, not 4
    assert 0 < ctrl["v7"]["lo"] < ctrl["v7"]["lo_95"]                    # wider than the 95% CI, still above 0
    assert ctrl["v8b"]["lo"] <= 0 <= ctrl["v8b"]["hi"] and ctrl["v8b"]["ci_level"] == pytest.approx(1 - alpha / 2)
    assert ctrl["v9"]["p"] == 1.0 and ctrl["v9"]["ci_level"] == pytest.approx(1 - alpha / 2)   # stopped: not alpha/1
    assert all(ctrl[h]["p_holm"] >= ctrl[h]["p"] for h in ctrl)


def test_ngram_lr_scores_do_not_depend_on_the_process_hash_seed():
    """Python's str hash is salted per process; the buckets must not be (a file written twice must agree)."""
    import os
    import subprocess
    import sys
    code = ("from tilelli.eval.controls import fit_ngram_lr as f; "
            "m = f(['What is the capital of Peru?', 'Where is Chad?'], ['asdf qwer', 'How do I sort a list?']); "
            "print(m.score(['Where is Peru?', 'qwer asdf']).tolist()); "
            "from tilelli.eval.controls import hashed_features as h; print(h(['Where is Peru?']).indices.tolist())")
    outs = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                           capture_output=True, text=True, check=True).stdout for seed in (1, 2)}
    assert len(outs) == 1
