"""The builtin corpus: offline, deterministic, FineWeb-Edu-like prose about real places, plus stories.

    from tilelli.data.builtin import builtin_documents
    for doc in builtin_documents(max_bytes=4_000_000, seed=0): ...

Why it looks like this: the tiny profile pretrains a ~1M-parameter byte model on it, and the
chat SFT then asks about the same facts. A fact is learnable when it appears often and in
several phrasings, so every document restates the capital, continent and languages of its
place in a sentence picked from 4-6 variants; quiz sections pair questions with the exact
answer sentences the chat set uses. About `story_fraction` of the bytes are simple stories
(TinyStories register), some of them set in real capitals. Fictional places never occur.

Speed: ~4 MB in about a second (pure string templating). Same (max_bytes, seed) -> same bytes.
"""
from __future__ import annotations

import random
from typing import Iterator

from tilelli.data.facts import FactKey, Place, answer, join_names, places, population_words
from tilelli.errors import TilelliError


def _capital(r: random.Random, p: Place) -> str:
    return r.choice([
        f"The capital of {p.name} is {p.capital}.",
        f"{p.capital} is the capital of {p.name}.",
        f"The capital city of {p.name} is {p.capital}, where the national government meets.",
        f"Its capital, {p.capital}, is the seat of government of {p.name}.",
        f"If you visit {p.name}, you will probably arrive in {p.capital}, its capital city.",
        f"{p.name} is governed from {p.capital}, the capital.",
    ])


def _continent(r: random.Random, p: Place) -> str:
    sub = f" It belongs to the region called {p.subregion}." if p.subregion else ""
    return r.choice([
        f"{p.name} is in {p.continent}.{sub}",
        f"{p.name} is located in {p.continent}.{sub}",
        f"On a map, you can find {p.name} in {p.continent}.{sub}",
        f"Geographers place {p.name} in {p.continent}.{sub}",
    ])


def _language(r: random.Random, p: Place) -> str:
    langs = join_names(p.languages)
    one = len(p.languages) == 1
    return r.choice([
        f"People in {p.name} speak {langs}.",
        f"The main language{'' if one else 's'} of {p.name} {'is' if one else 'are'} {langs}.",
        f"In {p.name}, most people speak {langs}.",
        f"{langs} {'is' if one else 'are'} spoken in {p.name}.",
    ])


def _population(r: random.Random, p: Place) -> str:
    w = population_words(p.population)
    return r.choice([
        f"About {w} people live in {p.name}.",
        f"{p.name} has a population of about {w} people.",
        f"Roughly {w} people call {p.name} home.",
    ])


def _neighbours(r: random.Random, p: Place) -> str:
    if not p.neighbours:
        return ""  # countryinfo lists no land borders (islands, missing data): say nothing
    n = join_names(p.neighbours)
    return r.choice([f"{p.name} borders {n}.", f"The neighbours of {p.name} are {n}.",
                     f"{p.name} shares a border with {n}."])


_INTROS = ["{name}", "About {name}", "{name}: a short guide", "Learning about {name}",
           "Geography lesson: {name}", "Facts about {name}", "An introduction to {name}"]
_OUTROS = [
    "Learning these facts helps students understand how the world is organised.",
    "Maps, atlases and encyclopedias are good places to check facts like these.",
    "Teachers often ask about capitals and languages in geography lessons.",
    "Knowing where a place is helps us understand its history and its culture.",
    "",
]


def country_article(r: random.Random, p: Place) -> str:
    core = [_capital(r, p), _continent(r, p), _language(r, p), _population(r, p)]
    r.shuffle(core)
    extra = [s for s in [_neighbours(r, p)] if s]
    if p.demonym:
        extra.append(r.choice([f"People from {p.name} are called {p.demonym}.",
                               f"A person from {p.name} is described as {p.demonym}."]))
    body = " ".join(core[:2]) + "\n\n" + " ".join(core[2:] + extra)
    if r.random() < 0.5:  # restate the key fact, as explanatory web text often does
        body += " " + r.choice(["To sum up, the", "Remember: the", "In short, the"]) + \
            f" capital of {p.name} is {p.capital}."
    title = r.choice(_INTROS).format(name=p.name)
    return f"{title}\n\n{body}\n\n{r.choice(_OUTROS)}".rstrip()


def quiz(r: random.Random, group: list[Place]) -> str:
    lines = [r.choice(["Geography quiz", "Practice questions", "Check your knowledge",
                       "Revision questions with answers"])]
    for i, p in enumerate(group, 1):
        fam = r.choice(["capital", "capital", "continent", "language", "population"])
        q = {"capital": f"What is the capital of {p.name}?",
             "continent": f"Which continent is {p.name} in?",
             "language": f"What language is spoken in {p.name}?",
             "population": f"How many people live in {p.name}?"}[fam]
        if fam == "language" and not p.languages:
            continue
        lines.append(f"{i}. {q}\nAnswer: {answer(FactKey(p.name, fam))}")
    return "\n\n".join(lines)


def region_overview(r: random.Random, group: list[Place]) -> str:
    sub = group[0].subregion or group[0].continent
    names = join_names(p.name for p in group)
    parts = [f"Places of {sub}", f"The region of {sub} includes {names}."]
    parts += [_capital(r, p) for p in group]
    parts.append(r.choice([f"All of them are in {group[0].continent}.",
                           f"These places are part of {group[0].continent}."]))
    return parts[0] + "\n\n" + " ".join(parts[1:])


def comparison(r: random.Random, a: Place, b: Place) -> str:
    return " ".join([
        f"Comparing {a.name} and {b.name}.",
        f"{a.name}'s capital is {a.capital}, while {b.name}'s capital is {b.capital}.",
        _continent(r, a), _continent(r, b), _language(r, a), _language(r, b),
        f"{a.name} has about {population_words(a.population)} people and {b.name} has about "
        f"{population_words(b.population)}.",
    ])


_KIDS = ["Mia", "Tom", "Lily", "Ben", "Sara", "Max", "Anna", "Leo", "Zoe", "Sam", "Nina", "Omar",
         "Ella", "Jack", "Rosa", "Kai"]
_ANIMALS = ["cat", "dog", "bird", "rabbit", "frog", "duck", "fox", "bear", "turtle", "puppy"]
_THINGS = ["ball", "kite", "red hat", "little boat", "book", "box of crayons", "blue cup", "drum"]
_FEELINGS = ["happy", "sad", "scared", "excited", "tired", "proud", "surprised"]


def story(r: random.Random, p: Place | None) -> str:
    kid, friend = r.sample(_KIDS, 2)
    animal, thing, feel = r.choice(_ANIMALS), r.choice(_THINGS), r.choice(_FEELINGS)
    opening = (f"Once upon a time, {kid} lived in {p.capital}, the capital of {p.name}."
               if p else f"Once upon a time, there was a child named {kid}.")
    middle = r.choice([
        f"One day, {kid} found a {animal} near the river. The {animal} was {feel}. "
        f"{kid} gave it some water and said, \"Do not worry, I will help you.\"",
        f"{kid} had a {thing}. {friend} wanted to play with the {thing} too. "
        f"At first {kid} said no, but then {kid} saw that {friend} was {feel}.",
        f"{kid} and {friend} went to the park. They saw a {animal} sitting under a tree. "
        f"\"Look!\" said {friend}. \"The {animal} looks {feel}.\"",
    ])
    end = r.choice([
        f"In the end, {kid} and {friend} shared the {thing} and played all day. They were happy.",
        f"The {animal} became {kid}'s best friend. Every day they walked together.",
        f"{kid} learned that sharing makes everyone feel better.",
    ])
    trip = (f" Later, {kid} told {friend}, \"{p.capital} is the capital of {p.name}, "
            f"and people here speak {join_names(p.languages) or 'many languages'}.\"") if p else ""
    return f"{opening} {middle}{trip} {end}"


def builtin_documents(max_bytes: int, seed: int = 0, story_fraction: float = 0.15) -> Iterator[str]:
    """Yield documents until their UTF-8 size reaches `max_bytes` (the last one may cross it)."""
    if max_bytes <= 0:
        raise TilelliError(f"data.max_bytes must be > 0, got {max_bytes}")
    if not 0.0 <= story_fraction < 1.0:
        raise TilelliError(f"data.builtin_story_fraction must be in [0, 1), got {story_fraction}")
    r = random.Random(seed)
    pl = list(places())
    by_sub: dict[str, list[Place]] = {}
    for p in pl:
        by_sub.setdefault(p.subregion or p.continent, []).append(p)
    total = 0
    while True:
        order = pl[:]
        r.shuffle(order)
        for p in order:
            kind = r.random()
            if kind < story_fraction:
                doc = story(r, p if r.random() < 0.5 else None)
            elif kind < story_fraction + 0.55:
                doc = country_article(r, p)
            elif kind < story_fraction + 0.72:
                doc = quiz(r, r.sample(pl, 5))
            elif kind < story_fraction + 0.85:
                group = by_sub[p.subregion or p.continent]
                doc = region_overview(r, r.sample(group, min(len(group), 5)))
            else:
                doc = comparison(r, p, r.choice(pl))
            yield doc
            total += len(doc.encode("utf-8"))
            if total >= max_bytes:
                return
