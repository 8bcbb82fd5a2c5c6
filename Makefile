# Two commands do all the set-up: `make serve` runs the gateway on its
# embedded default, `make test` runs the checks and the tests. Both create
# the virtual environment in .venv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.serve-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,e2e]'
	touch $@ $(VENV)/.serve-deps

serve: $(VENV)/.serve-deps
	$(BIN)/tollhouse serve

lint: $(VENV)/.test-deps
	$(BIN)/ruff check tollhouse tests bench
	$(BIN)/ruff format --check tollhouse tests bench
	$(BIN)/mypy tollhouse

test: lint
	$(BIN)/pytest -q

bench: $(VENV)/.test-deps
	$(BIN)/python -m bench.run
