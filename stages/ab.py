"""Lite vs vanilla at equal parameters: one from-scratch pretrain per arch x seed.

    python -m stages.ab --arch lite --seed 0     # dvc.yaml runs arch x ab.seeds
    python -m stages.ab --report                 # mean +- std, Welch's t-test -> metrics/ab.json

Both archs see the same data, steps and batches (params `ab`); validation bits per byte is
compared across seeds, completing the comparison the published kit left pending (N2).
"""
import argparse

from tilelli.stage import run
from tilelli.train.experiments import ab_report, ab_run

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    if not args.report and (args.arch is None or args.seed is None):
        ap.error("give --arch and --seed, or --report")
    run(ab_report if args.report else (lambda params: ab_run(params, args.arch, args.seed)))
