# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
export OPENBLAS_NUM_THREADS := 1

.PHONY: demo test install browser bench bench-import bench-quality bench-pipeline bench-policies bench-batch bench-serving bench-experiments clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, on its own: resolved alongside the content extra, pip could pick a multi-GB CUDA build
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[test,bench,content,sequence]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tastemaker --workspace .demo-workspace demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 -q

# the dashboard's browser tests drive Debian's Chromium (Playwright never downloads one); installed when
# missing and this user may (root, or sudo without a password); otherwise those tests skip, except under CI
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "note: no chromium and no root: the browser tests will skip"; exit 0; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends chromium >/dev/null; }

bench-import: $(STAMP)
	$(BIN)/python bench/import_throughput.py

bench-quality: $(STAMP)
	$(BIN)/python -W ignore bench/quality.py

bench-pipeline: $(STAMP)
	$(BIN)/python bench/pipeline_latency.py

bench-policies: $(STAMP)
	$(BIN)/python -W ignore bench/policies.py

bench-batch: $(STAMP)
	$(BIN)/python bench/batch_discover_weekly.py

bench-serving: $(STAMP)
	$(BIN)/python bench/serving.py

bench-experiments: $(STAMP)
	$(BIN)/python -W ignore bench/experiments.py

bench: bench-import bench-quality bench-pipeline bench-policies bench-batch bench-serving bench-experiments

clean:
	rm -rf $(VENV) .demo-workspace .pytest_cache
