"""What the paper DAG costs: measured CPU step times, FLOPs per token, projected GPU hours and dollars.

    PYTHONPATH=src .venv/bin/python benchmarks/paper_cost.py          # ~2.5 minutes on 2 cores
    PYTHONPATH=src .venv/bin/python benchmarks/paper_cost.py --quick  # fewer steps, no probe timing, writes nothing

Writes results/benchmarks/paper_cost.txt (the raw measurements) and prints the same. The cost
table with its assumptions and the cheaper option is results/benchmarks/paper_cost.md, written
by hand from this output.

1. The paper profile is composed from conf/ (tilelli.stage.compose, as `dvc exp run -S
   profile=paper` does); every training run of the DAG is listed from it through the same
   helpers the stages use (tilelli.study, MetacogRecipe, ab_plan): steps, batch, seq, which
   weights train. Nothing is hard-coded but the GPU figures below.
2. Per-step CPU time of each training stage at paper shapes (seq 256, the real model, the
   stage's loss and trainable set, through the real loop tilelli.train.train) with the batch cut
   to BATCH sequences; time per token is scaled to the paper batch. fp32, pinned numerics as
   `import tilelli` sets them (AVX2 kernels, oneDNN off, 2 threads). Median over STEPS steps
   after one warm-up step. Random bytes as data (the work does not depend on the values).
3. FLOPs per token, forward + backward, counted by torch.utils.flop_counter.FlopCounterMode on
   one sequence of 256 with the stage's trainable set (router-only variants skip the weight
   gradients of the frozen Linears), against the analytic 6 x (matmul weights) + 12 x L x T x
   width (bench_model.py); and the forward alone (evaluation batches). The counter sees 0 FLOPs in
   the CPU SDPA kernel, so vanilla's dense attention is added by hand (the Lite's sparse attention
   is explicit matmuls and is counted).
4. The projection: run FLOPs = steps x batch x seq x FLOPs/token (+ evaluation forwards);
   GPU hours = FLOPs / (peak bf16 dense x MFU) for the MFU assumptions in GPUS.
   The CPU-hours column is the stage's runs at the measured batch-8 rate (evaluation forwards at a
   third of a training token): a lower bound, since batch 128 runs ~1.3x slower per token here
   (bench_train.txt).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from tilelli.eval.ab_report import ab_plan
from tilelli.model import TilelliLM
from tilelli.model.layers import TernaryLinear
from tilelli.stage import compose
from tilelli.study import metacog_variants, probe_models, study_seeds
from tilelli.train import TrainConfig, train
from tilelli.train.loop import MetacogRecipe
from tilelli.train.recipes import select_trainable
from tilelli.train.loop import AbstainLoss, MetacogLoss, lm_loss

SEQ = 256
CONFIGS = ["vanilla-fp32", "tilelli-lite-fp32", "tilelli-lite-ternary", "tilelli-fp32", "tilelli-ternary"]
OUT = Path("results/benchmarks/paper_cost.txt")

# Peak dense bf16 tensor FLOP/s and HBM bandwidth (datasheet figures; sources in paper_cost.md).
# A6000: 154.8 TFLOPS bf16 dense (309.7 with 2:4 sparsity), 768 GB/s. H100 SXM: 989 TFLOPS, 3.35
# TB/s. H200 SXM: the same GH100 compute, 4.8 TB/s. Prices: stated assumptions (paper_cost.md).
GPUS = {"A6000": {"peak": 154.8e12, "bw": 0.768e12, "usd_h": 0.50},
        "H100": {"peak": 989e12, "bw": 3.35e12, "usd_h": 2.50},
        "H200": {"peak": 989e12, "bw": 4.8e12, "usd_h": 3.50}}
PUBLISHED_TOKENS_S = 50_000 * 32_768 / (5 * 3600)   # NOTES: 50K steps x ~32K tokens in ~5 h on one A6000
OPTIMISTIC_MFU = 0.16   # a tuned small-model trainer: NOTES' 17M model at ~1.46M tokens/s per H100


def paper_params(overrides: list[str] = ()) -> dict:
    with tempfile.TemporaryDirectory() as d:
        return yaml.safe_load(compose(["profile=paper", *overrides], Path(d) / "p.yaml").read_text())


def training_runs(params: dict) -> list[dict]:
    """Every training run of the DAG: stage, model config, trainable set, loss, shapes, count."""
    seeds, runs = study_seeds(params), []
    model = params["model"]["name"]
    for stage, loss in (("pretrain", "lm"), ("chat_sft", "lm"), ("abstain_sft", "abstain")):
        s = params[stage]
        runs.append(dict(stage=stage, model=model, trainable="all", loss=loss, n=len(seeds), **_shape(s)))
    m = params["metacog"]
    for v in metacog_variants(params):
        r = MetacogRecipe.from_params(m, v)
        s = {**m["train"], **r.train}
        bce = float(m.get("bce_weight", 1.0)) if r.trains_head else 0.0
        runs.append(dict(stage=f"metacog {v}", model=model, trainable=r.trainable,
                         loss=("metacog", float(r.weight), bce),
                         n=len(seeds), **_shape(s)))
    plan = ab_plan(params)
    finals = len([s for s in plan.seeds if s != plan.sweep_seed])
    for arm, name in plan.models.items():
        runs.append(dict(stage=f"ab_sweep {arm}", model=name, trainable="all", loss="lm", n=len(plan.lrs),
                         **_shape(plan.train)))
        runs.append(dict(stage=f"ab {arm}", model=name, trainable="all", loss="lm", n=finals, **_shape(plan.train)))
    return runs


def _shape(s: dict) -> dict:
    evals = s["steps"] // s.get("eval_every", 100) + (s["steps"] % s.get("eval_every", 100) != 0)
    return dict(steps=s["steps"], batch=s["batch_size"], seq=s["seq_len"],
                eval_tokens=evals * s.get("eval_batches", 8) * s["batch_size"] * s["seq_len"])


def loss_fn(kind):
    if kind == "lm":
        return lm_loss
    if kind == "abstain":
        return AbstainLoss(0.0)
    return MetacogLoss(kind[1], kind[2])


def make_model(run: dict) -> TilelliLM:
    model = TilelliLM.from_config(run["model"], seed=0)
    if run["trainable"] != "all":
        select_trainable(model, run["trainable"])
    return model


def random_batch(batch: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (batch, SEQ + 1), generator=g)
    return {"x": x[:, :-1], "y": x[:, 1:], "pos": torch.randint(8, SEQ - 8, (batch,), generator=g),
            "abstain": torch.randint(0, 2, (batch,), generator=g).float(),
            "ood": torch.randint(0, 2, (batch,), generator=g).float()}


def step_time(run: dict, batch: int, steps: int) -> float:
    """Median seconds per optimizer step of `batch` x 256 through tilelli.train.train (first step dropped)."""
    section = dict(steps=steps + 1, batch_size=batch, seq_len=SEQ, lr=1e-4, eval_every=10_000, ckpt_every=10_000)
    cfg = TrainConfig.from_params(section, f"cost-{run['stage']}")
    stamps = []

    def batch_fn(step, micro, rank, world):
        stamps.append(time.perf_counter())
        return random_batch(batch, step)

    model = make_model(run)
    with tempfile.TemporaryDirectory() as d:
        train(model, cfg, batch_fn, loss_fn(run["loss"]), out_dir=f"{d}/m", state_dir=f"{d}/s", log_dir=f"{d}/l",
              device="cpu")
    return statistics.median(np.diff(stamps[1:]))


def counted_flops(run: dict) -> tuple[float, float]:
    """(forward + backward, forward alone) FLOPs per token on one sequence of 256."""
    model = make_model(run).train()
    cfg = TrainConfig.from_params(dict(steps=1, batch_size=1, seq_len=SEQ, lr=1e-4), "flops")
    batch = random_batch(1, 0)
    with FlopCounterMode(display=False) as fc:
        loss, _ = loss_fn(run["loss"])(model, batch, cfg)
        loss.backward()
    train_flops = fc.get_total_flops()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(batch["x"], targets=batch["y"])
    fwd_flops = fc.get_total_flops()
    c = model.config
    if c.arch == "vanilla":   # FlopCounterMode counts 0 for the CPU SDPA kernel (checked, torch 2.13):
        sdpa = 4 * c.n_layers * SEQ * SEQ * c.d_model            # add QK^T and AV over the full T x T,
        train_flops, fwd_flops = train_flops + 3 * sdpa, fwd_flops + sdpa   # forward + 2x backward
    return train_flops / SEQ, fwd_flops / SEQ


def analytic_flops(model: TilelliLM) -> float:
    c = model.config
    matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, (torch.nn.Linear, TernaryLinear)))
    width = c.d_model if c.arch == "vanilla" else c.path_dim
    return 6 * matmul + 12 * c.n_layers * SEQ * width


def probe_seconds() -> float:
    """Wall seconds of one 210-prompt probe (signals + 48 greedy bytes) on the 10M Lite, this CPU."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_probe import synthetic_prompts
    from tilelli.eval.probe import probe_model

    lm = TilelliLM.from_config("tilelli-lite-fp32", seed=0).eval()
    prompts = synthetic_prompts()
    probe_model(lm, prompts[:8], batch_size=8, gen_bytes=4)
    t0 = time.perf_counter()
    probe_model(lm, prompts, batch_size=32, gen_bytes=48)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8, help="sequences per measured step (paper: 64-128)")
    ap.add_argument("--steps", type=int, default=3, help="measured steps per stage after one warm-up")
    ap.add_argument("--quick", action="store_true", help="2 measured steps of batch 4, no probe timing")
    args = ap.parse_args()
    if args.quick:
        args.batch, args.steps = 4, 2
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    t_start = time.perf_counter()
    params = paper_params()
    runs = training_runs(params)
    say(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, fp32, pinned numerics "
        f"(tilelli.numerics); measured batch {args.batch} x {SEQ}, median of {args.steps} steps after 1 warm-up")

    say("\n[1] FLOPs per token (seq 256), forward+backward with all weights trainable: counted vs analytic")
    say(f"    {'config':22s} {'params':>11s} {'counted':>9s} {'analytic':>9s} {'fwd only':>9s} {'6N':>8s}")
    for name in CONFIGS:
        run = dict(stage=name, model=name, trainable="all", loss="lm")
        f_train, f_fwd = counted_flops(run)
        model = TilelliLM.from_config(name, seed=0)
        say(f"    {name:22s} {model.num_params():11,d} {f_train / 1e6:8.1f}M {analytic_flops(model) / 1e6:8.1f}M "
            f"{f_fwd / 1e6:8.1f}M {6 * model.num_params() / 1e6:7.1f}M")

    say(f"\n[2] training stages of the paper DAG (composed profile=paper), CPU step time at batch {args.batch}")
    say(f"    {'stage':26s} {'model':18s} {'trains':14s} {'runs':>4s} {'steps':>6s} {'batch':>5s} "
        f"{'GFLOP/tok':>9s} {'s/step@b':>8s} {'tok/s':>6s} {'s/step paper':>12s} {'run tokens':>11s} "
        f"{'CPU h (all)':>11s}")
    rows = []
    for run in runs:
        f_train, f_fwd = counted_flops(run)
        s = step_time(run, args.batch, args.steps)
        tok_s = args.batch * SEQ / s
        tokens = run["n"] * run["steps"] * run["batch"] * run["seq"]
        flops = tokens * f_train + run["n"] * run["eval_tokens"] * f_fwd
        cpu_h = (tokens + run["n"] * run["eval_tokens"] / 3) / tok_s / 3600
        rows.append({**run, "f_train": f_train, "f_fwd": f_fwd, "tok_s": tok_s, "tokens": tokens, "flops": flops})
        say(f"    {run['stage']:26s} {run['model']:18s} {run['trainable']:14s} {run['n']:4d} {run['steps']:6d} "
            f"{run['batch']:5d} {f_train / 1e9:9.4f} {s:8.2f} {tok_s:6.0f} {run['batch'] * SEQ / tok_s:12.1f} "
            f"{tokens / 1e6:10.0f}M {cpu_h:11.1f}")
    total_tokens = sum(r["tokens"] for r in rows)
    total_flops = sum(r["flops"] for r in rows)
    say(f"    total: {sum(r['n'] for r in rows)} runs, {total_tokens / 1e9:.2f}B training tokens, "
        f"{total_flops / 1e18:.3f} EFLOP (training + evaluation forwards)")

    lite = next(r for r in rows if r["stage"] == "pretrain")
    implied = PUBLISHED_TOKENS_S * lite["f_train"] / GPUS["A6000"]["peak"]
    say(f"\n[3] A6000 calibration: the kit's 50K steps x 32,768 tokens in ~5 h = {PUBLISHED_TOKENS_S:,.0f} tokens/s; "
        f"at {lite['f_train'] / 1e6:.1f}M FLOPs/token (Lite, counted) that is "
        f"{PUBLISHED_TOKENS_S * lite['f_train'] / 1e12:.2f} TFLOP/s = MFU {implied:.2%} of 154.8 TFLOPS bf16 dense "
        f"({PUBLISHED_TOKENS_S * lite['f_train'] / 38.7e12:.1%} of the 38.7 TFLOPS fp32 peak)")
    scenarios = {"A6000": {"calibrated": implied}}
    for gpu in ("H100", "H200"):   # memory-bound: A6000's calibrated tokens/s x the HBM bandwidth ratio
        bw_mfu = implied * (GPUS[gpu]["bw"] / GPUS["A6000"]["bw"]) * GPUS["A6000"]["peak"] / GPUS[gpu]["peak"]
        scenarios[gpu] = {"bandwidth-scaled": bw_mfu, "tuned": OPTIMISTIC_MFU}

    say("\n[4] projection, one GPU, runs back to back: hours = FLOPs / (peak bf16 dense x MFU), $ = hours x price")
    for gpu, cases in scenarios.items():
        for case, mfu in cases.items():
            rate = GPUS[gpu]["peak"] * mfu
            parts = {}
            for r in rows:
                key = r["stage"].split()[0]
                parts[key] = parts.get(key, 0.0) + r["flops"] / rate / 3600
            hours = sum(parts.values())
            say(f"    {gpu:5s} {case:16s} MFU {mfu:6.2%} ({rate / lite['f_train'] / 1e3:7.0f}K Lite tokens/s) "
                f"${GPUS[gpu]['usd_h']:.2f}/h: {hours:6.1f} h ${hours * GPUS[gpu]['usd_h']:7.2f}   "
                + "  ".join(f"{k} {v:.2f}h" for k, v in parts.items()))

    say("\n[5] cheaper A/B designs (the A/B is most of the cost), same FLOPs/token and MFU as [4]; hours per GPU case")
    per_step = {r["stage"]: r["flops"] / (r["n"] * r["steps"]) for r in rows}
    rest = sum(r["flops"] for r in rows if r["stage"].split()[0] not in ("ab", "ab_sweep"))
    plan = ab_plan(params)
    n_lr, n_seed, arms = len(plan.lrs), len(plan.seeds), list(plan.models)
    full = plan.train["steps"]
    designs = {   # (sweep runs per arm, sweep steps, final runs per arm, final steps)
        "committed: 3-lr sweep at 50K, seeds 1,2 at 50K": (n_lr, full, n_seed - 1, full),
        "-S ab.train.steps=25000 (works today)": (n_lr, full // 2, n_seed - 1, full // 2),
        "sweep at 10K, 3 seeds at 50K (needs ab.sweep.steps)": (n_lr, full // 5, n_seed, full),
        "published: 3 vs 3 seeds at 3e-4, no sweep": (0, 0, n_seed, full),
    }
    for label, (sr, ss, fr, fs) in designs.items():
        ab_flops = sum(per_step[f"ab {a}"] * (sr * ss + fr * fs) for a in arms)
        cells = []
        for gpu, cases in scenarios.items():
            for case, mfu in cases.items():
                h = (rest + ab_flops) / (GPUS[gpu]["peak"] * mfu) / 3600
                cells.append(f"{gpu} {case} {h:.1f}h ${h * GPUS[gpu]['usd_h']:.0f}")
        say(f"    {label:52s} A/B {(sr * ss + fr * fs) * len(arms) / 1e3:4.0f}K steps: " + "; ".join(cells))

    if not args.quick:
        n_probe = len(probe_models(params))
        p_s = probe_seconds()
        say(f"\n[6] inference: one 210-prompt probe of the 10M Lite (signals + 48 greedy bytes, batch 32) = "
            f"{p_s:.1f} s on this CPU; the paper DAG probes {n_probe} models")
    say(f"\n(benchmark wall time {time.perf_counter() - t_start:.0f} s)")
    if not args.quick:   # the committed file is the full measurement only
        OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
