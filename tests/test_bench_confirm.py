"""bench.confirm: retrain a trial with new seeds and score it paired with the best cheaper dense point."""

from __future__ import annotations

import pytest

from alternas.evaluation.dense_ladder import BaselinePoint
from alternas.report.dense_front import Baseline, write_baseline
from bench.confirm import _interval, confirm_trials

from .conftest import one_trained_trial


def test_the_interval_is_a_t_interval_over_training_seeds():
    mean, low, high = _interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and low == pytest.approx(2.0 - 4.303 * 1.0 / 3**0.5) and high == pytest.approx(4.484, abs=1e-3)
    assert _interval([5.0]) == (5.0, None, None)


@pytest.mark.slow
def test_a_trial_is_retrained_and_scored_against_the_best_cheaper_dense_point(tmp_path, tiny_digits_run_config):
    layout, result = one_trained_trial(tmp_path / "run", tiny_digits_run_config, "t1")
    macs = result.metrics.generation_macs

    def point(sampler, steps, share, fid):
        return BaselinePoint(sampler=sampler, steps=steps, quality={"fid": fid}, macs_per_step=share * macs / steps,
                             generation_macs=share * macs, latency_s=0.1)

    write_baseline(layout.root, Baseline(
        key="test", scheduler="ddim", guidance_scale=1.0, num_samples=20, convention="macs", reference_steps=4,
        points=[point("ddim", 2, 0.5, 1e6), point("unipc", 2, 0.5, 1e5), point("unipc", 4, 2.0, 0.0)],
    ))  # the trial lies beyond; each sampler's costliest point within its MACs is rescored (not unipc @ 4)
    outcome = confirm_trials(layout.root, None, [7], 16, [1, 2], tmp_path / "work")
    record = outcome["trials"]["t1"]
    assert sorted(record["dense_candidates"]) == ["dense ddim @ 2 steps", "dense unipc @ 2 steps"]
    best = min(record["dense_candidates"], key=lambda label: sum(record["dense_candidates"][label].values()))
    assert record["dense"]["label"] == best and record["dense"]["fid"] == record["dense_candidates"][best]
    assert sorted(record["models"]) == ["search", "seed-7"] and (tmp_path / "work/t1/seed-7/plan.yaml").is_file()
    for model in record["models"].values():
        assert sorted(model["fid"]) == [1, 2] and model["paired_difference"] == pytest.approx(
            sum(model["fid"][s] - record["dense"]["fid"][s] for s in (1, 2)) / 2
        )
    low, high = record["paired_difference"]["ci95"]
    assert low <= record["paired_difference"]["mean"] <= high
    assert record["confirmed_beyond"] == (high < 0) and outcome["eval_noise_sd_of_paired_difference"] >= 0
