# The README's commands: `make run` sets everything up, trains the default model if the registry
# has no champion and serves the API on 127.0.0.1:8000; `make test` sets up and runs lint, types
# and the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test lint typecheck pytest benchmark clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: it resolves to the CPU build on local disk instead of a CUDA download.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

HOST ?= 127.0.0.1
PORT ?= 8000

run: install
	$(VENV)/bin/tidings bootstrap
	$(VENV)/bin/tidings serve --host $(HOST) --port $(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest

test: lint typecheck pytest

benchmark: install
	$(VENV)/bin/tidings benchmark

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
