# Two entry points: `make serve` (the main job) and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The browser tests drive Debian's Chromium; installed once, with sudo when not root.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DATA ?= demo-data
PORT ?= 8080

.PHONY: setup serve demo test lint bench openapi clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: any other spec pulls GBs of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

setup: $(STAMP)

# Builds the demo collection (Python's standard library docs) on first run, then serves it.
serve: $(STAMP)
	$(BIN)/sleuth serve --data $(DATA) --port $(PORT) --demo

demo: $(STAMP)
	$(BIN)/sleuth demo

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q

openapi: $(STAMP)
	$(BIN)/python -m sleuth.server.openapi docs/openapi.json

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
