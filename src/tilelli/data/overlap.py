"""How much of each probe regime an SFT set already contains: facts, sentences and phrasings.

    table = probe_overlap(rows, facts, sets)   # {regime: {set: {"facts", "sentences", "phrasings"}}}
    check_no_leak(table)                       # TilelliError if a training set overlaps the probe

Each cell counts probe prompts of the regime (0..30) that share with the set:
- facts: the fact the prompt asks, or one its chatter states (prompts.probe_facts, recorded as the
  probe is built), is a fact a row of the set asks or answers (recovered from the row's text: every
  answer facts.qa writes names its fact key). True appositions ("Peru, whose capital is Lima") are
  context, not the question, and are not counted.
- sentences: a sentence of the prompt is, verbatim, a sentence of a row's prompt or response.
- phrasings: a sentence of the prompt, with every name (real or fictional place, capital,
  continent, language) replaced by a slot, is such a skeleton of a row's sentence: the same
  template about other places.

The design says zero for every regime against every set a model trains or is selected on
(TRAINING_SETS); the two gate sets (idk_heldout, false_inability: evaluation only) are reported,
not required to be zero (false_inability shares the probe's hedges by design: it is the gate twin
of neo_false_inability). Before the fix: factual_misleading asked 15 chat_train facts on the seed-0
probe (any place >= 5M people), and long_input's filler was 43 verbatim chat-SFT answer sentences.
"""
from __future__ import annotations

import re
from functools import lru_cache

from tilelli.data.facts import FactKey, fact_keys, fictional_places, places, qa, templates
from tilelli.io import TilelliError

TRAINING_SETS = ("chat_train", "chat_valid", "abstain_train", "abstain_valid", "ood_train")
MEASURES = ("facts", "sentences", "phrasings")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def sentences(text: str) -> list[str]:
    """`text` split after every '.', '?' or '!' followed by white space."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


@lru_cache(maxsize=1)
def _names() -> re.Pattern:
    names = set()
    for p in places():
        names.update([p.name, p.capital, p.continent, *p.languages])
    for country, city in fictional_places():
        names.update([country, city])
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def skeleton(sentence: str) -> str:
    """The sentence with every place, capital, continent, language and fictional name as '{}'."""
    return _names().sub("{}", sentence)


@lru_cache(maxsize=1)
def _fact_of_answer() -> dict[str, FactKey]:
    return {qa(k, t)[1]: k for k in fact_keys() for t in range(len(templates(k)))}


def set_facts(rows: list[dict]) -> set[FactKey]:
    """The fact keys a set's rows answer (chat, false_inability: the response is a qa answer)."""
    index = _fact_of_answer()
    return {index[r["response"]] for r in rows if r.get("response") in index}


def probe_overlap(rows: list[dict], facts: dict[str, dict], sets: dict[str, list[dict]]) -> dict:
    """{regime: {set: {measure: prompts of the regime sharing it with the set}}} (module doc)."""
    table: dict = {}
    for name, set_rows in sets.items():
        known = set_facts(set_rows)
        texts = {s for r in set_rows for field in ("prompt", "response") for s in sentences(r.get(field, ""))}
        shapes = {skeleton(s) for s in texts}
        for row in rows:
            f = facts[row["id"]]
            own = sentences(row["prompt"])
            hits = {"facts": any(k in known for k in [f["asked"], *f["filler"]] if k),
                    "sentences": any(s in texts for s in own),
                    "phrasings": any(skeleton(s) in shapes for s in own)}
            cell = table.setdefault(row["regime"], {}).setdefault(name, dict.fromkeys(MEASURES, 0))
            for m in MEASURES:
                cell[m] += hits[m]
    return table


def leaks(table: dict) -> list[str]:
    """'<regime> x <set>: <measure> n' for every non-zero cell against a TRAINING_SETS set."""
    return [f"{regime} x {name}: {m} {cells[m]}" for regime, by_set in table.items()
            for name, cells in by_set.items() if name in TRAINING_SETS for m in MEASURES if cells[m]]


def check_no_leak(table: dict) -> None:
    found = leaks(table)
    if found:
        raise TilelliError(f"the probe overlaps training data where the design says none: {'; '.join(found)}")
