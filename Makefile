# The two commands of the README. Both set the project up first (idempotent, see scripts/setup.sh).
# ALTERNAS_DEPS=locked (default): .venv with the exact versions of requirements-lock.txt, the set CI
# tested; ALTERNAS_DEPS=latest: .venv-latest with the newest versions pyproject.toml allows.
ALTERNAS_DEPS ?= locked
VENV ?= $(if $(filter latest,$(ALTERNAS_DEPS)),.venv-latest,.venv)
PYTHON_BIN := $(VENV)/bin
RECIPE ?= recipes/quickstart.yaml
export ALTERNAS_DEPS
export ALTERNAS_VENV := $(VENV)

.PHONY: setup quickstart test test-fast bench lock docs

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

# Regenerate what is generated from the recipe's pydantic models: recipes/recipe.schema.json (the output of
# `alternas schema`, checked by tests/test_schema.py) and docs/recipes.md (scripts/recipe_docs.py, checked by
# tests/test_docs.py with --check).
docs: setup
	$(PYTHON_BIN)/alternas schema > recipes/recipe.schema.json.tmp
	mv recipes/recipe.schema.json.tmp recipes/recipe.schema.json
	$(PYTHON_BIN)/python scripts/recipe_docs.py
