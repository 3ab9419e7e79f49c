"""params.yaml is the composed tiny profile, and the paper profile composes too."""
from pathlib import Path

import pytest
import yaml

from tilelli.errors import TilelliError
from tilelli.params import compose
from tilelli.train import TrainConfig
from tilelli.train.experiments import metacog_models

ROOT = Path(__file__).resolve().parents[1]


def test_committed_params_equal_the_composed_tiny_profile(tmp_path):
    out = compose(output=tmp_path / "params.yaml", conf_dir=ROOT / "conf")
    assert out.read_text() == (ROOT / "params.yaml").read_text(), "run `tilelli params` and commit params.yaml"


@pytest.mark.parametrize("profile", ["tiny", "paper"])
def test_profiles_compose_with_valid_training_sections(tmp_path, profile):
    params = yaml.safe_load(compose([f"profile={profile}"], tmp_path / "p.yaml", ROOT / "conf").read_text())
    assert params["profile"] == profile
    for key in ("pretrain", "chat_sft", "abstain_sft"):
        TrainConfig.from_params(params[key], key)
    TrainConfig.from_params(params["metacog"]["train"], "metacog.train")
    TrainConfig.from_params(params["ab"]["train"], "ab.train")
    assert params["metacog"]["weights"][params["metacog"]["main"]] == params["metacog_weight"]
    assert len(metacog_models(params)) == len(params["metacog"]["variants"]) * len(params["metacog"]["seeds"])
    assert len(params["ab"]["seeds"]) >= 3


def test_single_key_override_reaches_the_main_variant(tmp_path):
    params = yaml.safe_load(compose(["metacog_weight=0"], tmp_path / "p.yaml", ROOT / "conf").read_text())
    assert params["metacog"]["weights"]["v7"] == 0


def test_unknown_override_is_one_clear_line(tmp_path):
    with pytest.raises(TilelliError) as e:
        compose(["profile=huge"], tmp_path / "p.yaml", ROOT / "conf")
    assert "\n" not in str(e.value)
