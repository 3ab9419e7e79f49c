"""Tilelli models: routed multi-pathway LMs (Lite, parent), the vanilla baseline, and their parts.

    from tilelli.model import TilelliLM, ModelConfig, ModelOutput, pad_batch, list_configs
    lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0)
    out = lm(idx, targets, return_signals=True)       # logits, loss, aux_loss, router_probs, ...
    lm.generate(list(b"USER: Hi\nTILELLI:"), 48, stop=[b"\n"])
    lm.save_pretrained("models/x"); TilelliLM.from_pretrained("models/x")

Modules: config (ModelConfig), registry (named configs, parameter budget), ternary
(TernaryLinear), pathways (convs, SSM, FFN), attention (sparse top-k, dense), block (routed
block, load-balance loss), vanilla (baseline block), lm (TilelliLM), generation, checkpoint.
"""
from tilelli.model.config import ModelConfig
from tilelli.model.lm import ModelOutput, TilelliLM, pad_batch
from tilelli.model.registry import get_config, list_configs

__all__ = ["TilelliLM", "ModelConfig", "ModelOutput", "pad_batch", "list_configs", "get_config"]
