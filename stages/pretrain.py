"""Pretrain a byte-level LM on the packed shards -> models/pretrain.

    python -m stages.pretrain                 # what `dvc repro pretrain` runs
    dvc exp run -S pretrain.steps=200         # one knob changed, tracked as an experiment

Reads params `model`, `pretrain`, `seed`, `device`; data/packed/{train,valid}.bin.
Writes models/pretrain (safetensors + config.json), plots/train/pretrain/{train,eval}.csv,
metrics/train/pretrain.json; resumes from checkpoints/pretrain after a crash.
"""
from tilelli.stage import run
from tilelli.train.recipes import pretrain

if __name__ == "__main__":
    run(pretrain)
