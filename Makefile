# Two entry points: `make demo` (train the default config on CPU) and `make test`.
# Each creates its own virtualenv in .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
WORKDIR ?= workdir/default
CONFIG ?= configs/default.py

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

.PHONY: venv demo test clean
venv: $(BIN)/.installed

DATA_DIR ?= $(CURDIR)/data/tfds

demo: $(BIN)/.installed
	$(BIN)/python -m seq2seq_jax.main --config=$(CONFIG) --workdir=$(WORKDIR) --config.data_dir=$(DATA_DIR)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n 2 --durations=15 tests

clean:
	rm -rf $(VENV) workdir
