"""Stage `sft_data`: chat, abstain, held-out IDK / false-inability and OOD sets -> data/sft/*.jsonl.

    python -m stages.sft_data                  # reads params.yaml (sft.*)
    dvc repro sft_data

Files (rows {"prompt", "response", "kind"}): chat_train, chat_valid, abstain_train,
abstain_valid, idk_heldout (10), false_inability (20), ood_train. Held-out sets are disjoint
from training by fact key and every prompt is unique across sets and the probe; no training set
shares a fact, a sentence or a phrasing with the probe (data/overlap.py; both checked before
writing). Offline unless sft.instructions.enabled (Dolly QA pairs, network).
"""
from __future__ import annotations

import time

from tilelli.data.chat import build_sft_sets, write_sft_sets
from tilelli.stage import dump_config, log, run, param
from tilelli.paths import SFT_DIR as OUT_DIR


def main(params: dict) -> None:
    cfg = param(params, "sft")
    log(f"sft = {dump_config(cfg)}")
    t0 = time.time()
    sizes = write_sft_sets(build_sft_sets(cfg), OUT_DIR)
    log(", ".join(f"{name}={n}" for name, n in sizes.items()) + f" -> {OUT_DIR}/ in {time.time() - t0:.2f}s")


if __name__ == "__main__":
    run(main)
