"""ModelConfig: the architecture of one Tilelli model, stored inside every checkpoint.

One flat dataclass covers both families so that `asdict(cfg)` is the whole story in
`config.json`:

- `arch="routed"`: a stack of routed multi-pathway blocks (block.py). `pathways` names the
  pathways mixed by the per-token router, from {"conv", "attn", "ffn", "wide_conv", "ssm"}.
  `path_dim` is the width the pathways run at (0 = d_model, resolved when the config is built,
  so code and config.json read the actual width); when it is smaller than `d_model` the block
  wraps them in a down/up projection pair (the parent d=512 block runs the Lite pathways at 256).
- `arch="vanilla"`: a pre-norm transformer (vanilla.py); `pathways` must be empty.

Validation happens in `validate()`, which raises `TilelliError` with one line naming what is
allowed, so a typo in params.yaml or `-S model.d_model=...` fails before any tensor is built.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from tilelli.errors import TilelliError

PATHWAYS = ("conv", "attn", "ffn", "wide_conv", "ssm")
ARCHS = ("routed", "vanilla")


@dataclass
class ModelConfig:
    name: str = "custom"
    arch: str = "routed"            # "routed" | "vanilla"
    vocab_size: int = 256           # bytes; fixed by the tokenizer
    d_model: int = 256              # residual stream width
    n_layers: int = 8
    n_heads: int = 8
    max_seq: int = 256              # context length = number of learned positions
    pathways: tuple = ("conv", "attn", "ffn")
    path_dim: int = 0               # 0 = d_model (no down/up projection); resolved in __post_init__
    top_k: int = 16                 # keys per query in sparse attention
    ffn_expand: int = 4             # FFN hidden = ffn_expand * path_dim
    mixer_expand: float = 2.25      # gated channel mixer width after conv/SSM = mixer_expand * path_dim
    conv_kernel: int = 5            # local causal depthwise conv
    wide_kernel: int = 32           # wide causal depthwise conv (parent block)
    ssm_state: int = 16             # diagonal SSM states per channel (parent block)
    quantize: bool = False          # ternary projections (straight-through); FP32 when False
    hadamard: bool = False          # Hadamard-rotate weight and input before ternarising

    def __post_init__(self):
        if self.path_dim == 0 and self.arch == "routed":
            self.path_dim = self.d_model

    # ---- derived sizes -------------------------------------------------------------------
    @property
    def n_paths(self) -> int:
        return len(self.pathways)

    # ---- validation ----------------------------------------------------------------------
    def validate(self) -> "ModelConfig":
        self.pathways = tuple(self.pathways)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(value, int) or isinstance(value, bool)):
                raise TilelliError(f"model config: {f.name} must be an integer, got {value!r}")
            if f.type in ("bool", bool) and not isinstance(value, bool):
                raise TilelliError(f"model config: {f.name} must be true or false, got {value!r}")
            if f.type in ("float", float) and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise TilelliError(f"model config: {f.name} must be a number, got {value!r}")
        if self.arch not in ARCHS:
            raise TilelliError(f"model config: arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        positive = ("d_model", "n_layers", "n_heads", "max_seq", "top_k", "ffn_expand",
                    "conv_kernel", "wide_kernel", "ssm_state")
        for key in positive:
            if getattr(self, key) < 1:
                raise TilelliError(f"model config: {key} must be >= 1, got {getattr(self, key)}")
        if self.vocab_size != 256:
            raise TilelliError(f"model config: vocab_size must be 256 (byte-level), got {self.vocab_size}")
        if self.path_dim < 0 or self.mixer_expand <= 0:
            raise TilelliError("model config: path_dim must be >= 0 and mixer_expand > 0")
        if self.arch == "vanilla":
            if self.pathways:
                raise TilelliError("model config: a vanilla model has no pathways (set pathways=[])")
            if self.d_model % self.n_heads:
                raise TilelliError(f"model config: d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
            return self
        unknown = [p for p in self.pathways if p not in PATHWAYS]
        if not self.pathways or unknown or len(set(self.pathways)) != len(self.pathways):
            raise TilelliError(f"model config: pathways must be distinct names from {', '.join(PATHWAYS)}, "
                               f"got {list(self.pathways)}")
        if self.path_dim % self.n_heads:
            raise TilelliError(f"model config: path_dim={self.path_dim} is not divisible by n_heads={self.n_heads}")
        if self.path_dim > self.d_model:
            raise TilelliError(f"model config: path_dim={self.path_dim} exceeds d_model={self.d_model}")
        return self


FIELD_NAMES = tuple(f.name for f in fields(ModelConfig))


def config_from_dict(data: dict) -> ModelConfig:
    """Rebuild a config read from config.json; unknown keys are an error (never silently dropped)."""
    unknown = sorted(set(data) - set(FIELD_NAMES))
    if unknown:
        raise TilelliError(f"model config: unknown keys {unknown}; valid keys: {', '.join(FIELD_NAMES)}")
    return ModelConfig(**data).validate()


__all__ = ["ModelConfig", "PATHWAYS", "FIELD_NAMES", "config_from_dict"]
