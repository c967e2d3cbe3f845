"""A paired side study: one change of the training recipe against the ablation's cells, on validation noise.

A change to how the built-in default trains (a learning-rate decay, a shorter hypernetwork phase) is
judged here, not on the numbers docs/results.md reports. Every cell is an ablation cell
(``bench/ablation.py``: same data, budget, backbone updates and evaluation), but every cell, with and
without the change, is scored on evaluation noise drawn with ``--eval-seed`` (default 4321) instead of
the reported results' ``eval.seed`` (1234). Each (method, seed) pair trains twice, as is and with the
change, so the comparison is paired. The verdict applies the rule fixed before the runs: the change is
adopted when its mean FID is lower *and* it is lower on at least two thirds of the pairs. ``--base``
settings apply to both sides, so a change can be judged on top of one adopted before (e.g. the
quickstart's learning rate).

    python -m bench.study --set train.lr_decay=cosine [--set SECTION.FIELD=VALUE ...]
                          [--base SECTION.FIELD=VALUE ...]
                          [--methods static alter] [--seeds 0 1 2] [--steps 300] [--samples 300]
                          [--eval-seed 4321] [--workers 2] [--out DIR] [--json FILE]

Values are read as YAML (``150`` is an int, ``cosine`` a string). Finished cells are kept under
``--out`` like the ablation's, so a rerun resumes; another change studied in the same folder reuses
the ``base`` cells and retrains (and replaces) the ``changed`` ones.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from alternas.config import RunConfig

from .ablation import METHODS, ablation_config, run_cells
from .output import emit_json

__all__ = ["VALIDATION_SEED", "parse_setting", "parse_settings", "run_study", "study_cells", "verdict"]

#: seed of the validation noise; the reported results use the run configs' default ``eval.seed`` (1234)
VALIDATION_SEED = 4321
#: the share of pairs the change must win, besides a lower mean
WIN_SHARE = 2 / 3


def parse_setting(text: str) -> tuple[str, str, Any]:
    """``section.field=value`` as ``(section, field, value)``, the value read as YAML.

    Raises:
        ValueError: when ``text`` is not of that form or its value is not YAML.
    """
    path, equals, value = text.partition("=")
    section, dot, field = path.strip().partition(".")
    if not equals or not dot or not section or not field or "." in field:
        raise ValueError(f"--set {text!r}: expected SECTION.FIELD=VALUE, e.g. train.lr_decay=cosine")
    try:
        return section, field, yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise ValueError(f"--set {text!r}: the value is not YAML ({error.__class__.__name__})") from error


def parse_settings(texts: Sequence[str]) -> dict[tuple[str, str], Any]:
    """``--set`` / ``--base`` arguments as ``(section, field) -> value`` (see :func:`parse_setting`)."""
    return {(section, field): value for section, field, value in map(parse_setting, texts)}


def _named(settings: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
    """``settings`` keyed ``"section.field"``, as the result file names them."""
    return {f"{section}.{field}": value for (section, field), value in settings.items()}


def study_cells(
    settings: Mapping[tuple[str, str], Any],
    methods: Sequence[str],
    seeds: Sequence[int],
    steps: int,
    num_samples: int,
    eval_seed: int = VALIDATION_SEED,
    base_settings: Mapping[tuple[str, str], Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """The cells of the study by name: ``base-<method>-seed<s>`` and ``changed-<method>-seed<s>``.

    Both scored on the noise of ``eval_seed`` and both with ``base_settings``; the changed cells also
    get ``settings`` (``(section, field) -> value``, applied last). Each config is validated, so a
    setting the run config does not have fails here.
    """
    cells: dict[str, dict[str, Any]] = {}
    for method in methods:
        for seed in seeds:
            base = ablation_config(method, seed, 0.5, steps, num_samples)
            base["eval"]["seed"] = eval_seed
            _apply(base, base_settings or {})
            changed = _apply(copy.deepcopy(base), settings)
            for name, config in (("base", base), ("changed", changed)):
                RunConfig.model_validate(config)
                cells[f"{name}-{method}-seed{seed}"] = config
    return cells


def _apply(config: dict[str, Any], settings: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
    """``config`` with each ``(section, field) -> value`` of ``settings`` set in place."""
    for (section, field), value in settings.items():
        config.setdefault(section, {})[field] = value
    return config


def verdict(pairs: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """The paired comparison of ``(base FID, changed FID)`` pairs and whether the change is adopted."""
    wins = sum(changed < base for base, changed in pairs)
    base_mean = statistics.fmean(base for base, _ in pairs)
    changed_mean = statistics.fmean(changed for _, changed in pairs)
    differences = [changed - base for base, changed in pairs]
    return {
        "base_fid_mean": base_mean,
        "changed_fid_mean": changed_mean,
        "difference_mean": statistics.fmean(differences),
        "difference_std": statistics.stdev(differences) if len(differences) > 1 else 0.0,
        "changed_wins": wins,
        "pairs": len(pairs),
        "adopt": changed_mean < base_mean and wins >= WIN_SHARE * len(pairs),
    }


def run_study(
    cells: Mapping[str, dict[str, Any]], methods: Sequence[str], seeds: Sequence[int], workdir: Path, workers: int = 1
) -> dict[str, Any]:
    """Train the :func:`study_cells` (``workers`` at a time) and compare each pair: FIDs by cell, the verdict."""
    results = run_cells(dict(cells), workdir, workers)
    fids = {name: float(metrics["fid"]) for name, metrics in results.items()}
    pairs = [(fids[f"base-{m}-seed{s}"], fids[f"changed-{m}-seed{s}"]) for m in methods for s in seeds]
    return {"fid": fids, "verdict": verdict(pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="settings", action="append", required=True, metavar="SECTION.FIELD=VALUE")
    parser.add_argument(
        "--base", dest="base_settings", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="a setting of both sides (the recipe the change is judged on)",
    )
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=["static", "alter"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300, help="training iterations per cell")
    parser.add_argument("--samples", type=int, default=300, help="evaluation samples per cell")
    parser.add_argument("--eval-seed", type=int, default=VALIDATION_SEED, help="seed of the validation noise")
    parser.add_argument("--workers", type=int, default=2, help="cells trained at once (one thread each)")
    parser.add_argument("--out", type=Path, default=None, help="keep the run dirs (and resume) here")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()
    try:
        settings, base = parse_settings(args.settings), parse_settings(args.base_settings)
        cells = study_cells(settings, args.methods, args.seeds, args.steps, args.samples, args.eval_seed, base)
    except ValueError as error:  # a pydantic ValidationError is a ValueError
        parser.error(str(error))
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "command": " ".join(["python -m bench.study", *sys.argv[1:]]),
            "settings": _named(settings),
            "base_settings": _named(base),
            "methods": args.methods,
            "seeds": args.seeds,
            "train_steps": args.steps,
            "num_samples": args.samples,
            "eval_seed": args.eval_seed,
            **run_study(cells, args.methods, args.seeds, args.out or Path(tmp), args.workers),
        }
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
