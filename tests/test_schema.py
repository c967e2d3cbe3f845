"""``alternas schema`` and ``--version``: the committed schema is the command's output, validates every
shipped recipe and search space, and rejects broken recipes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import alternas
from alternas.recipe import recipe_json_schema

from .conftest import run_cli
from .test_recipe import tiny_recipe

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "recipes" / "recipe.schema.json"
SHIPPED_RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_version_prints_the_package_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out == f"alternas {alternas.__version__}"


def test_the_committed_schema_is_the_output_of_alternas_schema(capsys):
    code, out, _ = run_cli(capsys, "schema")
    assert code == 0
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(out) == recipe_json_schema()


@pytest.mark.parametrize("recipe_file", SHIPPED_RECIPES, ids=lambda path: path.name)
def test_every_shipped_recipe_points_at_the_schema_and_validates(recipe_file):
    first_line = recipe_file.read_text().splitlines()[0]
    assert first_line == f"# yaml-language-server: $schema={SCHEMA_FILE.name}"
    data = yaml.safe_load(recipe_file.read_text())
    assert list(_validator(recipe_json_schema()).iter_errors(data)) == []
    space = (recipe_file.resolve().parent / data["space"]).resolve()  # the space file (next to a linked recipe's target)
    space_schema = {"$defs": recipe_json_schema()["$defs"], "$ref": "#/$defs/SearchSpace"}
    assert list(_validator(space_schema).iter_errors(yaml.safe_load(space.read_text()))) == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"serach": {"num_trials": 4}}, []),  # a misspelled section
        ({"search": {"num_trials": "many"}}, ["search", "num_trials"]),
        ({"search": {"sampler": "nsga3"}}, ["search", "sampler"]),
        ({"search": {"max_concurrent_trials": 0}}, ["search", "max_concurrent_trials"]),
        ({"space": 3}, ["space"]),
        ({"train": {"lr": "fast"}}, ["train", "lr"]),
    ],
)
def test_the_schema_rejects_a_broken_recipe(tmp_path, change, path):
    validator = _validator(recipe_json_schema())
    assert list(validator.iter_errors(tiny_recipe(tmp_path))) == []
    errors = list(validator.iter_errors({**tiny_recipe(tmp_path), **change}))
    assert errors and any(list(error.absolute_path) == path for error in errors), errors
