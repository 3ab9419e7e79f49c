"""Tilelli models: routed multi-pathway LMs (Lite, parent), the vanilla baseline, and their parts.

    from tilelli.model import TilelliLM, ModelConfig, ModelOutput, pad_batch, list_configs
    lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0)
    out = lm(idx, targets, return_signals=True)       # logits, loss, aux_loss, router_probs, ...
    lm.generate(list(b"USER: Hi\nTILELLI:"), 48, stop=[b"\n"])
    lm.save_pretrained("models/x"); TilelliLM.from_pretrained("models/x")

Modules: config (ModelConfig, the named configs and their parameter budget), layers
(TernaryLinear, diagonal SSM, sparse top-k and dense attention, convs and FFN), lm (the model:
routed block, load-balance loss, vanilla baseline block, TilelliLM and its generation),
checkpoint (model folders, model cards, local paths and Hub ids), quantities (IGNORE_INDEX, bits
per byte, router entropy / confidence: shared by train and eval; torch-free).

The names below are loaded on first use, so `from tilelli.model.quantities import IGNORE_INDEX`
(tilelli.data.chat) does not import torch.
"""
__all__ = ["TilelliLM", "ModelConfig", "ModelOutput", "pad_batch", "list_configs", "get_config"]


def __getattr__(name):  # explicit imports, so tests/test_stage_deps.py can follow them
    if name in ("TilelliLM", "ModelOutput", "pad_batch"):
        from tilelli.model import lm as module
    elif name in ("ModelConfig", "get_config", "list_configs"):
        from tilelli.model import config as module
    else:
        raise AttributeError(f"module 'tilelli.model' has no attribute {name!r}")
    return getattr(module, name)
