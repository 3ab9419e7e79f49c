# Two entry points (README): `make repro` rebuilds the study on the tiny profile, offline;
# `make test` runs the test suite. Both create or update .venv themselves. `make preflight`
# runs the paper profile's stages on CPU with a few steps each (CI runs it last).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: repro test preflight venv bench clean-venv

venv: $(STAMP)

# torch first, as the pinned CPU build: a bare `torch` requirement would pull GBs of CUDA wheels.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

# Stage commands say `python`: the venv goes first on PATH so they run inside it.
repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest tests

# The paper profile's whole DAG on CPU at paper shapes, a few steps per stage, in a scratch copy
# (src/tilelli/preflight.py; the workspace's params.yaml, dvc.lock and outputs are not touched).
preflight: $(STAMP)
	$(BIN)/python -m tilelli.preflight

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
