"""Stage `prompts`: the 210-prompt probe set -> data/prompts/probe_210.jsonl (git-tracked).

    python -m stages.prompts                   # reads params.yaml (sft.seed)
    dvc repro prompts

30 prompts in each of 7 regimes (in_domain, ood_topic, ood_style, factual_misleading,
long_input, neo_false_inability, gibberish); rows {"id", "regime", "prompt", "expected"}.
Deterministic: depends only on sft.seed and the pinned countryinfo data, never on SFT sizes.
"""
from __future__ import annotations

import collections

from tilelli import io
from tilelli.data.prompts import build_probe
from tilelli.stage import log, run, param
from tilelli.paths import PROMPTS as OUT


def main(params: dict) -> None:
    seed = param(params, "sft.seed")
    rows = build_probe(seed)
    io.write_jsonl(OUT, rows)
    counts = collections.Counter(r["regime"] for r in rows)
    log(f"{len(rows)} prompts -> {OUT}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    run(main)
