"""Tilelli: a byte-level routed language model and the pipeline that re-derives its study.

    from tilelli import TilelliLM, ByteTokenizer
    tok = ByteTokenizer()
    lm = TilelliLM.from_pretrained("models/base/v4-s0")
    print(tok.decode(lm.generate(tok.encode("Once upon a time"), max_new=128)))
"""
from tilelli import numerics as _numerics
from tilelli.io import TilelliError

_numerics.pin_environment()   # before anything imports torch: ATen and MKL read these once (numerics.py)

__all__ = ["TilelliError", "TilelliLM", "ByteTokenizer"]
__version__ = "0.1.0"


def __getattr__(name):  # lazy: `import tilelli` stays cheap for the CLI and stage scripts
    if name == "TilelliLM":
        from tilelli.model import TilelliLM
        return TilelliLM
    if name == "ByteTokenizer":
        from tilelli.tokenizer import ByteTokenizer
        return ByteTokenizer
    raise AttributeError(f"module 'tilelli' has no attribute {name!r}")
