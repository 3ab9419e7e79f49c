"""Tilelli models: routed multi-pathway LMs (Lite, parent), the vanilla baseline, and their parts.

    from tilelli.model import TilelliLM, ModelConfig, ModelOutput, pad_batch, list_configs
    lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0)
    out = lm(idx, targets, return_signals=True)       # logits, loss, aux_loss, router_probs, ...
    lm.generate(list(b"USER: Hi\nTILELLI:"), 48, stop=[b"\n"])
    lm.save_pretrained("models/x"); TilelliLM.from_pretrained("models/x")

Modules: config (ModelConfig), registry (named configs, parameter budget), ternary
(TernaryLinear), pathways (convs, SSM, FFN), attention (sparse top-k, dense), block (routed
block, load-balance loss), vanilla (baseline block), lm (TilelliLM), generation, checkpoint,
quantities (IGNORE_INDEX, bits per byte, router entropy / confidence: shared by train and eval).

The names below are loaded on first use, so `from tilelli.model.quantities import IGNORE_INDEX`
(tilelli.data.chat_format) does not import torch.
"""
__all__ = ["TilelliLM", "ModelConfig", "ModelOutput", "pad_batch", "list_configs", "get_config"]


def __getattr__(name):  # explicit imports, so tests/test_stage_deps.py can follow them
    if name in ("TilelliLM", "ModelOutput", "pad_batch"):
        from tilelli.model import lm as module
    elif name == "ModelConfig":
        from tilelli.model import config as module
    elif name in ("get_config", "list_configs"):
        from tilelli.model import registry as module
    else:
        raise AttributeError(f"module 'tilelli.model' has no attribute {name!r}")
    return getattr(module, name)
