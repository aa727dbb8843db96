PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARCHIVE ?= demo-archive

.PHONY: help install demo test lint check bench notebooks clean

help:  ## list the targets
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install:  ## create .venv and install archiver with its dev extras (pinned)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'

demo:  ## simulate a week against the built-in simulator, archive it, print the three reports
	$(BIN)/archiver demo --archive $(ARCHIVE)

test:  ## the full test suite
	$(BIN)/pytest -q

lint:  ## ruff + mypy --strict
	$(BIN)/ruff check archiver tests benchmarks
	$(BIN)/mypy archiver

check: lint test  ## what CI runs

bench:  ## benchmarks against the alternatives; writes BENCHMARKS.md and benchmarks/results.json
	$(BIN)/python -m benchmarks

notebooks:  ## execute the notebooks against the demo archive and render HTML
	$(BIN)/python -m archiver.query.notebooks --archive $(ARCHIVE) --html build/notebooks

clean:  ## remove build products and the demo archive
	rm -rf build dist $(ARCHIVE) .pytest_cache .mypy_cache .ruff_cache
