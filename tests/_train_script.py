"""Helper for test_train.py, run as a subprocess: trains a tiny model, optionally SIGKILLs itself.

    python tests/_train_script.py OUT_DIR KILL_AT_STEP    (KILL_AT_STEP < 0: never)
Under torchrun it trains the same global batch split across processes.
"""
import os
import signal
import sys

import numpy as np
import torch

from tilelli.model import TilelliLM
from tilelli.train import TrainConfig, train
from tilelli.train.recipes import window_batches

out, kill_at = sys.argv[1], int(sys.argv[2])
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 12
shard = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8)
cfg = TrainConfig(steps=steps, batch_size=4, seq_len=32, lr=3e-3, warmup=2, lb_weight=float(os.environ.get("LB", "0.01")), ckpt_every=5, eval_every=100, name="t")
inner = window_batches(shard, cfg.seq_len, cfg)


def batch_fn(step, micro, rank, world):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # a crash at an arbitrary step, no cleanup
    return inner(step, micro, rank, world)


torch.manual_seed(0)
model = TilelliLM.from_config("tilelli-lite-fp32-tiny")
train(model, cfg, batch_fn, out_dir=f"{out}/model", state_dir=f"{out}/state", log_dir=f"{out}/logs", device="cpu")
