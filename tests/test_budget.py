"""The budget settling step: the hard expert table ends within ``budget.tolerance`` of its budget."""

from __future__ import annotations

import pytest
import torch

from alternas.budget import BudgetSchedule
from alternas.config import BudgetConfig
from alternas.macs import CostProfile

# a fixed part of 10 MACs and four units of 40 / 20 / 20 / 10: dense = 100, unit shares .4 .2 .2 .1
COSTS = CostProfile(unit_names=("a", "b", "c", "d"), unit_macs=(40.0, 20.0, 20.0, 10.0), fixed_macs=10.0,
                    convention="macs", sample_shape=(1, 8, 8), condition_length=1)
SAMPLER = torch.tensor([0, 1, 2, 3])  # the sampler visits 4 of the 4 training timesteps


def schedule(macs_share: float, tolerance: float = 0.005) -> BudgetSchedule:
    return BudgetSchedule(BudgetConfig(macs_share=macs_share, tolerance=tolerance), 10, COSTS, SAMPLER)


def test_an_over_budget_table_drops_its_least_confident_units_until_it_is_on_budget() -> None:
    budget = schedule(0.5)
    keep = torch.ones(1, 4)  # share 1.0
    logits = torch.tensor([[3.0, 0.5, 2.0, 1.0]])
    settled = budget.settle(keep, torch.zeros(4, dtype=torch.long), logits)
    # drop b (lowest logit): 0.8; then d: 0.7; a would overshoot (0.3), so c (next lowest that fits): 0.5
    assert settled.tolist() == [[1.0, 0.0, 0.0, 0.0]]
    assert budget.hard_share(settled, torch.zeros(4, dtype=torch.long)) == pytest.approx(0.5)


def test_an_under_budget_table_keeps_again_its_most_confident_dropped_units() -> None:
    budget = schedule(0.6)
    keep = torch.tensor([[0.0, 1.0, 0.0, 0.0]])  # share 0.3
    logits = torch.tensor([[-0.1, 1.0, -2.0, -0.5]])
    settled = budget.settle(keep, torch.zeros(4, dtype=torch.long), logits)
    # a (highest dropped logit) lands exactly on 0.7? no: 0.3 + 0.4 = 0.7 overshoots; d: 0.4; then c: 0.6
    assert settled.tolist() == [[0.0, 1.0, 1.0, 1.0]]


def test_a_table_within_the_band_is_left_alone_and_an_expert_that_serves_no_step_is_never_charged() -> None:
    budget = schedule(0.5, tolerance=0.06)
    keep = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assignment = torch.zeros(4, dtype=torch.long)  # expert 1 serves nothing
    assert budget.hard_share(keep, assignment) == pytest.approx(0.5)
    assert torch.equal(budget.settle(keep, assignment, torch.zeros(2, 4)), keep)
    # two experts, each serving half the steps: a unit of expert 1 adds half its share
    assignment = torch.tensor([0, 0, 1, 1])
    tight = schedule(0.5, tolerance=1e-9)
    settled = tight.settle(keep, assignment, torch.tensor([[9.0, 0.0, 0.0, 0.0], [5.0, 4.0, 3.0, 1.0]]))
    # 0.75 -> drop expert 1's d (0.05): 0.70 -> its c (0.10): 0.60 -> its b (0.10): 0.50
    assert settled.tolist() == [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    assert tight.hard_share(settled, assignment) == pytest.approx(0.5)


def test_settling_is_deterministic_and_stops_where_no_single_unit_reaches_the_band() -> None:
    budget = schedule(0.45, tolerance=0.01)
    keep = torch.ones(1, 4)
    logits = torch.tensor([[3.0, 0.5, 2.0, 1.0]])
    first = budget.settle(keep, torch.zeros(4, dtype=torch.long), logits)
    assert torch.equal(first, budget.settle(keep, torch.zeros(4, dtype=torch.long), logits))
    # reachable shares near 0.45 are 0.4 and 0.5 (steps of 0.1): it stops just above the band
    assert budget.hard_share(first, torch.zeros(4, dtype=torch.long)) == pytest.approx(0.5)


def test_when_single_units_are_too_coarse_one_swap_lands_the_table_on_budget() -> None:
    budget = schedule(0.6, tolerance=0.01)
    keep = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # 0.9
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.5]])
    # greedy drops b (0.7); dropping c or a would cross the band, so it swaps c (logit 2) for d (0.5): 0.6
    settled = budget.settle(keep, torch.zeros(4, dtype=torch.long), logits)
    assert settled.tolist() == [[1.0, 0.0, 0.0, 1.0]]
    assert budget.hard_share(settled, torch.zeros(4, dtype=torch.long)) == pytest.approx(0.6)


def test_the_training_floor_keeps_back_the_most_confident_dropped_units_and_leaves_tables_above_it() -> None:
    budget = schedule(0.5, tolerance=0.05)
    assignment = torch.zeros(4, dtype=torch.long)
    logits = torch.tensor([[-0.2, -1.0, -0.1, -3.0]])
    fallen = torch.zeros(1, 4)  # share 0.1, far below the target 0.7 of a warm-up
    floored = budget.settle(fallen, assignment, logits, target=0.7, floor_only=True)
    # c (highest logit): 0.3; a: 0.7, in [0.65, inf); b and d stay dropped
    assert floored.tolist() == [[1.0, 0.0, 1.0, 0.0]]
    # the floor has no upper edge: from 0.1 towards 0.3 it keeps a (0.5); a two-sided band keeps b (0.3)
    confident_a = torch.tensor([[1.0, -1.0, -2.0, -3.0]])
    assert budget.settle(fallen, assignment, confident_a, target=0.3, floor_only=True).tolist() == [[1.0, 0, 0, 0]]
    assert budget.settle(fallen, assignment, confident_a, target=0.3).tolist() == [[0.0, 1.0, 0.0, 0.0]]
    above = torch.ones(1, 4)  # 1.0: over the target, but a floor never drops a unit
    assert torch.equal(budget.settle(above, assignment, logits, target=0.5, floor_only=True), above)
    within = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # 0.5 >= 0.55 - 0.05: on the floor's edge, untouched
    assert torch.equal(budget.settle(within, assignment, logits, target=0.55, floor_only=True), within)
