"""Hub ids, full model cards and push_to_hub, offline: a local Hub cache built here stands in for the Hub.

The cache has the layout huggingface_hub reads (HF_HUB_CACHE):
    models--org--name/blobs/<sha256>            file contents
    models--org--name/snapshots/<commit>/<file> symlinks into blobs
    models--org--name/refs/<branch or tag>      the commit it points to
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tilelli import TilelliError, TilelliLM, cli
from tilelli.hub import claims_for_model, full_card, model_name, push_to_hub
from tilelli.model.checkpoint import is_hub_id

REPO = "tilelli-test/tiny-chat"


def publish(cache: Path, repo_id: str, folder: Path, refs=("main",)) -> str:
    """Put `folder` into the cache as a new commit of repo_id; point refs at it; return the commit."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    commit = hashlib.sha1(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    for p in files:
        blob = repo / "blobs" / hashlib.sha256(p.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(p.read_bytes())
        link = repo / "snapshots" / commit / p.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return commit


class FakeHub:
    """create_repo + upload_folder, publishing into a local cache instead of the network."""

    def __init__(self, cache: Path):
        self.cache, self.calls = cache, []

    def create_repo(self, repo_id, private=None, exist_ok=False):
        self.calls.append(("create_repo", repo_id, private, exist_ok))

    def upload_folder(self, repo_id, folder_path, revision=None, commit_message=None):
        self.calls.append(("upload_folder", repo_id, revision, commit_message))
        oid = publish(self.cache, repo_id, Path(folder_path), refs=(revision or "main",))
        return type("CommitInfo", (), {"oid": oid})()


@pytest.fixture(scope="module")
def two_revisions(tmp_path_factory):
    """A cache holding REPO at two commits: `v1` (seed 0) and `main` (seed 1)."""
    root = tmp_path_factory.mktemp("hub")
    cache = root / "cache"
    old, new = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0), TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=1)
    old.save_pretrained(root / "old", metadata={"stage": "chat_sft"})
    new.save_pretrained(root / "new", metadata={"stage": "abstain_sft"})
    first = publish(cache, REPO, root / "old", refs=("v1",))
    second = publish(cache, REPO, root / "new", refs=("main",))
    return cache, first, second, old.eval(), new.eval()


def _logits(lm):
    return lm(torch.arange(20).view(1, 20)).logits


def test_hub_ids_load_by_revision_from_the_cache(two_revisions):
    cache, first, second, old, new = two_revisions
    load = lambda rev: TilelliLM.from_pretrained(REPO, revision=rev, cache_dir=cache, local_files_only=True)
    assert torch.equal(_logits(load(None)), _logits(new))            # default revision: main
    assert torch.equal(_logits(load("main")), _logits(new))
    assert torch.equal(_logits(load("v1")), _logits(old))            # a tag
    assert torch.equal(_logits(load(first)), _logits(old))           # a commit hash
    assert load(second).metadata == {"stage": "abstain_sft"}
    with pytest.raises(TilelliError, match=f"{REPO}: no such local folder .* at revision nope not loadable") as e:
        load("nope")
    assert "\n" not in str(e.value)
    with pytest.raises(TilelliError, match="not loadable"):
        TilelliLM.from_pretrained("tilelli-test/absent", cache_dir=cache, local_files_only=True)


def test_cli_loads_a_hub_id_offline_through_the_environment(two_revisions, tmp_path):
    """The user's path: HF_HUB_CACHE + HF_HUB_OFFLINE=1, `tilelli chat --model org/name --revision`."""
    cache, first, _, old, _ = two_revisions
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tilelli.cli", "chat", "--model", REPO, "--revision", first, "--max-new", "16", "hi"]
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    prompt = list(b"USER: hi\nTILELLI:")
    expected = old.generate(prompt, 16, stop=[b"\n"])[len(prompt):]
    expected = expected[1:] if expected[:1] == [32] else expected
    assert out.stdout == bytes(expected).decode("utf-8", errors="replace") + "\n"


def test_local_paths_are_never_sent_to_the_hub(chdir_tmp):
    (chdir_tmp / "models").mkdir()
    assert is_hub_id("org/name") and not is_hub_id("models/v4") and not is_hub_id("/abs/path")
    assert not is_hub_id("a/b/c") and not is_hub_id("v4") and not is_hub_id(Path("org/name"))
    with pytest.raises(TilelliError, match="models/v4: model directory not found.*dvc pull"):
        TilelliLM.from_pretrained("models/v4")
    with pytest.raises(TilelliError, match="revision='main' applies to Hub ids"):
        TilelliLM.from_pretrained("models/v4", revision="main")
    assert model_name("models/metacog/v7-s0") == "metacog/v7-s0" and model_name("/x/models/v4") == "v4"


CLAIMS_YAML = """
claims:
  - id: v4_gate
    statement: "v4 abstains on held-out prompts | mostly."
    metric: metrics/behaviour.json:groups.v4.gates.idk_heldout.abstained
    expected: {tiny: {verdict: REPRODUCED, reason: r}}
  - id: joint_head
    statement: "the v7 head works"
    metric: [metrics/auroc.json:groups.v7.abstain_p.cross]
    expected: {tiny: {verdict: NOT REPRODUCED, reason: r}}
  - id: splice_contrast
    statement: "splice vs joint"
    metric: metrics/auroc.json:summary.contrasts.splice_vs_joint
    expected: {tiny: {verdict: REPRODUCED, reason: r}}
  - id: splice_head
    statement: "the spliced head"
    metric: metrics/auroc.json:groups.splice.abstain_p.cross
    expected: {tiny: {verdict: REPRODUCED, reason: r}}
"""
CLAIMS_JSON = {"profile": "tiny", "claims": {
    "v4_gate": {"verdict": "REPRODUCED", "value": 9},
    "joint_head": {"verdict": "NOT REPRODUCED", "value": 0.97, "lo": 0.948, "hi": 0.987},
    "splice_contrast": {"verdict": "REPRODUCED", "evidence": ["-0.45 [-0.55, -0.35]"]},
    "splice_head": {"verdict": "REPRODUCED", "value": 0.52}}}


@pytest.fixture
def pipeline_root(tmp_path):
    """A workspace after `verify`: models/base/v4-s0, claims.yaml, metrics/claims.json, the data manifest."""
    TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0).save_pretrained(
        tmp_path / "models" / "base" / "v4-s0", metadata={"stage": "abstain_sft", "summary": {"steps": 3, "val_bpb": 2.5}})
    (tmp_path / "claims.yaml").write_text(CLAIMS_YAML)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "claims.json").write_text(json.dumps(CLAIMS_JSON))
    (tmp_path / "metrics" / "data_manifest.json").write_text(json.dumps(
        {"source": "fineweb-edu", "dataset": "HuggingFaceFW/fineweb-edu", "documents": 10, "bytes": 1000}))
    return tmp_path


def test_claims_for_a_model_are_those_whose_metrics_name_it(pipeline_root):
    ids = lambda name: [c["id"] for c in claims_for_model(name, pipeline_root / "claims.yaml",
                                                          pipeline_root / "metrics" / "claims.json")[0]]
    assert ids("base/v4-s0") == ["v4_gate"] and ids("base/v4-s1") == ["v4_gate"]   # groups.v4 pools the bases
    assert ids("base/chat-s0") == [] and ids("base/pretrain-s0") == []
    assert ids("metacog/v7-s0") == ["joint_head"]                    # the variant's group node
    assert ids("metacog/v7-s1") == ["joint_head"] and ids("metacog/v5-s0") == []
    assert ids("splice/v7-s0") == ["splice_head"]


def test_full_card_has_the_verdicts_and_the_corpus(pipeline_root):
    from huggingface_hub import ModelCard

    card = ModelCard(full_card(pipeline_root / "models" / "base" / "v4-s0", root=pipeline_root))
    assert card.data.datasets == ["HuggingFaceFW/fineweb-edu"] and card.data.license == "apache-2.0"
    assert "| v4_gate | v4 abstains on held-out prompts \\| mostly. | 9 | **REPRODUCED** | REPRODUCED |" in card.text
    assert "joint_head" not in card.text and "splice_head" not in card.text and "tiny profile" in card.text
    (pipeline_root / "metrics" / "claims.json").unlink()
    with pytest.raises(TilelliError, match="after `dvc repro verify`"):
        full_card(pipeline_root / "models" / "base" / "v4-s0", root=pipeline_root)


def test_push_uploads_the_folder_with_the_full_card(pipeline_root, tmp_path):
    hub = FakeHub(tmp_path / "cache")
    model = pipeline_root / "models" / "base" / "v4-s0"
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    commit = push_to_hub(model, REPO, root=pipeline_root, api=hub, private=True)
    assert hub.calls[0] == ("create_repo", REPO, True, True) and hub.calls[1][:3] == ("upload_folder", REPO, None)
    snapshot = tmp_path / "cache" / f"models--{REPO.replace('/', '--')}" / "snapshots" / commit
    assert sorted(p.name for p in snapshot.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert "**REPRODUCED**" in (snapshot / "README.md").read_text()
    assert f'from_pretrained("{REPO}")' in (snapshot / "README.md").read_text()
    assert (snapshot / "model.safetensors").read_bytes() == before["model.safetensors"]
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before      # the source folder is untouched
    back = TilelliLM.from_pretrained(REPO, revision=commit, cache_dir=tmp_path / "cache", local_files_only=True)
    assert back.metadata["stage"] == "abstain_sft"
    with pytest.raises(TilelliError, match="not a Hub repo id"):
        push_to_hub(model, "no-slash", root=pipeline_root, api=hub)


def test_pushing_a_model_object_saves_then_uploads(tmp_path):
    hub = FakeHub(tmp_path / "cache")
    lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=3)
    commit = push_to_hub(lm, REPO, metadata={"stage": "demo"}, api=hub, revision="dev")
    back = TilelliLM.from_pretrained(REPO, revision="dev", cache_dir=tmp_path / "cache", local_files_only=True)
    assert back.metadata == {"stage": "demo"} and torch.equal(_logits(back), _logits(lm.eval()))
    assert hub.calls[1][2] == "dev" and len(commit) == 40


def test_card_command_prints_or_writes_the_full_card(pipeline_root, monkeypatch, capsys):
    monkeypatch.chdir(pipeline_root)
    assert cli.main(["card", "--model", "models/base/v4-s0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("---\nlicense: apache-2.0") and "**REPRODUCED**" in out and "# base/v4-s0" in out
    assert cli.main(["card", "--model", "models/base/v4-s0", "--output", "card.md"]) == 0
    assert (pipeline_root / "card.md").read_text() == out
    assert cli.main(["card", "--model", "models/nope"]) == 2
