"""Warm starts: K experts grown from one shared expert, and the sanity check that K identical experts
with a fixed router are the Static run, bit for bit."""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError

from alternas.api import prepare_trainer
from alternas.config import HypernetConfig, RunConfig
from alternas.evaluation.trial import evaluate_trial
from alternas.hypernet import HyperNetwork

#: metrics that are timings, not results
_TIMINGS = ("seconds", "latency_s", "teacher_latency_s", "speedup")


def _static_and_grown(tiny_digits_run_config: dict, warm_start_steps: int, routing: str) -> tuple[dict, dict]:
    static = copy.deepcopy(tiny_digits_run_config)
    static["experts"] = {"count": 1, "routing": "static"}
    static["train"]["log_every"] = 1
    grown = copy.deepcopy(static)
    grown["experts"] = {"count": 3, "routing": routing}
    grown["hypernet"] = {"warm_start_steps": warm_start_steps}
    return static, grown


def _without(row: dict, keys: tuple[str, ...]) -> dict:
    return {key: value for key, value in row.items() if key not in keys}


def test_k_identical_experts_with_a_fixed_router_reproduce_the_static_run(tiny_digits_run_config):
    """3 experts shared for the whole search (4 of 6 iterations), then grown into 3 identical experts
    under a fixed (manual) router for the fine-tuning: every loss, weight, mask and evaluation metric is
    the Static run's, exactly (atol 0). Only the count of experts in use differs once they are grown."""
    static_config, grown_config = _static_and_grown(tiny_digits_run_config, warm_start_steps=4, routing="manual")
    static, grown = prepare_trainer(static_config), prepare_trainer(grown_config)
    static_history, grown_history = static.fit(), grown.fit()

    ignored = (*_TIMINGS, "experts_in_use")
    assert [_without(r, ignored) for r in grown_history] == [_without(r, ignored) for r in static_history]
    assert [r["experts_in_use"] for r in grown_history] == [1, 1, 1, 1, 3, 3]  # grown at iteration 4
    assert {r["experts_in_use"] for r in static_history} == {1}
    for name, value in static.student.state_dict().items():
        assert torch.equal(value, grown.student.state_dict()[name]), name
    assert grown.keep.shape[0] == 3 and torch.equal(grown.keep, static.keep.expand(3, -1))
    assert grown.expert_plan().macs.share == static.expert_plan().macs.share

    static_metrics, static_images, _ = evaluate_trial(static)
    grown_metrics, grown_images, _ = evaluate_trial(grown)
    assert torch.equal(grown_images["experts"], static_images["experts"])
    for key in ("fid", "accuracy", "psnr", "ssim", "macs_share", "macs_per_step"):
        assert getattr(grown_metrics, key) == getattr(static_metrics, key), key


def test_learned_routing_grows_from_the_static_solution_and_then_learns_apart(tiny_digits_run_config):
    """With learned routing the shared phase is still the Static run; at growth every expert has the
    shared expert's logits exactly, and the experts' own generator takes over (it has gradients)."""
    static_config, grown_config = _static_and_grown(tiny_digits_run_config, warm_start_steps=2, routing="learned")
    static, grown = prepare_trainer(static_config), prepare_trainer(grown_config)
    for _ in range(2):
        assert grown.train_step() == static.train_step()
    shared = grown.hypernet.shared.logits().detach()
    assert grown.hypernet.sharing and torch.equal(grown.hypernet.unit_logits().detach(), shared)

    grown.hypernet.grow()
    assert not grown.hypernet.sharing
    assert torch.equal(grown.hypernet.unit_logits().detach(), shared.expand(3, -1))
    grown.train_step()
    assert grown.hypernet.generator.mlp[-1].weight.grad is not None
    assert grown.hypernet.shared.mlp[-1].weight.grad is None  # the shared expert is done


def test_grow_starts_every_expert_from_the_shared_logits():
    config = HypernetConfig(warm_start_steps=5)
    hypernet = HyperNetwork(4, 6, 8, 100, None, config, seed=3)
    static = HyperNetwork(1, 6, 8, 100, torch.zeros(100, dtype=torch.long), HypernetConfig(), seed=3)
    assert torch.equal(hypernet.shared.logits(), static.generator.logits())  # the Static run's generator
    keep, assignment = hypernet.harden(torch.zeros(100, 8))
    assert keep.shape == (1, 6) and not assignment.any()
    with torch.no_grad():
        hypernet.shared.mlp[-1].bias.fill_(-7.0)  # a shared solution that drops every unit
    hypernet.grow()
    keep, _ = hypernet.harden(torch.zeros(100, 8))
    assert keep.shape == (4, 6) and not keep.any()
    restored = HyperNetwork(4, 6, 8, 100, None, config, seed=3)
    restored.load_state_dict(hypernet.state_dict())
    assert not restored.sharing and torch.equal(restored.unit_logits(), hypernet.unit_logits())


@pytest.mark.parametrize(
    ("experts", "warm_start_steps", "message"),
    [
        ({"count": 1, "routing": "static"}, 2, "with `experts.count: 1` leave it 0"),
        ({"count": 2, "routing": "learned"}, 5, r"`hypernet.warm_start_steps` \(5\) cannot exceed `train.hypernet_steps` \(4\)"),
    ],
)
def test_warm_start_settings_are_checked(experts, warm_start_steps, message):
    config = {"experts": experts, "hypernet": {"warm_start_steps": warm_start_steps},
              "train": {"steps": 6, "hypernet_steps": 4}}
    with pytest.raises(ValidationError, match=message):
        RunConfig.model_validate(config)
