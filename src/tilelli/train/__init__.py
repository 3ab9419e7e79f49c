"""One training loop for pretrain, chat SFT, abstain SFT, the metacognition sweep and the A/B runs.

    from tilelli.train import TrainConfig, train
    summary = train(model, TrainConfig.from_params(params["pretrain"], seed=0), batch_fn, loss_fn,
                    out_dir="models/pretrain", state_dir="checkpoints/pretrain", log_path=...)
"""
from tilelli.train.config import TrainConfig
from tilelli.train.loop import train

__all__ = ["TrainConfig", "train"]
