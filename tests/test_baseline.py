"""The dense step-count baseline: its ladder, its numbers (those of a trial's teacher), the report's
per-trial labels against it, and the winner rule's fallback to a dense step count."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from alternas._cache import cache_root
from alternas.api import train_alter
from alternas.config import BaselineConfig, RunConfig
from alternas.exceptions import ConfigError
from alternas.evaluation.dense_ladder import BaselinePoint, measure_baseline
from alternas.recipe import load_recipe
from alternas.report import build_report, write_report
from alternas.report.dense_front import Baseline, read_baseline, write_baseline
from alternas.rundir import SearchRunDir
from alternas.search import baseline_file as search_baseline

from .conftest import fabricate_run, one_trained_trial, tiny_recipe


#: dense generation MACs of the fabricated trials' teacher (tiny UNet, 10 steps)
DENSE_10 = 79626240.0


@pytest.mark.parametrize(
    ("section", "searched", "ladder"),
    [
        ({}, [20], [5, 7, 10, 14, 20]),
        ({}, [10, 15, 20], [5, 7, 10, 14, 15, 20]),
        ({"reference_steps": 50}, [20], [5, 7, 10, 14, 20, 50]),
        ({"rungs": 3, "lowest_share": 0.5}, [40], [20, 28, 40]),
        ({"steps": [8, 4]}, [20], [4, 8]),
        ({"steps": []}, [20], []),
    ],
)
def test_the_ladder_spans_a_quarter_of_the_largest_step_count_up_to_it(section, searched, ladder):
    assert BaselineConfig.model_validate(section).ladder(searched) == ladder


def test_the_baseline_scores_the_dense_teacher_exactly_as_a_trial_does(tiny_digits_run_config):
    result = train_alter(tiny_digits_run_config)  # eval at 4 steps
    shutil.rmtree(cache_root() / "references")  # the baseline recomputes, it does not read the trial's cache
    (half, same), _ = measure_baseline(RunConfig.model_validate(tiny_digits_run_config), [2, 4])
    metrics = result.metrics
    assert same.steps == 4 and same.quality == {
        "fid": metrics.teacher_fid,
        "accuracy": metrics.teacher_accuracy,
    }
    assert same.generation_macs == metrics.teacher_generation_macs > 0
    assert same.macs_per_step == metrics.teacher_macs_per_step
    assert half.generation_macs == same.generation_macs / 2  # the digits UNet costs the same at every step
    assert half.quality["fid"] != same.quality["fid"] and half.latency_s > 0


def add_baseline(layout: SearchRunDir, points: dict[int, tuple[float, float]]) -> None:
    """Write a baseline whose point at ``steps`` has ``(share of dense @ 10 steps, FID)``."""
    write_baseline(
        layout.root,
        Baseline(
            key="test",
            scheduler="ddim",
            guidance_scale=1.0,
            num_samples=100,
            convention="macs",
            reference_steps=10,
            points=[
                BaselinePoint(
                    steps=steps,
                    quality={"fid": fid, "accuracy": 0.9},
                    macs_per_step=DENSE_10 / 10,
                    generation_macs=share * DENSE_10,
                    latency_s=2.0 * steps / 10,
                )
                for steps, (share, fid) in points.items()
            ],
        ),
    )


def test_trials_are_labelled_beyond_the_baseline_or_with_the_dense_step_count_that_dominates_them(tmp_path):
    # trials (share of dense MACs, FID): a (1.0, 10), b (0.54, 11), c (0.19, 14), d (0.76, 13), e infeasible
    layout = fabricate_run(tmp_path / "run")
    add_baseline(layout, {2: (0.2, 30.0), 5: (0.5, 12.0), 10: (1.0, 9.5)})
    report = write_report(layout.root)
    labels = {e.trial_id: report.baseline_label(e) for e in report.entries}
    assert labels == {
        "a": "dominated by dense ddim @ 10 steps: FID 9.5",
        "b": "beyond (no interval)",  # the fabricated trials have no per-image scores
        "c": "beyond (no dense point this cheap)",
        "d": "dominated by dense ddim @ 5 steps: FID 12",
        "e": "beyond (no interval)",
        "f": "-",
        "g": "-",
    }
    assert report.winner.trial_id == "b" and report.winner.qualified and report.winner.dense_steps is None
    assert "beyond the dense step-count baseline" in report.winner.message

    frontier = json.loads((layout.root / "frontier.json").read_text())
    assert frontier["baseline"]["front"] == ["dense ddim @ 2 steps", "dense ddim @ 5 steps", "dense ddim @ 10 steps"]
    assert frontier["baseline"]["samplers"] == ["ddim"] and frontier["baseline"]["points"][1]["sampler"] == "ddim"
    step = frontier["dense_step_macs"]  # the report's unit of cost: one dense step
    assert [p["generation_macs"] / step for p in frontier["baseline"]["points"]] == pytest.approx([2, 5, 10])
    trials = {t["trial_id"]: t for t in frontier["trials"]}
    assert trials["b"]["dense_steps"] == pytest.approx(trials["b"]["generation_macs"] / step)
    assert trials["d"]["baseline"] == labels["d"] and trials["d"]["dominated_by_dense_steps"] == 5
    assert trials["b"]["baseline"] == labels["b"] and trials["b"]["beyond_baseline"] is True
    markdown = (layout.root / "report.md").read_text()
    assert "## Dense step-count baseline" in markdown and "4 of 5 scored trials do" not in markdown
    assert "3 of 5 scored trials do" in markdown
    assert "| ddim | 5 | 12 | 39.8 MMACs | 1 | yes | yes | d |" in markdown
    assert "| d | dominated |" in markdown and labels["d"] in markdown
    assert "dense step-count baseline" in (layout.root / "report.html").read_text()


def test_when_no_trial_beats_the_baseline_the_winner_names_the_dense_step_count(tmp_path):
    layout = fabricate_run(tmp_path / "run")
    add_baseline(layout, {1: (0.1, 13.9), 5: (0.5, 9.0), 10: (1.0, 8.0)})
    report = write_report(layout.root)
    assert all(e.beyond_baseline is False for e in report.entries if e.eligible)
    winner = report.winner
    assert (winner.trial_id, winner.qualified, winner.dense_steps) == ("b", False, 5)
    assert winner.message.startswith(
        "No trial beats the dense step-count baseline: run the dense model with ddim at 5 steps instead "
        "(FID 9), which is at least as good as the rule's pick trial b (fid 11"
    )
    frontier = json.loads((layout.root / "frontier.json").read_text())
    assert frontier["winner"]["dense_steps"] == 5 and frontier["winner"]["message"] == winner.message
    assert winner.message in (layout.root / "report.md").read_text()


def test_without_a_baseline_or_with_a_metric_it_lacks_nothing_is_compared(tmp_path):
    layout = fabricate_run(tmp_path / "run")
    report = build_report(layout.root)
    assert report.baseline is None and report.winner.trial_id == "b"
    assert {report.baseline_label(e) for e in report.entries} == {"-"}
    add_baseline(layout, {5: (0.5, 9.0)})
    baseline = read_baseline(layout.root)
    baseline.points[0].quality.pop("accuracy")  # as PSNR/SSIM, which compare with the teacher
    write_baseline(layout.root, baseline)
    report = build_report(layout.root, report.config.model_copy(update={"quality_metric": "accuracy"}))
    assert report.baseline is None and {e.beyond_baseline for e in report.entries} == {None}


@pytest.mark.parametrize("text", ['{"format_version": 1, "points": [', '[]', '{"points": "none"}'])
def test_a_damaged_baseline_is_ignored_with_one_line_naming_it(tmp_path, caplog, text):
    layout = fabricate_run(tmp_path / "run")
    add_baseline(layout, {5: (0.5, 9.0)})
    (layout.root / "baseline.json").write_text(text)
    with caplog.at_level(logging.WARNING, logger="alternas"):
        assert read_baseline(layout.root) is None
    (message,) = caplog.messages
    assert message.startswith(f"ignoring the baseline: `{layout.root / 'baseline.json'}` is damaged")
    assert "\n" not in message and "pydantic" not in message


def test_a_search_measures_its_baseline_once(tmp_path, monkeypatch):
    from rich.console import Console

    data = tiny_recipe(tmp_path)
    del data["report"]  # the default: every offered sampler
    recipe = load_recipe(data)
    layout = SearchRunDir(recipe.output_dir)
    layout.root.mkdir(parents=True)
    baseline = search_baseline.ensure_baseline(recipe, layout, Console(quiet=True))
    assert baseline.samplers == ["ddim", "ddim_trailing", "dpmpp_2m", "unipc", "euler"]  # every offered one
    assert [(p.sampler, p.steps) for p in baseline.points][:5] == [("ddim", s) for s in (1, 2, 3, 4)] + [
        ("ddim_trailing", 1)
    ]
    assert len(baseline.points) == 20 and baseline.reference_steps == 4 and not baseline.samplers_restricted
    assert read_baseline(layout.root) == baseline
    dense = {(p.sampler, p.steps): p.quality["fid"] for p in baseline.points}
    assert dense[("dpmpp_2m", 4)] != dense[("ddim", 4)]  # each sampler really sampled

    def measure_again(*args):
        raise AssertionError("measured twice")

    monkeypatch.setattr(search_baseline, "measure_baseline", measure_again)
    assert search_baseline.ensure_baseline(recipe, layout, Console(quiet=True)) == baseline


def test_the_live_table_says_whether_a_finished_trial_is_beyond_the_baseline(tmp_path):
    import io

    from rich.console import Console

    from alternas.rundir import TrialRecord
    from alternas.search.progress import SearchDisplay

    recipe = load_recipe(tiny_recipe(tmp_path))
    layout = SearchRunDir(recipe.output_dir)
    layout.root.mkdir(parents=True)
    add_baseline(layout, {2: (0.25, 20.0), 4: (0.5, 12.0)})  # DENSE_10 x share MACs
    params = {"experts.count": 1, "experts.routing": "static", "budget.macs_share": 0.8, "eval.steps": 4}
    for trial_id, fid, share in (("good", 11.0, 0.5), ("poor", 13.0, 0.6)):
        layout.write_record(TrialRecord(trial_id=trial_id, status="finished", seed=1, feasible=True, params=params,
                                        metrics={"fid": fid, "generation_macs": share * DENSE_10}))
    plain = Console(file=io.StringIO(), width=200)
    with SearchDisplay(recipe, layout, plain) as display:
        display.trial_finished("poor")
        rendered = Console(file=io.StringIO(), width=200, record=True)
        rendered.print(display.render())
    assert "beyond the baseline: no (dense ddim @ 4 steps)" in plain.file.getvalue()
    rows = {line.split()[0]: line for line in rendered.export_text().splitlines() if line.split()}
    assert rows["good"].rstrip().endswith("undominated") and rows["poor"].rstrip().endswith("no (dense ddim @ 4 steps)")


def test_an_export_records_how_its_trial_stands_against_the_baseline(tmp_path, tiny_digits_run_config):
    import yaml

    from alternas.export import export_experts

    layout, result = one_trained_trial(tmp_path / "run", tiny_digits_run_config, "only")
    dense = result.metrics.teacher_generation_macs
    points = {2: (0.5 * dense, 0.0), 4: (dense, 0.0)}  # a dense FID of 0: no trial can beat it
    write_baseline(
        layout.root,
        Baseline(key="test", scheduler="ddim", guidance_scale=1.0, num_samples=20, convention="macs",
                 reference_steps=4,
                 points=[BaselinePoint(steps=s, quality={"fid": fid}, macs_per_step=macs / s, generation_macs=macs,
                                       latency_s=0.1) for s, (macs, fid) in points.items()]),
    )
    export_experts(layout.root, tmp_path / "export")
    provenance = yaml.safe_load((tmp_path / "export" / "experts.yaml").read_text())["provenance"]
    record = provenance["step_count_baseline"]
    assert record["beyond"] is False and record["dense_steps_instead"] == 2
    assert record["dominated_by"] == {"sampler": "ddim", "steps": 2, "quality": 0.0, "generation_macs": 0.5 * dense}
    assert record["label"] == "dominated by dense ddim @ 2 steps: FID 0"


@pytest.mark.parametrize(("dense_share", "beyond"), [(0.5410, False), (0.5470, True)])
def test_a_dense_point_within_one_percent_more_macs_counts_as_no_more_expensive(tmp_path, dense_share, beyond):
    # trial b: 0.5369 of dense MACs, FID 11; a dense point at FID 10.5 with 0.76% more MACs is as cheap as b
    # (a trial settled just below a budget equal to a dense step count's MACs meets that count), with 1.88% not
    layout = fabricate_run(tmp_path / "run")
    add_baseline(layout, {2: (0.2, 30.0), 6: (dense_share, 10.5), 10: (1.0, 9.5)})
    report = write_report(layout.root)
    (b,) = [e for e in report.entries if e.trial_id == "b"]
    assert b.beyond_baseline is beyond
    assert (b.dominated_by.steps if b.dominated_by else None) == (None if beyond else 6)
    assert "up to 1% more counts as equal" in (layout.root / "report.md").read_text()


def test_a_recipe_may_restrict_the_baseline_to_its_own_samplers(tmp_path):
    """A deployment that cannot change its scheduler compares with the dense model under those samplers only,
    and the report says so."""
    from rich.console import Console

    data = tiny_recipe(tmp_path)
    data["report"] = {"baseline": {"steps": [2, 4], "samplers": ["ddim"]}}
    recipe = load_recipe(data)
    layout = SearchRunDir(recipe.output_dir)
    layout.root.mkdir(parents=True)
    baseline = search_baseline.ensure_baseline(recipe, layout, Console(quiet=True))
    assert baseline.samplers == ["ddim"] and baseline.samplers_restricted and len(baseline.points) == 2
    with pytest.raises(ConfigError, match="unknown sampler `dpm`; choose one of ddim"):
        load_recipe({**data, "report": {"baseline": {"samplers": ["dpm"]}}})
