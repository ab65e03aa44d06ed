# The two commands of the README: `make demo` and `make test`. Both set everything up from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bytecode lint lab chromium clean examples

$(STAMP): pyproject.toml scripts/install_kernel.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# nbformat's jsonschema format extras import rfc3987-syntax, which compiles parsers at
	# import time (about 2 s per kernel start). Nothing here validates those formats.
	-$(BIN)/pip uninstall --quiet -y rfc3987-syntax
	$(BIN)/python scripts/install_kernel.py
	touch $(STAMP)

# Debian's chromium drives the browser tests (never `playwright install`: it downloads browsers).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# Every review kernel imports the package afresh. pip compiles an installed package's bytecode,
# but an editable install's is written on first import only, and never where
# PYTHONDONTWRITEBYTECODE is set: kernels then compile ~25 modules from source, 35 ms each
# review. compileall writes what is missing or stale, quietly, whatever that variable says.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q goodpractice

demo: bytecode
	$(BIN)/goodpractice demo $(DEMO_ARGS)

test: bytecode chromium
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: bytecode
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check goodpractice tests benchmarks scripts

# JupyterLab on notebooks/ with the `goodpractice` kernel; Jupyter refuses root without --allow-root.
lab: bytecode
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 $(LAB_ARGS) \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Maintainers only: rebuild the embedded example datasets from ../shared/data.
examples: $(STAMP)
	$(BIN)/pip install --quiet -e '.[maintainer]'
	$(BIN)/python scripts/build_examples.py --source ../shared/data

clean:
	rm -rf $(VENV) output .pytest_cache
	find goodpractice -name __pycache__ -type d -prune -exec rm -rf {} +
