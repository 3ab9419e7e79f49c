"""Shared fixtures: everything here is CPU-only, offline and small.

Test modules import ROOT (the checkout) and run_stage (a stage script in a temporary directory)
from here: `from conftest import ROOT, run_stage`.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("CI", "true")  # no progress bars in test output
os.environ.setdefault("TILELLI_THREADS", "1")  # pinned numerics' thread count for tests (see below)
import tilelli  # noqa: E402,F401  pins ATen/MKL before torch runs its first op (tilelli/numerics.py)
import torch  # noqa: E402

# Tiny models gain nothing from 2 intra-op threads, and when other jobs share the 2 cores,
# OpenMP barriers between spinning threads slow small ops down by 10-100x.
torch.set_num_threads(1)


ROOT = Path(__file__).resolve().parents[1]


def run_stage(cwd, module: str, *args: str, params: dict | None = None, env: dict | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m stages.<module> *args` run in `cwd` as dvc runs it (params.yaml written there
    first when `params` is given), with this checkout's stages/ importable; output as text."""
    if params is not None:
        (Path(cwd) / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", f"stages.{module}", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def chdir_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# The tiny profile's SFT sizes (conf/profile/tiny.yaml, sft:), built once per session.
TINY_SFT = {"seed": 0, "abstain_template": "I don't know.", "n_chat_train": 3000, "n_chat_valid": 100,
            "n_abstain_train": 1000, "n_abstain_valid": 100, "n_ood_train": 600}


@pytest.fixture(scope="session")
def sets():
    """The tiny SFT sets (tilelli.data.chat.build_sft_sets(TINY_SFT)); read-only by convention."""
    from tilelli.data.chat import build_sft_sets
    return build_sft_sets(TINY_SFT)
