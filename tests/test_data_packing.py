"""The streaming byte packer: round trip, split by document, determinism, bad input."""
import hashlib
import json

import numpy as np
import pytest

from tilelli.data.packing import SEPARATOR, iter_corpus, pack_corpus, pack_documents
from tilelli.io import TilelliError


def docs(n=400):
    return [f"Document {i}: café, naïve, 東京 — " + "x" * (i % 37) for i in range(n)]


def split_docs(path):
    raw = path.read_bytes()
    assert raw.endswith(bytes([SEPARATOR]))
    return [d.decode("utf-8") for d in raw[:-1].split(bytes([SEPARATOR]))]


def test_round_trip_every_document_lands_in_exactly_one_split(tmp_path):
    src = docs()
    meta = pack_documents(src, tmp_path / "packed", valid_fraction=0.1, seed=0)
    train, valid = split_docs(tmp_path / "packed/train.bin"), split_docs(tmp_path / "packed/valid.bin")
    assert sorted(train + valid) == sorted(src)
    # order is kept within each split
    assert train == [d for d in src if d in set(train)] and valid == [d for d in src if d in set(valid)]
    for name, part in (("train", train), ("valid", valid)):
        data = (tmp_path / f"packed/{name}.bin").read_bytes()
        assert meta[name] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "documents": len(part)}
    assert json.loads((tmp_path / "packed/meta.json").read_text()) == meta
    assert 0.04 < len(valid) / len(src) < 0.2


def test_nul_characters_are_stripped_and_empty_documents_dropped(tmp_path):
    src = ["a\x00b", "\x00", ""] + docs(200)
    meta = pack_documents(src, tmp_path / "p", valid_fraction=0.1, seed=0)
    got = split_docs(tmp_path / "p/train.bin") + split_docs(tmp_path / "p/valid.bin")
    assert "ab" in got and "" not in got and all("\x00" not in d for d in got)
    assert meta["documents_with_nul_stripped"] == 2 and meta["empty_documents_skipped"] == 2


def test_split_is_by_document_deterministic_and_seeded(tmp_path):
    src = docs(1000)
    a = pack_documents(src, tmp_path / "a", 0.05, seed=0)
    b = pack_documents(list(reversed(src)), tmp_path / "b", 0.05, seed=0)
    c = pack_documents(src, tmp_path / "c", 0.05, seed=1)
    # order-independent membership: the same documents are held out whatever the input order
    assert sorted(split_docs(tmp_path / "a/valid.bin")) == sorted(split_docs(tmp_path / "b/valid.bin"))
    assert sorted(split_docs(tmp_path / "a/valid.bin")) != sorted(split_docs(tmp_path / "c/valid.bin"))
    assert a["valid"]["documents"] == b["valid"]["documents"]
    assert c["train"]["documents"] + c["valid"]["documents"] == 1000


def test_repacking_gives_identical_bytes(tmp_path):
    pack_documents(docs(), tmp_path / "a", 0.05, seed=0)
    pack_documents(docs(), tmp_path / "b", 0.05, seed=0)
    for name in ("train.bin", "valid.bin", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_duplicate_documents_never_straddle_the_split(tmp_path):
    src = docs(300) * 3
    pack_documents(src, tmp_path / "p", 0.1, seed=0)
    train, valid = set(split_docs(tmp_path / "p/train.bin")), set(split_docs(tmp_path / "p/valid.bin"))
    assert valid and not train & valid


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.2, -0.1])
def test_bad_valid_fraction_is_rejected(tmp_path, fraction):
    with pytest.raises(TilelliError, match="valid_fraction"):
        pack_documents(docs(), tmp_path / "p", fraction)


def test_empty_split_fails_and_previous_output_survives(tmp_path):
    pack_documents(docs(), tmp_path / "p", 0.05, seed=0)
    before = {f.name: f.read_bytes() for f in (tmp_path / "p").iterdir()}
    with pytest.raises(TilelliError, match="split is empty"):
        pack_documents(["only one document"], tmp_path / "p", 0.05, seed=0)
    assert {f.name: f.read_bytes() for f in (tmp_path / "p").iterdir()} == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["p"]  # no temporary directory left


def test_pack_corpus_reads_the_download_format(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs()))
    meta = pack_corpus(corpus, tmp_path / "p", 0.05, 0)
    assert meta["train"]["documents"] + meta["valid"]["documents"] == 400
    assert list(iter_corpus(corpus)) == docs()


def test_malformed_corpus_line_names_file_and_line(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "a"}\n{"txt": "b"}\n')
    with pytest.raises(TilelliError, match=r"corpus\.jsonl:2:"):
        pack_corpus(corpus, tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(TilelliError, match="dvc repro download"):
        pack_corpus(tmp_path / "nope.jsonl", tmp_path / "p")


def test_shards_are_memory_mappable_uint8(tmp_path):
    pack_documents(docs(), tmp_path / "p", 0.05, 0)
    m = np.memmap(tmp_path / "p/train.bin", dtype=np.uint8, mode="r")
    assert m[-1] == SEPARATOR and m.dtype == np.uint8
