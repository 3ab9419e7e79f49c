"""The pretraining corpus for the `download` stage: its sources, and the builtin corpus generated offline.

Sources
-------
Text sources for the `download` stage: builtin (default, offline), fineweb-edu, tinystories, local.

    from tilelli.data.corpus import download
    manifest = download(params["data"], "data/raw")   # data/raw/corpus.jsonl + manifest.json

Every source is a stream of documents cut at `data.max_bytes` (UTF-8 bytes of text; the
document that reaches the limit is kept whole). Hub sources and local parquet files go through
one code path, `hf_texts(IterableDataset, ...)`: the hub stream comes from
`load_dataset(name, config, revision=..., streaming=True)`, a local file from
`load_dataset("parquet", data_files=..., streaming=True)`, so the filter/limit code that runs on
FineWeb-Edu is the code the tests run. Order is the dataset's file order (no shuffle), so a
pinned revision gives the same documents every time.

Offline: HF_HUB_OFFLINE / HF_DATASETS_OFFLINE, or a failed 5 s TCP probe of the hub, fail at
once with one line naming data.source=builtin and data.source=local (without the probe,
`datasets` retries for ~25 s). `datasets` is imported lazily: other stages stay light.
Output is written into a temporary directory and renamed, so a failure leaves the old corpus.

The builtin corpus
------------------
The builtin corpus: offline, deterministic, FineWeb-Edu-like prose about real places, plus stories.

    from tilelli.data.corpus import builtin_documents
    for doc in builtin_documents(max_bytes=4_000_000, seed=0): ...

Why it looks like this: the tiny profile pretrains a ~1M-parameter byte model on it, and the
chat SFT then asks about the same facts. A fact is learnable when it appears often and in
several phrasings, so every document restates the capital, continent and languages of its
place in a sentence picked from 4-6 variants; quiz sections pair questions with the exact
answer sentences the chat set uses. About `story_fraction` of the bytes are simple stories
(TinyStories register), some of them set in real capitals. Fictional places never occur.

Speed: pure string templating, no model and no network. Same (max_bytes, seed) -> same bytes.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import socket
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urlparse

from tilelli import io, paths
from tilelli.data.facts import FactKey, Place, answer, join_names, places, population_words
from tilelli.io import TilelliError, iter_jsonl


# ---- Sources -------------------------------------------------------------------------------------
SOURCES = ("builtin", "fineweb-edu", "tinystories", "local")
HUB_SOURCES = {"fineweb-edu": "fineweb", "tinystories": "tinystories"}  # source -> params key
OFFLINE_HINT = ("use data.source=builtin (the offline corpus) or data.source=local "
                "with data.local_paths=[your .jsonl/.parquet files]")


def check_data_params(cfg: dict) -> None:
    """Reject bad `data` params with one clear line before any work is done."""
    source = cfg.get("source")
    if source not in SOURCES:
        raise TilelliError(f"data.source={source!r} is unknown; valid sources: {', '.join(SOURCES)}")
    mb = cfg.get("max_bytes")
    if not isinstance(mb, int) or isinstance(mb, bool) or mb <= 0:
        raise TilelliError(f"data.max_bytes must be a positive integer, got {mb!r}")
    vf = cfg.get("valid_fraction", 0.05)
    if not isinstance(vf, (int, float)) or not 0.0 < vf < 0.5:
        raise TilelliError(f"data.valid_fraction must be in (0, 0.5), got {vf!r}")
    ms = cfg.get("min_int_score")
    if ms is not None and (not isinstance(ms, int) or not 0 <= ms <= 5):
        raise TilelliError(f"data.min_int_score must be null or an integer 0..5, got {ms!r}")
    if source in HUB_SOURCES:
        hub = cfg.get(HUB_SOURCES[source])
        if not isinstance(hub, dict) or not hub.get("dataset"):
            raise TilelliError(f"data.{HUB_SOURCES[source]}.dataset is required for data.source={source}")
    if source == "local" and not cfg.get("local_paths"):
        raise TilelliError("data.source=local needs data.local_paths=[files] (.jsonl with a 'text' field, or .parquet)")


def hf_texts(ds: Iterable[dict], max_bytes: int, text_field: str = "text",
             min_int_score: int | None = None) -> Iterator[str]:
    """Texts of a `datasets` stream (hub or parquet): quality filter, then stop at max_bytes."""
    total = 0
    for row in ds:
        if min_int_score is not None and "int_score" in row and (row["int_score"] or 0) < min_int_score:
            continue
        text = row.get(text_field)
        if not text:
            continue
        yield text
        total += len(text.encode("utf-8"))
        if total >= max_bytes:
            return


def _offline_env() -> str | None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var} is set"
    return None


def _probe_hub(timeout: float = 5.0) -> str | None:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError as e:
        return f"cannot reach {url.hostname}: {e.strerror or e.__class__.__name__}"
    return None


def open_hub_stream(label: str, dataset: str, config: str | None, revision: str | None,
                    split: str = "train", hint: str = OFFLINE_HINT):
    """A streaming IterableDataset from the hub, or TilelliError in seconds when offline.

    `label` names the setting that asked for the hub (e.g. "data.source=fineweb-edu"), `hint`
    the offline alternative; both go into the one-line error.
    """
    why = _offline_env() or _probe_hub()
    if why:
        raise TilelliError(f"{label} needs the Hugging Face Hub ({why}); {hint}")
    import datasets  # lazy: heavy, and only the download stage (and the dolly option) need it
    try:
        return datasets.load_dataset(dataset, config, split=split, revision=revision, streaming=True)
    except Exception as e:  # noqa: BLE001 - any hub failure becomes one line
        first = (str(e).splitlines() or [""])[0][:200]
        raise TilelliError(f"{label}: could not open {dataset} ({type(e).__name__}: {first}); {hint}") from None


def resolve_revision(dataset: str, revision: str | None) -> str | None:
    """The commit sha a branch name points to (recorded in the manifest); None when unknown."""
    try:
        from huggingface_hub import HfApi
        return HfApi().dataset_info(dataset, revision=revision, timeout=10).sha
    except Exception:  # noqa: BLE001 - best effort, the manifest then says null
        return None


def open_parquet_stream(paths: list[str]):
    import datasets
    return datasets.load_dataset("parquet", data_files=[str(p) for p in paths], split="train",
                                 streaming=True)


def local_files(patterns: list[str]) -> list[Path]:
    files = []
    for pat in patterns:
        hits = sorted(glob.glob(str(pat))) or ([pat] if Path(pat).exists() else [])
        if not hits:
            raise TilelliError(f"data.local_paths: {pat}: no such file")
        files += [Path(h) for h in hits]
    for f in files:
        if f.suffix not in (".jsonl", ".json", ".parquet"):
            raise TilelliError(f"data.local_paths: {f}: unsupported type (use .jsonl with a 'text' field, or .parquet)")
    return files


def local_texts(files: list[Path], max_bytes: int, min_int_score: int | None) -> Iterator[str]:
    total = 0
    for f in files:
        rows = (iter_jsonl(f, required=("text",)) if f.suffix in (".jsonl", ".json")
                else open_parquet_stream([f]))
        for text in hf_texts(rows, max_bytes - total, min_int_score=min_int_score):
            yield text
            total += len(text.encode("utf-8"))
        if total >= max_bytes:
            return


def documents(cfg: dict) -> tuple[Iterator[str], dict]:
    """(document iterator, provenance) for the configured source; params already checked."""
    source, max_bytes = cfg["source"], cfg["max_bytes"]
    if source == "builtin":
        import countryinfo
        frac = cfg.get("builtin_story_fraction", 0.15)
        return (builtin_documents(max_bytes, seed=cfg.get("seed", 0), story_fraction=frac),
                {"dataset": f"builtin (countryinfo {countryinfo.__version__})", "config": None,
                 "revision": None, "filter": None})
    if source == "local":
        files = local_files(cfg["local_paths"])
        ms = cfg.get("min_int_score")
        return (local_texts(files, max_bytes, ms),
                {"dataset": [str(f) for f in files], "config": None, "revision": None,
                 "filter": f"int_score >= {ms} (rows that have it)" if ms is not None else None})
    hub = cfg[HUB_SOURCES[source]]
    ds = open_hub_stream(f"data.source={source}", hub["dataset"], hub.get("config"), hub.get("revision"))
    ms = cfg.get("min_int_score") if source == "fineweb-edu" else None

    def guarded() -> Iterator[str]:
        try:
            yield from hf_texts(ds, max_bytes, min_int_score=ms)
        except Exception as e:  # noqa: BLE001 - a dropped connection mid-stream
            raise TilelliError(f"data.source={source}: stream failed ({type(e).__name__}: "
                               f"{(str(e).splitlines() or [''])[0][:200]}); {OFFLINE_HINT}") from None
    return guarded(), {"dataset": hub["dataset"], "config": hub.get("config"),
                       "revision": hub.get("revision"),
                       "revision_sha": resolve_revision(hub["dataset"], hub.get("revision")),
                       "filter": f"int_score >= {ms}" if ms is not None else None}


def write_corpus(docs: Iterable[str], path: Path) -> dict:
    """Write {"text": ...} lines; return documents, bytes (UTF-8 text) and sha256 of the file."""
    h, n_docs, n_bytes = hashlib.sha256(), 0, 0
    with open(path, "wb") as f:
        for text in docs:
            line = (json.dumps({"text": text}, ensure_ascii=False) + "\n").encode("utf-8")
            f.write(line)
            h.update(line)
            n_docs += 1
            n_bytes += len(text.encode("utf-8"))
    if n_docs == 0:
        raise TilelliError("the source produced no documents (check data.local_paths / data.min_int_score)")
    return {"documents": n_docs, "bytes": n_bytes, "sha256": h.hexdigest()}


def download(cfg: dict, out_dir: str | os.PathLike = paths.RAW_DIR) -> dict:
    """Fetch or generate the corpus into out_dir/corpus.jsonl atomically; return the manifest."""
    check_data_params(cfg)
    docs, provenance = documents(cfg)
    with io.atomic_dir(out_dir) as tmp:
        stats = write_corpus(docs, Path(tmp) / "corpus.jsonl")
        manifest = {"source": cfg["source"], **provenance, "max_bytes": cfg["max_bytes"],
                    "seed": cfg.get("seed", 0), **stats,
                    "sha256_of": "corpus.jsonl (one {\"text\": ...} object per line)"}
        io.write_json(Path(tmp) / "manifest.json", manifest)
    return manifest


# ---- The builtin corpus --------------------------------------------------------------------------
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
