# The two commands of the README. Both set the project up first (idempotent, see scripts/setup.sh).
PYTHON_BIN := .venv/bin
RECIPE ?= recipes/quickstart.yaml

.PHONY: setup quickstart test test-fast bench

setup:
	./scripts/setup.sh

quickstart: setup
	$(PYTHON_BIN)/alternas search $(RECIPE)

test: setup
	$(PYTHON_BIN)/python -m pytest -q

test-fast: setup
	$(PYTHON_BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(PYTHON_BIN)/python -m bench --quick
