"""SFT / abstain / held-out / OOD sets: sizes, targets, and no overlap between any two sets."""
import collections
import itertools
import json
import re
import statistics

import pytest

from tilelli.data.chat import SET_NAMES, build_sft_sets, check_disjoint, filter_instructions, write_sft_sets
from tilelli.data.facts import fictional_places, place_index, places, qa, split_plan, templates
from tilelli.data.prompts import (_COMMON_WORDS, _KEY_ROWS, GIBBERISH, PROBE_FALSE_PREMISES, PROBE_GIBBERISH,
                                  PROBE_TOPIC_QUESTIONS, TRAIN_FALSE_PREMISES, TRAIN_GIBBERISH, TRAIN_TOPIC_DOMAINS,
                                  build_probe, gibberish_set)
from tilelli.io import TilelliError

from conftest import TINY_SFT as TINY

@pytest.fixture(scope="module")
def probe():
    return build_probe(0)


def test_set_sizes(sets):
    assert list(sets) == list(SET_NAMES)
    sizes = {k: len(v) for k, v in sets.items()}
    assert sizes == {"chat_train": 3000, "chat_valid": 100, "abstain_train": 1000, "abstain_valid": 100,
                     "idk_heldout": 10, "false_inability": 20, "ood_train": 600}


def test_rows_follow_the_contract(sets):
    for name, rows in sets.items():
        for r in rows:
            assert isinstance(r["prompt"], str) and isinstance(r["response"], str) and isinstance(r["kind"], str)
            assert "\n" not in r["prompt"] and "\n" not in r["response"], (name, r)


def test_abstain_targets_are_exactly_the_template(sets):
    for name in ("abstain_train", "abstain_valid", "idk_heldout", "ood_train"):
        assert {r["response"] for r in sets[name]} == {"I don't know."}
    custom = build_sft_sets({**TINY, "abstain_template": "I am not sure."})
    assert {r["response"] for r in custom["abstain_train"]} == {"I am not sure."}
    assert "I don't know." not in {r["response"] for r in custom["chat_train"]}


def test_no_prompt_is_shared_by_any_two_sets_or_the_probe(sets, probe):
    groups = {**{k: {r["prompt"] for r in v} for k, v in sets.items()},
              "probe": {r["prompt"] for r in probe}}
    for (a, pa), (b, pb) in itertools.combinations(groups.items(), 2):
        assert not pa & pb, (a, b, sorted(pa & pb)[:3])
    for name, rows in sets.items():
        assert len({r["prompt"] for r in rows}) == len(rows), name


def test_held_out_facts_never_appear_in_chat_training(sets):
    plan = split_plan(0)
    trained_answers = {r["response"] for r in sets["chat_train"]}
    for key in plan.in_domain + plan.ood_style + plan.long_input + plan.neo_false_inability + plan.false_inability:
        for t in range(len(templates(key))):
            assert qa(key, t)[1] not in trained_answers, key
    assert not set(plan.chat_train) & plan.held_out_keys()


def test_chat_pairs_are_answerable_from_the_facts(sets):
    plan = split_plan(0)
    answers = {qa(k, t)[1] for k in plan.chat_train for t in range(len(templates(k)))}
    assert all(r["response"] in answers for r in sets["chat_train"])
    assert all(r["kind"] == "chat" for r in sets["chat_train"] + sets["chat_valid"])


def test_idk_uses_fictional_places_seen_nowhere_else(sets):
    plan = split_plan(0)
    held = [c for c, _ in plan.fictional_idk]
    assert all(any(c in r["prompt"] for c in held) for r in sets["idk_heldout"])
    others = " ".join(r["prompt"] for name in ("abstain_train", "abstain_valid") for r in sets[name])
    assert not any(c in others for c in held)
    names = {n for pair in fictional_places() for n in pair}
    assert not any(n in r["prompt"] or n in r["response"] for r in sets["chat_train"] for n in names)


def test_false_inability_is_answerable(sets):
    plan = split_plan(0)
    assert {r["response"] for r in sets["false_inability"]} <= {qa(k, t)[1] for k in plan.false_inability
                                                               for t in range(5)}


def test_ood_train_topics_are_disjoint_from_the_probe(sets, probe):
    ood = [r for r in sets["ood_train"]]
    assert {r["kind"] for r in ood} == {"ood"}
    assert {r["regime"] for r in ood} == {"ood_topic", "false_premise", "gibberish"}
    probe_topics = set(PROBE_TOPIC_QUESTIONS)
    assert not probe_topics & {r["prompt"] for r in ood}
    for words in ("guitar", "Python", "vaccine", "Jupiter", "interest", "formula"):
        assert not any(words in r["prompt"] for r in ood)
    assert len(TRAIN_TOPIC_DOMAINS) >= 10


def _wild(template: str) -> re.Pattern:
    return re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(template)))


def test_ood_train_templates_are_disjoint_from_the_probe(sets):
    """Off-topic: no probe question fits a training template; false premises: own templates."""
    topic_t = [_wild(t) for ts, _ in TRAIN_TOPIC_DOMAINS.values() for t in ts]
    assert not [q for q in PROBE_TOPIC_QUESTIONS if any(t.fullmatch(q) for t in topic_t)]
    train_fp, probe_fp = [_wild(t) for t in TRAIN_FALSE_PREMISES], [_wild(t) for t in PROBE_FALSE_PREMISES]
    premises = [r["prompt"] for r in sets["ood_train"] if r["regime"] == "false_premise"]
    assert len(premises) == 90
    assert all(any(t.fullmatch(q) for t in train_fp) and not any(t.fullmatch(q) for t in probe_fp)
               for q in premises)


def test_gibberish_generators_are_split_between_training_and_probe(sets):
    assert not set(TRAIN_GIBBERISH) & set(PROBE_GIBBERISH)
    assert set(TRAIN_GIBBERISH) | set(PROBE_GIBBERISH) == set(GIBBERISH)
    gib = [r for r in sets["ood_train"] if r["regime"] == "gibberish"]
    assert collections.Counter(r["generator"] for r in gib) == {k: 50 for k in TRAIN_GIBBERISH}
    assert all("generator" not in r for r in sets["ood_train"] if r["regime"] != "gibberish")


def _looks_like(kind: str, text: str) -> bool:
    """What each generator emits, checked on its output (so a swapped generator is caught)."""
    words = text.split()
    alnum = set("abcdefghijklmnopqrstuvwxyz0123456789")
    return {
        "pseudo_words": lambda: re.fullmatch(r"[a-z]+( [a-z]+)+", text) is not None,
        "keyboard_mash": lambda: all(any(set(w) <= set(row) for row in _KEY_ROWS) for w in words),
        "symbols_digits": lambda: not any(c.isalpha() or c.isspace() for c in text),
        "mixed_case_alnum": lambda: set(text.lower()) <= alnum | {" "} and text != text.lower(),
        "mixed_scripts": lambda: not text.isascii() and all(c.isalpha() or c == " " for c in text),
        "scrambled_words": lambda: all(
            any(sorted(w.lower().rstrip("?")) == sorted(c) and w.lower().rstrip("?") != c for c in _COMMON_WORDS)
            for w in words),
    }[kind]()


@pytest.mark.parametrize("kind", sorted(GIBBERISH))
def test_each_gibberish_generator_emits_its_own_kind(kind):
    tagged = gibberish_set(f"test-{kind}", 40, (kind,))
    assert {k for k, _ in tagged} == {kind} and len({t for _, t in tagged}) == 40
    assert all(_looks_like(kind, t) for _, t in tagged), kind
    # and nothing a generator of the other half could have written
    other_half = PROBE_GIBBERISH if kind in TRAIN_GIBBERISH else TRAIN_GIBBERISH
    assert not [(o, t) for _, t in tagged for o in other_half if _looks_like(o, t)]


def test_gibberish_set_rejects_unknown_generators():
    with pytest.raises(ValueError, match="unknown gibberish"):
        gibberish_set("x", 3, ("pseudo_words", "nonsense"))


def test_common_words_are_not_place_names():
    names = {n.lower() for p in places() for n in (p.name, p.capital)}
    assert not names & set(_COMMON_WORDS)
    assert all(len(set(w)) >= 2 for w in _COMMON_WORDS)  # scrambling always changes the word


def test_false_inability_gate_uses_well_known_places(sets):
    plan = split_plan(0)
    cut = statistics.median(p.population for p in places())
    assert all(place_index()[k.place].population >= cut for k in plan.false_inability)
    assert len({k.place for k in plan.false_inability}) == 20
    assert all(any(k.place in r["prompt"] or place_index()[k.place].capital in r["prompt"]
                   for k in plan.false_inability) for r in sets["false_inability"])


def test_deterministic(sets):
    again = build_sft_sets(TINY)
    assert json.dumps(again) == json.dumps(sets)
    other = build_sft_sets({**TINY, "seed": 1})
    assert other["chat_train"] != sets["chat_train"]


@pytest.mark.parametrize("key,bad", [("n_chat_train", 0), ("n_abstain_train", -1), ("n_ood_train", "5"),
                                     ("abstain_template", ""), ("abstain_template", "two\nlines"),
                                     ("n_chat_valid", 10_000)])
def test_bad_params_are_one_clear_line(key, bad):
    with pytest.raises(TilelliError) as e:
        build_sft_sets({**TINY, key: bad})
    assert f"sft.{key}" in str(e.value) and "\n" not in str(e.value)


def test_asking_for_more_pairs_than_exist_is_an_error():
    with pytest.raises(TilelliError, match="n_chat_train"):
        build_sft_sets({**TINY, "n_chat_train": 100_000})


def test_check_disjoint_catches_a_leak():
    with pytest.raises(TilelliError, match="both"):
        check_disjoint({"a": [{"prompt": "x"}], "b": [{"prompt": "x"}]}, set())
    with pytest.raises(TilelliError, match="probe"):
        check_disjoint({"a": [{"prompt": "x"}]}, {"x"})


def test_instruction_filter_keeps_single_line_qa_and_skips_reserved():
    rows = [
        {"instruction": "Why is the sky blue?", "context": "", "response": "Rayleigh\nscattering.", "category": "open_qa"},
        {"instruction": "Summarise this.", "context": "Long text", "response": "Short.", "category": "summarization"},
        {"instruction": "Who wrote it?", "context": "A book by X.", "response": "X.", "category": "closed_qa"},
        {"instruction": "What is the capital of Peru?", "context": "", "response": "Lima.", "category": "open_qa"},
        {"instruction": "Why is the sky blue?", "context": "", "response": "Duplicate.", "category": "general_qa"},
        {"instruction": "Long?", "context": "", "response": "x" * 500, "category": "general_qa"},
    ]
    out = filter_instructions(rows, {"categories": ["open_qa", "general_qa"], "max_response_bytes": 200},
                              reserved={"What is the capital of Peru?"})
    assert out == [{"prompt": "Why is the sky blue?", "response": "Rayleigh scattering.", "kind": "instruction"}]


def test_instructions_option_fails_offline_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TilelliError) as e:
        build_sft_sets({**TINY, "instructions": {"enabled": True}})
    assert "sft.instructions.enabled=false" in str(e.value) and "\n" not in str(e.value)


def test_write_sft_sets_writes_every_file(tmp_path, sets):
    sizes = write_sft_sets(sets, tmp_path / "sft")
    assert sorted(p.stem for p in (tmp_path / "sft").iterdir()) == sorted(SET_NAMES)
    assert sizes["idk_heldout"] == 10
    line = (tmp_path / "sft" / "chat_train.jsonl").read_text().splitlines()[0]
    assert set(json.loads(line)) == {"prompt", "response", "kind"}


def _frame(prompt: str) -> str:
    """The question frame: every real or fictional place name and capital replaced by one slot."""
    names = {n for p in places() for n in (p.name, p.capital)} | {n for pair in fictional_places() for n in pair}
    names = sorted(names, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in names))
    return pattern.sub("{}", prompt)


def test_no_in_domain_probe_prompt_uses_a_trained_phrasing(sets, probe):
    """The in_domain probe asks held-out facts in phrasings no training set asks with: no in_domain
    frame (with or without its apposition) is the frame of a chat, abstain or OOD training prompt."""
    trained = {_frame(r["prompt"]) for name in ("chat_train", "chat_valid", "abstain_train", "abstain_valid",
                                                "ood_train") for r in sets[name]}
    assert "What is the capital of {}?" in trained  # the frame function removes the slot
    in_domain = [r["prompt"] for r in probe if r["regime"] == "in_domain"]
    frames = {_frame(q) for q in in_domain}
    bare = [re.sub(r", (?:whose capital is|which is in|where people speak) [^?.]+", "", q) for q in in_domain]
    frames |= {_frame(q) for q in bare}
    assert not frames & trained, sorted(frames & trained)[:3]
