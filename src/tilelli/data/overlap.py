"""How much of each probe regime an SFT set already contains: facts, sentences and phrasings.

    table = probe_overlap(rows, facts, sets)   # {regime: {set: {"facts", "sentences", "phrasings"}}}
    check_no_leak(table)                       # TilelliError if a training set overlaps the probe

Each cell counts probe prompts of the regime (0..30) that share with the set:
- facts: the fact the prompt asks, or a true fact behind what it states (its apposition, true or
  refuted; long_input's filler), is a fact a row of the set answers (prompts.probe_facts, recorded
  as the probe is built; a row's fact is recovered from its response, since every answer facts.qa
  writes names its fact key). So the measure sees the chat sets and the false_inability gate;
  rows answered with the abstain template (abstain_*, ood_train, idk_heldout) teach no fact and
  count 0 (ood_train's false premises name real places with wrong values).
- sentences: a sentence of the prompt is, verbatim, a sentence of a row's prompt or response.
- phrasings: a sentence of the prompt, with every name (real or fictional place, capital,
  continent, subregion, language, demonym; any case; a list of names as one slot) replaced by a
  slot, is such a skeleton of a row's sentence: the same template about other places.

The design says zero for every regime against every set a model trains or is selected on
(TRAINING_SETS); the two gate sets (idk_heldout, false_inability: evaluation only) are reported,
not required to be zero (false_inability shares the probe's hedges by design, the gate twin of
neo_false_inability; a hedge joined to its question by ":" or ", but" is one sentence with it, so
only the hedges that end a sentence register). Before the fix (seed-0 probe): factual_misleading
asked 15 chat_train and 4 chat_valid facts (any place >= 5M people) and 14 of its false appositions
were refuted by a chat-SFT answer; long_input's filler was 43 verbatim chat-SFT answer sentences.
"""
from __future__ import annotations

import re
from functools import lru_cache

from tilelli.data.facts import FactKey, fact_keys, fictional_places, places, qa, templates
from tilelli.io import TilelliError

TRAINING_SETS = ("chat_train", "chat_valid", "abstain_train", "abstain_valid", "ood_train")
MEASURES = ("facts", "sentences", "phrasings")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_LIST = re.compile(r"\{\}(?:, \{\})*(?: and \{\})?")


@lru_cache(maxsize=1)
def _all_names() -> tuple[str, ...]:
    names = set()
    for p in places():
        names.update([p.name, p.capital, p.continent, p.subregion, p.demonym or "", *p.languages])
    for country, city in fictional_places():
        names.update([country, city])
    return tuple(sorted((n for n in names if n), key=len, reverse=True))


@lru_cache(maxsize=1)
def _dotted() -> tuple[str, ...]:
    """Names with a full stop inside ("St. Peter Port", "Washington D.C."): never a sentence end."""
    return tuple(n for n in _all_names() if "." in n)


def sentences(text: str) -> list[str]:
    """`text` split after every '.', '?' or '!' followed by white space, names kept whole."""
    masked = text.strip()
    for i, n in enumerate(_dotted()):
        masked = masked.replace(n, f"\x00{i}\x00")
    out = []
    for part in _SENTENCE_END.split(masked):
        for i, n in enumerate(_dotted()):
            part = part.replace(f"\x00{i}\x00", n)
        out += [part] if part else []
    return out


@lru_cache(maxsize=1)
def _names() -> re.Pattern:
    alternatives = "|".join(re.escape(n) for n in _all_names())
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def skeleton(sentence: str) -> str:
    """The sentence with every name as '{}' (any case) and a list of names as one '{}'."""
    return _LIST.sub("{}", _names().sub("{}", sentence))


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
            hits = {"facts": any(k in known for k in [f["asked"], *f["stated"]] if k),
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
