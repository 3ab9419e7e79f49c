"""Faults a user can hit, each ending in one clear line (or, for odd chat input, a normal answer).

docs/FAULTS.md is the table of every fault we test: what the user sees and the test that
proves it; the last test here checks that every test the table cites exists. The DVC rows run
dvc's own CLI in-process on a throw-away repository (no git, no network); a full disk is
simulated by making the writer raise ENOSPC, since a tiny real filesystem needs root.
"""
import ast
import errno
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tilelli import TilelliLM, cli
from tilelli.io import TilelliError
from conftest import ROOT

BASE = yaml.safe_load((ROOT / "params.yaml").read_text())
BIN = Path(sys.executable).parent


def _params(**sections) -> dict:
    params = yaml.safe_load(yaml.safe_dump(BASE))
    for key, change in sections.items():
        params[key].update(change)
    return params


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "tiny"
    TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0).save_pretrained(path, metadata={"stage": "test"})
    return path


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------------------------------------
# A misspelt training key is an error naming the key and the nearest valid one
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("section,typo,nearest", [
    ("pretrain", "warmup_steps", "warmup"),
    ("chat_sft", "batchsize", "batch_size"),
    ("abstain_sft", "bce_weigth", "bce_weight"),   # the stage's own extra key is valid
    ("metacog.train", "eval_evry", "eval_every"),
    ("ab.train", "seqlen", "seq_len"),
])
def test_unknown_training_key_names_the_nearest_valid_one(section, typo, nearest):
    from tilelli.train.recipes import train_config

    model = SimpleNamespace(config=SimpleNamespace(max_seq=256))
    overrides = {"lr": 0.003} if section == "ab.train" else None            # as ab_train passes it
    params = yaml.safe_load(yaml.safe_dump(BASE))
    node = params
    for part in section.split("."):
        node = node[part]
    train_config(params, section, model, run="r", seed=0, overrides=overrides)      # the committed section is valid
    node[typo] = 5
    with pytest.raises(TilelliError) as e:
        train_config(params, section, model, run="r", seed=0, overrides=overrides)
    assert str(e.value) == f"params.yaml: {section}.{typo}: unknown key; did you mean {nearest}?"


def test_a_recipe_override_typo_and_a_bad_extra_key_are_one_line():
    from tilelli.train.loop import MetacogRecipe, TrainConfig

    m = yaml.safe_load(yaml.safe_dump(BASE["metacog"]))
    m["recipes"]["v5"]["train"] = {"step": 500}
    with pytest.raises(TilelliError, match=r"^params.yaml: metacog.recipes.v5.train.step: unknown key; "
                                           r"did you mean steps\?$"):
        MetacogRecipe.from_params(m, "v5")
    with pytest.raises(TilelliError, match=r"abstain_sft.bce_weight='x': must be a number >= 0"):
        TrainConfig.from_params({**BASE["abstain_sft"], "bce_weight": "x"}, "abstain_sft")
    with pytest.raises(TilelliError, match="pretrain.bce_weight: unknown key"):   # only abstain_sft reads it
        TrainConfig.from_params({**BASE["pretrain"], "bce_weight": 1.0}, "pretrain")


@pytest.mark.parametrize("value,needle", [("abc", "pretrain.steps='abc': must be a positive integer"),
                                          (0, "pretrain.steps=0: must be a positive integer")])
def test_non_numeric_or_zero_steps_are_one_line(value, needle):
    from tilelli.train.loop import TrainConfig

    with pytest.raises(TilelliError) as e:
        TrainConfig.from_params({**BASE["pretrain"], "steps": value}, "pretrain")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_an_unknown_dash_s_override_is_one_line(tmp_path):
    from tilelli.stage import compose

    with pytest.raises(TilelliError) as e:
        compose(["pretrain.warmup_steps=5"], tmp_path / "p.yaml", ROOT / "conf")
    assert str(e.value) == "cannot compose params: Could not override 'pretrain.warmup_steps'."
    assert not (tmp_path / "p.yaml").exists()


# ---------------------------------------------------------------------------------------------
# `tilelli chat`: any bytes on standard input are a question
# ---------------------------------------------------------------------------------------------
def _library_answer(model_dir, question: bytes, max_new: int) -> str:
    lm = TilelliLM.from_pretrained(model_dir)
    prompt = list(b"USER: " + question + b"\nTILELLI:")
    out = lm.generate(prompt, max_new, stop=[b"\n"])[len(prompt):]
    return bytes(out[1:] if out[:1] == [32] else out).decode("utf-8", errors="replace")


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])   # a UTF-8 locale; the C/POSIX locale
def test_chat_answers_invalid_utf8_on_stdin(model_dir, capsys, monkeypatch, errors):
    raw = b"\xff\xfe What is the capital of France?\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors=errors))
    assert cli.main(["chat", "--model", str(model_dir), "--max-new", "16"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "error" not in captured.err
    assert captured.out == "tilelli> " + _library_answer(model_dir, raw.strip(), 16) + "\n"


def test_chat_in_the_c_locale_answers_with_question_marks(model_dir, monkeypatch):
    """LC_ALL=C: stdin decodes with surrogateescape and stdout is ASCII; U+FFFD prints as "?"."""
    raw = b"\xff\xfe What is the capital of France?\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="ascii", errors="surrogateescape"))
    out = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(out, encoding="ascii", errors="strict"))
    assert cli.main(["chat", "--model", str(model_dir), "--max-new", "16"]) == 0
    sys.stdout.flush()
    expected = _library_answer(model_dir, raw.strip(), 16).encode("ascii", errors="replace")
    assert out.getvalue() == b"tilelli> " + expected + b"\n"


def test_chat_answers_invalid_utf8_in_argv_and_a_20kb_question(model_dir, capsys):
    arg = b"\xff\xfe What?".decode("utf-8", errors="surrogateescape")   # how Python hands such argv over
    assert cli.main(["chat", "--model", str(model_dir), "--max-new", "8", arg]) == 0
    assert capsys.readouterr().out == _library_answer(model_dir, b"\xff\xfe What?", 8) + "\n"
    assert cli.main(["generate", "--model", str(model_dir), "--max-new", "4", "--prompt", arg]) == 0
    capsys.readouterr()
    long = "Is this question long? " * 900                                  # 20,700 bytes, context 256
    assert cli.main(["chat", "--model", str(model_dir), "--max-new", "4", long]) == 0
    assert capsys.readouterr().out.endswith("\n")


def test_negative_max_new_is_one_line(model_dir, capsys):
    assert cli.main(["generate", "--model", str(model_dir), "--prompt", "x", "--max-new", "-5"]) == 2
    assert _one_line(capsys.readouterr().err) == "error: max_new must be an integer >= 0, got -5"


# ---------------------------------------------------------------------------------------------
# A full disk while a model or a resume checkpoint is written
# ---------------------------------------------------------------------------------------------
def _full_disk(exc):
    def save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 1000)                           # part of the file got out
        raise exc
    return save_file


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device"),
    "SafetensorError",
], ids=["ENOSPC", "SafetensorError"])
def test_disk_full_while_saving_a_model_is_one_line_and_keeps_the_old_folder(tmp_path, monkeypatch, exc):
    from safetensors import SafetensorError

    from tilelli.model import checkpoint

    if exc == "SafetensorError":   # what safetensors raises (the traceback)
        exc = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    lm = TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0)
    path = tmp_path / "models" / "pretrain"
    lm.save_pretrained(path, metadata={"run": "earlier"})
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    monkeypatch.setattr(checkpoint, "save_file", _full_disk(exc))
    with pytest.raises(TilelliError) as e:
        TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=1).save_pretrained(path, metadata={"run": "new"})
    need = sum(t.numel() * t.element_size() for t in lm.state_dict().values())
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}: no space left on device")
    assert f"needs {need:,} bytes" in msg and re.search(r", [\d,]+ bytes free;", msg), msg
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before        # the earlier output survives
    assert sorted(p.name for p in path.parent.iterdir()) == ["pretrain"]      # no temporary left behind
    monkeypatch.undo()
    assert TilelliLM.from_pretrained(path).metadata == {"run": "earlier"}


def test_disk_full_while_checkpointing_or_writing_metrics_keeps_the_previous_file(tmp_path, monkeypatch):
    import torch

    from tilelli.io import write_json
    from tilelli.train import loop

    model = torch.nn.Linear(4, 4)
    opt = torch.optim.AdamW(model.parameters())
    loop.save_state(tmp_path / "ckpt", model, opt, 5, "fp", [{"step": 5}])
    before = (tmp_path / "ckpt" / "state.json").read_text()
    monkeypatch.setattr(loop, "save_file", _full_disk(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(TilelliError, match=r"ckpt: no space left on device: the write needs 80 bytes") as e:
        loop.save_state(tmp_path / "ckpt", model, opt, 10, "fp", [{"step": 10}])
    assert "\n" not in str(e.value) and (tmp_path / "ckpt" / "state.json").read_text() == before

    write_json(tmp_path / "m.json", {"v": 1})
    write_bytes = Path.write_bytes

    def full(self, data):
        write_bytes(self, data[:3])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(TilelliError, match=r"m.json: no space left on device: the write needs 14 bytes"):
        write_json(tmp_path / "m.json", {"v": 22})                           # '{\n  "v": 22\n}\n'

    monkeypatch.undo()
    assert (tmp_path / "m.json").read_text() == '{\n  "v": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "m.json"]


# ---------------------------------------------------------------------------------------------
# Both shards are verified before the first training step
# ---------------------------------------------------------------------------------------------
def test_a_corrupt_valid_shard_fails_before_any_training_step(chdir_tmp, monkeypatch):
    from tilelli.data.packing import pack_documents
    from tilelli.train import recipes

    pack_documents([f"document number {i} " * 20 for i in range(200)], "data/packed", 0.1, 0)
    shard = Path("data/packed/valid.bin")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01                                              # same size, other bytes
    shard.write_bytes(bytes(data))
    steps = []
    window_batches = recipes.window_batches

    def counting(*args):
        inner = window_batches(*args)
        return lambda *a: steps.append(a) or inner(*a)
    monkeypatch.setattr(recipes, "window_batches", counting)
    params = _params(pretrain=dict(steps=3, batch_size=2, seq_len=32, warmup=0, eval_every=1,
                                   eval_batches=1, ckpt_every=1))
    with pytest.raises(TilelliError) as e:
        recipes.pretrain(params, seed=0)
    assert str(e.value) == ("data/packed/valid.bin: corrupt (sha256 differs from meta.json; "
                            "re-run `dvc repro pack`)")
    assert steps == [] and not Path("checkpoints").exists() and not Path("models").exists()


# ---------------------------------------------------------------------------------------------
# Ctrl-C during a stage: exit 130, the previous output intact
# ---------------------------------------------------------------------------------------------
STAGE_WRITING = """
import time
from tilelli.io import atomic_dir
from tilelli.stage import run

def main(params):
    with atomic_dir("models/m") as tmp:
        (tmp / "model.safetensors").write_bytes(b"new and half written")
        print("writing", flush=True)
        time.sleep(60)

run(main)
"""


def test_ctrl_c_during_a_stage_write_exits_130_and_keeps_the_previous_output(tmp_path):
    (tmp_path / "params.yaml").write_text("profile: tiny\n")
    (tmp_path / "models" / "m").mkdir(parents=True)
    (tmp_path / "models" / "m" / "model.safetensors").write_bytes(b"previous weights")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    # A terminal's Ctrl-C reaches a foreground job whose SIGINT is not ignored; a job started in the
    # background of a non-interactive shell (`cmd &`, as CI runners may start it) inherits SIG_IGN,
    # and Python then never raises KeyboardInterrupt. Give the stage the terminal's disposition.
    proc = subprocess.Popen([sys.executable, "-c", STAGE_WRITING], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline() == "writing\n"
        proc.send_signal(signal.SIGINT)                                      # what Ctrl-C sends
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "error: interrupted", err
    assert (tmp_path / "models" / "m" / "model.safetensors").read_bytes() == b"previous weights"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["m"]


# ---------------------------------------------------------------------------------------------
# A probe prompt file with an unknown regime (the probe stage, in-process)
# ---------------------------------------------------------------------------------------------
def test_probe_prompt_file_with_an_unknown_regime_is_one_line(chdir_tmp, model_dir, monkeypatch, capsys):
    import shutil

    monkeypatch.syspath_prepend(str(ROOT))                 # the stage scripts' package (restored after)
    from stages.probe import main as probe_main
    from tilelli.stage import run

    shutil.copytree(model_dir, "models/v4")
    rows = [{"id": "a", "regime": "in_domain", "prompt": "What is 2+2?", "expected": "answer"},
            {"id": "b", "regime": "sarcasm", "prompt": "Oh, sure.", "expected": "abstain"}]
    Path("prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = _params(probe={"prompts": "prompts.jsonl", "gate_sets": {}})
    Path("params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(SystemExit) as e:
        run(lambda p: probe_main(p, "v4"))
    assert e.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: prompts.jsonl:2: field 'regime' must be one of in_domain") and "'sarcasm'" in line
    assert not Path("data/probe").exists()


# ---------------------------------------------------------------------------------------------
# claims.yaml and metrics
# ---------------------------------------------------------------------------------------------
def test_an_empty_claims_file_is_one_line(tmp_path):
    from tilelli.eval.claims import load_claims

    (tmp_path / "claims.yaml").write_text("")
    with pytest.raises(TilelliError) as e:
        load_claims(tmp_path / "claims.yaml")
    assert str(e.value) == f"{tmp_path / 'claims.yaml'}: expected a non-empty list under 'claims:'"


def test_a_nan_in_a_metrics_file_is_missing_naming_the_key(tmp_path):
    from tilelli.eval.claims import MISSING, load_claims, verify_claims

    claims = [c for c in load_claims(ROOT / "claims.yaml") if c["id"] == "idk_heldout_gate"]
    ref = claims[0]["metric"]                                    # metrics/behaviour.json:v4.gates...hits
    rel, key = ref.split(":")
    doc = json.loads((ROOT / rel).read_text())
    node = doc
    *parents, last = key.split(".")
    for p in parents:
        node = node[p]
    node[last] = float("nan")
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_text(json.dumps(doc))                # json writes NaN, as a buggy stage could
    (result,) = verify_claims(claims, tmp_path, "tiny")
    assert result.verdict == MISSING
    assert any(key in e.why and "\n" not in e.why for e in result.evidence), result.evidence


# ---------------------------------------------------------------------------------------------
# DVC: two `dvc repro` in one workspace; a full disk during `dvc push` / `dvc pull`
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def dvc_repo(chdir_tmp):
    """A throw-away DVC repository (no git) with one tracked file and a local-directory remote;
    returns dvc(args) -> (exit code, the ERROR lines DVC printed)."""
    import logging

    from dvc.cli import main
    from dvc.repo import Repo

    def dvc(args):
        out = io.StringIO()
        handlers = [h for name in ("dvc", "dvc_objects", "dvc_data")
                    for h in logging.getLogger(name).handlers if hasattr(h, "stream")]
        saved = [h.stream for h in handlers]
        for h in handlers:                   # DVC's console handlers, set up by its first main()
            h.stream = out
        try:
            rc = main(args)
        finally:
            for h, stream in zip(handlers, saved):
                h.stream = stream
        return rc, [line for line in out.getvalue().splitlines() if line.startswith("ERROR")]

    Repo.init(".", no_scm=True)
    for setting in ("core.analytics", "core.check_update"):
        assert dvc(["config", setting, "false"])[0] == 0
    Path("data.txt").write_text("the model\n")
    assert dvc(["add", "-q", "data.txt"])[0] == 0
    (chdir_tmp / "remote").mkdir()
    assert dvc(["remote", "add", "-d", "store", str(chdir_tmp / "remote")])[0] == 0
    return dvc


def test_a_second_dvc_repro_fails_on_the_repo_lock(dvc_repo, monkeypatch):
    import dvc.lock

    Path("dvc.yaml").write_text("stages:\n  s:\n    cmd: echo built > out.txt\n    outs: [out.txt]\n")
    first = dvc.lock.make_lock(".dvc/tmp/lock", tmp_dir=".dvc/tmp", hardlink_lock=False)
    first.lock()                                  # what the running `dvc repro` holds
    monkeypatch.setattr(dvc.lock, "DEFAULT_TIMEOUT", 0.3)   # DVC retries for 3 s before giving up
    try:
        rc, errors = dvc_repo(["repro"])
    finally:
        first.unlock()
    assert rc == 255 and len(errors) == 1, errors
    assert errors[0].startswith("ERROR: Unable to acquire lock. Most likely another DVC process is running")
    assert not Path("out.txt").exists()
    assert dvc_repo(["repro", "-q"])[0] == 0 and Path("out.txt").read_text() == "built\n"   # once the first ends


@pytest.mark.parametrize("verb", ["push", "pull"])
def test_a_full_disk_during_dvc_push_or_pull_leaves_the_workspace_unchanged(dvc_repo, monkeypatch, verb):
    import shutil

    from dvc_objects.fs.local import LocalFileSystem

    if verb == "pull":                 # the remote has the data; this clone's cache does not
        assert dvc_repo(["push", "-q"])[0] == 0
        shutil.rmtree(".dvc/cache")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    for method in ("put_file", "get_file"):   # every copy into the remote or the cache
        monkeypatch.setattr(LocalFileSystem, method, full)
    rc, errors = dvc_repo([verb])
    summary = {"push": "ERROR: failed to push data to the cloud - 1 files failed to upload",
               "pull": "ERROR: failed to pull data from the cloud - 1 files failed to download"}[verb]
    assert rc == 1 and errors[-1] == summary and "No space left on device" in errors[0], errors
    assert Path("data.txt").read_text() == "the model\n" and Path("data.txt.dvc").is_file()


# ---------------------------------------------------------------------------------------------
# The fault table
# ---------------------------------------------------------------------------------------------
def _table_rows() -> list[list[str]]:
    text = (ROOT / "docs" / "FAULTS.md").read_text()
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])] for line in text.splitlines()
            if line.startswith("|") and not line.startswith("|--") and not line.startswith("| #")]
    return [r for r in rows if r and r[0].isdigit()]


def _defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_the_fault_table_cites_only_tests_that_exist():
    rows = _table_rows()
    assert len(rows) >= 20 and [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    makefile = (ROOT / "Makefile").read_text()
    assert "pytest tests" in makefile                                        # every tests/ file runs in `make test`
    for row in rows:
        assert len(row) == 4 and all(row), row                               # #, fault, what the user sees, test
        cited = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", row[3])
        assert cited, f"row {row[0]} cites no test"
        for file, name in cited:
            assert (ROOT / file).is_file() and name in _defined_tests(ROOT / file), f"row {row[0]}: {file}::{name}"
    assert "docs/FAULTS.md" in (ROOT / "README.md").read_text()
