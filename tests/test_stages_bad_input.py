"""Stage scripts on bad input: one `error:` line, exit 2, and earlier outputs left intact."""

import pytest
import yaml
from conftest import ROOT, run_stage

BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def _stage(tmp_path, module, params, *args):
    args = args or (("--seed", "0") if module == "pretrain" else ())
    return run_stage(tmp_path, module, *args, params=params, timeout=120)


def _with(path: str, value):
    params = yaml.safe_load(yaml.safe_dump(BASE))
    *parents, last = path.split(".")
    node = params
    for p in parents:
        node = node[p]
    node[last] = value
    return params


@pytest.fixture
def workspace(tmp_path):
    """A previous run's model and metrics, which no failure may touch."""
    (tmp_path / "models/base/pretrain-s0").mkdir(parents=True)
    (tmp_path / "models/base/pretrain-s0/model.safetensors").write_bytes(b"previous weights")
    (tmp_path / "metrics/train/base").mkdir(parents=True)
    (tmp_path / "metrics/train/base/pretrain-s0.json").write_text('{"val_bpb": 1.0}')
    return tmp_path


def _assert_clean_failure(result, needle, workspace):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert (workspace / "models/base/pretrain-s0/model.safetensors").read_bytes() == b"previous weights"
    assert (workspace / "metrics/train/base/pretrain-s0.json").read_text() == '{"val_bpb": 1.0}'


@pytest.mark.parametrize("key,value,needle", [
    ("pretrain.lr", -0.001, "pretrain.lr=-0.001"),
    ("model.name", "tilelli-huge", "tilelli-huge"),
    ("pretrain.seq_len", 4096, "exceeds the model's context"),
    ("pretrain.warmup_steps", 5, "params.yaml: pretrain.warmup_steps: unknown key; did you mean warmup?"),
])
def test_pretrain_rejects_bad_params(workspace, key, value, needle):
    if key != "pretrain.seq_len":
        _assert_clean_failure(_stage(workspace, "pretrain", _with(key, value)), needle, workspace)
        return
    (workspace / "data/packed").mkdir(parents=True)  # shards exist, so only seq_len can fail
    from tilelli.data.packing import pack_documents
    pack_documents([f"document number {i} " * 20 for i in range(200)], workspace / "data/packed", 0.1, 0)
    _assert_clean_failure(_stage(workspace, "pretrain", _with(key, value)), needle, workspace)


def test_pretrain_with_missing_or_corrupt_shards(workspace):
    _assert_clean_failure(_stage(workspace, "pretrain", BASE), "train.bin", workspace)
    from tilelli.data.packing import pack_documents
    pack_documents([f"document number {i} " * 20 for i in range(200)], workspace / "data/packed", 0.1, 0)
    shard = workspace / "data/packed/train.bin"
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated
    _assert_clean_failure(_stage(workspace, "pretrain", BASE), "train.bin", workspace)


def test_metacog_unknown_variant(workspace):
    _assert_clean_failure(_stage(workspace, "metacog", BASE, "--variant", "v9", "--seed", "0"), "v9", workspace)


def test_a_base_stage_for_a_seed_outside_the_study(workspace):
    _assert_clean_failure(_stage(workspace, "pretrain", BASE, "--seed", "9"), "seed 9 is not in params.yaml seeds",
                          workspace)
