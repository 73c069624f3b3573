VENV ?= .venv
STAMP := $(VENV)/.seal-desk-setup

.PHONY: setup run test test-fast lint bench-knowledge clean-cache

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

## Start the app on the embedded default model.
run: setup
	$(VENV)/bin/seal-desk

## The whole suite: unit tests on tiny random models, plus a few end-to-end tests on the real model.
test: setup
	$(VENV)/bin/python -m pytest -q

## Everything but the end-to-end, slow, TUI and Ray-cluster tests.
test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not e2e and not slow and not tui and not ray"

## SEAL's single-passage table on 10 of its eval passages (CPU: ~20 min).
bench-knowledge: setup
	$(VENV)/bin/seal-desk bench knowledge --data ../shared/data/squad/dev_passages.json \
	  --self-edits ../shared/data/squad/gpt41_implications_eval200.json --n 10 \
	  --json bench-out/squad10.json --markdown bench-out/squad10.md

clean-cache:
	rm -rf models/cache

## Style and architecture checks: ruff (lint, format) and import-linter's contracts.
lint: setup
	$(VENV)/bin/ruff check seal_desk tests benchmarks
	$(VENV)/bin/ruff format --check seal_desk tests benchmarks
	$(VENV)/bin/lint-imports
