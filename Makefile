# `make demo` and `make test` are the two commands a new machine needs; each builds .venv as needed.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Makefile: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	# the package itself, editable (scripts/*.py and the console script import it; no sys.path tricks)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

demo: $(VENV)/.installed
	$(PY) scripts/demo.py --root .demo

# -n auto: one pytest worker per core (pytest-xdist); the tests share no files, ports or state.
test: $(VENV)/.installed
	$(PY) -m pytest -q -n auto

# ruff (lint + format check) and mypy over the package, then the workflow linters.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	bash .ci/lint-workflows

bench: $(VENV)/.installed
	$(PY) bench/cycle.py
	$(PY) bench/detection.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .hypothesis
