"""RoutingTable: validated intervals, the round trip to intervals, per-sample lookup; ExpertRouter masks."""

import pytest
import torch

from alternas.routing import ExpertRouter, RoutingTable, manual_assignment


def test_intervals_round_trip_through_the_table():
    table = RoutingTable(manual_assignment(3, 10, [2, 7]), num_experts=3)
    intervals = table.to_intervals()
    assert intervals == [
        {"expert": 2, "first": 9, "last": 7, "steps": 3},
        {"expert": 1, "first": 6, "last": 2, "steps": 5},
        {"expert": 0, "first": 1, "last": 0, "steps": 2},
    ]
    rebuilt = RoutingTable.from_intervals(intervals, num_experts=3, num_train_timesteps=10)
    assert rebuilt.experts.tolist() == [0, 0, 1, 1, 1, 1, 1, 2, 2, 2]
    assert rebuilt.to_intervals() == intervals


def test_from_intervals_accepts_any_order_and_direction_and_counts_intervals():
    table = RoutingTable.from_intervals(
        [{"expert": 1, "first": 0, "last": 1}, {"expert": 0, "first": 5, "last": 2}, {"expert": 1, "first": 6, "last": 6}],
        num_experts=3,
    )
    assert table.num_train_timesteps == 7
    assert table.experts.tolist() == [1, 1, 0, 0, 0, 0, 1]
    assert table.intervals_per_expert() == [1, 2, 0]


def test_lookup_routes_each_sample_of_a_mixed_batch():
    table = RoutingTable(manual_assignment(2, 1000), num_experts=2)  # expert 0: t < 500, expert 1: t >= 500
    batch = torch.tensor([999.0, 10.0, 499.4, 499.6, 1200.0, -3.0])
    assert table.lookup(batch).tolist() == [1, 0, 0, 1, 1, 0]  # rounded, then clamped to 0..999
    assert table.lookup(750).tolist() == [1]


def test_router_gives_one_mask_per_sample_only_when_experts_differ():
    keep = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    router = ExpertRouter(keep, RoutingTable(manual_assignment(2, 100), num_experts=2))
    assert torch.equal(router.masks_for(torch.tensor([90, 60])), keep[1])  # (N_L,): one expert
    assert torch.equal(router.masks_for(torch.tensor([90, 10, 60])), keep[[1, 0, 1]])  # (B, N_L)


@pytest.mark.parametrize(
    ("intervals", "num_experts", "length", "message"),
    [
        ([], 1, None, "is empty"),
        ([{"expert": 0, "first": 9}], 1, None, "expert, first, last"),
        ([{"expert": 2, "first": 9, "last": 0}], 2, None, "routes to expert 2, but there are 2 experts"),
        ([{"expert": -1, "first": 9, "last": 0}], 2, None, "routes to expert -1"),
        ([{"expert": 0, "first": 9, "last": 5}], 1, None, "leaves 5 training timesteps without an expert"),
        ([{"expert": 0, "first": 9, "last": 4}, {"expert": 1, "first": 4, "last": 0}], 2, None, r"\[0, 4\] overlaps"),
        ([{"expert": 0, "first": 7, "last": 0}], 1, 10, "leaves 2 training timesteps without an expert"),
        ([{"expert": 0, "first": 12, "last": 0}], 1, 10, "past the last training timestep 9"),
        ([{"expert": 0, "first": 200_000, "last": 0}], 1, None, "at most 100000"),
    ],
)
def test_invalid_intervals_are_a_clear_error(intervals, num_experts, length, message):
    with pytest.raises(ValueError, match=message):
        RoutingTable.from_intervals(intervals, num_experts=num_experts, num_train_timesteps=length)


def test_table_with_an_expert_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="routes to expert 3, but there are 3 experts"):
        RoutingTable(torch.tensor([0, 1, 3]), num_experts=3)
    with pytest.raises(ValueError, match="the keep matrix has 2 experts, the routing table 3"):
        ExpertRouter(torch.ones(2, 4), RoutingTable(torch.tensor([0, 1, 2]), num_experts=3))
