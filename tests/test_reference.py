"""The dense teacher's reference is computed once and shared: sharing it changes no trial's numbers, and
two processes that compute the same entry at once leave one valid file."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from alternas._cache import cache_root
from alternas.api import train_alter
from alternas.config import RunConfig
from alternas.evaluation import reference
from alternas.evaluation.evaluate import QualityScores
from alternas.metrics import TIMING_FIELDS


def _scores(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {key: value for key, value in metrics.items() if key not in TIMING_FIELDS}


def test_a_trial_scores_the_same_with_the_shared_teacher_reference_as_without(tiny_digits_run_config, tmp_path):
    config = {
        **tiny_digits_run_config,
        "model": {"backbone": "builtin:digits"},  # the shipped teacher
        "train": {**tiny_digits_run_config["train"], "threads": 1},  # as a trial runs (and 7x faster on 2 busy cores)
    }
    references = cache_root() / "references"
    for path in references.glob("*.pt") if references.is_dir() else []:
        path.unlink()
    threads = torch.get_num_threads()
    try:
        train_alter(config, run_dir=tmp_path / "computed")  # computes the teacher's reference
        (stored,) = references.glob("*.pt")
        written = stored.stat().st_mtime_ns
        train_alter(config, run_dir=tmp_path / "shared")  # reads it
    finally:
        torch.set_num_threads(threads)
    assert stored.stat().st_mtime_ns == written
    computed, shared = _scores(tmp_path / "computed"), _scores(tmp_path / "shared")
    assert shared == computed
    assert {"fid", "teacher_fid", "psnr", "ssim", "generation_macs"} <= computed.keys()
    assert computed["psnr"] > 0 and computed["teacher_fid"] > 0


def _compute_reference(cache: str, start: Any) -> tuple[bool, bytes, dict[str, float]]:
    """One process asking for the teacher reference at the same moment as another (run with spawn).

    Returns:
        Whether this process generated the images, their bytes and the quality it got.
    """
    import os

    os.environ["ALTERNAS_CACHE"] = cache
    generated: list[bool] = []

    def generate(*args, **kwargs) -> torch.Tensor:
        generated.append(True)
        time.sleep(0.5)  # the other process asks while this one computes
        return torch.rand((3, 1, 4, 4), generator=torch.Generator().manual_seed(7))

    reference.generate_for_eval = generate
    reference.quality_scores = lambda metrics, images, conditions: QualityScores({"fid": float(images.sum())})
    bundle = SimpleNamespace(source="two-processes")
    inputs = SimpleNamespace(noise=torch.zeros(3, 1, 4, 4), conditions=[0, 1, 2], metrics=[])
    start.wait()
    images, quality = reference.teacher_reference(bundle, RunConfig(), None, inputs)
    return bool(generated), images.numpy().tobytes(), quality.values


def test_two_processes_computing_the_same_reference_at_once_both_get_one_valid_file(tmp_path):
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Barrier(2)
    with context.Pool(2) as pool:
        results = pool.starmap(_compute_reference, [(str(tmp_path), start)] * 2)
    assert sorted(generated for generated, _, _ in results) == [False, True]  # computed once, read once
    (_, first_images, first_quality), (_, second_images, second_quality) = results
    assert first_images == second_images and first_quality == second_quality
    files = list((tmp_path / "references").iterdir())
    assert not [path for path in files if path.name.endswith(".tmp")]
    (stored,) = [path for path in files if path.suffix == ".pt"]
    cached = torch.load(stored, weights_only=True)
    assert cached["images"].numpy().tobytes() == first_images and cached["quality"] == first_quality
