"""Abstain-aware SFT: models/base/chat-s<seed> -> models/base/v4-s<seed>, the study's chat model.

    python -m stages.abstain_sft --seed 0

Trains on chat pairs plus unanswerable questions whose target is the abstain template. The
abstain head can be fitted by BCE at the last prompt byte (abstain_sft.bce_weight); the
default 0 leaves it unfitted, as in the published v4 (its abstain_p AUROC was 0.50).
Reads params `abstain_sft`, `sft`, `seeds`, `device`; data/sft/{chat,abstain}_{train,valid}.jsonl.
Writes models/base/v4-s<seed>, plots/train/base/v4-s<seed>/{train,eval}.csv,
metrics/train/base/v4-s<seed>.json. One v4 per seed of params `seeds` (the probe group `v4`).
"""
import argparse

from tilelli.stage import run
from tilelli.train.recipes import abstain_sft

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True, help="one of params.yaml seeds")
    args = ap.parse_args()
    run(lambda params: abstain_sft(params, args.seed))
