"""The named model configurations and `get_config(name, **overrides)`.

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
  (pathways.py); 2.25 rather than 2 puts the Lite at 10.05M, within 0.4% of vanilla-fp32
  (m = 2d would give 9.64M, 4.4% below vanilla: not parameter-fair).
- Parent: at d=512 a single d->4d FFN is 2.1M per block, 14.7M over 7 blocks, so the pathways
  run at path_dim = 256 inside a 512 <-> 256 projection pair (block.py); the three mixer
  pathways (conv k=5, wide conv k=32, SSM with 16 states) share the rest with m = 0.5 x 256.
- Untied LM head everywhere (safetensors refuses shared storage; 65K params at d=256).
- Tiny counterparts (~1M, context 256 so chat prompts and answers fit): Lite-tiny is 1.8% below
  vanilla-tiny, the same param-fair pairing as the 10M pair (0.4%).

Quantisation is decided by the name: every `*-ternary*` name is ternary (quantize=True, every
TernaryLinear runs {-a, 0, +a}; see ternary.py for what stays FP32), every other name is FP32.
An override `quantize=...` that contradicts the name is an error naming both, so params such as
`model.name=tilelli-lite-ternary-tiny` with `model.quantize=false` can never silently train FP32.
"""
from __future__ import annotations

from dataclasses import fields

from tilelli.errors import TilelliError
from tilelli.model.config import ModelConfig

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
