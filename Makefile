# The two commands of the README: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FUNDAPP_VAR_DIR ?= $(CURDIR)/var

.PHONY: run test install install-test chromium migrate demo serve lint typecheck pytest bench clean catalogues

run: install migrate demo serve

test: install-test lint typecheck pytest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==24.3.1

# Every package's catalogue of page strings (docs/pages.md, "Languages").
LOCALE_DIRS := $(wildcard fundapp/core/web/locale */locale)
PO_FILES := $(wildcard $(addsuffix /*/LC_MESSAGES/messages.po,$(LOCALE_DIRS)))

# Re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Compile the catalogues (.po -> .mo) when one changes.
$(VENV)/.catalogues: $(PO_FILES) | $(VENV)/.installed
	for dir in $(LOCALE_DIRS); do $(BIN)/pybabel -q compile -d $$dir -D messages || exit 1; done
	touch $@

# Extract the pages' strings of every package into its catalogue (new entries to translate in each .po).
catalogues: install
	for dir in $(LOCALE_DIRS); do \
		package=$${dir%/locale}; package=$${package%/web}; \
		$(BIN)/pybabel extract -F babel.cfg -k N_ -k ngettext:1,2 --no-location --sort-output --omit-header \
			-o $$dir/messages.pot $$package && \
		$(BIN)/pybabel update --width 120 -i $$dir/messages.pot -d $$dir -D messages; \
	done

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed $(VENV)/.catalogues
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed $(VENV)/.catalogues

install-test: $(VENV)/.installed-test chromium

# Debian's Chromium for the browser tests (tests/browser; docs/pages.md, "Browser tests"), installed when this
# runs as root with apt-get and no other Chromium is named; elsewhere those tests are skipped with a message
# that says how to install it. Playwright's own browser download is never used.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ -z "$${FUNDAPP_TEST_CHROMIUM:-}" ] && [ "$$(id -u)" = 0 ] \
		&& command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
			|| echo "note: chromium could not be installed; the browser tests will be skipped (docs/pages.md)"; \
	fi

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
