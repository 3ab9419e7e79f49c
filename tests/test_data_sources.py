"""Sources for the download stage: builtin corpus, local files, hub streams (never online)."""
import json
import re
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tilelli.data import corpus as sources   # the download sources (the name `corpus` is a fixture here)
from tilelli.data.corpus import builtin_documents
from tilelli.data.facts import answer, fictional_places, places, split_plan
from tilelli.io import TilelliError
from conftest import run_stage



def cfg(**kw):
    base = {"source": "builtin", "max_bytes": 200_000, "seed": 0, "min_int_score": 3, "local_paths": [],
            "valid_fraction": 0.05, "builtin_story_fraction": 0.15,
            "fineweb": {"dataset": "HuggingFaceFW/fineweb-edu", "config": "sample-10BT", "revision": "main"},
            "tinystories": {"dataset": "roneneldan/TinyStories", "config": None, "revision": "main"}}
    base.update(kw)
    return base


FINEWEB_COLUMNS = ["text", "id", "dump", "url", "date", "file_path", "language", "language_score",
                   "token_count", "score", "int_score"]


def fineweb_parquet(path: Path, texts_scores) -> Path:
    n = len(texts_scores)
    table = pa.table({
        "text": [t for t, _ in texts_scores], "id": [f"<urn:uuid:{i}>" for i in range(n)],
        "dump": ["CC-MAIN-2024-10"] * n, "url": [f"https://example.org/{i}" for i in range(n)],
        "date": ["2024-02-20T00:00:00Z"] * n, "file_path": ["s3://x/y.warc.gz"] * n,
        "language": ["en"] * n, "language_score": [0.97] * n, "token_count": [len(t) // 4 for t, _ in texts_scores],
        "score": [s + 0.3 for _, s in texts_scores], "int_score": [s for _, s in texts_scores]})
    assert table.column_names == FINEWEB_COLUMNS
    pq.write_table(table, path)
    return path


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))


# --- params -----------------------------------------------------------------------------------

def test_unknown_source_lists_the_valid_ones():
    with pytest.raises(TilelliError) as e:
        sources.check_data_params(cfg(source="wikipedia"))
    msg = str(e.value)
    assert "\n" not in msg and all(s in msg for s in sources.SOURCES)


@pytest.mark.parametrize("bad", [0, -5, "1000", 1.5, None, True])
def test_max_bytes_must_be_a_positive_integer(bad):
    with pytest.raises(TilelliError, match="data.max_bytes"):
        sources.check_data_params(cfg(max_bytes=bad))


@pytest.mark.parametrize("key,bad", [("valid_fraction", 0.0), ("valid_fraction", 0.7), ("min_int_score", 9)])
def test_other_bad_params_are_rejected(key, bad):
    with pytest.raises(TilelliError, match=f"data.{key}"):
        sources.check_data_params(cfg(**{key: bad}))


def test_local_source_needs_paths():
    with pytest.raises(TilelliError, match="data.local_paths"):
        sources.check_data_params(cfg(source="local"))


# --- builtin ----------------------------------------------------------------------------------

def test_builtin_is_deterministic_and_stops_at_max_bytes():
    a = list(builtin_documents(300_000, seed=0))
    assert a == list(builtin_documents(300_000, seed=0))
    assert a != list(builtin_documents(300_000, seed=1))
    sizes = [len(d.encode()) for d in a]
    assert sum(sizes) >= 300_000 and sum(sizes) - sizes[-1] < 300_000
    assert all("\x00" not in d for d in a)


@pytest.fixture(scope="module")
def corpus():
    return "\n".join(builtin_documents(4_000_000, seed=0))  # the tiny profile's corpus


def test_builtin_states_every_chat_fact_and_the_probe_facts(corpus):
    plan = split_plan(0)
    keys = plan.chat_train + plan.chat_valid + plan.in_domain + plan.ood_style + plan.long_input \
        + plan.neo_false_inability + plan.false_inability
    missing = [answer(k) for k in keys if answer(k) not in corpus]  # the exact SFT answer sentence
    assert not missing, missing[:5]


def test_builtin_states_capitals_in_several_phrasings(corpus):
    for p in places():
        phrasings = [f"The capital of {p.name} is {p.capital}.", f"{p.capital} is the capital of {p.name}.",
                     f"The capital city of {p.name} is {p.capital},", f"capital of {p.name} is {p.capital}",
                     f"Its capital, {p.capital}, is the seat of government of {p.name}."]
        assert sum(s in corpus for s in phrasings) >= 3, p.name


def test_builtin_never_mentions_a_fictional_place(corpus):
    names = [n for pair in fictional_places() for n in pair]
    hits = re.findall(r"\b(" + "|".join(map(re.escape, names)) + r")\b", corpus)
    assert not hits


def test_builtin_stops_at_the_byte_budget():
    """Documents until their UTF-8 size reaches max_bytes: only the last one crosses it."""
    sizes = [len(d.encode("utf-8")) for d in builtin_documents(4_000_000, seed=3)]
    assert sum(sizes[:-1]) < 4_000_000 <= sum(sizes)


# --- the datasets code path (parquet with FineWeb-Edu's columns) -------------------------------

def test_hf_texts_filters_int_score_and_stops_at_max_bytes(tmp_path, hf_home):
    rows = [("a" * 100, 3), ("b" * 100, 2), ("c" * 100, 5), ("d" * 100, 4), ("e" * 100, 3)]
    ds = sources.open_parquet_stream([fineweb_parquet(tmp_path / "fw.parquet", rows)])
    assert list(sources.hf_texts(ds, max_bytes=10_000, min_int_score=3)) == ["a" * 100, "c" * 100, "d" * 100, "e" * 100]
    assert list(sources.hf_texts(ds, max_bytes=150, min_int_score=3)) == ["a" * 100, "c" * 100]
    assert len(list(sources.hf_texts(ds, max_bytes=10_000, min_int_score=None))) == 5


def test_fineweb_source_runs_through_the_same_path_as_the_hub(tmp_path, hf_home, monkeypatch):
    """The hub stream is replaced by the same kind of object load_dataset(hub) returns."""
    path = fineweb_parquet(tmp_path / "fw.parquet", [(f"doc {i} " * 20, i % 6) for i in range(60)])
    opened = {}

    def fake_open(label, dataset, config, revision, split="train", hint=""):
        opened.update(label=label, dataset=dataset, config=config, revision=revision)
        return sources.open_parquet_stream([path])
    monkeypatch.setattr(sources, "open_hub_stream", fake_open)
    monkeypatch.setattr(sources, "resolve_revision", lambda d, r: "0123abcd")
    manifest = sources.download(cfg(source="fineweb-edu", max_bytes=1_000), tmp_path / "raw")
    assert opened == {"label": "data.source=fineweb-edu", "dataset": "HuggingFaceFW/fineweb-edu",
                      "config": "sample-10BT", "revision": "main"}
    texts = [json.loads(line)["text"] for line in open(tmp_path / "raw" / "corpus.jsonl")]
    expected = [f"doc {i} " * 20 for i in range(60) if i % 6 >= 3]
    assert texts == expected[: len(texts)] and 1_000 <= manifest["bytes"] < 1_000 + 200
    assert manifest["filter"] == "int_score >= 3" and manifest["revision_sha"] == "0123abcd"
    assert manifest["documents"] == len(texts)


def test_local_source_reads_jsonl_and_parquet_in_order(tmp_path, hf_home):
    j = tmp_path / "a.jsonl"
    j.write_text("".join(json.dumps({"text": f"jsonl {i}"}) + "\n" for i in range(3)))
    p = fineweb_parquet(tmp_path / "b.parquet", [("parquet keep", 4), ("parquet drop", 1)])
    m = sources.download(cfg(source="local", local_paths=[str(j), str(p)], max_bytes=10_000), tmp_path / "raw")
    texts = [json.loads(line)["text"] for line in open(tmp_path / "raw" / "corpus.jsonl")]
    assert texts == ["jsonl 0", "jsonl 1", "jsonl 2", "parquet keep"]
    assert m["documents"] == 4 and m["bytes"] == sum(len(t) for t in texts)


def test_local_jsonl_error_names_file_and_line(tmp_path):
    j = tmp_path / "bad.jsonl"
    j.write_text('{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(TilelliError, match=r"bad\.jsonl:2:"):
        sources.download(cfg(source="local", local_paths=[str(j)]), tmp_path / "raw")


def test_local_missing_file_is_one_line(tmp_path):
    with pytest.raises(TilelliError, match="no such file"):
        sources.download(cfg(source="local", local_paths=[str(tmp_path / "nope.jsonl")]), tmp_path / "raw")


# --- offline ----------------------------------------------------------------------------------

def _assert_offline_message(msg):
    assert "\n" not in msg
    assert "data.source=builtin" in msg and "data.source=local" in msg


@pytest.mark.parametrize("source", ["fineweb-edu", "tinystories"])
def test_hub_source_offline_fails_fast_and_keeps_old_output(tmp_path, monkeypatch, source):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "raw"
    out.mkdir()
    (out / "corpus.jsonl").write_text('{"text": "old"}\n')
    dialled = []  # fast = no network attempt at all (no timeout to wait for), not a wall-clock bound

    def no_network(*a, **k):
        dialled.append(a)
        raise OSError("network blocked by the test")
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(TilelliError) as e:
        sources.download(cfg(source=source), out)
    assert dialled == []
    _assert_offline_message(str(e.value))
    assert (out / "corpus.jsonl").read_text() == '{"text": "old"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # no temp dir left behind


def test_unreachable_hub_fails_fast(monkeypatch, tmp_path):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)

    def no_network(*a, **k):
        raise socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(TilelliError) as e:
        sources.download(cfg(source="fineweb-edu"), tmp_path / "raw")
    _assert_offline_message(str(e.value))
    assert "cannot reach huggingface.co" in str(e.value)


def test_hub_errors_from_datasets_become_one_line(monkeypatch, tmp_path):
    import datasets
    monkeypatch.setattr(sources, "_offline_env", lambda: None)
    monkeypatch.setattr(sources, "_probe_hub", lambda timeout=5.0: None)

    def fail(*a, **k):
        raise ConnectionError("Couldn't reach 'HuggingFaceFW/fineweb-edu' on the Hub (LocalEntryNotFoundError)\nmore")
    monkeypatch.setattr(datasets, "load_dataset", fail)
    with pytest.raises(TilelliError) as e:
        sources.download(cfg(source="fineweb-edu"), tmp_path / "raw")
    _assert_offline_message(str(e.value))
    assert "ConnectionError" in str(e.value)


def test_stream_dropping_midway_leaves_no_partial_output(monkeypatch, tmp_path):
    def flaky():
        yield {"text": "first", "int_score": 4}
        raise ConnectionError("connection reset")
    monkeypatch.setattr(sources, "open_hub_stream", lambda *a, **k: flaky())
    monkeypatch.setattr(sources, "resolve_revision", lambda d, r: None)
    with pytest.raises(TilelliError, match="stream failed"):
        sources.download(cfg(source="fineweb-edu"), tmp_path / "raw")
    assert not (tmp_path / "raw").exists() and list(tmp_path.iterdir()) == []


# --- the stage script -------------------------------------------------------------------------

def _run_stage(tmp_path, params, env=None):
    return run_stage(tmp_path, "download", params=params, env=env, timeout=120)


def test_download_stage_writes_corpus_and_manifest(tmp_path):
    r = _run_stage(tmp_path, {"data": cfg(max_bytes=50_000)})
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "metrics" / "data_manifest.json").read_text())
    assert manifest == json.loads((tmp_path / "data" / "raw" / "manifest.json").read_text())
    for key in ("source", "revision", "filter", "documents", "bytes", "sha256"):
        assert key in manifest
    import hashlib
    assert manifest["sha256"] == hashlib.sha256((tmp_path / "data/raw/corpus.jsonl").read_bytes()).hexdigest()


@pytest.mark.parametrize("data,env", [({"source": "nope"}, {}), ({"max_bytes": 0}, {}),
                                      ({"source": "fineweb-edu"}, {"HF_HUB_OFFLINE": "1"})])
def test_failed_stage_is_one_line_and_existing_outputs_survive(tmp_path, data, env):
    assert _run_stage(tmp_path, {"data": cfg(max_bytes=20_000)}).returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "data/raw/corpus.jsonl", tmp_path / "metrics/data_manifest.json")}
    r = _run_stage(tmp_path, {"data": cfg(**data)}, env)
    assert r.returncode == 2
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "Traceback" not in r.stderr
    assert {p: p.read_bytes() for p in before} == before
