"""The `tilelli` CLI, run in-process on a tiny randomly initialised checkpoint."""
import io

import pytest

from tilelli import TilelliLM, cli


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny"
    TilelliLM.from_config("tilelli-lite-fp32-tiny", seed=0).save_pretrained(path, metadata={"stage": "test"})
    return str(path)


def test_info_configs_lists_every_name_with_counts(capsys):
    assert cli.main(["info", "--configs"]) == 0
    out = capsys.readouterr().out
    assert "tilelli-lite-ternary" in out and "vanilla-fp32-tiny" in out and "10,048,257" in out


def test_info_model(model_dir, capsys):
    assert cli.main(["info", "--model", model_dir]) == 0
    out = capsys.readouterr().out
    assert "tilelli-lite-fp32-tiny" in out and "parameters: 1,031,633" in out and '"stage": "test"' in out


def test_generate_matches_library(model_dir, capsys):
    assert cli.main(["generate", "--model", model_dir, "--prompt", "Once", "--max-new", "12"]) == 0
    out = capsys.readouterr().out
    expected = TilelliLM.from_pretrained(model_dir).generate(list(b"Once"), 12)
    assert out == bytes(expected).decode("utf-8", errors="replace") + "\n"
    assert cli.main(["generate", "--model", model_dir, "--prompt", "Once", "--max-new", "5",
                     "--temperature", "0.9", "--top-k", "20", "--top-p", "0.9", "--seed", "1",
                     "--no-cache", "--stop", "\\n"]) == 0


def test_chat_one_shot_and_interactive(model_dir, capsys, monkeypatch):
    assert cli.main(["chat", "--model", model_dir, "--max-new", "20", "What", "is", "2+2?"]) == 0
    one_shot = capsys.readouterr().out
    lm = TilelliLM.from_pretrained(model_dir)
    prompt = list(b"USER: What is 2+2?\nTILELLI:")
    answer = lm.generate(prompt, 20, stop=[b"\n"])[len(prompt):]
    if answer[:1] == [32]:
        answer = answer[1:]
    assert one_shot == bytes(answer).decode("utf-8", errors="replace") + "\n"

    monkeypatch.setattr("sys.stdin", io.StringIO("What is 2+2?\nHi\n\n"))
    assert cli.main(["chat", "--model", model_dir, "--max-new", "20"]) == 0
    lines = capsys.readouterr().out
    assert lines.startswith("tilelli> " + one_shot) and lines.count("tilelli> ") == 2


def test_errors_are_one_line_with_status_2(tmp_path, capsys):
    assert cli.main(["info", "--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert cli.main(["generate", "--model", str(tmp_path), "--prompt", "x"]) == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["generate"])
    assert e.value.code == 2


def test_info_shows_the_format_and_convert_upgrades_a_format_1_folder(model_dir, tmp_path, capsys):
    import json
    import shutil

    assert cli.main(["info", "--model", model_dir]) == 0
    assert "format: 2\n" in capsys.readouterr().out
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    doc = json.loads((old / "config.json").read_text())
    names = {"hidden_size": "d_model", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
             "max_position_embeddings": "max_seq"}
    keep = ("weights", "metadata", "num_parameters")
    config = {names.get(k, k): v for k, v in doc.items()
              if k not in keep and k not in ("model_type", "architectures", "torch_dtype") and not k.startswith("tilelli_")}
    (old / "config.json").write_text(json.dumps({"format": "tilelli-checkpoint", "format_version": 1, "config": config,
                                                 "num_params": doc["num_parameters"], "weights": doc["weights"],
                                                 "metadata": doc["metadata"]}))
    (old / "README.md").unlink()
    assert cli.main(["info", "--model", str(old)]) == 0
    assert f"format: 1 (run `tilelli convert {old}`" in capsys.readouterr().out
    assert cli.main(["convert", str(old), "--output", str(tmp_path / "new")]) == 0
    assert "format 2" in capsys.readouterr().out
    assert json.loads((tmp_path / "new" / "config.json").read_text()) == doc       # same as a fresh save
    card = (tmp_path / "new" / "README.md").read_text()
    assert card.startswith("---\nlicense: apache-2.0") and "\n# new\n" in card
