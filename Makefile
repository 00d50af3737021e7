# Two commands for a fresh machine: `make run` and `make test` (see README.md).
# Both create .venv on first use and are idempotent afterwards.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch lies on this machine's disk; naming it first keeps pip
# from resolving the multi-GB CUDA build when the `neural` extra asks for torch.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install run test lint format mutation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/clicksynth run

test: install
	$(PY) -m pytest -n 2 -q --durations=15

# ruff (lint + format check) and mypy, as configured in pyproject.toml; CI runs it before the tests.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Mutation testing of the core modules (slow: not in CI); the score goes to benchmarks/RESULTS.md.
# Incremental: a second run re-checks only the functions that changed.
mutation: install
	$(PY) -m pip install -q "mutmut==3.8.1"
	$(PY) scripts/mutation.py --max-children 2

clean:
	rm -rf $(VENV) runs .pytest_cache mutants
