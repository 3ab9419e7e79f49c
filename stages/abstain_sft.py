"""Abstain-aware SFT: models/chat -> models/v4, the study's chat model.

    python -m stages.abstain_sft

Trains on chat pairs plus unanswerable questions whose target is the abstain template. The
abstain head can be fitted by BCE at the last prompt byte (abstain_sft.abstain_bce_weight); the
default 0 leaves it unfitted, as in the published v4 (its abstain_p AUROC was 0.50).
Reads params `abstain_sft`, `sft`, `seed`, `device`; data/sft/{chat,abstain}_{train,valid}.jsonl.
Writes models/v4, plots/train/abstain_sft/{train,eval}.csv, metrics/train/abstain_sft.json.
"""
from tilelli.stage import run
from tilelli.train.recipes import abstain_sft

if __name__ == "__main__":
    run(abstain_sft)
