"""Shared fixtures: everything here is CPU-only, offline and small."""
import os

import pytest
import torch

os.environ.setdefault("CI", "true")  # no progress bars in test output
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def chdir_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path
