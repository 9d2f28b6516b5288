# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export OPENBLAS_NUM_THREADS := 1

.PHONY: demo test install bench bench-import bench-quality clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tastemaker --workspace .demo-workspace demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

bench-import: $(STAMP)
	$(BIN)/python bench/import_throughput.py

bench-quality: $(STAMP)
	$(BIN)/python -W ignore bench/quality.py

bench: bench-import bench-quality

clean:
	rm -rf $(VENV) .demo-workspace .pytest_cache
