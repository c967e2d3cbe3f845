"""The scheduler comparison: each scheduler runs its own recipe, and the hypervolumes compare the fronts."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.schedulers
from bench.schedulers import compare_schedulers, hypervolume

ROOT = Path(__file__).resolve().parents[1]


def test_hypervolume_is_the_area_dominated_up_to_the_reference():
    # two points, (1, 3) and (2, 1), up to (4, 4): 3 x 1 + 2 x 2, and a dominated point adds nothing
    assert hypervolume([(1.0, 3.0), (2.0, 1.0)], (4.0, 4.0)) == 7.0
    assert hypervolume([(1.0, 3.0), (2.0, 1.0), (3.0, 2.0)], (4.0, 4.0)) == 7.0
    assert hypervolume([(5.0, 1.0)], (4.0, 4.0)) == 0.0


def test_mo_asha_runs_its_own_recipe_and_the_ratio_compares_the_fronts(tmp_path, monkeypatch):
    calls = []
    fronts = {"fifo": [(10.0, 30.0), (20.0, 10.0)], "mo_asha": [(10.0, 20.0), (20.0, 10.0)]}

    def fake_search(out_dir, recipe_file, num_trials, updates):
        calls.append((Path(out_dir).name, Path(recipe_file).name, updates["scheduler"], updates["time_limit_s"]))
        trials = [{"generation_macs": x, "fid": y} for x, y in fronts[updates["scheduler"]]]
        counts = {"finished_trials": 2, "stopped_trials": 0, "failed_trials": 0}
        return {"front": trials, "finished": trials, **counts}

    monkeypatch.setattr(bench.schedulers, "bench_search", fake_search)
    quickstart = ROOT / "recipes" / "quickstart.yaml"
    longer = tmp_path / "longer.yaml"
    longer.write_text(quickstart.read_text().replace("space: quickstart-space.yaml", f"space: {ROOT}/search_spaces/quickstart.yaml"))
    result = compare_schedulers(tmp_path, [3], 60.0, 4, quickstart, {"rungs": [0.5]}, longer)
    assert calls == [("fifo-3", "quickstart.yaml", "fifo", 60.0), ("mo_asha-3", "longer.yaml", "mo_asha", 60.0)]
    assert result["recipes"] == {"fifo": str(quickstart), "mo_asha": str(longer)}
    assert result["mo_asha"]["rungs"] == [0.5]
    # reference (21, 31.5): fifo 11 x 1.5 + 1 x 20 = 36.5, mo_asha 11 x 11.5 + 1 x 10 = 136.5
    assert result["reference"] == pytest.approx((21.0, 31.5))
    assert result["seeds"][3]["ratio_mo_asha_over_fifo"] == pytest.approx(136.5 / 36.5)
