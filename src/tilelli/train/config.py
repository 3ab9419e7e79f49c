"""TrainConfig: the knobs of one training stage, read from its params.yaml section and checked.

Every training stage has the same keys (see conf/profile/tiny.yaml, `pretrain:`), so one
dataclass validates them all; a bad value is one clear line naming the key and the stage.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from tilelli.errors import TilelliError


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int            # global batch (sequences per optimizer step, across processes)
    seq_len: int
    lr: float
    grad_accum: int = 1
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup: int = 0
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0     # 0 disables clipping
    lb_weight: float = 0.01    # router load-balance auxiliary loss
    eval_every: int = 100
    eval_batches: int = 8
    ckpt_every: int = 100      # resume checkpoint cadence (steps)
    seed: int = 0
    compile: bool = False      # torch.compile on CUDA only
    name: str = "train"        # stage name, used in messages

    @classmethod
    def from_params(cls, section: dict, name: str, seed: int = 0, **extra) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in section.items() if k in known}
        values.update(extra)
        missing = [f.name for f in fields(cls) if f.name in ("steps", "batch_size", "seq_len", "lr")
                   and f.name not in values]
        if missing:
            raise TilelliError(f"params.yaml: {name}: missing {', '.join(missing)}")
        cfg = cls(**{**values, "seed": values.get("seed", seed), "name": name})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        def bad(key, why):
            raise TilelliError(f"params.yaml: {self.name}.{key}={getattr(self, key)!r}: {why}")
        for f in fields(self):  # YAML reads `3e-4` as a string: say so instead of a TypeError
            v = getattr(self, f.name)
            if f.type in ("float", float) and (isinstance(v, bool) or not isinstance(v, (int, float))):
                bad(f.name, "must be a number (write 0.0003, not 3e-4: YAML reads that as text)")
        for key in ("steps", "batch_size", "seq_len", "grad_accum", "eval_every", "eval_batches", "ckpt_every"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                bad(key, "must be a positive integer")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            bad("warmup", "must be an integer >= 0")
        if not self.lr > 0:
            bad("lr", "learning rate must be > 0")
        for key in ("weight_decay", "grad_clip", "lb_weight"):
            if getattr(self, key) < 0:
                bad(key, "must be >= 0")
        if not 0 <= self.min_lr_ratio <= 1:
            bad("min_lr_ratio", "must be in [0, 1]")
        for key in ("beta1", "beta2"):
            if not 0 <= getattr(self, key) < 1:
                bad(key, "must be in [0, 1)")
        if self.batch_size % self.grad_accum:
            bad("batch_size", f"must be divisible by grad_accum={self.grad_accum}")

    def as_dict(self) -> dict:
        return asdict(self)
