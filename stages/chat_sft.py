"""Chat SFT: models/base/pretrain-s<seed> -> models/base/chat-s<seed> on USER:/TILELLI: pairs, completion-only loss.

    python -m stages.chat_sft --seed 0

Reads params `chat_sft`, `sft`, `seeds`, `device`; data/sft/chat_{train,valid}.jsonl. The seed sets
the data order. Writes models/base/chat-s<seed>, plots/train/base/chat-s<seed>/{train,eval}.csv,
metrics/train/base/chat-s<seed>.json.
"""
import argparse

from tilelli.stage import run
from tilelli.train.recipes import chat_sft

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True, help="one of params.yaml seeds")
    args = ap.parse_args()
    run(lambda params: chat_sft(params, args.seed))
