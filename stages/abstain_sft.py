"""Abstain-aware SFT: models/chat -> models/v4, the study's chat model.

    python -m stages.abstain_sft

Trains on chat pairs plus unanswerable questions whose target is the abstain template, with
the abstain head fitted by BCE at the last prompt byte (param abstain_sft.abstain_bce_weight).
Reads params `abstain_sft`, `sft`, `seed`, `device`; data/sft/{chat,abstain}_{train,valid}.jsonl.
Writes models/v4, plots/abstain_sft/{train,eval}.csv, metrics/abstain_sft.json.
"""
from tilelli.stage import run
from tilelli.train.recipes import abstain_sft

if __name__ == "__main__":
    run(abstain_sft)
