"""The tail benchmark: the quickstart's first trial at 1 and at 2 threads, alternating, compared by medians."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import bench.threads
from alternas.metrics import TrialMetrics


def test_thread_counts_alternate_and_the_speedup_is_the_ratio_of_medians(monkeypatch):
    runs, clock = [], iter([0.0, 40.0, 40.0, 60.0, 60.0, 104.0, 104.0, 126.0])
    fid = {1: 10.0, 2: 10.0}

    def fake_train(config):
        runs.append(config.train.threads)
        return SimpleNamespace(metrics=TrialMetrics(fid=fid[config.train.threads], latency_s=float(len(runs))))

    monkeypatch.setattr(bench.threads, "train_alter", fake_train)
    monkeypatch.setattr(bench.threads.time, "perf_counter", lambda: next(clock))
    result = bench.threads.bench_threads(repeats=2)
    assert runs == [1, 2, 1, 2]
    assert result["params"]["experts.routing"] == "learned"  # the quickstart's first initial point: 2 learned
    assert result["seconds"] == {"1": [40.0, 44.0], "2": [20.0, 22.0]}
    assert result["speedup"] == pytest.approx(42.0 / 21.0) and result["max_tail_cut"] == pytest.approx(0.5)
    assert result["metrics_equal"]  # latencies differ between runs, and are not compared

    fid[2] = 10.000001
    clock = iter([0.0, 1.0, 1.0, 2.0])
    monkeypatch.setattr(bench.threads.time, "perf_counter", lambda: next(clock))
    assert not bench.threads.bench_threads(repeats=1)["metrics_equal"]
