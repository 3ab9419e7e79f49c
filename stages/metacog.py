"""One metacognition variant x seed: models/v4 -> models/metacog/<variant>-s<seed>.

    python -m stages.metacog --variant v7 --seed 0      # dvc.yaml runs the whole matrix
    dvc exp run -S metacog_weight=0                     # retrain the main (v7) model at weight 0

Objective (tilelli.train.objectives.MetacogLoss): CE on in-domain chat + weight x BCE(router
confidence, in-domain) + bce_weight x BCE(abstain head). Weights: params metacog.weights.
"""
import argparse

from tilelli.stage import run
from tilelli.train.experiments import metacog

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, required=True)
    args = ap.parse_args()
    run(lambda params: metacog(params, args.variant, args.seed))
