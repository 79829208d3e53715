# Two commands for a fresh machine (Python >= 3.11 with venv; nothing else):
#   make demo   - the whole pipeline on an embedded PostgreSQL, local SMTP and an SMS log
#   make test   - lint, type-check and the test suite (a real PostgreSQL: $OBVO_TEST_DATABASE_URL,
#                 else an embedded one)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DURATION ?=

.PHONY: demo test lint typecheck pytest bench schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo-installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.dev-installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/obvo demo $(if $(DURATION),--duration $(DURATION))

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check vopi_obvo tests bench
	$(BIN)/ruff format --check vopi_obvo tests bench
	$(BIN)/lint-imports --no-logo

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

test: lint typecheck pytest

# sql/schema.sql from sql/migrations/ (after adding a migration): needs a PostgreSQL server
# ($$OBVO_TEST_DATABASE_URL, default the machine's at 127.0.0.1:5432) and pg_dump.
schema: $(VENV)/.dev-installed
	$(BIN)/python -m tests.tools.schema

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
