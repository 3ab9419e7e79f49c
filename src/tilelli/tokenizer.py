"""ByteTokenizer: the identity over UTF-8 bytes; vocabulary 256, no special tokens.

    tok = ByteTokenizer()
    tok.encode("héllo")      -> [104, 195, 169, 108, 108, 111]
    tok.decode([0xff, 104])  -> "\ufffdh"    (invalid UTF-8 becomes U+FFFD, never raises)

Byte 0x00 doubles as the document separator (EOT) in packed shards (docs/CONTRACTS.md); it is
an ordinary byte to the tokenizer.
"""
from __future__ import annotations

from tilelli.io import TilelliError


class ByteTokenizer:
    vocab_size = 256
    eot_id = 0

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TilelliError(f"ByteTokenizer.encode expects str, got {type(text).__name__}")
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        try:
            data = bytes(int(i) for i in ids)
        except (ValueError, TypeError):
            raise TilelliError("ByteTokenizer.decode expects byte ids 0..255") from None
        return data.decode("utf-8", errors="replace")

    def __len__(self) -> int:
        return self.vocab_size
