# The two commands a newcomer runs are `make demo` and `make test`; both set up
# everything they need first (Debian packages, virtual environment, packages).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint typecheck unit system-deps clean

demo: system-deps $(INSTALLED)
	rm -rf demo-out
	$(BIN)/station demo --out demo-out

test: system-deps $(INSTALLED) lint typecheck unit

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest

system-deps:
	@scripts/system-deps

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) demo-out .mypy_cache .ruff_cache .pytest_cache
