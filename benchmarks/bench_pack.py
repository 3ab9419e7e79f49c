"""Packing throughput and peak memory on a large synthetic corpus (not part of `dvc repro`).

    .venv/bin/python benchmarks/bench_pack.py                 # 1 GB from a generator, 200 MB from JSONL
    .venv/bin/python benchmarks/bench_pack.py --gen-mb 200 --jsonl-mb 50

Two measurements, each in a fresh child process so its peak RSS (ru_maxrss) is its own:
1. `pack_documents` fed by a generator of distinct ~2 KB documents (never materialised):
   the packer itself: split hash + sha256 + buffered writes.
2. `pack_corpus` on a corpus.jsonl written first to a temp dir: the `pack` stage end to end,
   JSON decoding included.
Printed as ratios against the goals (>= 50 MB/s; packing 1 GB under 300 MB RSS) and against
a plain buffered write of the same number of bytes on this disk (the I/O ceiling).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

TARGET_MBPS, RSS_BUDGET_MB = 50.0, 300.0


def synthetic_docs(total_bytes: int, seed: int = 0):
    """Distinct documents of ~0.3-4 KB (pool of 512 random texts, each prefixed by its index)."""
    r = random.Random(seed)
    words = ["the", "capital", "river", "mountain", "people", "speak", "language", "city", "region",
             "school", "history", "north", "south", "population", "café", "naïve", "東京", "über"]
    pool = [" ".join(r.choice(words) for _ in range(r.randint(50, 700))) for _ in range(512)]
    done, i = 0, 0
    while done < total_bytes:
        doc = f"Document {i}. {pool[i % 512]}"
        yield doc
        done += len(doc.encode("utf-8"))
        i += 1


def _child(kind: str, mb: int, workdir: str, q) -> None:
    from tilelli.data.packing import pack_corpus, pack_documents
    t0 = time.perf_counter()
    if kind == "generator":
        meta = pack_documents(synthetic_docs(mb * 1_000_000), Path(workdir) / "packed", 0.05, 0)
    elif kind == "jsonl":
        meta = pack_corpus(Path(workdir) / "corpus.jsonl", Path(workdir) / "packed", 0.05, 0)
    else:  # plain write of the same amount: the disk ceiling
        block = os.urandom(8 << 20)
        with open(Path(workdir) / "plain.bin", "wb") as f:
            for _ in range(mb * 1_000_000 // len(block)):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        meta = {"train": {"bytes": mb * 1_000_000}, "valid": {"bytes": 0}}
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put((meta["train"]["bytes"] + meta["valid"]["bytes"], dt, rss_mb))


def measure(kind: str, mb: int, workdir: str):
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=_child, args=(kind, mb, workdir, q))
    p.start()
    out = q.get()
    p.join()
    return out


def baseline_rss() -> float:
    """Peak RSS of a child that only imports the packer (the interpreter's fixed cost)."""
    import subprocess
    code = ("import resource, tilelli.data.packing; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    return float(subprocess.check_output([sys.executable, "-c", code]).decode())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen-mb", type=int, default=1000)
    ap.add_argument("--jsonl-mb", type=int, default=200)
    args = ap.parse_args()
    base = baseline_rss()
    print(f"interpreter + packer import: {base:.0f} MB RSS")
    with tempfile.TemporaryDirectory(prefix="bench_pack.") as tmp:
        n, dt, _ = measure("plain", args.gen_mb, tmp)
        ceiling = n / 1e6 / dt
        os.unlink(Path(tmp) / "plain.bin")
        print(f"plain buffered write of {n / 1e6:.0f} MB: {ceiling:.0f} MB/s (disk ceiling)")

        n, dt, rss = measure("generator", args.gen_mb, tmp)
        mbps = n / 1e6 / dt
        print(f"pack_documents, {n / 1e6:.0f} MB from a generator: {dt:.1f} s, {mbps:.0f} MB/s "
              f"({mbps / TARGET_MBPS:.1f}x the 50 MB/s goal, {mbps / ceiling:.2f}x the disk ceiling), "
              f"peak RSS {rss:.0f} MB ({rss / RSS_BUDGET_MB:.2f}x the 300 MB budget)")

        t0 = time.perf_counter()
        with open(Path(tmp) / "corpus.jsonl", "w", encoding="utf-8") as f:
            for d in synthetic_docs(args.jsonl_mb * 1_000_000, seed=1):
                f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
        print(f"(wrote a {args.jsonl_mb} MB corpus.jsonl in {time.perf_counter() - t0:.1f} s)")
        n, dt, rss = measure("jsonl", args.jsonl_mb, tmp)
        mbps = n / 1e6 / dt
        print(f"pack_corpus, {n / 1e6:.0f} MB from corpus.jsonl: {dt:.1f} s, {mbps:.0f} MB/s "
              f"({mbps / TARGET_MBPS:.1f}x the goal), peak RSS {rss:.0f} MB ({rss / RSS_BUDGET_MB:.2f}x the budget)")


if __name__ == "__main__":
    main()
