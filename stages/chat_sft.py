"""Chat SFT: models/pretrain -> models/chat on USER:/TILELLI: pairs, completion-only loss.

    python -m stages.chat_sft

Reads params `chat_sft`, `sft`, `seed`, `device`; data/sft/chat_{train,valid}.jsonl.
Writes models/chat, plots/train/chat_sft/{train,eval}.csv, metrics/train/chat_sft.json.
"""
from tilelli.stage import run
from tilelli.train.recipes import chat_sft

if __name__ == "__main__":
    run(chat_sft)
