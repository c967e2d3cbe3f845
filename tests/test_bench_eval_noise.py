"""bench.eval_noise: the evaluation noise of a paired FID difference, over noise seeds and as the report estimates it."""

from __future__ import annotations

from bench.eval_noise import bench_eval_noise


def test_eval_noise_measures_the_sd_over_seeds_and_the_estimated_sd_per_sample_count():
    result = bench_eval_noise([40, 80], [0, 1, 2])
    (pair,) = result["pairs"].values()
    assert set(pair) == {"40", "80"}
    for row in pair.values():
        assert len(row["differences"]) == 3 and len(set(row["differences"])) == 3  # other noise, other value
        assert row["sd_over_noise_seeds"] > 0 and row["mean_estimated_sd"] > 0
    assert pair["80"]["mean_estimated_sd"] < pair["40"]["mean_estimated_sd"]  # more images, less noise
