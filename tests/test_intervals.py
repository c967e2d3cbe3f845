"""Intervals on the report's numbers: per-image scores, bootstrap and paired intervals, the verdict against
the dense baseline, confirmed configurations (alternas.quality, alternas.report.uncertainty)."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from dataclasses import replace

import pytest
import torch

from alternas.zoo.digits_classifier import load_digits_classifier
from alternas.quality import SampleScores, frechet_distance, interval, paired_interval, write_scores
from alternas.report import build_report, write_report
from alternas.report.dense_front import BASELINE_SCORES_FILE, read_baseline
from alternas.report.uncertainty import student_t_quantile
from alternas.rundir import RUN_FILES, SearchRunDir, TrialRecord
from alternas.zoo.digits import digits_quality_metrics

from .conftest import fabricate_run
from .test_baseline import add_baseline

#: features of the synthetic FID scores
_DIM = 4


def test_frechet_distance_equals_torchmetrics_fid_on_the_digits_features():
    """The one FID formula (eigenvalues of S1^1/2 S2 S1^1/2) against torchmetrics' (eigenvalues of S1 S2),
    on the digits classifier's features of real and perturbed images."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    from alternas.data.digits_data import load_digits_tensors

    real = (load_digits_tensors(8)[0] + 1) / 2
    generator = torch.Generator().manual_seed(0)
    fake = (real[:500] + 0.1 * torch.randn(real[:500].shape, generator=generator)).clamp(0, 1)
    reference = FrechetInceptionDistance(feature=load_digits_classifier(8), reset_real_features=False, normalize=True)
    reference.update(real, real=True)
    reference.update(fake, real=False)
    (metric,) = digits_quality_metrics(8, ["fid"])
    assert metric.score(fake, list(range(500)))["fid"] == pytest.approx(float(reference.compute()), rel=1e-5)
    scores = metric.sample_scores(fake, list(range(500)))["fid"]
    assert scores.values.shape == (500, 64) and float(scores.value()) == pytest.approx(float(reference.compute()), rel=1e-5)


def test_frechet_distance_of_known_gaussians():
    """Closed form: for diagonal covariances, |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2."""
    a, b = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64), torch.tensor([4.0, 1.0, 9.0], dtype=torch.float64)
    m1, m2 = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    expected = 1.0 + ((a.sqrt() - b.sqrt()) ** 2).sum()
    assert float(frechet_distance(m1, torch.diag(a), m2, torch.diag(b))) == pytest.approx(float(expected), abs=1e-9)


def test_the_interval_of_a_mean_is_its_standard_error():
    generator = torch.Generator().manual_seed(1)
    values = torch.rand(2000, generator=generator)
    found = interval(SampleScores("mean", values))
    assert found.value == pytest.approx(float(values.mean()))
    assert found.sd == pytest.approx(float(values.double().std() / math.sqrt(len(values))), rel=1e-9)
    assert found.high - found.value == pytest.approx(1.96 * found.sd, rel=1e-3)


def test_the_fid_standard_error_from_influences_matches_the_spread_over_independent_draws():
    """The delta method against the truth: FID of 400 draws from a shifted Gaussian, over 60 independent
    draws, spreads as the influences of one draw say (within the 25% a 60-draw sd allows)."""
    reference = (torch.zeros(_DIM, dtype=torch.float64), torch.eye(_DIM, dtype=torch.float64))
    shift = torch.tensor([0.7] + [0.0] * (_DIM - 1))
    draws = [
        SampleScores("frechet", torch.randn(400, _DIM, generator=torch.Generator().manual_seed(seed)) * 1.3 + shift,
                     reference)
        for seed in range(60)
    ]
    spread = statistics.stdev(draw.value() for draw in draws)
    estimated = statistics.fmean(interval(draw).sd for draw in draws)
    assert estimated == pytest.approx(spread, rel=0.25)


def test_a_paired_interval_cancels_the_noise_two_models_share():
    """Two models scored on the same images differ by a small constant: the paired interval is tight around
    it and excludes 0; the unpaired intervals of each overlap widely."""
    generator = torch.Generator().manual_seed(2)
    shared = torch.rand(1000, generator=generator)
    one, other = SampleScores("mean", shared), SampleScores("mean", shared + 0.01)
    difference = paired_interval(other, one)
    assert difference.value == pytest.approx(0.01) and difference.sd < 1e-9 and difference.excludes_zero()
    assert interval(one).high > interval(other).low  # unpaired, the two look the same


def test_student_t_quantiles_match_the_tables():
    assert student_t_quantile(0.95, 1) == pytest.approx(12.706, abs=2e-3)
    assert student_t_quantile(0.95, 2) == pytest.approx(4.303, abs=2e-3)
    assert student_t_quantile(0.95, 30) == pytest.approx(2.042, abs=2e-3)
    assert student_t_quantile(0.90, 5) == pytest.approx(2.015, abs=2e-3)


def _fid_scores(shift: float, seed: int, shared: torch.Tensor | None = None, count: int = 400) -> SampleScores:
    """Synthetic FID scores: ``count`` features, half shared with ``shared`` (the same evaluation noise),
    shifted by ``shift`` along the first axis from the reference N(0, I)."""
    generator = torch.Generator().manual_seed(seed)
    own = torch.randn(count, _DIM, generator=generator)
    features = own if shared is None else (shared + own) / math.sqrt(2)
    features = features + torch.tensor([shift] + [0.0] * (_DIM - 1))
    reference = (torch.zeros(_DIM, dtype=torch.float64), torch.eye(_DIM, dtype=torch.float64))
    return SampleScores("frechet", features.float(), reference)


def _set_fid(layout: SearchRunDir, trial_id: str, scores: SampleScores, teacher: SampleScores) -> float:
    """Give a fabricated trial per-image scores and the FID they compute (its teacher's too)."""
    directory = layout.trial_dir(trial_id)
    write_scores(directory / RUN_FILES["scores"], {"experts": {"fid": scores}, "teacher": {"fid": teacher}})
    metrics = json.loads((directory / RUN_FILES["metrics"]).read_text())
    metrics["fid"], metrics["teacher_fid"] = float(scores.value()), float(teacher.value())
    (directory / RUN_FILES["metrics"]).write_text(json.dumps(metrics))
    return metrics["fid"]


def _run_with_scores(tmp_path, gain: float):
    """The fabricated run with a ddim baseline at 2 / 5 / 10 steps (shares 0.2 / 0.5 / 1.0 of dense @ 10) whose
    points and trial b (share 0.54, so judged against dense @ 5) have per-image FID scores on the same noise;
    b is ``gain`` (in feature shift) better than dense @ 5."""
    layout = fabricate_run(tmp_path / "run")
    noise = torch.randn(400, _DIM, generator=torch.Generator().manual_seed(3))
    dense = {steps: _fid_scores(shift, 10 + steps, noise) for steps, shift in ((2, 2.0), (5, 1.0), (10, 0.5))}
    add_baseline(layout, {steps: (steps / 10, float(s.value())) for steps, s in dense.items()})
    write_scores(layout.root / BASELINE_SCORES_FILE, {f"ddim@{steps}": {"fid": s} for steps, s in dense.items()})
    # half of b's noise is shared with the dense points, half its own: the first own noise whose FID is better
    # than dense @ 5's (so that the point estimate says "better", whatever the interval says)
    b = next(s for s in (_fid_scores(1.0 - gain, seed, noise) for seed in range(99, 199)) if s.value() < dense[5].value())
    _set_fid(layout, "b", b, dense[10])
    return layout


def test_a_trial_better_than_the_dense_point_only_inside_the_noise_is_not_called_beyond(tmp_path):
    """The issue's check: a run directory whose win is inside the evaluation noise. The verdict says "within
    noise of", the trial is not beyond, no report sentence claims it is, and frontier.json carries the
    interval that includes 0."""
    layout = _run_with_scores(tmp_path, gain=0.002)
    report = write_report(layout.root)
    b = report.entry("b")
    point = read_baseline(layout.root).points[1]
    assert b.quality < report.baseline.quality(point, "fid")  # better on the point estimate...
    assert b.versus_dense.low < 0 < b.versus_dense.high  # ...but inside the noise
    assert b.beyond_baseline is False and b.dominated_by is None
    assert report.baseline_label(b).startswith("within noise of dense ddim @ 5 steps: FID -")
    text = (layout.root / "report.md").read_text()
    claims = [line for line in text.splitlines() if "b (" in line and "beyond the dense step-count baseline" in line]
    assert claims == [] and report.winner.trial_id != "b"
    frontier = {t["trial_id"]: t for t in json.loads((layout.root / "frontier.json").read_text())["trials"]}
    assert frontier["b"]["beyond_baseline"] is False
    assert frontier["b"]["versus_dense"]["low"] < 0 < frontier["b"]["versus_dense"]["high"]
    assert frontier["b"]["compared_with"] == {"sampler": "ddim", "steps": 5}


def test_a_trial_beyond_the_noise_is_beyond_and_wins(tmp_path):
    layout = _run_with_scores(tmp_path, gain=0.5)
    report = build_report(layout.root)
    b = report.entry("b")
    assert b.versus_dense.high < 0 and b.beyond_baseline is True
    assert report.baseline_label(b).startswith("beyond dense ddim @ 5 steps: FID -")
    assert b.interval.low < b.quality < b.interval.high
    assert report.winner.trial_id == "b" and "beyond the dense step-count baseline" in report.winner.message
    point = report.baseline.points[1]
    assert report.baseline_intervals[point.key].low < report.baseline.quality(point, "fid")


def _confirmation_run(layout: SearchRunDir, source: str, run_id: str, seed: int, scores: SampleScores, teacher: SampleScores):
    """A finished confirmation run of ``source``: its folder copied, its own scores and FID."""
    runs = layout.confirmations()
    shutil.copytree(layout.trial_dir(source), runs.trial_dir(run_id))
    (runs.trial_dir(run_id) / "trial.json").unlink()
    record = layout.read_record(source).model_copy(update={"trial_id": run_id, "seed": seed, "confirms": source})
    fid = _set_fid(runs, run_id, scores, teacher)
    record.metrics = record.metrics.model_copy(update={"fid": fid, "teacher_fid": float(teacher.value())})
    runs.write_record(record)
    return fid


def test_confirmed_configurations_are_ranked_by_their_confirmed_means(tmp_path):
    """b (a lucky search seed) and c are confirmed with two new seeds each. The report's confirmed numbers
    are the means over the new seeds with a t interval on the pooled spread; the winner is chosen on them,
    and the export ships the run nearest the mean."""
    layout = _run_with_scores(tmp_path, gain=0.5)
    noise = torch.randn(400, _DIM, generator=torch.Generator().manual_seed(3))
    teacher = _fid_scores(0.5, 20, noise)
    fids = {
        ("b", "b1"): _confirmation_run(layout, "b", "b1", 1000000, _fid_scores(1.2, 15, noise), teacher),
        ("b", "b2"): _confirmation_run(layout, "b", "b2", 1000001, _fid_scores(1.1, 15, noise), teacher),
        ("c", "c1"): _confirmation_run(layout, "c", "c1", 1000000, _fid_scores(2.0, 15, noise), teacher),
        ("c", "c2"): _confirmation_run(layout, "c", "c2", 1000001, _fid_scores(2.2, 15, noise), teacher),
    }
    report = write_report(layout.root)
    assert set(report.confirmed) == {"b", "c"}
    b = report.confirmed["b"]
    assert b.quality.value == pytest.approx((fids["b", "b1"] + fids["b", "b2"]) / 2)
    spreads = [fids["b", "b1"] - fids["b", "b2"], fids["c", "c1"] - fids["c", "c2"]]
    pooled = math.sqrt(sum(d * d / 2 for d in spreads) / 2)  # each pair's variance is d^2 / 2, 1 dof each
    noise = math.sqrt(b.quality.sd**2 - pooled**2 / 2)  # the evaluation noise of the mean, the rest of the sd
    seeds_half = student_t_quantile(0.95, 2) * pooled / math.sqrt(2)
    assert b.quality.high - b.quality.value == pytest.approx(math.hypot(seeds_half, 1.96 * noise), rel=1e-3)
    assert b.shipped.trial_id in ("b1", "b2")
    nearest = min(("b1", "b2"), key=lambda run: abs(fids["b", run] - b.quality.value))
    assert b.shipped.trial_id == nearest
    assert b.versus_dense.value > 0  # the confirmed b is worse than dense @ 5: the search's score was luck
    # confirmed, b is dominated by dense @ 5; c is cheaper than every dense point, so it is the one left
    assert report.winner.confirmed and report.winner.trial_id == "c" and report.winner.shipped_run in ("c1", "c2")
    frontier = json.loads((layout.root / "frontier.json").read_text())
    assert {c["trial_id"] for c in frontier["confirmed"]} == {"b", "c"} and frontier["reproducibility"]
    assert "Confirmed configurations" in (layout.root / "report.md").read_text()
    assert "moves by sd" in report.reproducibility


def test_the_standard_error_counts_the_evaluation_conditions_as_fixed():
    """An evaluation cycles its conditions (labels 0-9), so their share never varies between noises: the
    noise of a score is the spread within conditions. With a strong class effect the unstratified error
    would be several times too large; the stratified one matches the spread over independent draws."""
    strata = torch.arange(500) % 10
    class_means = torch.linspace(0.0, 1.0, 10)
    draws = [
        SampleScores("mean", class_means[strata] + 0.1 * torch.randn(500, generator=torch.Generator().manual_seed(s)),
                     strata=strata)
        for s in range(60)
    ]
    spread = statistics.stdev(draw.value() for draw in draws)
    assert statistics.fmean(interval(draw).sd for draw in draws) == pytest.approx(spread, rel=0.25)
    unstratified = interval(replace(draws[0], strata=None)).sd
    assert unstratified > 3 * interval(draws[0]).sd
    singletons = replace(draws[0], strata=torch.arange(500))  # a condition per image: nothing to stratify on
    assert interval(singletons).sd == pytest.approx(unstratified)


def test_confirmation_takes_the_trials_beyond_the_baseline_before_those_within_its_noise(tmp_path):
    """b is the rule's pick on quality but only within noise of dense @ 5; c is beyond (no dense point is as
    cheap): with room for one, c is confirmed; with room for two, b follows."""
    from alternas.search.confirmation import choose_candidates

    report = build_report(_run_with_scores(tmp_path, gain=0.002).root)
    assert report.entry("b").beyond_baseline is False and report.entry("c").beyond_baseline is True
    assert choose_candidates(report, 1) == ["c"]
    assert choose_candidates(report, 2) == ["c", "b"]
