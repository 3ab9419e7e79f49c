"""Pretrain a byte-level LM on the packed shards -> models/base/pretrain-s<seed>.

    python -m stages.pretrain --seed 0        # what `dvc repro pretrain@0` runs (one per params `seeds`)
    dvc exp run -S pretrain.steps=200         # one knob changed, tracked as an experiment

Reads params `model`, `pretrain`, `seeds`, `device`; data/packed/{train,valid}.bin. The seed draws
the initial weights and the data order. Writes models/base/pretrain-s<seed> (safetensors +
config.json), plots/train/base/pretrain-s<seed>/{train,eval}.csv, metrics/train/base/pretrain-s<seed>.json;
resumes from checkpoints/base/pretrain-s<seed> after a crash.
"""
import argparse

from tilelli.stage import run
from tilelli.train.recipes import pretrain

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True, help="one of params.yaml seeds")
    args = ap.parse_args()
    run(lambda params: pretrain(params, args.seed))
