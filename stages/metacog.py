"""One metacognition variant x seed: models/base/v4-s<seed> -> models/metacog/<variant>-s<seed>.

    python -m stages.metacog --variant v7 --seed 0      # dvc.yaml runs every variant x seed
    dvc exp run -S metacog_weight=0                     # retrain the main (v7) model at weight 0

Each variant is a recipe (params metacog.recipes.<variant>): metacog weight, which parameters
train (all / router / all_but_router) and which data (raw_text / chat_vs_ood /
in_domain_subset); see tilelli.train.recipes. One objective for all
(tilelli.train.loop.MetacogLoss), one training loop (tilelli.train.loop).
"""
import argparse

from tilelli.stage import run
from tilelli.train.recipes import metacog

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, required=True)
    args = ap.parse_args()
    run(lambda params: metacog(params, args.variant, args.seed))
