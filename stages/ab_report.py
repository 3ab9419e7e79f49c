"""The A/B's lr choice and report (no torch): read the runs of stages/ab.py, write the metrics.

    python -m stages.ab_report --choose-lr   # stage ab_lr: each arm's best sweep lr -> metrics/ab_lr.json
    python -m stages.ab_report               # stage ab_report: Welch's t-test on the final val bpb of
                                             # every seed -> metrics/ab.json, plots/ab/val_bpb.{csv,png}

Lowest final validation bits/byte wins the sweep (diverged runs never do, ties go to the smaller
lr); metrics/ab.json keeps the sweep, the chosen lrs, each arm's bpb half-way vs at the end and
its drop over the last quarter (the convergence criterion of claim N2).
This completes the comparison the published kit left pending (N2: 3 Lite seeds vs 1 vanilla).
"""
import argparse

from tilelli.eval.ab_report import ab_report, write_lr_choice
from tilelli.stage import run

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--choose-lr", action="store_true", help="the sweep's choice (stage ab_lr), not the report")
    args = ap.parse_args()
    run(write_lr_choice if args.choose_lr else ab_report)
