PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARCHIVE ?= demo-archive
# The demo's simulated account has a 2,000-point cap (archiver/simulator/demo.py): the
# notebooks read the demo archive against it, any other archive against the setting.
DEMO_CAP = $(if $(filter demo-archive,$(ARCHIVE)),ARCHIVER_POINT_CAP=2000)

.PHONY: help install demo test soak lint check bench bench-backlog bench-publish crash notebooks jupyter clean bench-scale

help:  ## list the targets
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install:  ## create .venv and install archiver with its dev extras (pinned)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'

demo:  ## simulate a week against the built-in simulator, archive it, print the three reports
	$(BIN)/archiver demo --archive $(ARCHIVE)

# The soak test runs 12 simulated hours of cron minutes here, to keep `make test` near five
# minutes on 2 cores; `make soak` runs the whole day (about 2 minutes).
test:  ## the full test suite
	SOAK_MINUTES=$${SOAK_MINUTES:-720} $(BIN)/pytest -q

soak:  ## the soak test over a whole simulated day of cron minutes (1,440 scrapes, every fault on)
	SOAK_MINUTES=1440 $(BIN)/pytest -q tests/collect/test_soak.py

lint:  ## ruff + mypy --strict
	$(BIN)/ruff check archiver tests benchmarks
	$(BIN)/mypy archiver

check: lint test  ## what CI runs

bench:  ## benchmarks against the alternatives; writes build/bench/ (untracked)
	$(BIN)/python -m benchmarks

bench-backlog:  ## backlog report at scale: a month of 10,000 points, a year of rollups (~1 h first run; not in make bench)
	$(BIN)/python -m benchmarks.bench_backlog

bench-publish:  ## copy the last full make bench to the tracked BENCHMARKS.md and results.json
	$(BIN)/python -m benchmarks --publish

crash:  ## 1,000 SIGKILLs at random moments across scrape, compact and retention (~30 min; not in make test)
	$(BIN)/python -m tests.store.crash_soak --kills 1000 --out benchmarks/crash.json

bench-scale:  ## compaction at the 50,000-point cap (3 h of minutes): peak RSS, samples/s, vs the previous compaction
	$(BIN)/python -m benchmarks.bench_scale --hours 3

notebooks:  ## execute the notebooks against the demo archive and render HTML
	$(DEMO_CAP) $(BIN)/archiver notebooks run --archive $(ARCHIVE) --html build/notebooks

# The notebooks are jupytext text files: open them as notebooks by default, kernels over
# encrypted sockets, the server on loopback only. ARCHIVE=... on the command line picks the
# archive; else $$ARCHIVER_ARCHIVE, else the repository's demo-archive. JUPYTER_ARGS=... passes
# more options (e.g. --no-browser --port 8899). As root (a container), Jupyter needs --allow-root.
JUPYTER_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
jupyter:  ## JupyterLab on notebooks/ (reads demo-archive, or ARCHIVE=...)
	@mkdir -p $(dir $(JUPYTER_OVERRIDES))
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' > $(JUPYTER_OVERRIDES)
	$(if $(filter command line,$(origin ARCHIVE)),ARCHIVER_ARCHIVE=$(abspath $(ARCHIVE))) \
	$(if $(and $(ARCHIVER_ARCHIVE),$(filter-out command line,$(origin ARCHIVE))),,$(DEMO_CAP)) \
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 \
	  --KernelManager.transport_encryption=auto $(if $(filter 0,$(shell id -u)),--allow-root) \
	  $(JUPYTER_ARGS)

clean:  ## remove build products and the demo archive
	rm -rf build dist $(ARCHIVE) .pytest_cache .mypy_cache .ruff_cache
