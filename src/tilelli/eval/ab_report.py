"""The Lite-vs-vanilla A/B: the learning-rate choice and the report (no torch).

A fair A/B is fair in parameters AND in tuning. Parameters: tilelli-lite-fp32-tiny has
1,031,633 and vanilla-fp32-tiny 1,050,981 (ratio 0.982; 10.05M vs 10.09M at paper scale).
Tuning: the first tiny A/B gave both arms the Lite pretrain's lr (3e-3) for 300 steps at
batch 16 x 128; vanilla sat on a loss plateau (2.3-2.5 nats) until step ~176 and ended at
2.66 bits/byte against Lite's 0.71, while at 3e-3 for 1,200 steps it reached 0.563 (Lite 0.393):
the plateau, not capacity, decided the result. So the A/B now runs in three DVC stages:

    ab_sweep  arm x ab.sweep.lrs, seed ab.sweep.seed    -> metrics/train/ab/sweep/<arm>-lr<lr>.json
    ab_lr     choose_lr: each arm's lr with the lowest final validation bits/byte -> metrics/ab_lr.json
    ab        arm x ab.seeds at the arm's chosen lr     -> metrics/train/ab/<arm>-s<seed>.json
    ab_report Welch's t-test on the FINAL val bpb of every seed, the sweep, the chosen lrs, the
              plateau evidence and each arm's drop over its last quarter (convergence) ->
              metrics/ab.json; val bpb vs tokens seen -> plots/ab/val_bpb.csv and its figure
              plots/ab/val_bpb.png (the one PAPER_OUTLINE.md embeds)

The verdict of claim N2 (claims.yaml, test equivalent_arms in tilelli.eval.claims) reads the
per-seed finals and `convergence`: an arm still improving by more than the stated epsilon over
its last quarter makes it INCONCLUSIVE ("not converged"); then TOST within the stated margin
shows "no difference" and Welch's test shows a difference. p >= 0.05 alone never reproduces it.

The sweep runs at the full ab.train length, so an lr is judged at the horizon it is used at
(the cosine schedule depends on `steps`), and the final run of the sweep seed IS the sweep run
at the chosen lr (train/recipes.py copies it: same model, seed, data and config; training is
deterministic on CPU). A sweep of n lrs thus costs n - 1 extra runs per arm.

Choice rule: the lowest final val bpb; NaN / inf (a diverged run) never wins; on an exact tie
the smaller lr wins (the more conservative step). `at_edge` records an arm whose best lr is the
smallest or largest of the grid, i.e. possibly under-tuned: widen ab.sweep.lrs then.

This module reads only JSON and CSV, so it imports neither torch nor tilelli.train (matplotlib
only when curve_figure draws). The A/B's plan (params ab, checked), its run names and the
chosen lr, which training (tilelli.train.recipes) needs too, live in tilelli.study.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

from tilelli.eval import pyplot, save_png
from tilelli.eval.stats import welch_test
from tilelli.io import TilelliError, is_number, read_json, write_json, write_text
from tilelli.study import ARMS, ABPlan, ab_plan, chosen_lr, final_run, lr_tag, run_metrics, sweep_run
from tilelli.paths import AB_PLOT, AB_PNG, AB_REPORT, LR_CHOICE, train_metrics, train_plots


def _final_bpb(value) -> float:
    return float(value) if is_number(value) else math.nan   # null (a NaN written by json) -> NaN


def choose_lr(sweep: dict[str, dict[str, float]]) -> dict[str, float]:
    """{arm: {lr_tag: final val bpb}} -> {arm: lr} with the lowest finite bpb; ties -> smaller lr."""
    chosen = {}
    for arm, by_lr in sweep.items():
        finite = [(bpb, float(lr)) for lr, bpb in by_lr.items() if math.isfinite(_final_bpb(bpb))]
        if not finite:
            raise TilelliError(f"ab sweep: every lr of arm {arm!r} diverged (val bpb not finite: {by_lr})")
        chosen[arm] = min(finite)[1]
    return chosen


def read_sweep(plan: ABPlan) -> dict[str, dict[str, float]]:
    hint = "run `dvc repro ab_sweep` or `python -m stages.ab --arm ARM --lr LR`"
    return {arm: {lr_tag(lr): _final_bpb(run_metrics(sweep_run(arm, lr), hint)["val_bpb"]) for lr in plan.lrs}
            for arm in ARMS}


def write_lr_choice(params: dict) -> dict:
    """Stage ab_lr: read every sweep run, choose each arm's lr -> metrics/ab_lr.json."""
    plan = ab_plan(params)
    sweep = read_sweep(plan)
    chosen = choose_lr(sweep)
    out = {"seed": plan.sweep_seed, "lrs": plan.lrs, "sweep": sweep, "chosen_lr": chosen,
           "at_edge": {arm: lr in (min(plan.lrs), max(plan.lrs)) for arm, lr in chosen.items()}}
    write_json(LR_CHOICE, out)
    return out


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------
def eval_curve(run: str) -> list[tuple[int, float]]:
    """[(step, val_bpb)] from plots/train/<run>/eval.csv (the loop's evaluation log)."""
    path = Path(train_plots(run), "eval.csv")
    if not path.is_file():
        raise TilelliError(f"{path} not found (run `dvc repro ab`)")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    if not rows or "val_bpb" not in rows[0]:
        raise TilelliError(f"{path}: no val_bpb rows")
    return [(int(r["step"]), float(r["val_bpb"])) for r in rows]


def _at_or_before(curve: list[tuple[int, float]], step: int) -> tuple[int, float]:
    return [p for p in curve if p[0] <= step][-1] if curve[0][0] <= step else curve[0]


def plateau(curves: list[list[tuple[int, float]]]) -> dict:
    """Mean val bpb over seeds half-way and at the end: a run still on its plateau barely moves."""
    end = curves[0][-1][0]
    half = [_at_or_before(c, end // 2) for c in curves]
    bpb_half = statistics.fmean(b for _, b in half)
    bpb_end = statistics.fmean(c[-1][1] for c in curves)
    return {"step_half": half[0][0], "bpb_half": bpb_half, "step_end": end, "bpb_end": bpb_end,
            "drop_second_half": bpb_half - bpb_end}


def convergence(curves: list[list[tuple[int, float]]]) -> dict:
    """How much each seed still improves over the last quarter of training (claim N2's criterion).

    {step_from, step_end, drop_per_seed, drop_last_quarter (mean over seeds), relative (the mean
    drop over the mean bpb at step_from)}. step_from is the last evaluation at or before 3/4 of the
    run (an earlier one when evaluations are sparse: the window is then longer, never shorter).
    The claim calls an arm converged when drop_last_quarter <= its stated epsilon (claims.yaml).
    """
    end = curves[0][-1][0]
    start = [_at_or_before(c, (3 * end) // 4) for c in curves]
    drops = [b - c[-1][1] for (_, b), c in zip(start, curves)]
    mean_from = statistics.fmean(b for _, b in start)
    drop = statistics.fmean(drops)
    return {"step_from": start[0][0], "step_end": end, "drop_per_seed": drops, "drop_last_quarter": drop,
            "relative": drop / mean_from if mean_from else math.nan}


def tokens_csv(curves: dict[str, list[list[tuple[int, float]]]], tokens_per_step: int) -> str:
    """tokens,step,<arm> (mean over seeds),<arm>_s<i> per seed: one row per evaluation step."""
    steps = [s for s, _ in curves[ARMS[0]][0]]
    for arm, runs in curves.items():
        if any([s for s, _ in c] != steps for c in runs):
            raise TilelliError(f"ab: the runs of {arm!r} were evaluated at other steps than {steps}")
    header = ["tokens", "step", *ARMS, *(f"{arm}_s{i}" for arm in ARMS for i in range(len(curves[arm])))]
    lines = [",".join(header)]
    for k, step in enumerate(steps):
        means = [statistics.fmean(c[k][1] for c in curves[arm]) for arm in ARMS]
        seeds = [c[k][1] for arm in ARMS for c in curves[arm]]
        lines.append(",".join([str(step * tokens_per_step), str(step), *(f"{v:.6g}" for v in means + seeds)]))
    return "\n".join(lines) + "\n"


def curve_figure(path: str, curves: dict[str, list[list[tuple[int, float]]]], tokens_per_step: int,
                 lrs: dict[str, float]) -> None:
    """The csv's curves as a PNG for the paper: each seed thin, the arm's mean bold, against tokens seen.

    matplotlib is imported on this first draw (tilelli.eval.pyplot), so the lr choice never loads it."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for arm, color in zip(ARMS, ("C0", "C1")):
        runs = curves[arm]
        tokens = [step * tokens_per_step for step, _ in runs[0]]
        for c in runs:
            ax.plot(tokens, [b for _, b in c], color=color, lw=0.6, alpha=0.4)
        mean = [statistics.fmean(c[k][1] for c in runs) for k in range(len(tokens))]
        ax.plot(tokens, mean, color=color, lw=2, label=f"{arm} (lr {lrs[arm]:g}, mean of {len(runs)} seeds)")
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("validation bits/byte")
    ax.set_title("Lite vs vanilla at equal parameters, each at its chosen lr")
    ax.legend()
    fig.tight_layout()
    save_png(fig, path)


def _final_runs(plan: ABPlan, arm: str, lr: float) -> list[dict]:
    runs = [run_metrics(final_run(arm, s), "run `dvc repro ab`") for s in plan.seeds]
    for s, m in zip(plan.seeds, runs):
        if m.get("lr") != lr:
            raise TilelliError(f"{train_metrics(final_run(arm, s))} trained at lr {m.get('lr')}, "
                               f"but {LR_CHOICE} chose {lr} (re-run `dvc repro ab`)")
    return runs


def ab_report(params: dict) -> dict:
    """Welch's t-test on the final val bpb of every seed, plus sweep, chosen lrs, plateau and
    convergence -> metrics/ab.json; the curves -> plots/ab/val_bpb.{csv,png}."""
    plan = ab_plan(params)
    lrs = {arm: chosen_lr(params, arm) for arm in ARMS}
    runs = {arm: _final_runs(plan, arm, lrs[arm]) for arm in ARMS}
    bpb = {arm: [_final_bpb(m["val_bpb"]) for m in runs[arm]] for arm in ARMS}
    curves = {arm: [eval_curve(final_run(arm, s)) for s in plan.seeds] for arm in ARMS}
    first = runs["lite"][0]
    write_text(AB_PLOT, tokens_csv(curves, first["tokens_per_step"]))   # checks the runs share their steps
    curve_figure(AB_PNG, curves, first["tokens_per_step"], lrs)
    choice = read_json(LR_CHOICE)      # chosen_lr has read and checked it
    n_params = {arm: runs[arm][0]["params"] for arm in ARMS}
    report = {"seeds": plan.seeds, "lite_bpb": bpb["lite"], "vanilla_bpb": bpb["vanilla"],
              "lite_std": statistics.stdev(bpb["lite"]), "vanilla_std": statistics.stdev(bpb["vanilla"]),
              "lite_params": n_params["lite"], "vanilla_params": n_params["vanilla"],
              "param_ratio": n_params["lite"] / n_params["vanilla"],
              "steps": first["steps"], "tokens": first["tokens"],
              "sweep": choice["sweep"], "chosen_lr": lrs, "lr_at_edge": choice["at_edge"],
              "plateau": {arm: plateau(curves[arm]) for arm in ARMS},
              "convergence": {arm: convergence(curves[arm]) for arm in ARMS},
              **welch_test(bpb["lite"], bpb["vanilla"])}
    write_json(AB_REPORT, report)
    return report
