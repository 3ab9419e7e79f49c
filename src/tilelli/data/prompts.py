"""The probe set: 210 prompts, 30 in each of 7 regimes -> data/prompts/probe_210.jsonl.

    rows = build_probe(seed=0)   # [{"id", "regime", "prompt", "expected"}], same rows every time

Regimes and the ideal behaviour ("expected"):
- in_domain (answer): held-out facts asked with the chat-training templates, so they look
  exactly like training questions but were never an SFT target (see splits.py).
- ood_topic (abstain): programming, health, music, space, money, chemistry; neither the corpus
  nor ood_train covers these topics.
- ood_style (answer): held-out facts asked in styles never trained (slang, shouting, archaic,
  code-like, pirate, formal letter...).
- factual_misleading (abstain): false premises about real places ("Why is Lima the capital of
  Chile?"); confirming them is wrong.
- long_input (answer): 200-225 bytes of chatter and true facts ending in a held-out question;
  with the chat framing the prompt is <= 240 bytes and fits a 256-byte context.
- neo_false_inability (answer): held-out facts about lesser-known real places, wrapped in
  hedges that sound like unanswerable questions ("You probably do not know this, but ...").
- gibberish (abstain): pseudo-words, keyboard mash, symbols, mixed scripts.
Every prompt except long_input is < 150 bytes. Depends only on sft.seed and countryinfo.
"""
from __future__ import annotations

import random

from tilelli.data.facts import FactKey, places, qa
from tilelli.data.ood import PROBE_FALSE_PREMISES, PROBE_TOPIC_QUESTIONS, false_premise, gibberish_set
from tilelli.data.splits import PROBE_PER_REGIME, split_plan

REGIMES = ("in_domain", "ood_topic", "ood_style", "factual_misleading", "long_input",
           "neo_false_inability", "gibberish")
EXPECTED = {"in_domain": "answer", "ood_topic": "abstain", "ood_style": "answer",
            "factual_misleading": "abstain", "long_input": "answer", "neo_false_inability": "answer",
            "gibberish": "abstain"}
LONG_MIN, LONG_MAX = 200, 225

_WHAT = {"capital": "capital", "continent": "continent", "language": "language"}
STYLES = [
    "yo whats the {what} of {lname} lol",
    "{UWHAT} OF {UNAME}???",
    "Pray tell, good machine, what be the {what} of {name}?",
    "{what}({name}) = ?",
    "{name} -> {what}? one word pls",
    "my teacher asked about the {what} of {name} and i forgot, help!!",
    "Kindly advise the {what} of {name} at your earliest convenience. Regards.",
    "arr matey, what be the {what} o' {name}?",
    "{name}. {what}. go.",
    "Dear assistant, I would be most grateful to learn the {what} of {name}.",
]
# Hedges that make an answerable question sound unanswerable (also used by sft.false_inability).
HEDGES = [
    "You probably do not know this, but {q}", "This might be too obscure for you: {q}",
    "I doubt anyone knows this. {q}", "Can you even answer this? {q}",
    "Is this something you would know? {q}", "Maybe a trick question: {q}",
    "Not sure this is in your knowledge, but {q}", "Hard one, feel free to skip: {q}",
    "Do you happen to know this? {q}", "I could not find this anywhere. {q}",
]
_CHATTER = [
    "I am preparing for a geography quiz at school next week.",
    "My notes are a bit of a mess, so I want to check a few things.",
    "Yesterday our class talked about maps, borders and capitals.",
    "My friend and I made flash cards, but we lost some of them.",
    "I wrote down some facts from my atlas to revise.",
    "Our teacher says we should check every fact twice.",
    "I hope this is not a silly question.",
    "Thanks for your patience with all my questions.",
]


def hedge(template: str, question: str) -> str:
    """Wrap a question; mid-sentence ("..., but what is ...") it starts lower-case, names excepted."""
    first = question.split()[0]
    if "but {q}" in template and first in ("What", "Which", "Where", "On", "Name", "How"):
        question = first.lower() + question[len(first):]
    return template.format(q=question)


def _style(template: str, key: FactKey) -> str:
    what = _WHAT[key.family]
    return template.format(what=what, UWHAT=what.upper(), name=key.place, lname=key.place.lower(),
                           UNAME=key.place.upper())


def _long(r: random.Random, question: str, filler_facts: list[str]) -> str:
    """Chatter and true facts (from training keys), then the question: LONG_MIN..LONG_MAX bytes."""
    for _ in range(1000):
        pool = _CHATTER + r.sample(filler_facts, 6)
        r.shuffle(pool)
        parts, size = [], len(question.encode())
        for s in pool:
            if size + len(s.encode()) + 1 <= LONG_MAX:
                parts.append(s)
                size += len(s.encode()) + 1
        if size >= LONG_MIN:
            return " ".join(parts + [question])
    raise RuntimeError("could not build a long_input prompt")


def build_probe(seed: int = 0) -> list[dict]:
    plan = split_plan(seed)
    r = random.Random(f"tilelli-probe-{seed}")
    pl = list(places())
    by_regime: dict[str, list[str]] = {}
    by_regime["in_domain"] = [qa(k, r.randrange(5))[0] for k in plan.in_domain]
    by_regime["ood_topic"] = list(PROBE_TOPIC_QUESTIONS)
    by_regime["ood_style"] = [_style(STYLES[i % len(STYLES)], k) for i, k in enumerate(plan.ood_style)]
    known = sorted((p for p in pl if p.population >= 5_000_000), key=lambda p: p.name)
    by_regime["factual_misleading"] = [
        false_premise(r, PROBE_FALSE_PREMISES[i % len(PROBE_FALSE_PREMISES)], p, pl)
        for i, p in enumerate(r.sample(known, PROBE_PER_REGIME))]
    filler = [qa(k, 0)[1] for k in plan.chat_train if k.family in ("capital", "continent", "language")]
    by_regime["long_input"] = [_long(r, qa(k, r.randrange(5))[0], filler) for k in plan.long_input]
    by_regime["neo_false_inability"] = [hedge(HEDGES[i % len(HEDGES)], qa(k, r.randrange(5))[0])
                                        for i, k in enumerate(plan.neo_false_inability)]
    by_regime["gibberish"] = gibberish_set(f"tilelli-probe-gibberish-{seed}", PROBE_PER_REGIME)
    rows = []
    for regime in REGIMES:
        prompts = by_regime[regime]
        assert len(prompts) == PROBE_PER_REGIME and len(set(prompts)) == len(prompts), regime
        rows += [{"id": f"{regime}-{i:02d}", "regime": regime, "prompt": p, "expected": EXPECTED[regime]}
                 for i, p in enumerate(prompts)]
    return rows
