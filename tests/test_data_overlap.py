"""The probe against every SFT set: no fact, sentence or phrasing shared where the design says none.

On the code before this test (probe of sft.seed 0): factual_misleading asked 15 chat_train and 4
chat_valid facts (any place >= 5M people) and 14 of its false appositions were refuted by a chat-SFT
answer, and 27 long_input prompts carried verbatim chat_train answer sentences (43 in all;
phrasings: 27 against chat_train and chat_valid).
"""
import pytest

from tilelli.data.chat import build_sft_sets
from tilelli.data.facts import EASY_FAMILIES, FactKey, fact_keys, place_index, qa, split_plan, templates
from tilelli.data.overlap import (MEASURES, TRAINING_SETS, check_no_leak, leaks, probe_overlap, sentences, set_facts,
                                  skeleton)
from tilelli.data.prompts import FILLER_STATEMENTS, REGIMES, filler_statement, probe_and_facts
from tilelli.io import TilelliError

from conftest import TINY_SFT


@pytest.fixture(scope="module")
def probe():
    return probe_and_facts(0)


@pytest.fixture(scope="module")
def sets():
    return build_sft_sets(TINY_SFT)


@pytest.fixture(scope="module")
def table(probe, sets):
    return probe_overlap(*probe, sets)


def test_every_regime_is_reported_against_every_set(table, sets):
    assert list(table) == list(REGIMES)
    for by_set in table.values():
        assert list(by_set) == list(sets)
        assert all(set(cell) == set(MEASURES) and all(0 <= n <= 30 for n in cell.values()) for cell in by_set.values())


def test_no_regime_shares_a_fact_sentence_or_phrasing_with_a_training_set(table):
    assert set(TRAINING_SETS) <= set(next(iter(table.values())))
    assert leaks(table) == []


def test_the_gate_twin_shares_only_its_hedges(table):
    """false_inability (an evaluation gate) is neo_false_inability's twin: same hedges, other facts."""
    plan = split_plan(0)
    assert not set(plan.neo_false_inability) & set(plan.false_inability)  # other facts asked
    assert table["neo_false_inability"]["false_inability"]["phrasings"] > 0


def test_factual_misleading_asks_held_out_facts_on_places_in_domain_does_not_ask(probe):
    rows, facts = probe
    plan = split_plan(0)
    asked = [facts[r["id"]]["asked"] for r in rows if r["regime"] == "factual_misleading"]
    assert asked == plan.factual_misleading and len(set(asked)) == 30
    assert not set(asked) & set(plan.chat_train + plan.chat_valid)
    assert not {k.place for k in asked} & {k.place for k in plan.in_domain}
    assert sorted(k.family for k in asked) == sorted(EASY_FAMILIES * 10)
    for r, k in zip((r for r in rows if r["regime"] == "factual_misleading"), asked):
        assert k.place in r["prompt"]


def test_long_input_filler_states_true_facts_no_sft_set_holds(probe, sets):
    rows, facts = probe
    plan = split_plan(0)
    filler = {filler_statement(k, i): k for i, k in enumerate(plan.long_filler)}
    trained = set().union(*(set_facts(rows_) for rows_ in sets.values()))
    stated = 0
    for r in rows:
        if r["regime"] != "long_input":
            continue
        found = [filler[s] for s in sentences(r["prompt"]) if s in filler]
        keys = [k for k in facts[r["id"]]["stated"] if k in plan.long_filler]
        assert found == keys, r
        stated += len(keys)
        for k in keys:
            assert k not in trained and k.place != facts[r["id"]]["asked"].place
    assert stated >= 15  # the chatter carries facts, not only small talk


def test_filler_phrasings_are_no_sft_phrasing():
    """No FILLER_STATEMENTS template is, as a skeleton, any training question or answer of any fact."""
    sft_shapes = {skeleton(s) for k in fact_keys() for t in range(len(templates(k))) for s in qa(k, t)}
    for fam, ts in FILLER_STATEMENTS.items():
        for i in range(len(ts)):
            s = filler_statement(FactKey("Peru", fam), i)
            assert "Peru" in s and "{" not in s and skeleton(s) not in sft_shapes, s
    assert skeleton("The capital of Peru is Lima.") in sft_shapes  # the check can fire


def test_misleading_appositions_are_refuted_by_held_out_facts(probe):
    """The fact that tells a false apposition is false (Mexico's continent, for "..., which is in
    Europe") is held out like the fact asked; so is the fact behind every true apposition."""
    rows, facts = probe
    plan = split_plan(0)
    trained = set(plan.chat_train + plan.chat_valid)
    refuting = [k for r in rows if r["regime"] == "factual_misleading" for k in facts[r["id"]]["stated"]]
    assert len(refuting) == 30 and not set(refuting) & trained
    true_appositions = [k for r in rows if r["regime"] in ("in_domain", "ood_style", "long_input",
                                                          "neo_false_inability")
                        for k in facts[r["id"]]["stated"] if k not in plan.long_filler]
    assert len(true_appositions) >= 50 and not set(true_appositions) & trained


@pytest.mark.parametrize("seed", range(10))
def test_every_sft_seed_builds_without_leak(seed):
    """build_sft_sets refuses a leak, so building is the test; seeds move the split and the names."""
    sets = build_sft_sets({**TINY_SFT, "seed": seed})
    assert leaks(probe_overlap(*probe_and_facts(seed), sets)) == []


def test_skeleton_and_sentences():
    assert skeleton("The capital of Peru is Lima.") == skeleton("The capital of Chile is Santiago.") \
        == "The capital of {} is {}."
    assert skeleton("Is Perugia in Peru?") == "Is Perugia in {}?"  # names, not prefixes
    assert sentences("Hi there. Is it? Yes!  Done") == ["Hi there.", "Is it?", "Yes!", "Done"]
    assert sentences("The capital of Guernsey is St. Peter Port. Next?") == [
        "The capital of Guernsey is St. Peter Port.", "Next?"]
    assert sentences("Is it St. George's? Yes.") == ["Is it St. George's?", "Yes."]
    assert skeleton("People in Belgium speak Dutch, French and German.") == skeleton("People in Peru speak Spanish.")
    assert skeleton("COULD YOU TELL ME THE CAPITAL OF PERU?") == "COULD YOU TELL ME THE CAPITAL OF {}?"


@pytest.mark.parametrize("measure", MEASURES)
def test_a_leak_is_caught_and_refused(probe, sets, measure):
    """The gate can fail: one training row that shares a fact, a sentence or a phrasing with one
    probe prompt makes that cell 1 and check_no_leak raise; the clean sets pass (test above)."""
    rows, facts = probe
    filler = set(split_plan(0).long_filler)
    row = next(r for r in rows if r["regime"] == "long_input" and set(facts[r["id"]]["stated"]) & filler)
    k = next(k for k in facts[row["id"]]["stated"] if k in filler)
    first = sentences(row["prompt"])[0]
    shaped = next(s for s in sentences(row["prompt"]) if skeleton(s) != s and k.place in s)
    planted = {"facts": {"prompt": "Tell me, please.", "response": qa(k, 0)[1]},  # an SFT answer of the fact
               "sentences": {"prompt": first, "response": "I don't know."},
               "phrasings": {"prompt": "What now?",  # the same template about another place
                             "response": shaped.replace(k.place, "Chile" if k.place != "Chile" else "Peru")}}[measure]
    leaky = {**sets, "chat_train": sets["chat_train"] + [planted]}
    table = probe_overlap(rows, facts, leaky)
    assert table["long_input"]["chat_train"][measure] >= 1
    with pytest.raises(TilelliError, match="long_input x chat_train"):
        check_no_leak(table)
