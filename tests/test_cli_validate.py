"""``alternas validate``: a valid recipe prints its space and units; malformed ones exit 2 naming the field."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import cli_output, tiny_recipe

ROOT = Path(__file__).resolve().parents[1]


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


def _without(data: dict[str, Any], dotted: str) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    del node[last]
    return data


#: (case id, how to break the tiny recipe, text the message must contain)
MALFORMED = [
    ("unknown-top-key", lambda d: _set(d, "serach", {}), "`serach`: unknown key; did you mean `search`?"),
    ("unknown-nested-key", lambda d: _set(d, "train.stpes", 5), "`train.stpes`: unknown key; did you mean `steps`?"),
    ("wrong-type", lambda d: _set(d, "train.steps", "many"), "`train.steps`: Input should be a valid integer"),
    ("searched-section-at-top", lambda d: _set(d, "experts", {"count": 4}), "`experts`: searched over"),
    ("missing-space", lambda d: _without(d, "space"), "`space`: Field required"),
    ("empty-space", lambda d: _set(d, "space", {}), "`space.experts`: Field required"),
    ("empty-counts", lambda d: _set(d, "space.experts.counts", []), "`space.experts.counts`"),
    ("empty-budgets", lambda d: _set(d, "space.budget.macs_share", []),
     "`space.budget.macs_share`: Value error, give at least one value"),
    ("budget-above-dense", lambda d: _set(d, "space.budget.macs_share", [1.5]), "`space.budget`"),
    ("budget-not-a-number", lambda d: _set(d, "space.budget.macs_share", "half"), "`space.budget.macs_share`"),
    ("infeasible-budget", lambda d: _set(d, "space.budget.macs_share", [0.1]),
     "`space.budget.macs_share` = 0.100 of dense MACs cannot be reached"),
    ("infeasible-generation-budget",
     lambda d: _set(d, "space.budget", {"generation_share": [0.05], "reference_steps": 4}),
     "`space.budget.generation_share = 0.05 at 4 sampler steps`"),
    ("two-budget-kinds", lambda d: _set(d, "space.budget.generation_share", [0.5]), "`space.budget`: Value error"),
    ("generation-without-reference", lambda d: _set(d, "space.budget", {"generation_share": [0.5]}),
     "needs `reference_steps`"),
    ("missing-space-file", lambda d: _set(d, "space", "nowhere/space.yaml"), "`space`: search space file"),
    ("missing-architecture", lambda d: _set(d, "model.architecture", "nope/config.json"), "`model.architecture`"),
    ("missing-prompts", lambda d: _set(d, "eval.prompts_file", "nope.txt"), "`eval.prompts_file`: `nope.txt` does not exist"),
    ("unknown-unit-kind", lambda d: _set(d, "space.units", {"kinds": ["conv"]}), "`space.units`: unknown unit kind"),
    ("no-unit-matches", lambda d: _set(d, "space.units", {"include": ["nothing.*"]}), "`space.units`: no prunable unit"),
    ("range-low-above-high", lambda d: _set(d, "space.ranges", {"train.lr": {"low": 1.0, "high": 0.1}}),
     "`space.ranges.train.lr`"),
    ("range-on-text-field", lambda d: _set(d, "space.ranges", {"train.precision": [1.0]}),
     "`space.ranges.train.precision`: not a numeric run-config field"),
    ("range-on-seed", lambda d: _set(d, "space.ranges", {"train.seed": [1, 2]}),
     "`space.ranges.train.seed`: `train.seed` is set per trial from `search.seed`"),
    ("grid-with-range", lambda d: _set(_set(d, "search.sampler", "grid"), "space.ranges",
                                       {"train.lr": {"low": 1e-4, "high": 1e-3}}),
     "`space.ranges.train.lr`: the grid sampler needs a list"),
    ("quality-not-measured", lambda d: _set(_set(d, "eval.metrics", ["fid"]), "report.quality_metric", "clip"),
     "`report.quality_metric`: `clip` is not measured"),
    ("unknown-sampler", lambda d: _set(d, "search.sampler", "random"), "`search.sampler`"),
    ("zero-concurrency", lambda d: _set(d, "search.max_concurrent_trials", 0), "`search.max_concurrent_trials`"),
    ("range-breaks-run-config", lambda d: _set(d, "space.ranges", {"train.steps": [6, 2]}),
     "`space.ranges.train.steps`: the value 2 gives an invalid run config: `train`"),
    ("first-point-breaks-run-config", lambda d: _set(d, "space.ranges", {"train.steps": [2]}),
     "`space`: the point {"),
    ("short-boundaries", lambda d: _set(d, "space.experts.boundaries", {3: [100]}), "`space.experts`"),
    ("static-with-many-experts", lambda d: _set(d, "space.experts", {"counts": [2], "partitions": ["static"]}),
     "`static` uses one expert"),
    ("initial-point-outside-space",
     lambda d: _set(d, "search.initial_points", [{"experts": "5 learned", "budget.macs_share": 0.6, "eval.steps": 4}]),
     "`search.initial_points[0].experts`: '5 learned' is not in the search space"),
    ("initial-point-missing-parameter",
     lambda d: _set(d, "search.initial_points", [{"experts": "static", "budget.macs_share": 0.6}]),
     "`search.initial_points[0]`: give exactly the search parameters"),
    ("unknown-builtin", lambda d: _set(d, "model.backbone", "builtin:cats"), "`model.backbone`: unknown builtin"),
    ("bad-builtin-option", lambda d: _set(d, "model.builtin", {"pretrain_stepz": 3}), "`model.builtin.pretrain_stepz`"),
    ("offline-unknown-architecture", lambda d: _set(d, "model.backbone", "someone/not-cached-model"),
     "`model.backbone` = `someone/not-cached-model`"),
    ("infinite-cpus", lambda d: _set(d, "search.cpus_per_trial", float("inf")), "`search.cpus_per_trial`"),
    ("negative-seed", lambda d: _set(d, "search.seed", -1), "`search.seed`"),
    ("huge-concurrency", lambda d: _set(d, "search.max_concurrent_trials", 10**20), "`search.max_concurrent_trials`"),
    ("nan-time-limit", lambda d: _set(d, "search.time_limit_s", float("nan")), "`search.time_limit_s`"),
    ("nul-in-name", lambda d: _set(d, "name", "tiny\0run"), "`name`: Value error, must be a plain folder name"),
    ("name-escapes-reports", lambda d: _set(d, "name", "../../../tmp/x"), "`name`: Value error"),
    ("absolute-name", lambda d: _set(d, "name", "/tmp/x"), "`name`: Value error"),
    ("nul-in-output-dir", lambda d: _set(d, "output_dir", "a\0b"), "`output_dir`"),
    ("markup-in-metrics", lambda d: _set(d, "eval.metrics", ["[/x]"]), "[/x]"),
    ("long-value-is-cut", lambda d: _set(d, "train.steps", "x" * 100_000), "(100002 characters)"),
]


@pytest.mark.parametrize(("case", "damage", "expected"), MALFORMED, ids=[case for case, _, _ in MALFORMED])
def test_malformed_recipe_exits_2_naming_the_field(tmp_path, monkeypatch, capsys, case, damage, expected):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(damage(tiny_recipe(tmp_path))))
    code, output = cli_output(capsys, "validate", str(path))
    assert code == 2, output
    assert expected in output
    assert str(path) in output or "recipe.yaml" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model: [unclosed\n", "not valid YAML"),
        ("- a list\n- not a mapping\n", "must be a mapping of sections, got list"),
        ("model: [unclosed [/x]\n", "not valid YAML"),
        ("name: \xe9t\xe9\n", "not UTF-8"),
    ],
    ids=["bad-yaml", "not-a-mapping", "markup-in-yaml-error", "not-utf8"],
)
def test_unreadable_recipe_exits_2(tmp_path, monkeypatch, capsys, text, expected):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(text.encode("latin-1"))
    code, output = cli_output(capsys, "validate", str(path))
    assert code == 2 and expected in output and "Traceback" not in output


def test_missing_recipe_file_and_bad_space_file(tmp_path, monkeypatch, capsys):
    code, output = cli_output(capsys, "validate", str(tmp_path / "absent.yaml"))
    assert code == 2 and "recipe" in output and "does not exist" in output
    space = tmp_path / "space.yaml"
    space.write_text("experts: {counts: [2]}\nbudget: {macs_share: [0.6]}\nranges: {train.lr: {low: 1}}\n")
    recipe = tiny_recipe(tmp_path, space=str(space))
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    code, output = cli_output(capsys, "validate", str(tmp_path / "recipe.yaml"))
    assert code == 2 and f"{space}: `space.ranges.train.lr`" in output


def test_validate_prints_the_space_and_the_unit_table(monkeypatch, capsys):
    code, output = cli_output(capsys, "validate", str(ROOT / "recipes/sd21-alter.yaml"))
    assert code == 0, output
    assert "10 learned" in output and "budget.macs_share" in output
    assert "up_blocks.3.attentions.2" in output and "34 of 34" in output and "16 transformer" in output
    assert "valid:" in output


def test_console_script_reports_without_traceback(tmp_path):
    """The real `alternas` executable: exit code 2 and one message on stderr."""
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(_set(tiny_recipe(tmp_path), "space.budget.macs_share", [0.05])))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("alternas")), "validate", str(path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2
    assert "`space.budget.macs_share` = 0.050 of dense MACs cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def _alias_bomb(indent: str) -> str:
    """A YAML list whose 10 levels of 9 aliases expand to 9**10 strings ("billion laughs")."""
    levels = [f"{indent}- &l0 [{', '.join(['lol'] * 9)}]"]
    levels += [f"{indent}- &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 10)]
    return "\n".join(levels) + "\n"


@pytest.mark.parametrize("where", ["model.builtin", "train.steps"])
def test_a_yaml_alias_bomb_is_refused_quickly_with_bounded_memory(tmp_path, capsys, where):
    import resource
    import time

    section, field = where.split(".")
    recipe = tiny_recipe(tmp_path)
    recipe.pop(section)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe) + f"{section}:\n  {field}:\n" + _alias_bomb("    "))
    started, peak = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, output = cli_output(capsys, "validate", str(path))
    assert code == 2 and "expand to more than" in output, output[:500]
    assert time.perf_counter() - started < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # KiB


def test_a_recipe_path_with_markup_is_printed_as_text(tmp_path, capsys):
    code, output = cli_output(capsys, "validate", str(tmp_path / "[/x]" / "[bold]r.yaml"))
    assert code == 2 and "[/x]/[bold]r.yaml" in output


def test_a_tracker_whose_package_is_missing_exits_2_with_the_pip_command(tmp_path, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else find_spec(name, *a))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(_set(tiny_recipe(tmp_path), "search.tracking", ["tensorboard", "mlflow"])))
    code, output = cli_output(capsys, "validate", str(path))
    assert code == 2 and "Traceback" not in output
    assert output == (
        f"error: {path}: `search.tracking`: `mlflow` needs the package `mlflow`, which is not installed: "
        "`pip install mlflow`, or remove `mlflow` from `search.tracking`"
    )
    path.write_text(yaml.safe_dump(_set(tiny_recipe(tmp_path), "search.tracking", ["tensorboard"])))
    assert cli_output(capsys, "validate", str(path))[0] == 0


def test_check_macs_prints_an_independent_thop_count(capsys):
    code, output = cli_output(capsys, "validate", str(ROOT / "recipes/sd21-alter.yaml"), "--check-macs")
    assert code == 0, output
    found = re.search(r"\(macs\): alternas ([\d.]+) TMACs, thop ([\d.]+) TMACs \(difference ([+-][\d.]+)%\)", output)
    assert found, output
    assert float(found[1]) == pytest.approx(float(found[2]), rel=1e-4) and abs(float(found[3])) < 0.01
