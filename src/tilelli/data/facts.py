"""The facts behind every data set: the fact table, its phrasings, fictional places, and which keys go to which set.

Facts
-----
Real facts for the builtin corpus and the chat sets, from the pinned `countryinfo` package.

Design: one table of places (name, capital, continent, subregion, population, languages,
neighbours), read once from countryinfo 1.0.1 (MIT). The builtin corpus states these facts
in many phrasings; the chat sets ask about them. A *fact key* is (place, family) with family
in FAMILIES; held-out sets are disjoint by fact key, not just by string, so a probe question
can only be answered from pretraining, never from a memorised SFT pair. Phrasings are held out
too: training sets ask with QUESTIONS, the probe's answerable regimes with PROBE_QUESTIONS, two
disjoint sets (below), so a probe question is never a phrasing the SFT trained on.

Fictional places (for unanswerable questions) are built from syllables with a fixed seed and
checked against every real name we emit; the corpus never mentions them (a test checks).

Splits
------
Which fact keys and fictional places go to which set: one plan shared by sft_data and prompts.

    plan = split_plan(seed=0, n_chat_valid=100)

Held-out sets are disjoint *by fact key*: a probe question about the capital of Peru means no
SFT pair mentions Peru's capital in any phrasing (its continent may still be trained). The
corpus states every fact, so a held-out question is answerable from pretraining alone.

Allocation (sft.seed shuffles; counts are fixed so the probe never moves with SFT sizes):
- probe in_domain / ood_style / long_input / neo_false_inability: 30 keys each, 10 per easy
  family (capital, continent, language), and the false_inability gate set (20): all from the
  better-known half of places (population >= median, 118 of 235 places, 354 easy keys; 140
  used, each set on distinct places). neo_false_inability and false_inability used to come
  from the lesser-known half (Tuvalu, Niue); then they differed from in_domain in obscurity as
  well as in the hedge, and a detector could score obscurity. Now only the hedge differs.
- probe factual_misleading: 30 further keys of the better-known half, 10 per easy family, on
  places that in_domain does not ask about: the fact a misleading question asks is held out like
  in_domain's (before, it drew from every place >= 5M people: 15 of its 30 asked facts were
  chat-SFT targets and 5 of its places were in_domain's).
- long_filler: N_LONG_FILLER (30) easy keys of any popularity, on places long_input does not ask
  about: the true facts long_input's chatter states (prompts.FILLER_STATEMENTS phrasings), so no
  SFT set holds them (before: 43 verbatim chat-SFT answer sentences).
- apposition keys: the true fact behind every probe apposition (SplitPlan.apposition): the fact a
  true apposition states, and the one that refutes a false one ("Mexico, which is in Europe":
  Mexico's continent). Before, 16 of factual_misleading's 30 refuting facts were chat keys (14 in
  the sampled chat pairs).
- chat_valid: n_chat_valid further keys (any family); chat_train: every remaining key;
- fictional places: 10 for idk_heldout, 20 for abstain_valid, the rest for abstain_train.
"""
from __future__ import annotations

import random
import re
import statistics
from dataclasses import dataclass, field
from functools import lru_cache


# ---- Facts ---------------------------------------------------------------------------------------
FAMILIES = ("capital", "continent", "language", "population", "neighbours")
EASY_FAMILIES = ("capital", "continent", "language")  # the facts a ~1M model can plausibly learn

# countryinfo stores ISO 639-1 codes (a few entries use names); the names we print.
LANGUAGE_NAMES = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "ay": "Aymara", "az": "Azerbaijani",
    "be": "Belarusian", "bg": "Bulgarian", "bi": "Bislama", "bn": "Bengali", "bs": "Bosnian",
    "ca": "Catalan", "ch": "Chamorro", "cnr": "Montenegrin", "cs": "Czech", "da": "Danish",
    "de": "German", "dv": "Dhivehi", "dz": "Dzongkha", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "fa": "Persian", "ff": "Fula", "fi": "Finnish",
    "fj": "Fijian", "fo": "Faroese", "fr": "French", "ga": "Irish", "gn": "Guarani", "gv": "Manx",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "ht": "Haitian Creole", "hu": "Hungarian",
    "hy": "Armenian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese",
    "ka": "Georgian", "kg": "Kongo", "kk": "Kazakh", "kl": "Greenlandic", "km": "Khmer",
    "ko": "Korean", "ku": "Kurdish", "ky": "Kyrgyz", "la": "Latin", "lb": "Luxembourgish",
    "ln": "Lingala", "lo": "Lao", "lt": "Lithuanian", "lu": "Luba-Katanga", "lv": "Latvian",
    "mg": "Malagasy", "mh": "Marshallese", "mi": "Maori", "mk": "Macedonian", "mn": "Mongolian",
    "ms": "Malay", "mt": "Maltese", "my": "Burmese", "na": "Nauruan", "nb": "Norwegian",
    "nd": "Northern Ndebele", "ne": "Nepali", "nl": "Dutch", "nn": "Norwegian", "no": "Norwegian",
    "nr": "Southern Ndebele", "ny": "Chichewa", "oc": "Occitan", "pa": "Punjabi", "pl": "Polish",
    "ps": "Pashto", "pt": "Portuguese", "qu": "Quechua", "rn": "Kirundi", "ro": "Romanian",
    "rs": "Serbian", "ru": "Russian", "rw": "Kinyarwanda", "sg": "Sango", "si": "Sinhala",
    "sk": "Slovak", "sl": "Slovene", "sm": "Samoan", "sn": "Shona", "so": "Somali",
    "sq": "Albanian", "sr": "Serbian", "ss": "Swati", "st": "Sesotho", "sv": "Swedish",
    "sw": "Swahili", "ta": "Tamil", "tg": "Tajik", "th": "Thai", "ti": "Tigrinya", "tk": "Turkmen",
    "tn": "Tswana", "to": "Tongan", "tr": "Turkish", "ts": "Tsonga", "uk": "Ukrainian",
    "ur": "Urdu", "uz": "Uzbek", "ve": "Venda", "vi": "Vietnamese", "xh": "Xhosa",
    "zh": "Chinese", "zu": "Zulu",
}
CONTINENT_NAMES = {"Africa": "Africa", "Americas": "the Americas", "Asia": "Asia",
                   "Europe": "Europe", "Oceania": "Oceania"}
# Duplicate or defunct entries in countryinfo 1.0.1 (the current entry of each is kept).
SKIP = {"Serbia and Montenegro", "Burma", "Scotland", "Holy See (Vatican City State)",
        "Palestine, State of", "Antilles néerlandaises", "Wales"}
LANGUAGE_FIXES = {"Malaysia": ["ms"]}


@dataclass(frozen=True)
class Place:
    name: str
    capital: str
    continent: str          # as printed: "Europe", "the Americas", ...
    subregion: str
    population: int
    languages: tuple[str, ...]
    neighbours: tuple[str, ...]
    demonym: str | None


@dataclass(frozen=True)
class FactKey:
    place: str
    family: str


def join_names(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def population_words(n: int) -> str:
    """Two significant figures in words: 66078000 -> '66 million', 453 -> '450'."""
    def sig2(x: float) -> str:
        r = float(f"{x:.2g}")
        return str(int(r)) if r == int(r) else str(r)
    if n >= 1_000_000_000:
        return f"{sig2(n / 1e9)} billion"
    if n >= 1_000_000:
        return f"{sig2(n / 1e6)} million"
    if n >= 10_000:
        return f"{sig2(n / 1e3)} thousand"
    return sig2(n)


@lru_cache(maxsize=1)
def places() -> tuple[Place, ...]:
    """Every usable place in countryinfo, sorted by name (deterministic)."""
    from countryinfo import all_countries
    raw = [c.info() for c in all_countries()]
    by_code = {}
    for c in raw:
        iso = c.get("ISO") or {}
        for k in ("alpha2", "alpha3"):
            if iso.get(k) and c["name"] not in SKIP:
                by_code.setdefault(iso[k], c["name"])
    out, seen = [], set()
    for c in raw:
        name, cap = c.get("name"), c.get("capital")
        if isinstance(cap, list):
            cap = cap[0] if cap else None
        if (name in SKIP or name in seen or not cap or not c.get("population")
                or c.get("region") not in CONTINENT_NAMES):
            continue
        langs = []
        for code in LANGUAGE_FIXES.get(name, c.get("languages") or []):
            lang = LANGUAGE_NAMES.get(code, code if len(code) > 3 else None)
            if lang and lang not in langs:
                langs.append(lang)
        neigh = sorted({by_code[b] for b in c.get("borders") or [] if b in by_code} - {name})
        demonym = (c.get("demonym") or "").split(",")[0] or None
        seen.add(name)
        out.append(Place(name, cap, CONTINENT_NAMES[c["region"]], c.get("subregion") or "",
                         int(c["population"]), tuple(langs[:3]), tuple(neigh), demonym))
    return tuple(sorted(out, key=lambda p: p.name))


@lru_cache(maxsize=1)
def place_index() -> dict[str, Place]:
    return {p.name: p for p in places()}


def fact_keys() -> list[FactKey]:
    """Every askable fact, in a fixed order."""
    keys = []
    for p in places():
        for fam in FAMILIES:
            if fam == "language" and not p.languages:
                continue
            if fam == "neighbours" and not 1 <= len(p.neighbours) <= 4:
                continue  # long lists make answers too long for a 128-byte SFT window
            keys.append(FactKey(p.name, fam))
    return keys


def answer(key: FactKey) -> str:
    """The canonical answer sentence; the corpus states it verbatim (and in other phrasings)."""
    p = place_index()[key.place]
    return {
        "capital": lambda: f"The capital of {p.name} is {p.capital}.",
        "continent": lambda: f"{p.name} is in {p.continent}.",
        "language": lambda: f"People in {p.name} speak {join_names(p.languages)}.",
        "population": lambda: f"About {population_words(p.population)} people live in {p.name}.",
        "neighbours": lambda: f"{p.name} borders {join_names(p.neighbours)}.",
    }[key.family]()


# Question phrasings per family, split in two disjoint sets:
# - QUESTIONS (train): what chat_train / chat_valid, abstain_train (fictional places) and every
#   metacog training set ask with; 8-10 per family so the SFT stays varied. The first 5 / 4 / 4
#   / 3 / 3 are the phrasings of earlier versions (their order is kept).
# - PROBE_QUESTIONS (held out): only the probe's answerable regimes use them (in_domain,
#   ood_style, long_input, neo_false_inability), so an in-domain probe prompt asks a held-out
#   fact in a phrasing the SFT never saw. Every probe phrasing opens with one of PROBE_OPENERS,
#   which no training phrasing uses, and ends its clause right after {name} (so a premise can
#   follow the name: prompts.py builds factual_misleading and ood_topic on the same frames).
# Before this split the in_domain probe asked held-out facts with the 5 chat-training phrasings,
# and a nearest-neighbour character-4-gram similarity to chat_train told it from every OOD regime
# (AUROC 0.99 pooled): "have I seen this phrasing?" was enough.
QUESTIONS = {
    "capital": ["What is the capital of {name}?", "What is the capital city of {name}?",
                "Which city is the capital of {name}?", "Name the capital of {name}.",
                "{capital} is the capital of which country?",
                "What city is {name}'s capital?", "Which city do the leaders of {name} govern from?",
                "Where is the government of {name} based?", "What is {name}'s capital called?",
                "The capital of {name} is which city?"],
    "continent": ["Which continent is {name} in?", "On which continent is {name}?",
                  "Where is {name}?", "What continent is {name} part of?",
                  "Which continent does {name} belong to?", "What is the continent of {name}?",
                  "In what part of the world is {name}?", "Name the continent where {name} lies.",
                  "{name} lies on which continent?"],
    "language": ["What language is spoken in {name}?", "What do people speak in {name}?",
                 "Which language do people in {name} speak?", "What is the language of {name}?",
                 "What languages are spoken in {name}?", "What tongue do people in {name} speak?",
                 "Which language is used in {name}?", "What is the main language in {name}?",
                 "People in {name} speak which language?"],
    "population": ["How many people live in {name}?", "What is the population of {name}?",
                   "How big is the population of {name}?", "How many inhabitants does {name} have?",
                   "How many residents does {name} have?", "What is the number of people in {name}?",
                   "Roughly how many people live in {name}?", "How populous is {name}?"],
    "neighbours": ["Which countries border {name}?", "What are the neighbours of {name}?",
                   "Which places share a border with {name}?", "Which countries are next to {name}?",
                   "Which nations lie along the borders of {name}?", "What countries does {name} border?",
                   "Name the countries bordering {name}.", "Who are the neighbours of {name}?"],
}
PROBE_OPENERS = ("Could you tell me ", "I am trying to remember ", "Do you know ")
PROBE_QUESTIONS = {
    "capital": ["Could you tell me the capital of {name}?",
                "I am trying to remember the capital of {name}. What is it?",
                "Do you know the name of the capital of {name}?"],
    "continent": ["Could you tell me which continent is home to {name}?",
                  "I am trying to remember the continent of {name}. Which one is it?",
                  "Do you know on which continent you can find {name}?"],
    "language": ["Could you tell me the language spoken by the people of {name}?",
                 "I am trying to remember the main language of {name}. What is it?",
                 "Do you know which language the people use in {name}?"],
    "population": ["Could you tell me the number of people living in {name}?",
                   "I am trying to remember the population of {name}. What is it?",
                   "Do you know the size of the population of {name}?"],
    "neighbours": ["Could you tell me the countries that border {name}?",
                   "I am trying to remember the neighbours of {name}. Which are they?",
                   "Do you know which countries lie next to {name}?"],
}


@lru_cache(maxsize=1)
def _shared_capitals() -> set[str]:
    caps = [p.capital for p in places()]
    return {c for c in caps if caps.count(c) > 1}


def templates(key: FactKey) -> list[int]:
    """Usable training phrasings of a key: the reverse question is dropped for a shared capital (Kingston)."""
    ts = QUESTIONS[key.family]
    shared = key.family == "capital" and place_index()[key.place].capital in _shared_capitals()
    return [i for i, t in enumerate(ts) if not (shared and "{capital}" in t)]


def qa(key: FactKey, template: int) -> tuple[str, str]:
    """(question, answer) for one training phrasing; the reverse capital question gets a matching answer."""
    p = place_index()[key.place]
    usable = templates(key)
    t = QUESTIONS[key.family][usable[template % len(usable)]]
    if "{capital}" in t:
        return t.format(capital=p.capital), f"{p.capital} is the capital of {p.name}."
    return t.format(name=p.name), answer(key)


def probe_qa(key: FactKey, template: int) -> tuple[str, str]:
    """(question, answer) for one held-out probe phrasing (PROBE_QUESTIONS; never trained on)."""
    ts = PROBE_QUESTIONS[key.family]
    return ts[template % len(ts)].format(name=key.place), answer(key)


# An apposition after the place name in a probe question: true in the answerable regimes (half of
# their prompts carry one), false in factual_misleading (prompts.PROBE_FALSE_PREMISES), so an
# apposition alone does not mark a prompt as misleading. Each states a family other than the one
# asked; {language} is the place's first language.
PROBE_APPOSITIONS = {"capital": ", whose capital is {capital}", "continent": ", which is in {continent}",
                     "language": ", where people speak {language}"}


def apposition(place: Place, family: str) -> str:
    """The true PROBE_APPOSITIONS clause of `family` for `place`."""
    return PROBE_APPOSITIONS[family].format(capital=place.capital, continent=place.continent,
                                            language=place.languages[0] if place.languages else "")


def probe_question(key: FactKey, template: int, apposition_family: str | None = None) -> str:
    """A held-out probe question, with a true apposition of another family after the name if asked."""
    if apposition_family is None:
        return probe_qa(key, template)[0]
    if apposition_family == key.family:
        raise ValueError(f"an apposition must state another family than the one asked ({key.family})")
    ts = PROBE_QUESTIONS[key.family]
    p = place_index()[key.place]
    return ts[template % len(ts)].format(name=p.name + apposition(p, apposition_family))


_SYLLABLES = ["bra", "vel", "mor", "qui", "zan", "thal", "dor", "vex", "lum", "kor", "ysh",
              "fen", "gral", "oth", "pry", "sarn", "tev", "ulm", "wix", "zor", "nir", "quel",
              "brisk", "jov", "krel", "mav", "drun", "pell", "vos", "yar"]
_ENDINGS = ["ia", "istan", "land", "ovia", "ara", "enia", "or", "heim", "ica", "uria"]
_CITY_ENDINGS = ["ton", "grad", "port", "holm", "ville", "burg", "mouth", "ford"]


def _real_words() -> set[str]:
    words = set()
    for p in places():
        for s in (p.name, p.capital, p.subregion, p.demonym or "", *p.languages, *p.neighbours):
            words.update(w.lower() for w in re.findall(r"[^\W\d_]+", s))
    return words


@lru_cache(maxsize=1)
def fictional_places() -> tuple[tuple[str, str], ...]:
    """(fictional country, fictional capital) pairs: fixed, never in the corpus, 160 of them."""
    rng = random.Random(20260521)  # fixed: these names must not move with any param
    real = _real_words()
    out, used = [], set()
    while len(out) < 160:
        country = (rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) + rng.choice(_ENDINGS)).capitalize()
        city = (rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) + rng.choice(_CITY_ENDINGS)).capitalize()
        if country.lower() in real | used or city.lower() in real | used:
            continue
        if any(w in country.lower() or w in city.lower() for w in real if len(w) >= 5):
            continue
        used.update((country.lower(), city.lower()))
        out.append((country, city))
    return tuple(out)


# ---- Splits --------------------------------------------------------------------------------------
PROBE_PER_REGIME = 30
N_FALSE_INABILITY = 20
N_IDK_HELDOUT = 10
N_FICTIONAL_VALID = 20
N_LONG_FILLER = 30


@dataclass
class SplitPlan:
    in_domain: list[FactKey] = field(default_factory=list)
    ood_style: list[FactKey] = field(default_factory=list)
    long_input: list[FactKey] = field(default_factory=list)
    neo_false_inability: list[FactKey] = field(default_factory=list)
    false_inability: list[FactKey] = field(default_factory=list)
    factual_misleading: list[FactKey] = field(default_factory=list)
    long_filler: list[FactKey] = field(default_factory=list)
    # probe key -> the family of the apposition its prompt carries (absent: none). True in the
    # answerable regimes (every second key of a family), false in factual_misleading (every key);
    # either way the place's true fact of that family is held out (apposition_keys).
    apposition: dict[FactKey, str] = field(default_factory=dict)
    chat_valid: list[FactKey] = field(default_factory=list)
    chat_train: list[FactKey] = field(default_factory=list)
    fictional_train: list[tuple[str, str]] = field(default_factory=list)
    fictional_valid: list[tuple[str, str]] = field(default_factory=list)
    fictional_idk: list[tuple[str, str]] = field(default_factory=list)

    def apposition_keys(self) -> set[FactKey]:
        """The true facts of the probe's appositions (a false one is refuted by the true fact)."""
        return {FactKey(k.place, fam) for k, fam in self.apposition.items()} & set(fact_keys())

    def held_out_keys(self) -> set[FactKey]:
        return set(self.in_domain + self.ood_style + self.long_input + self.neo_false_inability
                   + self.false_inability + self.factual_misleading + self.long_filler + self.chat_valid) \
            | self.apposition_keys()


def _appositions(r: random.Random, keys: list[FactKey], misleading: bool = False) -> dict[FactKey, str]:
    """{key: apposition family}. Answerable regimes: every second key of a family, a family drawn
    with `r` among those the place can state truly. factual_misleading: every key, alternating the two
    other easy families (prompts.FALSE_PREMISES_BY_FAMILY's order)."""
    seen: dict[str, int] = {}
    out = {}
    for k in keys:
        i = seen[k.family] = seen.get(k.family, -1) + 1
        others = [f for f in PROBE_APPOSITIONS if f != k.family]
        if misleading:
            out[k] = others[i % len(others)]
        elif i % 2:
            out[k] = r.choice([f for f in others if f != "language" or place_index()[k.place].languages])
    return out


def _take_balanced(pools: dict[str, list[FactKey]], n: int, used: set[FactKey],
                   avoid: frozenset[str] = frozenset()) -> list[FactKey]:
    """n keys, round-robin over families, each place used at most once within the set, none in `avoid`."""
    out, places = [], set(avoid)
    fams = list(pools)
    while len(out) < n:
        progressed = False
        for fam in fams:
            while pools[fam]:
                k = pools[fam].pop()
                if k not in used and k.place not in places:
                    out.append(k)
                    used.add(k)
                    places.add(k.place)
                    progressed = True
                    break
            if len(out) == n:
                break
        if not progressed:
            raise RuntimeError("not enough fact keys for the held-out sets")
    return out


def split_plan(seed: int = 0, n_chat_valid: int = 100) -> SplitPlan:
    r = random.Random(f"tilelli-splits-{seed}")
    keys = fact_keys()
    pops = {name: p.population for name, p in place_index().items()}
    median = statistics.median(pops.values())
    known = {f: [k for k in keys if k.family == f and pops[k.place] >= median] for f in EASY_FAMILIES}
    for pool in known.values():
        r.shuffle(pool)
    plan, used = SplitPlan(), set()
    plan.in_domain = _take_balanced(known, PROBE_PER_REGIME, used)
    plan.ood_style = _take_balanced(known, PROBE_PER_REGIME, used)
    plan.long_input = _take_balanced(known, PROBE_PER_REGIME, used)
    plan.neo_false_inability = _take_balanced(known, PROBE_PER_REGIME, used)
    plan.false_inability = _take_balanced(known, N_FALSE_INABILITY, used)
    plan.factual_misleading = _take_balanced(known, PROBE_PER_REGIME, used,
                                             frozenset(k.place for k in plan.in_domain))
    easy = {f: [k for k in keys if k.family == f and k not in used] for f in EASY_FAMILIES}
    for pool in easy.values():
        r.shuffle(pool)
    plan.long_filler = _take_balanced(easy, N_LONG_FILLER, used, frozenset(k.place for k in plan.long_input))
    for keys_ in (plan.in_domain, plan.ood_style, plan.long_input, plan.neo_false_inability):
        plan.apposition.update(_appositions(r, keys_))
    plan.apposition.update(_appositions(r, plan.factual_misleading, misleading=True))
    used |= plan.apposition_keys()
    rest = [k for k in keys if k not in used]
    r.shuffle(rest)
    plan.chat_valid, plan.chat_train = rest[:n_chat_valid], rest[n_chat_valid:]
    fict = list(fictional_places())
    r.shuffle(fict)
    plan.fictional_idk = fict[:N_IDK_HELDOUT]
    plan.fictional_valid = fict[N_IDK_HELDOUT:N_IDK_HELDOUT + N_FICTIONAL_VALID]
    plan.fictional_train = fict[N_IDK_HELDOUT + N_FICTIONAL_VALID:]
    return plan
