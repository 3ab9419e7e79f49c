"""Lite vs vanilla at equal parameters and tuned lrs: one from-scratch pretrain of an arm.

    python -m stages.ab --arm lite --lr 0.003     # stage ab_sweep: arm x ab.sweep.lrs, seed ab.sweep.seed
    python -m stages.ab --arm lite --seed 1       # stage ab: arm x ab.seeds, at the arm's chosen lr
    python -m stages.ab_report --choose-lr        # stage ab_lr (between the two): metrics/ab_lr.json

lite and vanilla are the two arms (params ab.models). Both see the same data, steps and batches
(ab.train); each trains at the lr its own sweep chose on validation bits/byte, so neither is
judged on the plateau of an lr tuned for the other (the tuning runs behind the tiny settings: docs/LOG.md).
"""
import argparse

from tilelli.stage import run
from tilelli.train.recipes import ab_run, ab_sweep_run

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arm", required=True, help="lite or vanilla (params ab.models)")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--lr", type=float, help="a sweep run at this lr (one of ab.sweep.lrs)")
    which.add_argument("--seed", type=int, help="a final run of this seed (one of ab.seeds) at the chosen lr")
    args = ap.parse_args()
    run(lambda params: ab_sweep_run(params, args.arm, args.lr) if args.lr is not None
        else ab_run(params, args.arm, args.seed))
