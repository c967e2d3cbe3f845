"""Hypernetwork: all-on start, straight-through relaxations, deterministic hardening, routing modes."""

from __future__ import annotations

import pytest
import torch

from alternas.config import HypernetConfig
from alternas.hypernet import HyperNetwork, gumbel_sigmoid, gumbel_softmax
from alternas.losses import balance_loss, budget_loss
from alternas.routing import RoutingTable, manual_assignment, routing_intervals


def _hypernet(fixed=None, experts=4, units=16, seed=0, router="intervals"):
    return HyperNetwork(experts, units, 32, 1000, fixed, HypernetConfig(router=router), seed=seed)


def test_every_mask_starts_at_one():
    keep, assignment = _hypernet().harden(torch.randn(1000, 32))
    assert keep.shape == (4, 16) and bool((keep == 1).all())
    assert assignment.shape == (1000,)


def test_hardening_is_deterministic_and_noise_free():
    hypernet = _hypernet()
    features = torch.randn(1000, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hypernet.generator.mlp[-1].bias.fill_(-4.0)  # logits around 0: noise would flip many masks
    first = hypernet.harden(features)
    torch.manual_seed(123)
    second = hypernet.harden(features)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert torch.equal(first[0], (hypernet.generator.logits() > 0).float())
    draws = {tuple(hypernet.sample(features, torch.Generator().manual_seed(s)).unit_masks.flatten().tolist())
             for s in range(5)}
    assert len(draws) > 1, "sampling should be stochastic"


def test_same_seed_same_hypernetwork():
    a, b = _hypernet(seed=7), _hypernet(seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_straight_through_forward_is_binary_and_backward_flows():
    logits = torch.zeros(3, 5, requires_grad=True)
    masks = gumbel_sigmoid(logits, 0.4, torch.Generator().manual_seed(0))
    assert set(masks.detach().unique().tolist()) <= {0.0, 1.0}
    masks.sum().backward()
    assert logits.grad.abs().sum() > 0
    router_logits = torch.zeros(7, 4, requires_grad=True)
    routing = gumbel_softmax(router_logits, 0.4, torch.Generator().manual_seed(0))
    assert torch.equal(routing.detach().sum(-1), torch.ones(7))
    (routing * torch.arange(4.0)).sum().backward()
    assert router_logits.grad.abs().sum() > 0


def test_fixed_routing_has_no_router_and_follows_the_assignment():
    fixed = manual_assignment(4, 1000)
    hypernet = _hypernet(fixed)
    assert not hypernet.learns_routing
    draw = hypernet.sample(torch.randn(1000, 32), torch.Generator().manual_seed(0))
    assert draw.router_probs is None and torch.equal(draw.routing.argmax(-1), fixed)
    assert torch.equal(hypernet.harden(torch.randn(1000, 32))[1], fixed)


def test_manual_assignment_intervals():
    equal = manual_assignment(4, 1000)
    assert equal[:250].eq(0).all() and equal[250:500].eq(1).all() and equal[750:].eq(3).all()
    custom = manual_assignment(3, 1000, [100, 600])
    assert custom[99] == 0 and custom[100] == 1 and custom[599] == 1 and custom[600] == 2
    assert manual_assignment(1, 1000).eq(0).all()
    with pytest.raises(ValueError):
        manual_assignment(3, 1000, [500])


def test_routing_intervals_group_consecutive_steps():
    assert routing_intervals([999, 949, 899, 849], [2, 2, 0, 2]) == [
        {"expert": 2, "first": 999, "last": 949, "steps": 2},
        {"expert": 0, "first": 899, "last": 899, "steps": 1},
        {"expert": 2, "first": 849, "last": 849, "steps": 1},
    ]


def test_budget_loss_is_a_symmetric_log_ratio():
    half = budget_loss(torch.tensor(0.25), 0.5)
    double = budget_loss(torch.tensor(1.0), 0.5)
    assert half.item() == pytest.approx(double.item()) == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert budget_loss(torch.tensor(0.5), 0.5).item() == pytest.approx(0.0, abs=1e-6)


def test_balance_loss_is_one_when_balanced_and_n_when_collapsed():
    balanced = torch.eye(4).repeat(5, 1)  # 20 timesteps spread evenly over 4 experts
    collapsed = torch.zeros(20, 4)
    collapsed[:, 0] = 1
    assert balance_loss(balanced).item() == pytest.approx(1.0)
    assert balance_loss(collapsed).item() == pytest.approx(4.0)


def test_interval_router_starts_as_equal_splits_and_stays_contiguous():
    """The learned intervals router starts as the manual equal split and, whatever its weights, routes
    every expert to at most one contiguous interval, in timestep order."""
    hypernet = _hypernet()
    features = torch.randn(1000, 32)
    assert torch.equal(hypernet.harden(features)[1], manual_assignment(4, 1000))
    for seed in range(5):
        with torch.no_grad():
            hypernet.router.width_logits.copy_(3 * torch.randn(4, generator=torch.Generator().manual_seed(seed)))
        _, assignment = hypernet.harden(features)
        assert all(count <= 1 for count in RoutingTable(assignment, 4).intervals_per_expert())
        assert bool((assignment[1:] >= assignment[:-1]).all())
        probs = hypernet.router.probs()
        assert torch.allclose(probs.sum(-1), torch.ones(1000), atol=1e-6) and bool((probs >= 0).all())
        draw = hypernet.sample(features, torch.Generator().manual_seed(seed))
        assert torch.equal(draw.routing.detach(), torch.nn.functional.one_hot(assignment, 4).float())


def test_interval_router_boundaries_learn_through_the_straight_through_routing():
    """A loss that wants expert 1 (instead of 0) just below the first boundary moves that boundary down."""
    hypernet = _hypernet()
    before = hypernet.router.boundaries().detach().clone()  # 0.25, 0.5, 0.75
    optimizer = torch.optim.SGD(hypernet.router.parameters(), lr=0.5)
    for _ in range(20):
        draw = hypernet.sample(torch.randn(1000, 32), torch.Generator().manual_seed(0))
        loss = draw.routing[230:250, 0].sum()  # timesteps 230..249 served by expert 0: penalise
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = hypernet.router.boundaries().detach()
    assert after[0] < before[0] - 0.01
    assert int(hypernet.harden(torch.randn(1000, 32))[1][240]) == 1


def test_mlp_router_is_the_free_per_timestep_router():
    hypernet = _hypernet(router="mlp")
    draw = hypernet.sample(torch.randn(1000, 32), torch.Generator().manual_seed(0))
    assert draw.router_probs.shape == (1000, 4)
    assert torch.equal(draw.routing.detach().sum(-1), torch.ones(1000))


def test_intervals_per_expert_counts_runs():
    assignment = torch.tensor([0, 0, 1, 1, 0, 2, 2, 0])
    assert RoutingTable(assignment, 4).intervals_per_expert() == [3, 1, 1, 0]
