"""The speed cost of pinned numerics: tiny pretrain tokens/s, pinned vs native, on this CPU.

    .venv/bin/python benchmarks/bench_numerics.py         # ~2 minutes on 2 cores

Runs bench_train's tiny measurement (the real training loop, the tiny pretrain batch of 8 x 256,
median step time) in fresh processes, alternating TILELLI_NUMERICS=pinned and =native, REPEATS
times each (ATen and MKL read their settings once per process). Prints each run, the medians and
the ratio pinned / native measured in this one run. Native runs at the host's own thread count
default (torch's, usually one per core); pinned at TILELLI_THREADS (2). Printed, never asserted.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

REPEATS = 3


def child() -> None:
    import torch
    from bench_train import measure
    from tilelli import numerics
    r = measure("tiny")
    print(json.dumps({"tokens_per_s": r["tokens_per_s"], "capability": torch.backends.cpu.get_cpu_capability(),
                      "threads": torch.get_num_threads(), "mode": numerics.settings()["mode"]}))


def main() -> None:
    runs: dict[str, list[float]] = {"pinned": [], "native": []}
    for i in range(REPEATS):
        for mode in runs:
            env = dict(os.environ, TILELLI_NUMERICS=mode)
            out = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True,
                                 check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs[mode].append(r["tokens_per_s"])
            print(f"run {i + 1} {mode:<6}: {r['tokens_per_s']:8.0f} tokens/s  (ATen {r['capability']}, "
                  f"{r['threads']} threads)", flush=True)
    med = {m: statistics.median(v) for m, v in runs.items()}
    print(f"median tokens/s: pinned {med['pinned']:.0f}, native {med['native']:.0f}; "
          f"pinned/native = {med['pinned'] / med['native']:.2f} (tiny pretrain, {REPEATS} runs each)")


if __name__ == "__main__":
    child() if "--child" in sys.argv else main()
