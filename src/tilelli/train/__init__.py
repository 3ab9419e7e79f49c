"""One training loop for pretrain, chat SFT, abstain SFT, the metacognition sweep and the A/B runs.

    from tilelli.train import TrainConfig, train
    cfg = TrainConfig.from_params(params["pretrain"], "base/pretrain-s0", seed=0)
    summary = train(model, cfg, batch_fn, loss_fn, eval_fn, out_dir="models/base/pretrain-s0",
                    state_dir="checkpoints/base/pretrain-s0", log_dir="plots/train/base/pretrain-s0")

Stage-level recipes (what each DVC stage trains, on which data): tilelli.train.recipes
(pretrain, SFT, metacog variants, splice, Lite vs vanilla).
"""
from tilelli.train.loop import TrainConfig, train

__all__ = ["TrainConfig", "train"]
