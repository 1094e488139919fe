# The README's commands. Each target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint format bench clean

PORT ?= 8000

# Running needs only the package; tests, lint and benchmarks add the dev tools. uv (from
# PyPI, into the venv) resolves and installs in a third of pip's time.
$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(BIN)/.installed-run: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e .
	touch $@

$(BIN)/.installed: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $@ $(BIN)/.installed-run

install: $(BIN)/.installed

## make run: embedded PostgreSQL, demo tenant, printed credentials and URLs (PORT=8000)
run: $(BIN)/.installed-run
	$(BIN)/syncline dev --port $(PORT)

## make test: the whole suite (unit, integration on real PostgreSQL, end-to-end over HTTP)
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .syncline .pytest_cache .mypy_cache .ruff_cache
