"""Stage `pack`: corpus.jsonl -> data/packed/{train,valid}.bin (raw uint8) + meta.json.

    python -m stages.pack                      # reads params.yaml (data.valid_fraction, data.seed)
    dvc repro pack

Each document's UTF-8 bytes, NULs stripped, followed by the 0x00 separator; the valid split
is taken by document with a keyed hash (see tilelli.data.packing). Streaming: memory does not
grow with the corpus (benchmarks/bench_pack.py). Output is replaced atomically.
"""
from __future__ import annotations

import time

from tilelli.data.packing import pack_corpus
from tilelli.stage import log, run, param
from tilelli.paths import CORPUS, PACKED_DIR as OUT_DIR


def main(params: dict) -> None:
    valid_fraction = param(params, "data.valid_fraction")
    seed = param(params, "data.seed")
    log(f"valid_fraction={valid_fraction} seed={seed}")
    t0 = time.time()
    meta = pack_corpus(CORPUS, OUT_DIR, valid_fraction=valid_fraction, seed=seed)
    dt = time.time() - t0
    total = meta["train"]["bytes"] + meta["valid"]["bytes"]
    for split in ("train", "valid"):
        m = meta[split]
        log(f"{OUT_DIR}/{split}.bin: {m['bytes']:,} bytes, {m['documents']:,} documents")
    log(f"packed {total / 1e6:.2f} MB in {dt:.2f}s ({total / 1e6 / max(dt, 1e-9):.0f} MB/s)")


if __name__ == "__main__":
    run(main)
