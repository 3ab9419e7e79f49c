"""Out-of-distribution text: off-topic questions, false premises and gibberish.

Two disjoint halves, so metacognition training never sees a probe prompt, its topic, its
template *or its generator*:
- probe (data/prompts/probe_210.jsonl): PROBE_TOPIC_QUESTIONS (programming, health, music,
  space, money, chemistry), PROBE_FALSE_PREMISES and PROBE_GIBBERISH generators;
- training (data/sft/ood_train.jsonl): TRAIN_TOPIC_DOMAINS (cooking, sports, cars, gardening,
  maths, fashion, games, law, movies, computers, pets, weather), TRAIN_FALSE_PREMISES and
  TRAIN_GIBBERISH generators.
Gibberish has six generators, three per half (tests check the halves are disjoint):
    training: pseudo_words ("kqzt vorbla"), keyboard_mash ("asdfjkl"), symbols_digits ("#4!%9")
    probe:    mixed_case_alnum ("xQ7zR2 kd9"), mixed_scripts ("äpλo жde"),
              scrambled_words ("Retaw ednrag lowdni?": common words, letters shuffled)
The probe's topic questions and false premises are asked in the held-out question frames of
the in_domain probe (facts.PROBE_QUESTIONS), so their phrasing does not set them apart from
in_domain; the training halves keep their own templates. Gibberish is surface-defined by design.
A detector that only learned the training generators' look is therefore tested on gibberish
it has never seen, as the published probe intends ("held-out OOD"). Both halves draw from
their own seeded streams, cycle through their generators (equal shares) and are de-duplicated
against the probe. The corpus (places and simple stories) covers none of these topics.
"""
from __future__ import annotations

import random

from tilelli.data.facts import EASY_FAMILIES, PROBE_APPOSITIONS, PROBE_QUESTIONS

# Asked in the probe's held-out question frames (facts.PROBE_OPENERS: "Could you tell me ...",
# "I am trying to remember ...", "Do you know ..."), the frames of the in_domain questions, so the
# topic, not the phrasing, is what sets them apart (tests/test_data_prompts.py checks the openers).
PROBE_TOPIC_QUESTIONS = [
    # programming
    "Could you tell me how to reverse a linked list in Python?",
    "Do you know what a segmentation fault means in C?",
    "I am trying to remember the command that undoes my last git commit. What is it?",
    "Could you tell me which programming language most software firms in India use?",
    "Do you know which programming language schools in Finland teach first?",
    # health
    "Could you tell me the normal resting heart rate of an adult?",
    "Do you know how the flu vaccine works?",
    "I am trying to remember the symptoms of low blood sugar. What are they?",
    "Could you tell me which vaccines a traveller needs before visiting Kenya?",
    "Do you know how many doctors work in the hospitals of Norway?",
    # music
    "Do you know who composed the Four Seasons?",
    "Could you tell me how to tune a guitar to drop D?",
    "I am trying to remember the notes of a minor seventh chord. What are they?",
    "Do you know who wrote the national anthem of Brazil?",
    "Could you tell me the most famous music festival in Hungary?",
    # space
    "Could you tell me how long light from the Sun takes to reach Earth?",
    "Do you know what a neutron star is?",
    "Could you tell me how many moons Jupiter has?",
    "Do you know when India launched its first satellite?",
    "I am trying to remember the name of the space agency of Japan. What is it?",
    # money
    "Could you tell me what compound interest is?",
    "Do you know how a stock split works?",
    "Could you tell me what an index fund is?",
    "I am trying to remember the interest rate of the central bank of Mexico. What is it?",
    "Do you know how much a loaf of bread costs in Switzerland?",
    # chemistry
    "Could you tell me the chemical formula of table salt?",
    "Do you know why ice floats on water?",
    "I am trying to remember the pH of lemon juice. What is it?",
    "Could you tell me which chemical elements are mined in Chile?",
    "Do you know how hard the tap water in Vienna is?",
]

# Training topics: no probe question fits one of these templates (a bare "How do I {x}?" would
# cover "How do I undo my last git commit?"; tests/test_data_sft.py checks every template).
TRAIN_TOPIC_DOMAINS = {
    "cooking": (["How do I cook {x}?", "What goes well with {x}?", "How long does {x} keep in the fridge?"],
                ["risotto", "pancakes", "lasagna", "brownies", "dumplings", "chili", "an omelette",
                 "sourdough bread", "roast chicken", "miso soup"]),
    "sports": (["What are the rules of {x}?", "How do I get better at {x}?", "How many players are on a {x} team?"],
               ["basketball", "volleyball", "cricket", "ice hockey", "water polo", "rugby", "handball",
                "baseball", "lacrosse", "netball"]),
    "cars": (["How often should I change the {x}?", "What does a bad {x} sound like?",
              "How much does a new {x} cost?"],
             ["engine oil", "brake pads", "timing belt", "car battery", "spark plugs", "air filter",
              "alternator", "clutch", "radiator", "starter motor"]),
    "gardening": (["When should I plant {x}?", "How often do I water {x}?", "Why are my {x} turning yellow?"],
                  ["tomatoes", "tulips", "roses", "cucumbers", "sunflowers", "strawberries", "basil",
                   "peppers", "lettuce", "orchids"]),
    "maths": (["How do I solve {x}?", "Can you explain {x} simply?", "Why is {x} useful?"],
              ["a quadratic equation", "long division", "the Pythagorean theorem", "a system of equations",
               "an integral", "a derivative", "a logarithm", "matrix multiplication", "a proof by induction",
               "standard deviation"]),
    "fashion": (["How do I wash a {x}?", "What shoes go with a {x}?", "How should a {x} fit?"],
                ["wool sweater", "silk dress", "leather jacket", "linen shirt", "denim skirt", "suit",
                 "raincoat", "cashmere scarf", "tuxedo", "summer dress"]),
    "games": (["How do I beat the last level of {x}?", "What is the best strategy in {x}?",
               "How many players can play {x}?"],
              ["chess", "Monopoly", "Tetris", "poker", "Scrabble", "Minecraft", "bridge", "checkers",
               "backgammon", "Go"]),
    "law": (["What are the steps to {x}?", "How long does it take to {x}?", "Do I need a lawyer to {x}?"],
            ["write a will", "file a patent", "register a company", "dispute a parking ticket",
             "sign a lease", "change my name", "apply for a trademark", "contest a fine",
             "file for divorce", "become a notary"]),
    "movies": (["Who directed {x}?", "Is {x} worth watching?", "How does {x} end?"],
               ["a famous space opera", "the longest silent film", "an award-winning documentary",
                "the first sound film", "a classic western", "a horror sequel", "a musical remake",
                "a heist thriller", "an animated fairy tale", "a courtroom drama"]),
    "computers": (["How do I upgrade the {x} in my laptop?", "Why is my {x} so slow?",
                   "What does the {x} do in a computer?"],
                  ["RAM", "hard drive", "graphics card", "CPU", "power supply", "motherboard", "Wi-Fi card",
                   "SSD", "cooling fan", "BIOS"]),
    "pets": (["What should I feed my {x}?", "How often should I take my {x} to the vet?",
              "How do I train my {x}?"],
             ["parrot", "hamster", "goldfish", "guinea pig", "ferret", "iguana", "kitten", "horse",
              "canary", "tortoise"]),
    "weather": (["How does a {x} form?", "Is a {x} dangerous?", "How can I predict a {x}?"],
                ["tornado", "hailstorm", "heat wave", "blizzard", "monsoon", "thunderstorm", "fog bank",
                 "hurricane", "drought", "frost"]),
}

# {name}, {capital}: a real place; {wrong_*}: another place's value. The two lists share no template.
# The probe's false premises sit in its held-out question frames (facts.PROBE_QUESTIONS, the frames
# of in_domain): a false apposition after the place name ("Could you tell me the capital of Peru,
# which is in Asia?"), about a family other than the one asked. So a factual_misleading prompt
# reads like an in_domain question; only knowing the fact tells the premise is false.
# The answerable regimes carry the same appositions, true, in half of their prompts.
PROBE_FALSE_PREMISES = [t.replace("{name}", "{name}" + app.replace("{", "{wrong_"))
                        for fam in EASY_FAMILIES for t in PROBE_QUESTIONS[fam]
                        for afam, app in PROBE_APPOSITIONS.items() if afam != fam]
TRAIN_FALSE_PREMISES = [
    "Who decided that {wrong_capital} would be the capital of {name}?",
    "Explain why {wrong_language} is the only language of {name}.",
    "How far is {name} from the rest of {wrong_continent}, where it lies?",
    "What is the tallest building in {wrong_capital}, capital of {name}?",
    "Why was {capital} given to {wrong_name} as a capital?",
]

_WORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_KEY_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_SYMBOLS = "#@!%&*^~+=<>?/|"
_UNICODE = "äöüßçñøåéèêíóúžšłΩλπσдждфжъ"
# Everyday words for scrambled_words; none is a place name, all have >= 2 distinct letters.
_COMMON_WORDS = ["water", "house", "garden", "window", "people", "morning", "yellow", "bread",
                 "table", "little", "mother", "school", "orange", "summer", "winter", "friend",
                 "number", "letter", "animal", "travel", "kitchen", "market", "simple", "answer",
                 "basket", "forest", "planet", "silver", "candle", "pocket", "ladder", "button",
                 "pencil", "doctor", "engine", "spring", "castle", "bottle", "flower", "ticket"]


def _pseudo_words(r: random.Random) -> str:
    return " ".join("".join(r.choice(_WORD_LETTERS) for _ in range(r.randint(3, 9)))
                    for _ in range(r.randint(3, 9)))


def _keyboard_mash(r: random.Random) -> str:
    row = r.choice(_KEY_ROWS)
    return " ".join("".join(r.choice(row) for _ in range(r.randint(4, 12))) for _ in range(r.randint(1, 4)))


def _symbols_digits(r: random.Random) -> str:
    return "".join(r.choice(_SYMBOLS + "0123456789") for _ in range(r.randint(8, 40)))


def _mixed_case_alnum(r: random.Random) -> str:
    return "".join(r.choice(_WORD_LETTERS + _WORD_LETTERS.upper() + "0123456789 ")
                   for _ in range(r.randint(12, 60))).strip() or "xQ7zR2"


def _mixed_scripts(r: random.Random) -> str:
    return " ".join("".join(r.choice(_UNICODE + _WORD_LETTERS) for _ in range(r.randint(3, 8)))
                    for _ in range(r.randint(2, 7)))


def _scramble(r: random.Random, word: str) -> str:
    letters = list(word)
    while "".join(letters) == word:
        r.shuffle(letters)
    return "".join(letters)


def _scrambled_words(r: random.Random) -> str:
    """3-7 common words with their letters shuffled; capitalised, a '?' at the end half the time."""
    text = " ".join(_scramble(r, r.choice(_COMMON_WORDS)) for _ in range(r.randint(3, 7)))
    return text.capitalize() + ("?" if r.random() < 0.5 else "")


GIBBERISH = {"pseudo_words": _pseudo_words, "keyboard_mash": _keyboard_mash,
             "symbols_digits": _symbols_digits, "mixed_case_alnum": _mixed_case_alnum,
             "mixed_scripts": _mixed_scripts, "scrambled_words": _scrambled_words}
TRAIN_GIBBERISH = ("pseudo_words", "keyboard_mash", "symbols_digits")
PROBE_GIBBERISH = ("mixed_case_alnum", "mixed_scripts", "scrambled_words")


def gibberish_set(seed: str, n: int, kinds: tuple[str, ...],
                  exclude: set[str] = frozenset()) -> list[tuple[str, str]]:
    """n unique (generator, text) pairs, cycling through `kinds` so each gets an equal share."""
    unknown = [k for k in kinds if k not in GIBBERISH]
    if unknown or not kinds:
        raise ValueError(f"unknown gibberish generator(s) {unknown or kinds}; known: {', '.join(GIBBERISH)}")
    r, out, seen = random.Random(seed), [], set(exclude)
    while len(out) < n:
        kind = kinds[len(out) % len(kinds)]
        g = GIBBERISH[kind](r)
        if g not in seen:
            seen.add(g)
            out.append((kind, g))
    return out


def train_topic_questions() -> list[str]:
    return [t.format(x=x) for ts, xs in TRAIN_TOPIC_DOMAINS.values() for t in ts for x in xs]


def false_premise(r: random.Random, template: str, place, all_places) -> str:
    """Fill a false-premise template about `place` with values that are wrong for it."""
    others = [p for p in all_places if p.name != place.name and p.capital != place.capital]
    wrong_lang = [p.languages[0] for p in others if p.languages and p.languages[0] not in place.languages]
    wrong_cont = sorted({p.continent for p in others} - {place.continent})
    return template.format(name=place.name, capital=place.capital, wrong_name=r.choice(others).name,
                           wrong_capital=r.choice(others).capital, wrong_continent=r.choice(wrong_cont),
                           wrong_language=r.choice(wrong_lang))
