"""Tiny real-model recipes end to end: pre-encode, search with 2 trials through Ray, report, export, and
generate from the export, on a Stable Diffusion 2.1-style pipeline (v-prediction, prompts) and a DiT
(epsilon, class labels) saved to disk with random weights."""

from __future__ import annotations

import math

import pytest
import torch

from alternas.export import export_experts, generate_images, load_experts
from alternas.sources import preencode
from alternas.report import write_report
from alternas.rundir import SearchRunDir
from alternas.search import search

from ._tiny_pipelines import (
    IMAGE_SIZE,
    save_dit_pipeline,
    save_sd_pipeline,
    save_tiny_clip,
    save_tiny_inception,
    write_caption_folder,
    write_class_folder,
)

pytestmark = pytest.mark.slow


def _recipe(tmp_path, backbone, source) -> dict:
    return {
        "name": "tiny-real",
        "output_dir": str(tmp_path / "run"),
        "model": {"backbone": str(backbone)},
        "data": {"source": str(source), "resolution": IMAGE_SIZE, "reference_images": 8,
                 "cache_dir": str(tmp_path / "cache")},
        "space": {"experts": {"counts": [2], "partitions": ["learned"]}, "budget": {"macs_share": [0.7, 0.9]}},
        "train": {"steps": 3, "hypernet_steps": 2, "batch_size": 4, "log_every": 1, "checkpoint_every": 3,
                  "warmup_steps": 1, "hypernet_warmup_steps": 1},
        "eval": {"num_samples": 4, "batch_size": 4, "steps": 2, "guidance_scale": 2.0, "metrics": ["fid", "psnr"],
                 "latency_repeats": 1, "latency_batch_size": 2,
                 "inception_weights": str(save_tiny_inception(tmp_path / "inception.pt"))},
        "search": {"sampler": "grid", "num_trials": 2, "max_concurrent_trials": 2, "cpus_per_trial": 1,
                   "max_retries": 0, "budget_tolerance": 1.0},  # 3 steps do not reach a budget
        "report": {"quality_metric": "fid", "winner": "best_quality_under_macs", "macs_budget_share": 1.0},
    }


def _search_report_export(tmp_path, recipe: dict):
    """Pre-encode, search, report and export; returns the export folder and the finished trials."""
    cache = preencode({"model": recipe["model"], "data": recipe["data"]})
    assert [p.name for p in cache.parent.iterdir() if p.is_dir()] == [cache.name]
    encoded_at = cache.stat().st_mtime_ns
    result = search(recipe)
    assert result.state.status == "finished"
    finished = [record for record in result.records if record.status == "finished"]
    assert len(finished) == 2, [record.error for record in result.records]
    # the trials read the pre-encoded data: no second encoding, the first one untouched
    assert [p.name for p in cache.parent.iterdir() if p.is_dir()] == [cache.name]
    assert cache.stat().st_mtime_ns == encoded_at
    for record in finished:
        metrics = record.metrics
        assert math.isfinite(metrics.fid) and math.isfinite(metrics.teacher_fid)
        assert metrics.generation_macs == pytest.approx(2 * 2 * metrics.macs_per_step)  # guidance x2
    report = write_report(result.run_dir)
    assert report.winner.trial_id in {record.trial_id for record in finished}
    exported = export_experts(result.run_dir, tmp_path / "export")
    assert exported.trial_id == report.winner.trial_id
    return exported


def test_stable_diffusion_v_prediction_recipe_searches_exports_and_generates_from_a_prompt(tmp_path):
    recipe = _recipe(tmp_path, save_sd_pipeline(tmp_path / "sd", "v_prediction"),
                     write_caption_folder(tmp_path / "images", 8))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cat\na blue dog on the grass\n")
    recipe["loss"] = {"denoise": 1.0, "snr_gamma": 5.0}  # min-SNR weighting of the v-prediction loss
    recipe["eval"].update(metrics=["fid", "clip", "psnr"], prompts_file=str(prompts),
                          clip_model=str(save_tiny_clip(tmp_path / "clip")))
    exported = _search_report_export(tmp_path, recipe)
    assert exported.pipeline == "StableDiffusionPipeline" and exported.component == "unet"
    for record in SearchRunDir(tmp_path / "run").finished():
        assert record.metrics.clip >= 0 and math.isfinite(record.metrics.psnr)
        assert record.metrics.teacher_clip >= 0

    pipeline = load_experts(exported.out_dir)
    assert pipeline.scheduler.config.prediction_type == "v_prediction"
    images = generate_images(pipeline, ["a red cat", "a blue dog"], steps=2, guidance_scale=2.0, batch_size=2)
    assert images.shape == (2, 3, IMAGE_SIZE, IMAGE_SIZE) and torch.isfinite(images).all()


def test_dit_epsilon_recipe_searches_exports_and_generates_a_class(tmp_path):
    recipe = _recipe(tmp_path, save_dit_pipeline(tmp_path / "dit"), write_class_folder(tmp_path / "classes", 2))
    exported = _search_report_export(tmp_path, recipe)
    assert exported.pipeline == "DiTPipeline" and exported.component == "transformer"

    pipeline = load_experts(exported.out_dir)
    assert pipeline.scheduler.config.prediction_type == "epsilon"
    # DiTPipeline's own guidance uses the null class id 1000 (DiT-XL/2's); the tiny DiT has 4 classes
    images = generate_images(pipeline, [1, 3], steps=2, guidance_scale=1.0, batch_size=2)
    assert images.shape == (2, 3, IMAGE_SIZE, IMAGE_SIZE) and torch.isfinite(images).all()
