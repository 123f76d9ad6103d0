# The two commands of the README: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FUNDAPP_VAR_DIR ?= $(CURDIR)/var

.PHONY: run test install install-test migrate demo serve lint typecheck pytest bench clean

run: install migrate demo serve

test: install-test lint typecheck pytest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==24.3.1

# Re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/fundapp db upgrade

demo: install
	$(BIN)/fundapp demo

serve: install
	$(BIN)/fundapp serve

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-test
	$(BIN)/mypy

# One process per core (at most 4: each holds its own connections to the test server); files are not split,
# so a module's fixtures are built once; the 20 slowest tests are listed at the end.
pytest: install-test
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile --durations=20

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Benchmarks print figures (never asserted in tests); see docs/performance.md.
bench: install-test
	$(BIN)/python bench/ledger.py --backend sqlite --entries 280000
	$(BIN)/python bench/ledger.py --backend postgresql --entries 280000
	$(BIN)/python bench/contributions.py --backend both
	$(BIN)/python bench/contributions.py --backend both --statement 100
	$(BIN)/python bench/reports.py --backend both
