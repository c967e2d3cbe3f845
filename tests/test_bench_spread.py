"""The spread of a search's quality: training noise within a configuration against the spread of a level."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.spread import distinct_trials, quality_spread

ROOT = Path(__file__).resolve().parents[1]


def _trial(share: float, layout: str, quality: float) -> dict:
    return {"params": {"budget.generation_share": share, "experts": layout}, "quality": quality}


def _search(*trials: dict) -> dict:
    return {"outcome": {"trials": list(trials)}}


def test_a_repeat_with_the_same_quality_counts_once_and_searches_of_seeds_are_read():
    first = _search(_trial(0.2, "a", 1.0), _trial(0.2, "a", 3.0))
    seeds = {"seeds": {"4": _search(_trial(0.2, "a", 1.0), _trial(0.2, "b", 5.0))}}
    trials = distinct_trials([first, seeds])
    assert [(t["params"]["experts"], t["quality"]) for t in trials] == [("a", 1.0), ("a", 3.0), ("b", 5.0)]


def test_the_share_explained_by_the_configuration_is_one_minus_within_over_total():
    trials = [_trial(0.2, "a", 1.0), _trial(0.2, "a", 3.0), _trial(0.2, "b", 5.0), _trial(0.2, "b", 7.0),
              _trial(0.3, "c", 2.0), _trial(0.3, "d", 4.0)]
    spread = quality_spread(trials, "budget.generation_share")
    low = spread["levels"]["0.2"]
    # within: both configurations have variance 2 (1 dof each); total variance of 1, 3, 5, 7 is 20 / 3
    assert low["trials"] == 4 and low["mean"] == 4.0
    assert low["within_config_sd"] == pytest.approx(2**0.5) and low["within_config_dof"] == 2
    assert low["sd"] == pytest.approx((20 / 3) ** 0.5)
    assert low["explained_by_config"] == pytest.approx(1 - 2 / (20 / 3))
    high = spread["levels"]["0.3"]
    assert high["within_config_sd"] is None and high["explained_by_config"] is None
    assert [(c["params"]["experts"], c["draws"]) for c in spread["configurations"]] == [("a", 2), ("b", 2)]


def test_noise_larger_than_the_level_spread_explains_nothing():
    trials = [_trial(0.2, "a", 1.0), _trial(0.2, "a", 9.0), _trial(0.2, "b", 5.0)]
    assert quality_spread(trials, "budget.generation_share")["levels"]["0.2"]["explained_by_config"] == 0.0


def test_the_command_reads_the_committed_quickstart_searches():
    files = [ROOT / "bench" / "results" / name
             for name in ("quickstart-seeds-2cpu.json", "quickstart-seeds-heldout-2cpu.json")]
    output = subprocess.run([sys.executable, "-m", "bench.spread", *map(str, files)], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    levels = json.loads(output)["levels"]
    assert set(levels) == {"0.2", "0.25", "0.3"}
    assert sum(level["trials"] for level in levels.values()) == 47  # 48 trials, one seed met twice
