# The two commands of the README. Both set the project up first (idempotent, see scripts/setup.sh).
# ALTERNAS_DEPS=locked (default): .venv with the exact versions of requirements-lock.txt, the set CI
# tested; ALTERNAS_DEPS=latest: .venv-latest with the newest versions pyproject.toml allows.
ALTERNAS_DEPS ?= locked
VENV ?= $(if $(filter latest,$(ALTERNAS_DEPS)),.venv-latest,.venv)
PYTHON_BIN := $(VENV)/bin
RECIPE ?= recipes/quickstart.yaml
export ALTERNAS_DEPS
export ALTERNAS_VENV := $(VENV)

.PHONY: setup quickstart test test-fast bench lock

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

# Resolve pyproject.toml's ranges afresh and rewrite requirements-lock.txt (then run make test).
lock:
	./scripts/lock.sh
