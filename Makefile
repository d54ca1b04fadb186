# The two commands a newcomer runs are `make demo` and `make test`; both set up
# everything they need first (Debian packages, virtual environment, packages).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench system-deps clean

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

# Benchmarks print their figures next to a peer's, measured in the same run.
bench: system-deps $(INSTALLED)
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

system-deps:
	@scripts/system-deps

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) demo-out .mypy_cache .ruff_cache .pytest_cache
