"""Model throughput on this CPU, as ratios measured in one run (printed, never asserted).

    .venv/bin/python benchmarks/bench_model.py                 # ~3-4 minutes on 2 cores
    .venv/bin/python benchmarks/bench_model.py --quick         # fewer repeats, smaller batch
    .venv/bin/python benchmarks/bench_model.py --threads 1

1. Training (forward + backward + AdamW step, seq 256) tokens/s for each 10M config, as a
   ratio to vanilla-fp32 and as achieved FLOP/s over a dense fp32 matmul measured here.
   Target: tilelli-lite-ternary >= 0.7x vanilla. FLOPs per token = 6 x (matmul weights) +
   12 x L x T x c for the full T x S score and value products (the sparse pathway computes
   the whole score matrix before its top-k). Configs run round-robin so drift hits all alike.
2. Sparse top-k attention (k=16) vs causal F.scaled_dot_product_attention at T=256,
   forward + backward on the same q, k, v: time ratio.
3. Generation for the 10M Lite (FP32): 256 new bytes from a 1-byte prompt, greedy, with and
   without cache. Targets: cached >= 10x uncached, >= 300 new bytes/s single stream. The last
   byte crosses the 256-byte context, so one window re-encode is included (model/lm.py).

Medians over repeats. Other jobs on the same cores skew absolute numbers; compare ratios.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from tilelli.model import TilelliLM
from tilelli.model.layers import TernaryLinear, allowed_keys, sparse_topk_attention

NAMES = ["vanilla-fp32", "tilelli-lite-fp32", "tilelli-lite-ternary", "tilelli-fp32", "tilelli-ternary"]
SEQ = 256


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def matmul_flops(repeats: int) -> float:
    """FLOP/s of a dense fp32 [4096 x 512] @ [512 x 2048] matmul (shape of a big FFN layer)."""
    a, b = torch.randn(4096, 512), torch.randn(512, 2048)
    timed(lambda: a @ b)
    return 2 * 4096 * 512 * 2048 / statistics.median(timed(lambda: a @ b) for _ in range(repeats * 3))


def flops_per_token(lm: TilelliLM) -> float:
    c = lm.config
    matmul = sum(m.weight.numel() for m in lm.modules() if isinstance(m, (torch.nn.Linear, TernaryLinear)))
    width = c.d_model if c.arch == "vanilla" else c.path_dim
    return 6 * matmul + 12 * c.n_layers * SEQ * width


def bench_training(batch: int, repeats: int, matmul: float) -> None:
    print(f"\n[1] training, batch {batch} x seq {SEQ}, forward+backward+AdamW, median of {repeats}")
    models = {n: TilelliLM.from_config(n, seed=0).train() for n in NAMES}
    opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-4) for n, m in models.items()}
    x = torch.randint(0, 256, (batch, SEQ), generator=torch.Generator().manual_seed(0))
    times = {n: [] for n in NAMES}

    def step(name):
        out = models[name](x, x)
        (out.loss + 0.01 * out.aux_loss).backward()
        opts[name].step()
        opts[name].zero_grad(set_to_none=True)

    for name in NAMES:                                                   # warm-up
        step(name)
    for _ in range(repeats):
        for name in NAMES:
            times[name].append(timed(lambda: step(name)))
    base = batch * SEQ / statistics.median(times["vanilla-fp32"])
    print(f"    dense matmul reference: {matmul / 1e9:.1f} GFLOP/s")
    print(f"    {'config':22s} {'tokens/s':>9s} {'vs vanilla':>10s} {'GFLOP/s':>8s} {'/matmul':>8s}")
    for name in NAMES:
        tps = batch * SEQ / statistics.median(times[name])
        achieved = tps * flops_per_token(models[name])
        print(f"    {name:22s} {tps:9.0f} {tps / base:9.2f}x {achieved / 1e9:8.1f} {achieved / matmul:8.2f}")


def bench_attention(batch: int, repeats: int) -> None:
    print(f"\n[2] attention at T={SEQ}, batch {batch}, 8 heads of 32, forward+backward, median of {repeats}")
    q, k, v = (torch.randn(batch, 8, SEQ, 32, requires_grad=True) for _ in range(3))
    allowed = allowed_keys(SEQ, None, q.device)

    def sparse():
        sparse_topk_attention(q, k, v, 16, allowed).sum().backward()

    def dense():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

    sparse(), dense()
    t_sparse = statistics.median(timed(sparse) for _ in range(repeats))
    t_dense = statistics.median(timed(dense) for _ in range(repeats))
    print(f"    sparse top-16: {t_sparse * 1e3:.1f} ms   causal SDPA: {t_dense * 1e3:.1f} ms   "
          f"ratio {t_sparse / t_dense:.2f}x (one topk per call)")


def bench_generation(repeats: int) -> None:
    print(f"\n[3] generation, tilelli-lite-fp32 (10M), 256 new bytes, greedy, median of {repeats}")
    lm = TilelliLM.from_config("tilelli-lite-fp32", seed=0).eval()
    prompt = [0]
    lm.generate(prompt, 8)
    cached = statistics.median(timed(lambda: lm.generate(prompt, 256)) for _ in range(repeats))
    uncached = timed(lambda: lm.generate(prompt, 256, use_cache=False))
    print(f"    cached: {256 / cached:7.0f} new bytes/s   uncached: {256 / uncached:6.0f} new bytes/s   "
          f"speed-up {uncached / cached:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, batch 2")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats, batch = (3, 2) if args.quick else (5, 4)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    matmul = matmul_flops(repeats)
    bench_training(batch, repeats, matmul)
    bench_attention(2 * batch, repeats)
    bench_generation(repeats)


if __name__ == "__main__":
    main()
