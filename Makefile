# codemend: `make demo`, `make test`, `make bench`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install docker image demo test test-fast test-destructive bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,eval,ray]'
	touch $(STAMP)

install: $(STAMP)

docker:
	@bash scripts/ensure-docker.sh

# Online when a registry answers, else a locally made Debian base (debootstrap) + host wheels.
image: install docker
	$(VENV)/bin/codemend sandbox build

demo: image
	$(VENV)/bin/codemend demo

test: image
	$(PY) -m pytest -q

# tests that stop the shared dockerd or mount filesystems (CI runs them as part of `make test`)
test-destructive: image
	$(PY) -m pytest -q --destructive -m destructive

test-fast: install
	$(PY) -m pytest -q tests/unit

bench: image
	$(PY) -m pip install --quiet -e '.[dev,eval,ray,bench]'
	$(PY) bench/run.py all --record bench/RESULTS.md

# ruff; the import contracts of pyproject.toml (layers, no circles, sandbox never imports
# agent); pyright over agent/ and sandbox/ (through the codemend/ links)
lint: install
	$(VENV)/bin/ruff check agent sandbox tests bench scripts codemend
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pyright --pythonpath $(PY)

clean:
	rm -rf $(VENV) .codemend .pytest_cache
