"""Chat data: the chat byte format, and the SFT, abstain, held-out and OOD sets written in it.

Chat format
-----------
The chat byte format of the published kit, and completion-only SFT examples.

    format_prompt("What is the capital of France?")  -> "USER: What is the capital of France?\\nTILELLI:"
    format_completion("The capital of France is Paris.") -> " The capital of France is Paris.\\n"
    x, y = encode_pair(question, answer, seq_len=128)   # y = -100 on prompt positions

SFT rows (data/sft/*.jsonl) and probe rows store the *raw* user text in "prompt" and the raw
answer in "response"; these functions add the framing. A turn ends at "\\n" (END_OF_TURN), so
chat generation stops at STOP_SEQUENCES.

Truncation (an example longer than seq_len + 1 bytes): the completion is kept and the prompt
is cut from the left, so the model always sees "...\\nTILELLI:" right before its answer; a
completion longer than the window is cut on the right.

SFT sets
--------
Chat, abstain, held-out and OOD sets for SFT and metacognition -> data/sft/*.jsonl.

    sets = build_sft_sets(params["sft"])      # {"chat_train": [rows], ...}
    write_sft_sets(sets, "data/sft")          # atomic: the whole directory or nothing

Rows are {"prompt": raw user text, "response": raw answer, "kind": ...}; the chat format (above) adds
"USER: ...\\nTILELLI:" and " ...\\n". Sets (sizes from params where noted):
- chat_train (n_chat_train) / chat_valid (n_chat_valid): questions about real places, answered
  with the sentence the builtin corpus states (kind "chat"); disjoint fact keys. Every training
  set asks with the training phrasings (facts.QUESTIONS, 8-10 per family); the held-out probe
  phrasings (facts.PROBE_QUESTIONS) occur in no set here (tests/test_data_sft.py checks frames).
- abstain_train (n_abstain_train) / abstain_valid (n_abstain_valid): target exactly
  `abstain_template`. ~70% ask the chat templates about fictional places (the surface form
  matches answerable questions, only knowledge tells them apart); ~30% are beyond scope
  (the future, real-time or personal facts about real places). Kind "abstain".
- idk_heldout: 10 questions about fictional places never used elsewhere (kind "idk").
- false_inability: 20 hedged but answerable questions about held-out facts of well-known
  places, the popularity of in_domain (kind "false_inability"; see facts.py, Splits, for why); a gate,
  never trained on, asked with the first 5 training phrasings (as before the phrasing split).
- ood_train (n_ood_train): off-topic questions (60%), false premises (15%) and gibberish (25%)
  whose topics, templates and gibberish generators are disjoint from the probe's (kind "ood",
  field "regime" says which; gibberish rows also name their "generator", prompts.TRAIN_GIBBERISH).
- optional, off by default: `instructions.enabled` adds real QA pairs from a `datasets`
  instruction set (databricks/databricks-dolly-15k, categories open_qa/general_qa) to chat_train
  (kind "instruction"); needs network; meant for paper-scale runs (`-S sft.instructions.enabled=true`).
Every prompt is unique across all sets and the probe (checked here and in tests).
"""
from __future__ import annotations

import random
from pathlib import Path

from tilelli import io, paths
from tilelli.data.facts import QUESTIONS, FactKey, places, qa, split_plan, templates
from tilelli.data.overlap import check_no_leak, probe_overlap
from tilelli.data.prompts import (HEDGES, TRAIN_FALSE_PREMISES, TRAIN_GIBBERISH, false_premise, probe_and_facts,
                                  gibberish_set, hedge, train_topic_questions)
from tilelli.io import TilelliError
from tilelli.model.quantities import IGNORE_INDEX  # -100; one definition, shared with the loss


# ---- Chat format ---------------------------------------------------------------------------------
USER_PREFIX = "USER: "
ASSISTANT_TAG = "\nTILELLI:"
END_OF_TURN = "\n"
STOP_SEQUENCES = [list(b"\nUSER:"), list(END_OF_TURN.encode())]


def format_prompt(question: str) -> str:
    return f"{USER_PREFIX}{question}{ASSISTANT_TAG}"


def format_completion(response: str) -> str:
    return f" {response}{END_OF_TURN}"


def encode_pair(prompt: str, response: str, seq_len: int) -> tuple[list[int], list[int]]:
    """(x, y) byte ids of one chat example, length <= seq_len, loss on the completion only.

    `prompt` is the raw question, `response` the raw answer. y[i] is the byte after x[i];
    every y position whose target is a prompt byte is IGNORE_INDEX (-100).
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    p = list(format_prompt(prompt).encode("utf-8"))
    c = list(format_completion(response).encode("utf-8"))
    if len(p) + len(c) > seq_len + 1:
        p = p[-max(1, seq_len + 1 - len(c)):]
    ids = (p + c)[: seq_len + 1]
    x, y = ids[:-1], ids[1:]
    n_masked = len(p) - 1
    y[:n_masked] = [IGNORE_INDEX] * n_masked
    return x, y


# ---- SFT sets ------------------------------------------------------------------------------------
SET_NAMES = ("chat_train", "chat_valid", "abstain_train", "abstain_valid", "idk_heldout",
             "false_inability", "ood_train")
BEYOND_SCOPE = [
    "What will the population of {name} be in the year {year}?",
    "What is the weather like in {capital} today?",
    "What time is it in {capital} right now?",
    "Who will win the next election in {name}?",
    "What is the phone number of the city hall in {capital}?",
    "How many cars are parked in {capital} at this moment?",
    "What did the mayor of {capital} eat for breakfast yesterday?",
    "What will be the capital of {name} in the year {year}?",
    "What is the name of my best friend in {capital}?",
]


def _check(cfg: dict) -> None:
    for k in ("n_chat_train", "n_abstain_train", "n_ood_train"):
        v = cfg.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise TilelliError(f"sft.{k} must be a positive integer, got {v!r}")
    for k in ("n_chat_valid", "n_abstain_valid"):
        v = cfg.get(k, 100)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= 400:
            raise TilelliError(f"sft.{k} must be an integer in 1..400, got {v!r}")
    t = cfg.get("abstain_template")
    if not isinstance(t, str) or not t.strip() or "\n" in t:
        raise TilelliError(f"sft.abstain_template must be a one-line non-empty string, got {t!r}")


def _chat_rows(r: random.Random, keys: list[FactKey], n: int) -> list[dict]:
    combos = [(k, t) for k in keys for t in range(len(templates(k)))]
    r.shuffle(combos)
    if n > len(combos):
        raise TilelliError(f"sft: {n} chat pairs asked for, only {len(combos)} (fact, phrasing) pairs "
                           "are available; lower sft.n_chat_train / sft.n_chat_valid")
    combos = combos[:n]
    out = []
    for k, t in combos:
        q, a = qa(k, t)
        out.append({"prompt": q, "response": a, "kind": "chat"})
    return out


def _fictional_questions(fict: list[tuple[str, str]]) -> list[str]:
    qs = []
    for country, city in fict:
        for fam, ts in QUESTIONS.items():
            qs += [t.format(name=country) for t in ts if "{capital}" not in t]
        qs.append(f"{city} is the capital of which country?")
    return qs


def _abstain_rows(r: random.Random, fict, scope_places, n: int, template: str,
                  exclude: set[str] = frozenset()) -> list[dict]:
    fq = _fictional_questions(fict)
    sq = [t.format(name=p.name, capital=p.capital, year=r.randint(2080, 2150))
          for p in scope_places for t in BEYOND_SCOPE]
    sq = [q for q in dict.fromkeys(sq) if q not in exclude]  # Kingston is two capitals
    r.shuffle(fq)
    r.shuffle(sq)
    n_scope = n * 3 // 10
    qs = fq[: n - min(n_scope, len(sq))] + sq[:n_scope]
    if len(qs) < n:
        raise TilelliError(f"sft: {n} abstain pairs asked for, only {len(qs)} available; "
                           "lower sft.n_abstain_train / sft.n_abstain_valid")
    r.shuffle(qs)
    return [{"prompt": q, "response": template, "kind": "abstain"} for q in qs]


def _ood_rows(r: random.Random, n: int, template: str, exclude: set[str]) -> list[dict]:
    topic = train_topic_questions()
    r.shuffle(topic)
    pl = list(places())
    n_topic, n_fp = min(len(topic), n * 6 // 10), n * 15 // 100
    premises = []
    while len(premises) < n_fp:
        q = false_premise(r, r.choice(TRAIN_FALSE_PREMISES), r.choice(pl), pl)
        if q not in premises:
            premises.append(q)
    gib = gibberish_set("tilelli-ood-train-gibberish", n - n_topic - n_fp, TRAIN_GIBBERISH, exclude)
    rows = ([{"regime": "ood_topic", "prompt": q} for q in topic[:n_topic]]
            + [{"regime": "false_premise", "prompt": q} for q in premises]
            + [{"regime": "gibberish", "prompt": q, "generator": kind} for kind, q in gib])
    r.shuffle(rows)
    return [{**x, "response": template, "kind": "ood"} for x in rows]


def build_sft_sets(cfg: dict) -> dict[str, list[dict]]:
    _check(cfg)
    seed, template = cfg.get("seed", 0), cfg["abstain_template"]
    plan = split_plan(seed, cfg.get("n_chat_valid", 100))
    r = random.Random(f"tilelli-sft-{seed}")
    probe_rows, probe_facts = probe_and_facts(seed)
    probe = {row["prompt"] for row in probe_rows}
    sets = {"chat_train": _chat_rows(r, plan.chat_train, cfg["n_chat_train"]),
            "chat_valid": _chat_rows(r, plan.chat_valid, cfg.get("n_chat_valid", 100))}
    pl = list(places())
    r.shuffle(pl)
    cut = len(pl) * 8 // 10  # beyond-scope questions: train and valid use different places
    sets["abstain_train"] = _abstain_rows(r, plan.fictional_train, pl[:cut], cfg["n_abstain_train"], template)
    sets["abstain_valid"] = _abstain_rows(r, plan.fictional_valid, pl[cut:], cfg.get("n_abstain_valid", 100),
                                          template, {x["prompt"] for x in sets["abstain_train"]})
    sets["idk_heldout"] = []
    for i, f in enumerate(plan.fictional_idk):  # evenly spaced over the phrasings: every family
        qs = _fictional_questions([f])
        sets["idk_heldout"].append({"prompt": qs[i * len(qs) // len(plan.fictional_idk)], "response": template,
                                    "kind": "idk"})
    sets["false_inability"] = []
    for i, k in enumerate(plan.false_inability):
        q, a = qa(k, r.randrange(5))
        sets["false_inability"].append({"prompt": hedge(HEDGES[(i + 5) % len(HEDGES)], q), "response": a,
                                        "kind": "false_inability"})
    sets["ood_train"] = _ood_rows(r, cfg["n_ood_train"], template, exclude=probe)
    if (cfg.get("instructions") or {}).get("enabled"):
        reserved = probe | {row["prompt"] for s in sets.values() for row in s}
        sets["chat_train"] += instruction_rows(cfg["instructions"], reserved)
    check_disjoint(sets, probe)
    check_no_leak(probe_overlap(probe_rows, probe_facts, sets))
    return sets


def check_disjoint(sets: dict[str, list[dict]], probe: set[str]) -> None:
    """No prompt appears twice in one set, in two sets, or in a set and the probe."""
    seen: dict[str, str] = {p: "probe" for p in probe}
    for name, rows in sets.items():
        for row in rows:
            p = row["prompt"]
            if p in seen:
                raise TilelliError(f"prompt {p!r} is in both {seen[p]} and {name}")
            seen[p] = name


def instruction_rows(icfg: dict, reserved: set[str]) -> list[dict]:
    """QA pairs from a hub instruction dataset (network). Single-line, length-capped, deduped."""
    from tilelli.data.corpus import open_hub_stream
    ds = open_hub_stream("sft.instructions.enabled=true", icfg.get("dataset", "databricks/databricks-dolly-15k"),
                         icfg.get("config"), icfg.get("revision"),
                         hint="set sft.instructions.enabled=false to build the sets offline")
    return filter_instructions(ds, icfg, reserved)


def filter_instructions(rows, icfg: dict, reserved: set[str]) -> list[dict]:
    cats = set(icfg.get("categories", ["open_qa", "general_qa"]))
    max_p, max_r = icfg.get("max_prompt_bytes", 150), icfg.get("max_response_bytes", 200)
    out, seen = [], set(reserved)
    for row in rows:
        if row.get("category") not in cats or (row.get("context") or "").strip():
            continue
        q = " ".join(str(row.get("instruction", "")).split())
        a = " ".join(str(row.get("response", "")).split())
        if not q or not a or q in seen or len(q.encode()) > max_p or len(a.encode()) > max_r:
            continue
        seen.add(q)
        out.append({"prompt": q, "response": a, "kind": "instruction"})
        if len(out) >= icfg.get("max_rows", 5000):
            break
    return out


def write_sft_sets(sets: dict[str, list[dict]], out_dir: str = paths.SFT_DIR) -> dict[str, int]:
    with io.atomic_dir(out_dir) as tmp:
        for name, rows in sets.items():
            io.write_jsonl(Path(tmp) / f"{name}.jsonl", rows)
    return {name: len(rows) for name, rows in sets.items()}
