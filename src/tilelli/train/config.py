"""TrainConfig: the knobs of one training stage, read from its params.yaml section and checked.

Every training stage has the same keys (see conf/profile/tiny.yaml, `pretrain:`), so one
dataclass validates them all; a bad value is one clear line naming the key and the stage.
"""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields

from tilelli.io import TilelliError

PRECISIONS = ("fp32", "bf16")

# Keys a stage reads from its own training section besides TrainConfig's (where it reads them).
STAGE_KEYS = {"abstain_sft": ("bce_weight",)}   # train/recipes.py abstain_sft: the head's BCE weight


def reject_unknown(keys, valid, where: str) -> None:
    """One line for the first key not in `valid`, with the nearest valid key (a misspelt key
    must never be ignored silently: `warmup_steps: 5` would train with the default warmup)."""
    for key in keys:
        if key not in valid:
            near = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.5)
            hint = f"did you mean {near[0]}?" if near else f"valid keys: {', '.join(sorted(valid))}"
            raise TilelliError(f"params.yaml: {where}.{key}: unknown key; {hint}")


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
    compile: bool = False      # torch.compile the model (any device: inductor's CPU backend needs gcc)
    precision: str = "fp32"    # fp32 | bf16 (bf16 autocast around forward + loss, any device; weights stay fp32)
    name: str = "train"        # stage name, used in messages

    @classmethod
    def from_params(cls, section: dict, name: str, seed: int = 0, key: str | None = None,
                    **extra) -> "TrainConfig":
        """`section` is params[key] (key defaults to `name`); an unknown key is an error naming it."""
        key = key or name
        if not isinstance(section, dict):
            raise TilelliError(f"params.yaml: {key}: expected a mapping of training keys, got {section!r}")
        known = {f.name for f in fields(cls)} - {"name"}
        reject_unknown(section, known | set(STAGE_KEYS.get(key, ())), key)
        for k in STAGE_KEYS.get(key, ()):
            v = section.get(k, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise TilelliError(f"params.yaml: {key}.{k}={v!r}: must be a number >= 0")
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
        if not isinstance(self.compile, bool):
            bad("compile", "must be true or false")
        if self.precision not in PRECISIONS:
            bad("precision", f"must be one of {', '.join(PRECISIONS)}")

    def as_dict(self) -> dict:
        return asdict(self)


TRAINABLE = ("all", "router", "all_but_router")
METACOG_DATA = ("raw_text", "chat_vs_ood", "in_domain_subset")


@dataclass(frozen=True)
class MetacogRecipe:
    """One metacognition variant (params metacog.recipes.<variant>): what it optimises, which
    parameters move, on which data. Every variant starts from v4 and uses metacog.train, with
    `train` overriding single keys (e.g. the published v5 ran 500 steps, not the sweep's 1,000).

    weight     metacog loss weight: BCE(router confidence, in-domain) (train/loop.py)
    trainable  all | router (the router Linears only: 4 x 112 x 3 = 1,344 weights at tiny, 6,144
               at paper scale) | all_but_router (the N4 control: CE cannot move the router)
    data       raw_text: packed corpus windows (in-domain, CE) + OOD texts without a chat frame;
               chat_vs_ood: chat + unanswerable pairs (CE) + OOD prompts in the chat frame;
               in_domain_subset: as chat_vs_ood, but only a ce_subset fraction of the in-domain
               pairs keep their CE (the rest, and the OOD prompts, carry only the head's label)
    The abstain head's BCE (metacog.bce_weight) applies only when the head trains (not `router`).
    """
    weight: float
    trainable: str
    data: str
    ce_subset: float = 1.0     # in_domain_subset: fraction of in-domain pairs with CE, in (0, 1)
    windows: int = 0           # raw_text: number of corpus windows (in-domain examples)
    train: dict = field(default_factory=dict)
    name: str = "recipe"

    @classmethod
    def from_params(cls, metacog: dict, variant: str) -> "MetacogRecipe":
        recipes = metacog.get("recipes") or {}
        if variant not in recipes:
            raise TilelliError(f"unknown metacog variant {variant!r}; params.yaml metacog.recipes lists "
                               f"{', '.join(recipes) or 'nothing'}")
        raw = recipes[variant]
        name = f"metacog.recipes.{variant}"
        known = {f.name for f in fields(cls)} - {"name"}
        if not isinstance(raw, dict) or set(raw) - known:
            extra = sorted(set(raw) - known) if isinstance(raw, dict) else raw
            raise TilelliError(f"params.yaml: {name}: unknown key(s) {extra}; valid keys: {', '.join(sorted(known))}")
        missing = [k for k in ("weight", "trainable", "data") if k not in raw]
        if missing:
            raise TilelliError(f"params.yaml: {name}: missing {', '.join(missing)}")
        recipe = cls(**raw, name=name)
        recipe.validate()
        return recipe

    @property
    def trains_head(self) -> bool:
        return self.trainable != "router"

    def validate(self) -> None:
        def bad(key, why):
            raise TilelliError(f"params.yaml: {self.name}.{key}={getattr(self, key)!r}: {why}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight >= 0:
            bad("weight", "must be a number >= 0")
        if self.trainable not in TRAINABLE:
            bad("trainable", f"must be one of {', '.join(TRAINABLE)}")
        if self.data not in METACOG_DATA:
            bad("data", f"must be one of {', '.join(METACOG_DATA)}")
        subset = self.data == "in_domain_subset"
        if isinstance(self.ce_subset, bool) or not isinstance(self.ce_subset, (int, float)) or \
                not (0 < self.ce_subset < 1 if subset else self.ce_subset == 1):
            bad("ce_subset", "must be in (0, 1) for data in_domain_subset, and is not used (1.0) otherwise")
        raw = self.data == "raw_text"
        if isinstance(self.windows, bool) or not isinstance(self.windows, int) or \
                not (self.windows > 0 if raw else self.windows == 0):
            bad("windows", "must be a positive integer for data raw_text, and is not used (0) otherwise")
        overridable = {f.name for f in fields(TrainConfig)} - {"name", "seed"}
        if not isinstance(self.train, dict):
            bad("train", f"overrides keys of metacog.train; valid keys: {', '.join(sorted(overridable))}")
        reject_unknown(self.train, overridable, f"{self.name}.train")

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "name"}
