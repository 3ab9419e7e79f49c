"""The 210-prompt probe: counts, uniqueness, regimes, lengths, and the committed file."""
import collections
import json
import math
import re
import statistics

import pytest
import yaml

from tilelli.data.facts import (PROBE_APPOSITIONS, PROBE_OPENERS, PROBE_QUESTIONS, QUESTIONS, FactKey, apposition,
                                place_index, places, probe_question, split_plan)
from tilelli.data.prompts import (EXPECTED, LONG_MAX, LONG_MIN, PROBE_FALSE_PREMISES, PROBE_GIBBERISH, REGIMES,
                                  TRAIN_FALSE_PREMISES, build_probe, probe_gibberish)
from conftest import ROOT



@pytest.fixture(scope="module")
def rows():
    return build_probe(0)


def test_counts_and_fields(rows):
    assert len(rows) == 210
    assert collections.Counter(r["regime"] for r in rows) == {r: 30 for r in REGIMES}
    assert len(REGIMES) == 7
    for r in rows:
        assert set(r) == {"id", "regime", "prompt", "expected"}
        assert r["expected"] == EXPECTED[r["regime"]] and r["expected"] in ("answer", "abstain")


def test_ids_and_prompts_unique(rows):
    assert len({r["id"] for r in rows}) == 210
    assert len({r["prompt"] for r in rows}) == 210


def test_long_input_is_longer_than_every_other_prompt(rows):
    """long_input is length-defined by design; the context bound is tests/test_positions.py."""
    assert (LONG_MIN, LONG_MAX) == (150, 190)
    for r in rows:
        n = len(r["prompt"].encode())
        assert "\n" not in r["prompt"]
        if r["regime"] == "long_input":
            assert LONG_MIN <= n <= LONG_MAX, r
        else:
            assert 0 < n < LONG_MIN, r


def _fill(template: str, place) -> str:
    return template.format(name=place.name, capital=place.capital)


def test_in_domain_asks_in_held_out_phrasings_only(rows):
    """Every in_domain prompt is a PROBE_QUESTIONS phrasing (plain or with a true apposition of
    another family), never a QUESTIONS (training) phrasing."""
    by_place = place_index()
    probe_forms, train_forms = set(), set()
    for fam in PROBE_QUESTIONS:
        for p in by_place.values():
            for t in PROBE_QUESTIONS[fam]:
                probe_forms.add(t.format(name=p.name))
                probe_forms |= {t.format(name=p.name + apposition(p, a)) for a in PROBE_APPOSITIONS
                                if a != fam and (a != "language" or p.languages)}
            train_forms |= {_fill(t, p) for t in QUESTIONS[fam]}
    in_domain = [r["prompt"] for r in rows if r["regime"] == "in_domain"]
    assert all(q in probe_forms for q in in_domain)
    assert not set(in_domain) & train_forms
    with_apposition = [q for q in in_domain if q not in {t.format(name=p.name) for ts in PROBE_QUESTIONS.values()
                                                        for t in ts for p in by_place.values()}]
    assert len(with_apposition) == 15  # half: an apposition alone does not mark factual_misleading


def test_probe_and_training_phrasings_are_disjoint():
    """Held-out phrasings: no shared template, none contains a training question, >= 8 vs >= 3 per family."""
    assert set(QUESTIONS) == set(PROBE_QUESTIONS)
    for fam in QUESTIONS:
        assert len(set(QUESTIONS[fam])) == len(QUESTIONS[fam]) >= 8, fam
        assert len(set(PROBE_QUESTIONS[fam])) == len(PROBE_QUESTIONS[fam]) >= 3, fam
    train = [t for ts in QUESTIONS.values() for t in ts]
    probe = [t for ts in PROBE_QUESTIONS.values() for t in ts]
    assert not set(train) & set(probe)
    for t in probe:
        assert t.startswith(PROBE_OPENERS) and t.count("{name}") == 1 and t.split("{name}")[1][:1] in "?.", t
        for u in train:
            assert u.lower().rstrip("?.") not in t.lower(), (u, t)
    assert not [t for t in train if t.startswith(PROBE_OPENERS)]


def test_apposition_states_another_true_fact():
    peru = place_index()["Peru"]
    assert probe_question(FactKey("Peru", "capital"), 0, "continent") == \
        "Could you tell me the capital of Peru, which is in the Americas?"
    assert apposition(peru, "capital") == ", whose capital is Lima"
    with pytest.raises(ValueError, match="another family"):
        probe_question(FactKey("Peru", "capital"), 0, "capital")


def test_probe_regimes_share_the_in_domain_frames(rows):
    """ood_topic, factual_misleading, neo_false_inability and ood_style are built on the held-out
    frames; gibberish and long_input are surface-defined by design (their form is the regime)."""
    by = collections.defaultdict(list)
    for r in rows:
        by[r["regime"]].append(r["prompt"])
    assert all(q.startswith(PROBE_OPENERS) for q in by["ood_topic"])
    assert sum(any(p.name in q for p in places()) for q in by["ood_topic"]) >= 10  # a place name is no tell
    probe_t = [template_regex(t) for ts in PROBE_QUESTIONS.values() for t in ts]
    hedged = [re.sub(r"^.*?(?:but |[.:?] )(?=[A-Za-z])", "", q, count=1) for q in by["neo_false_inability"]]
    assert all(any(t.fullmatch(h[0].upper() + h[1:]) for t in probe_t) for h in hedged), hedged
    assert all(any(o.lower() in q.lower() for o in PROBE_OPENERS) for q in by["ood_style"] + by["long_input"])


def test_answerable_regimes_ask_about_held_out_facts(rows):
    plan = split_plan(0)
    for regime, keys in (("in_domain", plan.in_domain), ("ood_style", plan.ood_style),
                         ("long_input", plan.long_input), ("neo_false_inability", plan.neo_false_inability)):
        prompts = [r["prompt"] for r in rows if r["regime"] == regime]
        for p, k in zip(prompts, keys):
            place = place_index()[k.place]
            assert k.place.lower() in p.lower() or place.capital in p, (regime, p, k)


def template_regex(template: str) -> re.Pattern:
    """A template with every {field} as a wildcard."""
    return re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(template)))


def test_template_regex_matches_its_fills():
    assert template_regex("Why is {wrong_capital} the capital of {name}?").fullmatch("Why is Lima the capital of Chile?")
    assert not template_regex("Why is {x} here?").fullmatch("Why was Lima here?")


def test_factual_misleading_uses_probe_templates_only(rows):
    assert not set(PROBE_FALSE_PREMISES) & set(TRAIN_FALSE_PREMISES)
    probe_t = [template_regex(t) for t in PROBE_FALSE_PREMISES]
    train_t = [template_regex(t) for t in TRAIN_FALSE_PREMISES]
    for r in rows:
        if r["regime"] == "factual_misleading":
            assert any(t.fullmatch(r["prompt"]) for t in probe_t), r
            assert not any(t.fullmatch(r["prompt"]) for t in train_t), r


def test_gibberish_comes_from_the_probe_generators(rows):
    tagged = probe_gibberish(0)
    assert [text for _, text in tagged] == [r["prompt"] for r in rows if r["regime"] == "gibberish"]
    assert collections.Counter(kind for kind, _ in tagged) == {k: 10 for k in PROBE_GIBBERISH}


def _median_population(keys) -> float:
    return statistics.median(place_index()[k.place].population for k in keys)


def test_neo_false_inability_places_are_as_well_known_as_in_domain():
    """Same popularity half and a similar median: only the hedge tells the two regimes apart."""
    plan = split_plan(0)
    cut = statistics.median(p.population for p in places())
    for keys in (plan.in_domain, plan.neo_false_inability, plan.false_inability):
        assert all(place_index()[k.place].population >= cut for k in keys)
        assert len({k.place for k in keys}) == len(keys)  # distinct places within a set
    ratio = _median_population(plan.neo_false_inability) / _median_population(plan.in_domain)
    assert abs(math.log2(ratio)) < 1, ratio  # medians within a factor of 2 (seed 0: 19.6M vs 28.9M)
    sets = [plan.in_domain, plan.ood_style, plan.long_input, plan.neo_false_inability, plan.false_inability]
    assert sum(map(len, sets)) == len(set().union(*sets)) == 140  # keys disjoint across sets


def test_deterministic(rows):
    assert build_probe(0) == rows
    assert build_probe(1) != rows


def test_committed_probe_file_matches_the_code():
    path = ROOT / "data" / "prompts" / "probe_210.jsonl"
    if not path.exists():
        pytest.skip("data/prompts/probe_210.jsonl not built yet (dvc repro prompts)")
    params = ROOT / "params.yaml"
    seed = yaml.safe_load(params.read_text())["sft"]["seed"] if params.exists() else 0
    committed = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert committed == build_probe(seed), "run `dvc repro prompts` and commit data/prompts/probe_210.jsonl"
