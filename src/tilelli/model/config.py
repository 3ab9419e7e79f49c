"""Model configuration: the ModelConfig dataclass and the named configs of the study.

ModelConfig
-----------
ModelConfig: the architecture of one Tilelli model, stored inside every checkpoint.

One flat dataclass covers both families so that `asdict(cfg)` is the whole story in
`config.json`:

- `arch="routed"`: a stack of routed multi-pathway blocks (lm.py). `pathways` names the
  pathways mixed by the per-token router, from {"conv", "attn", "ffn", "wide_conv", "ssm"}.
  `path_dim` is the width the pathways run at (0 = d_model, resolved when the config is built,
  so code and config.json read the actual width); when it is smaller than `d_model` the block
  wraps them in a down/up projection pair (the parent d=512 block runs the Lite pathways at 256).
- `arch="vanilla"`: a pre-norm transformer (lm.py, VanillaBlock); `pathways` must be empty.

Validation happens in `validate()`, which raises `TilelliError` with one line naming what is
allowed, so a typo in params.yaml or `-S model.d_model=...` fails before any tensor is built.

Named configs
-------------
The named model configurations and `get_config(name, **overrides)`.

Parameter budget (tests/test_model.py checks it; `tilelli info --configs` prints it):

  name                   d    L  heads  path  pathways                     mixer m   params
  tilelli-lite-*        256   8    8    256   conv attn ffn                 576     10,048,257
  tilelli-*             512   7    8    256   conv attn ffn wide_conv ssm   128      9,976,577
  vanilla-fp32          320   8    8     -    attention + FFN                -      10,087,361
  tilelli-lite-*-tiny   112   4    4    112   conv attn ffn                 252      1,031,633
  tilelli-*-tiny        192   4    4     96   conv attn ffn wide_conv ssm    72      1,024,705
  vanilla-fp32-tiny     140   4    4     -    attention + FFN                -      1,050,981

Lite block (1,231,360): LayerNorm 512 + router 768 + conv pathway 443,648 (kernel 1,280,
W_in 256x1152, W_out 576x256) + sparse attention 262,144 (qkv + out) + FFN 524,288.
Parent block (1,368,832): LayerNorm 1,024 + router 2,560 + down/up 262,144 + attention 262,144
+ FFN 524,288 + conv 99,584 + wide conv 106,496 + SSM 110,592 (12,288 FP32 a/b/c).
Shell: byte embedding + learned positions + untied head (3 x 256 x d) + final norm + abstain.

Design choices that reach ~10M without touching d, L, heads, top_k or the FFN expand of 4:
- Lite: conv + attention + FFN at d=256 are 6.3M over 8 blocks plus 0.2M of embeddings,
  positions and head. The conv pathway gets a gated channel mixer of width m = 2.25 d = 576
  (layers.py); 2.25 rather than 2 puts the Lite at 10.05M, within 0.4% of vanilla-fp32
  (m = 2d would give 9.64M, 4.4% below vanilla: not parameter-fair).
- Parent: at d=512 a single d->4d FFN is 2.1M per block, 14.7M over 7 blocks, so the pathways
  run at path_dim = 256 inside a 512 <-> 256 projection pair (lm.py); the three mixer
  pathways (conv k=5, wide conv k=32, SSM with 16 states) share the rest with m = 0.5 x 256.
- Untied LM head everywhere (safetensors refuses shared storage; 65K params at d=256).
- Tiny counterparts (~1M, context 256 so chat prompts and answers fit): Lite-tiny is 1.8% below
  vanilla-tiny, the same param-fair pairing as the 10M pair (0.4%).

Quantisation is decided by the name: every `*-ternary*` name is ternary (quantize=True, every
TernaryLinear runs {-a, 0, +a}; see layers.py (TernaryLinear) for what stays FP32), every other name is FP32.
An override `quantize=...` that contradicts the name is an error naming both, so params such as
`model.name=tilelli-lite-ternary-tiny` with `model.quantize=false` can never silently train FP32.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from tilelli.io import TilelliError


# ---- ModelConfig ---------------------------------------------------------------------------------
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


# ---- Named configs -------------------------------------------------------------------------------
LITE = dict(arch="routed", d_model=256, n_layers=8, n_heads=8, pathways=("conv", "attn", "ffn"),
            top_k=16, ffn_expand=4, mixer_expand=2.25, max_seq=256)
PARENT = dict(arch="routed", d_model=512, n_layers=7, n_heads=8, path_dim=256,
              pathways=("conv", "attn", "ffn", "wide_conv", "ssm"), top_k=16, ffn_expand=4,
              mixer_expand=0.5, max_seq=256)
VANILLA = dict(arch="vanilla", d_model=320, n_layers=8, n_heads=8, pathways=(), ffn_expand=4,
               max_seq=256)
LITE_TINY = dict(LITE, d_model=112, n_layers=4, n_heads=4)
PARENT_TINY = dict(PARENT, d_model=192, path_dim=96, n_layers=4, n_heads=4, mixer_expand=0.75)
VANILLA_TINY = dict(VANILLA, d_model=140, n_layers=4, n_heads=4)

CONFIGS: dict[str, dict] = {   # quantize is not listed: it follows the name (is_ternary_name)
    "tilelli-lite-fp32": LITE,
    "tilelli-lite-ternary": LITE,
    "tilelli-fp32": PARENT,
    "tilelli-ternary": PARENT,
    "vanilla-fp32": VANILLA,
    "tilelli-lite-fp32-tiny": LITE_TINY,
    "tilelli-lite-ternary-tiny": LITE_TINY,
    "tilelli-fp32-tiny": PARENT_TINY,
    "tilelli-ternary-tiny": PARENT_TINY,
    "vanilla-fp32-tiny": VANILLA_TINY,
}


def is_ternary_name(name: str) -> bool:
    """True for the ternary configs: the name alone decides quantisation."""
    return "-ternary" in name


def list_configs() -> list[str]:
    return list(CONFIGS)


def get_config(name: str, **overrides) -> ModelConfig:
    """The named config with `overrides` applied and validated; one-line TilelliError otherwise."""
    if name not in CONFIGS:
        raise TilelliError(f"unknown model config {name!r}; valid names: {', '.join(CONFIGS)}")
    valid = [f.name for f in fields(ModelConfig) if f.name != "name"]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TilelliError(f"unknown model override(s) {', '.join(unknown)} for {name}; "
                           f"valid keys: {', '.join(valid)}")
    quantize = is_ternary_name(name)
    if "quantize" in overrides and overrides["quantize"] is not quantize:
        raise TilelliError(f"model quantize={overrides['quantize']!r} contradicts model name {name!r}, which is "
                           f"{'ternary' if quantize else 'FP32'} (the name decides: *-ternary* names are ternary)")
    return ModelConfig(name=name, **{**CONFIGS[name], **overrides, "quantize": quantize}).validate()


__all__ = ["ModelConfig", "PATHWAYS", "FIELD_NAMES", "config_from_dict", "CONFIGS", "is_ternary_name",
           "list_configs", "get_config"]
