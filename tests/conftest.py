"""Shared fixtures: everything here is CPU-only, offline and small."""
import os

import pytest
import torch

os.environ.setdefault("CI", "true")  # no progress bars in test output
# Tiny models gain nothing from 2 intra-op threads, and when other jobs share the 2 cores,
# OpenMP barriers between spinning threads slow small ops down by 10-100x.
torch.set_num_threads(1)


@pytest.fixture
def chdir_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path
