"""Splice: graft the abstain head of metacog/<main>-s<seed> onto base/v4-s<seed>, nothing else.

    python -m stages.splice --seed 0        # -> models/splice/<main>-s0; dvc.yaml runs every seed

Tests claim N3 ("train an abstain head once, splice it onto any base"): the probe compares each
seed's head on its own jointly trained base (metacog/<main>-s<seed>) with the same head on that
seed's v4 (base/v4-s<seed>, which metacog/<main>-s<seed> was fine-tuned from), so the claim
reads every seed (tilelli.study.splice_models), never the first alone.
"""
import argparse

from tilelli.stage import run
from tilelli.train.recipes import splice

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    args = ap.parse_args()
    run(lambda params: splice(params, args.seed))
