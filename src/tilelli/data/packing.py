"""Streaming byte packer: documents -> train.bin / valid.bin (raw uint8) + meta.json.

    from tilelli.data.packing import pack_corpus
    meta = pack_corpus("data/raw/corpus.jsonl", "data/packed", valid_fraction=0.05, seed=0)

Format (the `tilelli-packed-v1` contract read by `tilelli.data.loader`):
- each shard is the UTF-8 bytes of its documents, each document followed by the separator
  byte 0x00 (EOT). NUL characters are stripped from documents first, so 0x00 only ever marks
  a document end; empty documents are dropped.
- the split is by document: a document goes to valid when
  blake2b-64(document bytes, key=seed) / 2**64 < valid_fraction. Deterministic, independent of
  order, and identical duplicates always land in the same split (no train/valid leakage).
- meta.json: per split bytes / sha256 / documents, plus separator, dtype, seed and fraction.

Memory: one document plus one write buffer at a time (constant in corpus size); the
benchmark in benchmarks/bench_pack.py measures throughput and peak RSS.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable, Iterator

from tilelli import io
from tilelli.io import TilelliError

SEPARATOR = 0x00
FORMAT = "tilelli-packed-v1"
_SEP = bytes([SEPARATOR])
_BUF = 8 << 20  # 8 MiB write buffers


def clean(text: str) -> bytes:
    """UTF-8 bytes of a document with NUL characters removed (0x00 is reserved for EOT)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.encode("utf-8")


def is_valid_doc(data: bytes, valid_fraction: float, key: bytes) -> bool:
    h = hashlib.blake2b(data, digest_size=8, key=key).digest()
    return int.from_bytes(h, "little") < valid_fraction * 2.0 ** 64


def iter_corpus(path: str | os.PathLike) -> Iterator[str]:
    """Texts of a corpus.jsonl written by the download stage, one line at a time."""
    for row in io.iter_jsonl(path, required=("text",)):
        yield row["text"]


class _ShardWriter:
    def __init__(self, path: Path):
        self.f = open(path, "wb", buffering=_BUF)
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.documents = 0

    def add(self, data: bytes) -> None:
        self.f.write(data)
        self.f.write(_SEP)
        self.sha.update(data)
        self.sha.update(_SEP)
        self.bytes += len(data) + 1
        self.documents += 1

    def close(self) -> dict:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        return {"bytes": self.bytes, "sha256": self.sha.hexdigest(), "documents": self.documents}


def pack_documents(docs: Iterable[str], out_dir: str | os.PathLike, valid_fraction: float = 0.05,
                   seed: int = 0) -> dict:
    """Pack a stream of documents into out_dir/{train,valid}.bin + meta.json, atomically."""
    if not 0.0 < valid_fraction < 0.5:
        raise TilelliError(f"data.valid_fraction must be in (0, 0.5), got {valid_fraction!r}")
    key = int(seed).to_bytes(8, "little", signed=True)
    stripped = skipped = 0
    with io.atomic_dir(out_dir) as tmp:
        train, valid = _ShardWriter(Path(tmp) / "train.bin"), _ShardWriter(Path(tmp) / "valid.bin")
        try:
            for text in docs:
                if "\x00" in text:
                    stripped += 1
                data = clean(text)
                if not data:
                    skipped += 1
                    continue
                (valid if is_valid_doc(data, valid_fraction, key) else train).add(data)
        finally:
            t, v = train.close(), valid.close()
        for name, stats in (("train", t), ("valid", v)):
            if stats["documents"] == 0:
                raise TilelliError(f"the {name} split is empty ({t['documents'] + v['documents']} documents, "
                                   f"data.valid_fraction={valid_fraction}); use a bigger corpus")
        meta = {"format": FORMAT, "dtype": "uint8", "separator": SEPARATOR,
                "separator_placement": "after every document",
                "split": "blake2b-64(document, key=seed) / 2**64 < valid_fraction",
                "valid_fraction": valid_fraction, "seed": seed, "train": t, "valid": v,
                "documents_with_nul_stripped": stripped, "empty_documents_skipped": skipped}
        io.write_json(Path(tmp) / "meta.json", meta)
    return meta


def pack_corpus(corpus: str | os.PathLike, out_dir: str | os.PathLike, valid_fraction: float = 0.05,
                seed: int = 0) -> dict:
    if not Path(corpus).is_file():
        raise TilelliError(f"{corpus}: corpus not found (run `dvc repro download` first)")
    return pack_documents(iter_corpus(corpus), out_dir, valid_fraction, seed)
